-- The warehouse tables (README, "The tables"). Amounts are euros as DECIMAL(18,2).

CREATE TABLE IF NOT EXISTS credits (
    exercice          SMALLINT      NOT NULL,
    phase             VARCHAR       NOT NULL,
    type_budget       VARCHAR,
    code_ministere    VARCHAR,
    code_mission      VARCHAR,
    code_programme    VARCHAR       NOT NULL,
    code_action       VARCHAR,
    code_sous_action  VARCHAR,
    code_categorie    VARCHAR,
    code_titre        VARCHAR,
    ae                DECIMAL(18,2) NOT NULL,
    cp                DECIMAL(18,2) NOT NULL,
    ae_fdc_adp        DECIMAL(18,2),
    cp_fdc_adp        DECIMAL(18,2),
    calcule           BOOLEAN       NOT NULL,
    source_id         VARCHAR       NOT NULL,
    source_ligne      INTEGER       NOT NULL,
    nb_lignes_source  INTEGER       NOT NULL
);

CREATE TABLE IF NOT EXISTS sources (
    source_id                  VARCHAR PRIMARY KEY,
    url                        VARCHAR,
    fichier                    VARCHAR NOT NULL,
    sha256                     VARCHAR,
    octets                     BIGINT,
    lignes                     INTEGER,
    format                     VARCHAR,
    charge_le                  TIMESTAMP,
    type_fichier               VARCHAR,
    encodage                   VARCHAR,
    exercice                   SMALLINT,
    phases                     VARCHAR,
    role                       VARCHAR,
    roles                      VARCHAR,
    statut                     VARCHAR NOT NULL,
    message                    VARCHAR,
    lignes_retenues            INTEGER,
    lignes_ecartees            INTEGER,
    lignes_ecartees_par_motif  VARCHAR,
    lignes_chargees            INTEGER,
    montants_vides             INTEGER,
    titres_corriges            INTEGER,
    controle_totaux            VARCHAR,
    entete                     VARCHAR,
    vu_le                      TIMESTAMP NOT NULL,
    feuille                    VARCHAR,
    lignes_preambule           INTEGER,
    lignes_recodees            INTEGER
);
-- Warehouses built before the column existed gain it (null until their files are read again).
ALTER TABLE sources ADD COLUMN IF NOT EXISTS feuille VARCHAR;
ALTER TABLE sources ADD COLUMN IF NOT EXISTS lignes_preambule INTEGER;
ALTER TABLE sources ADD COLUMN IF NOT EXISTS lignes_recodees INTEGER;
