-- Views for analysts (README, "The nomenclature"). Amounts are euros, DECIMAL(18,2).

-- One row per programme and exercice: its label and mission that year, and its AE/CP per phase.
CREATE OR REPLACE VIEW programmes_historique AS
SELECT
    p.exercice,
    p.code_programme,
    p.libelle_programme,
    p.code_mission,
    m.libelle_mission,
    sum(c.ae) FILTER (WHERE c.phase = 'PLF')  AS ae_plf,
    sum(c.cp) FILTER (WHERE c.phase = 'PLF')  AS cp_plf,
    sum(c.ae) FILTER (WHERE c.phase = 'AMD')  AS ae_amd,
    sum(c.cp) FILTER (WHERE c.phase = 'AMD')  AS cp_amd,
    sum(c.ae) FILTER (WHERE c.phase = 'LFI')  AS ae_lfi,
    sum(c.cp) FILTER (WHERE c.phase = 'LFI')  AS cp_lfi,
    sum(c.ae) FILTER (WHERE c.phase = 'LFR')  AS ae_lfr,
    sum(c.cp) FILTER (WHERE c.phase = 'LFR')  AS cp_lfr,
    sum(c.ae) FILTER (WHERE c.phase = 'EXEC') AS ae_exec,
    sum(c.cp) FILTER (WHERE c.phase = 'EXEC') AS cp_exec
FROM programmes p
LEFT JOIN missions m USING (exercice, code_mission)
LEFT JOIN credits c ON c.exercice = p.exercice AND c.code_programme = p.code_programme
GROUP BY ALL;

-- For each exercice, the credits of its most advanced phase available: EXEC, else LFI, else PLF.
CREATE OR REPLACE VIEW credits_derniere_phase AS
WITH derniere AS (
    SELECT exercice,
           CASE max(CASE phase WHEN 'EXEC' THEN 3 WHEN 'LFI' THEN 2 WHEN 'PLF' THEN 1 END)
               WHEN 3 THEN 'EXEC' WHEN 2 THEN 'LFI' ELSE 'PLF' END AS phase
    FROM credits
    WHERE phase IN ('PLF', 'LFI', 'EXEC')
    GROUP BY exercice
)
SELECT c.*
FROM credits c
JOIN derniere d USING (exercice, phase);
