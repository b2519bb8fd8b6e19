-- The view `indicateur_atteinte`: for each sub-indicator and year of a document with both a
-- numeric result (realisation, statut 'ok') and a numeric target (cible: a number, a bound
-- or a range), whether the target was met (README, "Performance indicators").
--   bound target  (`<=450`, `≥ 95`): met when the result satisfies the bound;
--   range target  (`404-412`):       met when the result lies within it;
--   number target: met when equal; else by the direction of the sub-indicator
--                  (indicateurs.sens_attendu: `hausse` result >= target, `baisse` <=),
--                  'indeterminee' where the sources do not reveal the direction.
-- Beside it, the attainment the RAP publishes (indicateur_atteintes_publiees) and whether
-- the two agree (`concorde`, null where either is unknown).
CREATE OR REPLACE VIEW indicateur_atteinte AS
WITH resultats AS (
    SELECT * FROM indicateur_valeurs WHERE type_valeur = 'realisation' AND statut = 'ok'
), cibles AS (
    SELECT * FROM indicateur_valeurs WHERE type_valeur = 'cible' AND statut IN ('ok', 'borne', 'intervalle')
), paires AS (
    SELECT
        r.document, r.niveau, r.code_mission, r.code_programme, r.code_indicateur, r.code_sous_indicateur,
        r.annee,
        r.valeur AS realisation,
        r.valeur_brute AS realisation_brute,
        c.statut AS statut_cible,
        c.valeur AS cible,
        c.valeur_min AS cible_min,
        c.valeur_max AS cible_max,
        c.comparateur AS comparateur_cible,
        c.valeur_brute AS cible_brute,
        i.libelle_indicateur, i.libelle_sous_indicateur, i.unite, i.sens_attendu, i.sens_origine,
        CASE
            WHEN c.statut = 'borne' THEN CASE c.comparateur
                WHEN '>' THEN r.valeur > c.valeur_min
                WHEN '>=' THEN r.valeur >= c.valeur_min
                WHEN '<' THEN r.valeur < c.valeur_max
                WHEN '<=' THEN r.valeur <= c.valeur_max
            END
            WHEN c.statut = 'intervalle' THEN r.valeur BETWEEN c.valeur_min AND c.valeur_max
            WHEN r.valeur = c.valeur THEN TRUE
            WHEN i.sens_attendu = 'hausse' THEN r.valeur >= c.valeur
            WHEN i.sens_attendu = 'baisse' THEN r.valeur <= c.valeur
        END AS cible_atteinte,
        r.source_id, r.source_ligne
    FROM resultats r
    JOIN cibles c
      ON c.document = r.document AND c.niveau = r.niveau
     AND c.code_mission IS NOT DISTINCT FROM r.code_mission
     AND c.code_programme IS NOT DISTINCT FROM r.code_programme
     AND c.code_sous_indicateur = r.code_sous_indicateur
     AND c.annee = r.annee
    LEFT JOIN indicateurs i
      ON i.document = r.document AND i.niveau = r.niveau
     AND i.code_mission IS NOT DISTINCT FROM r.code_mission
     AND i.code_programme IS NOT DISTINCT FROM r.code_programme
     AND i.code_sous_indicateur = r.code_sous_indicateur
)
SELECT
    p.document, p.niveau, p.code_mission, p.code_programme, p.code_indicateur, p.code_sous_indicateur,
    p.libelle_indicateur, p.libelle_sous_indicateur, p.unite, p.annee,
    p.realisation, p.realisation_brute,
    p.statut_cible, p.cible, p.cible_min, p.cible_max, p.comparateur_cible, p.cible_brute,
    p.sens_attendu, p.sens_origine,
    CASE WHEN p.cible_atteinte THEN 'atteinte' WHEN NOT p.cible_atteinte THEN 'non_atteinte' ELSE 'indeterminee'
    END AS atteinte_calculee,
    a.atteinte_publiee,
    a.atteinte AS atteinte_publiee_normalisee,
    CASE
        WHEN a.atteinte IN ('atteinte', 'non_atteinte') AND p.cible_atteinte IS NOT NULL
        THEN (a.atteinte = 'atteinte') = p.cible_atteinte
    END AS concorde,
    p.source_id, p.source_ligne
FROM paires p
LEFT JOIN indicateur_atteintes_publiees a
  ON a.document = p.document AND a.niveau = p.niveau
 AND a.code_mission IS NOT DISTINCT FROM p.code_mission
 AND a.code_programme IS NOT DISTINCT FROM p.code_programme
 AND a.code_sous_indicateur = p.code_sous_indicateur
 AND a.annee = p.annee;
