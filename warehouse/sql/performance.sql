-- The performance tables (README, `indicateurs` and `indicateur_valeurs`,
-- "Performance indicators"). Replaced whole, in one transaction, by each build
-- (warehouse/performance/tables.py: write_performance).

CREATE OR REPLACE TABLE indicateurs (
    document                 VARCHAR  NOT NULL,
    type_document            VARCHAR  NOT NULL,
    millesime                SMALLINT NOT NULL,
    niveau                   VARCHAR  NOT NULL,
    code_mission             VARCHAR,
    code_programme           VARCHAR,
    code_objectif            VARCHAR  NOT NULL,
    libelle_objectif         VARCHAR,
    code_indicateur          VARCHAR  NOT NULL,
    code_indicateur_source   VARCHAR  NOT NULL,
    libelle_indicateur       VARCHAR  NOT NULL,
    code_sous_indicateur     VARCHAR  NOT NULL,
    libelle_sous_indicateur  VARCHAR,
    unite                    VARCHAR,
    unite_source             VARCHAR,
    code_programme_repris    VARCHAR,
    type_budget              VARCHAR,
    sens_attendu             VARCHAR,
    sens_origine             VARCHAR,
    source_id                VARCHAR  NOT NULL,
    source_ligne             INTEGER  NOT NULL
);

CREATE OR REPLACE TABLE indicateur_valeurs (
    document              VARCHAR  NOT NULL,
    niveau                VARCHAR  NOT NULL,
    code_mission          VARCHAR,
    code_programme        VARCHAR,
    code_indicateur       VARCHAR  NOT NULL,
    code_sous_indicateur  VARCHAR  NOT NULL,
    annee                 SMALLINT NOT NULL,
    type_valeur           VARCHAR  NOT NULL,
    valeur                DOUBLE,
    valeur_min            DOUBLE,
    valeur_max            DOUBLE,
    comparateur           VARCHAR,
    sens                  VARCHAR,
    statut                VARCHAR  NOT NULL,
    valeur_brute          VARCHAR,
    colonne_source        VARCHAR  NOT NULL,
    source_id             VARCHAR  NOT NULL,
    source_ligne          INTEGER  NOT NULL
);

CREATE OR REPLACE TABLE indicateur_atteintes_publiees (
    document              VARCHAR  NOT NULL,
    niveau                VARCHAR  NOT NULL,
    code_mission          VARCHAR,
    code_programme        VARCHAR,
    code_indicateur       VARCHAR  NOT NULL,
    code_sous_indicateur  VARCHAR  NOT NULL,
    annee                 SMALLINT NOT NULL,
    atteinte_publiee      VARCHAR,
    atteinte              VARCHAR,
    source_id             VARCHAR  NOT NULL,
    source_ligne          INTEGER  NOT NULL
);

CREATE OR REPLACE TABLE indicateur_correspondances (
    document_a              VARCHAR NOT NULL,
    niveau_a                VARCHAR NOT NULL,
    code_mission_a          VARCHAR,
    code_programme_a        VARCHAR,
    code_indicateur_a       VARCHAR NOT NULL,
    code_sous_indicateur_a  VARCHAR NOT NULL,
    libelle_a               VARCHAR NOT NULL,
    document_b              VARCHAR NOT NULL,
    niveau_b                VARCHAR NOT NULL,
    code_mission_b          VARCHAR,
    code_programme_b        VARCHAR,
    code_indicateur_b       VARCHAR NOT NULL,
    code_sous_indicateur_b  VARCHAR NOT NULL,
    libelle_b               VARCHAR NOT NULL,
    methode                 VARCHAR NOT NULL,
    score                   DOUBLE  NOT NULL,
    meme_code_indicateur    BOOLEAN NOT NULL
);

CREATE OR REPLACE TABLE unites (
    unite                VARCHAR NOT NULL,
    nb_sous_indicateurs  BIGINT  NOT NULL,
    nb_variantes         INTEGER NOT NULL,
    variantes            VARCHAR NOT NULL
);

CREATE OR REPLACE TABLE indicateur_fichiers (
    source_id                  VARCHAR NOT NULL,
    fichier                    VARCHAR NOT NULL,
    famille                    VARCHAR NOT NULL,
    document                   VARCHAR,
    statut                     VARCHAR NOT NULL,
    message                    VARCHAR,
    lignes                     BIGINT,
    lignes_retenues            BIGINT,
    lignes_ecartees            BIGINT,
    lignes_ecartees_par_motif  VARCHAR,
    valeurs                    BIGINT,
    type_document              VARCHAR,
    millesime                  SMALLINT,
    document_confirme_par      VARCHAR,
    colonnes_valeurs           BIGINT,
    correspondance_colonnes    VARCHAR,
    cellules_lues              BIGINT,
    valeurs_chargees           BIGINT,
    cellules_ecartees          BIGINT,
    cellules_ecartees_par_motif VARCHAR
);
