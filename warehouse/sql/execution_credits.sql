-- Execution against the vote (issue 9), per exercice, programme and action. Amounts DECIMAL(18,2)
-- sums. The vote is the LFI where the warehouse holds it for the exercice, else the PLF
-- (`phase_reference`). Rates are executed ÷ voted (null where either side is missing or zero).
CREATE OR REPLACE VIEW execution_credits AS
WITH par_phase AS (
    SELECT exercice, phase, code_programme, code_action, sum(ae) AS ae, sum(cp) AS cp
    FROM credits
    WHERE phase IN ('PLF', 'LFI', 'EXEC')
    GROUP BY ALL
),
reference AS (
    SELECT exercice, CASE WHEN bool_or(phase = 'LFI') THEN 'LFI' ELSE 'PLF' END AS phase_reference
    FROM credits
    WHERE phase IN ('PLF', 'LFI')
    GROUP BY exercice
),
vote AS (
    SELECT p.* FROM par_phase p JOIN reference r ON p.exercice = r.exercice AND p.phase = r.phase_reference
),
execution AS (
    SELECT * FROM par_phase WHERE phase = 'EXEC'
)
SELECT
    coalesce(v.exercice, e.exercice)             AS exercice,
    coalesce(v.code_programme, e.code_programme) AS code_programme,
    coalesce(v.code_action, e.code_action)       AS code_action,
    r.phase_reference,
    v.ae                                         AS ae_vote,
    v.cp                                         AS cp_vote,
    e.ae                                         AS ae_execute,
    e.cp                                         AS cp_execute,
    CAST(e.ae AS DOUBLE) / nullif(CAST(v.ae AS DOUBLE), 0) AS taux_execution_ae,
    CAST(e.cp AS DOUBLE) / nullif(CAST(v.cp AS DOUBLE), 0) AS taux_execution_cp
FROM vote v
FULL JOIN execution e
  ON v.exercice = e.exercice AND v.code_programme = e.code_programme
 AND v.code_action IS NOT DISTINCT FROM e.code_action
LEFT JOIN reference r ON r.exercice = coalesce(v.exercice, e.exercice);
