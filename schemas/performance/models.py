"""Pandera models of the performance tables (polars backend).

Columns, types and vocabulary follow the README, "Performance indicators" (``indicateurs``,
``indicateur_valeurs``); the extra columns (provenance, direction, correspondences,
units, read reports) are documented in the project README ("Performance indicators").
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas.credits import BUDGET_TYPE_TEXT, BUDGET_TYPES
from schemas.performance.indicator_values import COMPARATEURS, SENS, STATUTS

__all__ = [
    "ATTEINTES",
    "CORRESPONDENCE_METHODS",
    "INDICATEUR_KEY",
    "IndicateurAtteintesPublieesModel",
    "IndicateurCorrespondancesModel",
    "IndicateurFichiersModel",
    "IndicateurValeursModel",
    "IndicateursModel",
    "NIVEAUX",
    "TYPES_VALEUR",
    "UnitesModel",
    "VALEUR_KEY",
]

NIVEAUX = ("programme", "mission")
TYPES_VALEUR = ("realisation", "prevision", "prevision_actualisee", "cible")
ATTEINTES = ("atteinte", "non_atteinte", "inconnue")
CORRESPONDENCE_METHODS = ("identifiant", "libelle")
DOCUMENT_TYPES = ("PAP", "RAP")
_OWNER = r"(?:P\d{3}|M[A-Z]{2})"
CODE_OBJECTIF = rf"^{_OWNER}-\d+$"
CODE_INDICATEUR = rf"^{_OWNER}-\d+-\d+$"
CODE_SOUS_INDICATEUR = rf"^(?:\d+|{_OWNER}-\d+-\d+-\d+)$"

#: One sub-indicator per value of this key in ``indicateurs``.
INDICATEUR_KEY = ["document", "niveau", "code_mission", "code_programme", "code_sous_indicateur"]
#: One value per value of this key in ``indicateur_valeurs`` (issue 4, "Checks").
VALEUR_KEY = [*INDICATEUR_KEY, "annee", "type_valeur"]


class _SubIndicatorKey(pa.DataFrameModel):
    document: str = pa.Field(
        str_matches=r"^(PAP|RAP) \d{4}$", description="publication et millésime, par ex. `RAP 2024`"
    )
    niveau: str = pa.Field(
        isin=NIVEAUX, description="`programme`, ou `mission` pour les indicateurs propres à une mission"
    )
    code_mission: str = pa.Field(
        nullable=True,
        str_matches=r"^[A-Z]{2}$",
        description="code de la mission, 2 lettres ; vide si la source n'en donne pas",
    )
    code_programme: str = pa.Field(
        nullable=True,
        str_matches=r"^\d{3}$",
        description="code du programme, 3 chiffres ; vide pour le niveau `mission`",
    )
    code_indicateur: str = pa.Field(
        str_matches=CODE_INDICATEUR, description="normalisé `P352-1-1` (programme) ou `MTR-1-1` (mission)"
    )
    code_sous_indicateur: str = pa.Field(
        str_matches=CODE_SOUS_INDICATEUR,
        description="identifiant numérique de la source, en texte (`30157`), sinon `<code_indicateur>-<n>`",
    )


class IndicateursModel(_SubIndicatorKey):
    """``indicateurs`` (README, "The tables"): one row per sub-indicator of each document."""

    type_document: str = pa.Field(isin=DOCUMENT_TYPES, description="`PAP` ou `RAP`")
    millesime: pl.Int16 = pa.Field(ge=2000, le=2100, description="le millésime du document")
    code_objectif: str = pa.Field(str_matches=CODE_OBJECTIF, description="normalisé `P352-1` ou `MTR-1`")
    libelle_objectif: str = pa.Field(nullable=True, description="libellé de l'objectif")
    code_indicateur_source: str = pa.Field(description="le code de l'indicateur tel que la source l'écrit")
    libelle_indicateur: str = pa.Field(description="libellé de l'indicateur (artefacts `_x000D_` retirés)")
    libelle_sous_indicateur: str = pa.Field(nullable=True, description="libellé du sous-indicateur")
    unite: str = pa.Field(
        nullable=True, description="unité, espaces retirés, variantes de casse fusionnées (voir `unites`)"
    )
    unite_source: str = pa.Field(nullable=True, description="unité telle que publiée")
    code_programme_repris: str = pa.Field(
        nullable=True,
        str_matches=r"^\d{3}$",
        description="pour le niveau `mission` : le programme dont il reprend la série",
    )
    type_budget: str = pa.Field(nullable=True, isin=BUDGET_TYPES, description=f"type de budget : {BUDGET_TYPE_TEXT}")
    sens_attendu: str = pa.Field(
        nullable=True,
        isin=SENS,
        description="sens de l'amélioration (`hausse` ou `baisse`) si les sources le révèlent, sinon vide",
    )
    sens_origine: str = pa.Field(nullable=True, description="ce qui a révélé le sens (ou `contradictoire`)")
    source_id: str = pa.Field(description="identifiant du fichier source (catalogue)")
    source_ligne: pl.Int32 = pa.Field(ge=1, description="ligne de données du fichier source (à partir de 1)")

    @pa.dataframe_check
    def mission_level_has_no_programme(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """``niveau = 'mission'`` exactly where there is no programme code, and then a mission code."""
        mission = pl.col("niveau") == "mission"
        return data.lazyframe.select(
            (mission == pl.col("code_programme").is_null()) & (~mission | pl.col("code_mission").is_not_null())
        )

    @pa.dataframe_check
    def programme_indicator_belongs_to_programme(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A programme's indicator code starts with ``P<code_programme>-``."""
        return data.lazyframe.select(
            pl.col("code_programme").is_null()
            | pl.col("code_indicateur").str.starts_with(pl.lit("P") + pl.col("code_programme") + pl.lit("-"))
        )

    class Config:
        strict = True
        coerce = False
        unique = INDICATEUR_KEY


class IndicateurValeursModel(_SubIndicatorKey):
    """``indicateur_valeurs`` (README, "The tables"): one row per value cell of each sub-indicator."""

    annee: pl.Int16 = pa.Field(ge=1990, le=2100, description="l'année de la valeur")
    type_valeur: str = pa.Field(isin=TYPES_VALEUR, description="realisation, prevision, prevision_actualisee, cible")
    valeur: pl.Float64 = pa.Field(nullable=True, description="le nombre unique que donne la cellule, sinon vide")
    valeur_min: pl.Float64 = pa.Field(nullable=True, description="borne inférieure, ou bas d'un intervalle")
    valeur_max: pl.Float64 = pa.Field(nullable=True, description="borne supérieure, ou haut d'un intervalle")
    comparateur: str = pa.Field(
        nullable=True, isin=COMPARATEURS, description="`=` pour un nombre ; opérateur de la borne : <, <=, >, >="
    )
    sens: str = pa.Field(nullable=True, isin=SENS, description="`hausse` ou `baisse` pour une tendance")
    statut: str = pa.Field(isin=STATUTS, description=f"ce que dit la cellule : {', '.join(STATUTS)}")
    valeur_brute: str = pa.Field(
        nullable=True, description="la cellule exactement telle que publiée (vide : cellule vide)"
    )
    colonne_source: str = pa.Field(description="l'en-tête de la colonne d'où vient la valeur")
    source_id: str = pa.Field(description="identifiant du fichier source (catalogue)")
    source_ligne: pl.Int32 = pa.Field(ge=1, description="ligne de données du fichier source (à partir de 1)")

    @pa.dataframe_check
    def numbers_match_statut(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """``valeur`` only for ``ok``; bounds one side; ranges both ends, in order; trends a ``sens``."""
        statut = pl.col("statut")
        low, high = pl.col("valeur_min"), pl.col("valeur_max")
        return data.lazyframe.select(
            (pl.col("valeur").is_not_null() == (statut == "ok"))
            & ((pl.col("comparateur") == "=").fill_null(False) == (statut == "ok"))
            & ((statut != "borne") | (low.is_null() != high.is_null()) & pl.col("comparateur").is_not_null())
            & ((statut != "intervalle") | (low.is_not_null() & high.is_not_null() & (low <= high)))
            & ((statut.is_in(["borne", "intervalle"])) | (low.is_null() & high.is_null()))
            & (pl.col("sens").is_not_null() == (statut == "tendance"))
            & (pl.col("valeur_brute").is_not_null() | (statut == "vide"))
        )

    class Config:
        strict = True
        coerce = False
        unique = VALEUR_KEY


class IndicateurAtteintesPublieesModel(_SubIndicatorKey):
    """``indicateur_atteintes_publiees``: whether the target was met, as the RAP publishes it."""

    annee: pl.Int16 = pa.Field(ge=1990, le=2100, description="l'année de la cible")
    atteinte_publiee: str = pa.Field(nullable=True, description="telle que publiée (`cible atteinte`, `amélioration`…)")
    atteinte: str = pa.Field(
        nullable=True, isin=ATTEINTES, description="`atteinte`, `non_atteinte`, `inconnue` ; vide si non reconnu"
    )
    source_id: str = pa.Field(description="identifiant du fichier source (catalogue)")
    source_ligne: pl.Int32 = pa.Field(ge=1, description="ligne de données du fichier source (à partir de 1)")

    class Config:
        strict = True
        coerce = False
        unique = [*INDICATEUR_KEY, "annee"]


class IndicateurCorrespondancesModel(pa.DataFrameModel):
    """``indicateur_correspondances``: one row per link between sub-indicators of two documents."""

    document_a: str = pa.Field(description="le document le plus ancien")
    niveau_a: str = pa.Field(isin=NIVEAUX, description="`programme` ou `mission`, du côté a")
    code_mission_a: str = pa.Field(nullable=True, description="code de la mission, du côté a")
    code_programme_a: str = pa.Field(nullable=True, description="code du programme, du côté a")
    code_indicateur_a: str = pa.Field(str_matches=CODE_INDICATEUR, description="code de l'indicateur, du côté a")
    code_sous_indicateur_a: str = pa.Field(
        str_matches=CODE_SOUS_INDICATEUR, description="code du sous-indicateur, du côté a"
    )
    libelle_a: str = pa.Field(description="libellés de l'indicateur et du sous-indicateur du côté a")
    document_b: str = pa.Field(description="le document le plus récent")
    niveau_b: str = pa.Field(isin=NIVEAUX, description="`programme` ou `mission`, du côté b")
    code_mission_b: str = pa.Field(nullable=True, description="code de la mission, du côté b")
    code_programme_b: str = pa.Field(nullable=True, description="code du programme, du côté b")
    code_indicateur_b: str = pa.Field(str_matches=CODE_INDICATEUR, description="code de l'indicateur, du côté b")
    code_sous_indicateur_b: str = pa.Field(
        str_matches=CODE_SOUS_INDICATEUR, description="code du sous-indicateur, du côté b"
    )
    libelle_b: str = pa.Field(description="libellés de l'indicateur et du sous-indicateur du côté b")
    methode: str = pa.Field(
        isin=CORRESPONDENCE_METHODS,
        description="`identifiant` (même identifiant numérique) ou `libelle` (similarité des libellés)",
    )
    score: pl.Float64 = pa.Field(
        ge=0, le=100, description="similarité des libellés 0–100 (rapidfuzz), pour chaque correspondance"
    )
    meme_code_indicateur: bool = pa.Field(description="vrai si les deux côtés portent le même code_indicateur")

    class Config:
        strict = True
        coerce = False


class UnitesModel(pa.DataFrameModel):
    """``unites``: the units of the sub-indicators, normalised, with their counts and spellings."""

    unite: str = pa.Field(unique=True, description="l'unité telle que dans `indicateurs.unite`")
    nb_sous_indicateurs: pl.Int64 = pa.Field(ge=1, description="lignes de `indicateurs` dans cette unité")
    nb_variantes: pl.Int32 = pa.Field(ge=1, description="graphies distinctes fusionnées")
    variantes: str = pa.Field(description="chaque graphie telle que publiée, avec son nombre")

    class Config:
        strict = True
        coerce = False


class IndicateurFichiersModel(pa.DataFrameModel):
    """``indicateur_fichiers``: one read report per performance file."""

    source_id: str = pa.Field(unique=True, description="identifiant du fichier source (catalogue)")
    fichier: str = pa.Field(description="chemin du fichier dans le dossier des sources")
    famille: str = pa.Field(description="famille de fichier de performance reconnue")
    document: str = pa.Field(nullable=True, description="`PAP 2019`, `RAP 2024` ; vide si inconnu")
    statut: str = pa.Field(
        isin=("lu", "erreur", "absent"),
        description="`lu`, `erreur` (dernières lignes valides gardées) ou `absent` (non fourni ; lignes gardées)",
    )
    message: str = pa.Field(nullable=True, description="l'erreur, avec le fichier, la ligne et la colonne")
    lignes: pl.Int64 = pa.Field(nullable=True, description="lignes de données du fichier")
    lignes_retenues: pl.Int64 = pa.Field(nullable=True, description="lignes chargées comme sous-indicateurs")
    lignes_ecartees: pl.Int64 = pa.Field(nullable=True, description="lignes écartées")
    lignes_ecartees_par_motif: str = pa.Field(nullable=True, description="lignes écartées, par motif")
    valeurs: pl.Int64 = pa.Field(nullable=True, description="lignes de valeurs lues")
    type_document: str = pa.Field(
        nullable=True, isin=DOCUMENT_TYPES, description="`PAP` ou `RAP`, d'après ses colonnes"
    )
    millesime: pl.Int16 = pa.Field(nullable=True, ge=2000, le=2100, description="l'année du document")
    document_confirme_par: str = pa.Field(
        nullable=True, description="`colonnes`, plus `nom du fichier` / `catalogue` s'ils disent la même chose"
    )
    colonnes_valeurs: pl.Int64 = pa.Field(nullable=True, ge=0, description="colonnes de valeurs et d'atteinte")
    correspondance_colonnes: str = pa.Field(
        nullable=True, description="chaque colonne de valeurs telle que publiée → `annee type_valeur` (ou `atteinte`)"
    )
    cellules_lues: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="lignes de données × colonnes de valeurs et d'atteinte"
    )
    valeurs_chargees: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="lignes chargées dans `indicateur_valeurs` et `indicateur_atteintes_publiees`"
    )
    cellules_ecartees: pl.Int64 = pa.Field(nullable=True, ge=0, description="cellules de valeurs écartées")
    cellules_ecartees_par_motif: str = pa.Field(nullable=True, description="cellules de valeurs écartées, par motif")

    class Config:
        strict = True
        coerce = False
