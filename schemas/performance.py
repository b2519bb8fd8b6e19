"""Pandera models of the performance tables (polars backend).

Columns, types and vocabulary follow ``shared/CONTRACT.md`` (``indicateurs``,
``indicateur_valeurs``); the extra columns (provenance, direction, correspondences,
units, read reports) are documented in the project README ("Performance indicators").
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas.indicator_values import COMPARATEURS, SENS, STATUTS

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
BUDGET_TYPES = ("BG", "BA", "CAS", "CCF", "CS")

_OWNER = r"(?:P\d{3}|M[A-Z]{2})"
CODE_OBJECTIF = rf"^{_OWNER}-\d+$"
CODE_INDICATEUR = rf"^{_OWNER}-\d+-\d+$"
CODE_SOUS_INDICATEUR = rf"^(?:\d+|{_OWNER}-\d+-\d+-\d+)$"

#: One sub-indicator per value of this key in ``indicateurs``.
INDICATEUR_KEY = ["document", "niveau", "code_mission", "code_programme", "code_sous_indicateur"]
#: One value per value of this key in ``indicateur_valeurs`` (issue 4, "Checks").
VALEUR_KEY = [*INDICATEUR_KEY, "annee", "type_valeur"]


class _SubIndicatorKey(pa.DataFrameModel):
    document: str = pa.Field(str_matches=r"^(PAP|RAP) \d{4}$", description="publication and vintage, e.g. `RAP 2024`")
    niveau: str = pa.Field(isin=NIVEAUX, description="`programme`, or `mission` for a mission's own indicators")
    code_mission: str = pa.Field(
        nullable=True, str_matches=r"^[A-Z]{2}$", description="2 letters; null where the source gives none"
    )
    code_programme: str = pa.Field(
        nullable=True, str_matches=r"^\d{3}$", description="3 digits; null for niveau `mission`"
    )
    code_indicateur: str = pa.Field(
        str_matches=CODE_INDICATEUR, description="normalised `P352-1-1` (programme) or `MTR-1-1` (mission)"
    )
    code_sous_indicateur: str = pa.Field(
        str_matches=CODE_SOUS_INDICATEUR,
        description="the source's numeric id as text (`30157`), or `<code_indicateur>-<n>` where there is none",
    )


class IndicateursModel(_SubIndicatorKey):
    """``indicateurs`` (CONTRACT.md): one row per sub-indicator of each document."""

    type_document: str = pa.Field(isin=DOCUMENT_TYPES, description="`PAP` or `RAP`")
    millesime: pl.Int16 = pa.Field(ge=2000, le=2100, description="the vintage of the document")
    code_objectif: str = pa.Field(str_matches=CODE_OBJECTIF, description="normalised `P352-1` or `MTR-1`")
    libelle_objectif: str = pa.Field(nullable=True, description="the objective's label")
    code_indicateur_source: str = pa.Field(description="the indicator code as the source wrote it")
    libelle_indicateur: str = pa.Field(description="the indicator's label (artefacts `_x000D_` removed)")
    libelle_sous_indicateur: str = pa.Field(nullable=True, description="the sub-indicator's label")
    unite: str = pa.Field(nullable=True, description="unit, trimmed, case variants merged (see `unites`)")
    unite_source: str = pa.Field(nullable=True, description="unit as published")
    code_programme_repris: str = pa.Field(
        nullable=True, str_matches=r"^\d{3}$", description="for niveau `mission`: the programme whose series it repeats"
    )
    type_budget: str = pa.Field(nullable=True, isin=BUDGET_TYPES, description="BG, BA, CAS, CCF")
    sens_attendu: str = pa.Field(
        nullable=True, isin=SENS, description="direction of improvement where the sources reveal it, else null"
    )
    sens_origine: str = pa.Field(nullable=True, description="what revealed the direction (or `contradictoire`)")
    source_id: str = pa.Field(description="catalogue id of the source file")
    source_ligne: pl.Int32 = pa.Field(ge=1, description="1-based data row in the source file")

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
    """``indicateur_valeurs`` (CONTRACT.md): one row per value cell of each sub-indicator."""

    annee: pl.Int16 = pa.Field(ge=1990, le=2100, description="the year the value is for")
    type_valeur: str = pa.Field(isin=TYPES_VALEUR, description="realisation, prevision, prevision_actualisee, cible")
    valeur: pl.Float64 = pa.Field(nullable=True, description="the one number the cell states, else null")
    valeur_min: pl.Float64 = pa.Field(nullable=True, description="lower bound or lower end of a range")
    valeur_max: pl.Float64 = pa.Field(nullable=True, description="upper bound or upper end of a range")
    comparateur: str = pa.Field(nullable=True, isin=COMPARATEURS, description="`=` for a number; bound operator")
    sens: str = pa.Field(nullable=True, isin=SENS, description="`hausse` or `baisse` for a trend")
    statut: str = pa.Field(isin=STATUTS, description="what the cell states (CONTRACT.md vocabulary)")
    valeur_brute: str = pa.Field(nullable=True, description="the cell exactly as published (null: empty cell)")
    colonne_source: str = pa.Field(description="the header of the column the value came from")
    source_id: str = pa.Field(description="catalogue id of the source file")
    source_ligne: pl.Int32 = pa.Field(ge=1, description="1-based data row in the source file")

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

    annee: pl.Int16 = pa.Field(ge=1990, le=2100, description="the year of the target")
    atteinte_publiee: str = pa.Field(nullable=True, description="as published (`cible atteinte`, `amélioration`…)")
    atteinte: str = pa.Field(
        nullable=True, isin=ATTEINTES, description="`atteinte`, `non_atteinte`, `inconnue`; null if not recognised"
    )
    source_id: str = pa.Field(description="catalogue id of the source file")
    source_ligne: pl.Int32 = pa.Field(ge=1, description="1-based data row in the source file")

    class Config:
        strict = True
        coerce = False
        unique = [*INDICATEUR_KEY, "annee"]


class IndicateurCorrespondancesModel(pa.DataFrameModel):
    """``indicateur_correspondances``: one row per link between sub-indicators of two documents."""

    document_a: str = pa.Field(description="the older document")
    niveau_a: str = pa.Field(isin=NIVEAUX)
    code_mission_a: str = pa.Field(nullable=True)
    code_programme_a: str = pa.Field(nullable=True)
    code_indicateur_a: str = pa.Field(str_matches=CODE_INDICATEUR)
    code_sous_indicateur_a: str = pa.Field(str_matches=CODE_SOUS_INDICATEUR)
    libelle_a: str = pa.Field(description="indicator and sub-indicator labels of side a")
    document_b: str = pa.Field(description="the newer document")
    niveau_b: str = pa.Field(isin=NIVEAUX)
    code_mission_b: str = pa.Field(nullable=True)
    code_programme_b: str = pa.Field(nullable=True)
    code_indicateur_b: str = pa.Field(str_matches=CODE_INDICATEUR)
    code_sous_indicateur_b: str = pa.Field(str_matches=CODE_SOUS_INDICATEUR)
    libelle_b: str = pa.Field(description="indicator and sub-indicator labels of side b")
    methode: str = pa.Field(
        isin=CORRESPONDENCE_METHODS, description="`identifiant` (same numeric id) or `libelle` (label similarity)"
    )
    score: pl.Float64 = pa.Field(ge=0, le=100, description="label similarity 0–100 (rapidfuzz), for every link")
    meme_code_indicateur: bool = pa.Field(description="whether both sides carry the same code_indicateur")

    class Config:
        strict = True
        coerce = False


class UnitesModel(pa.DataFrameModel):
    """``unites``: the units of the sub-indicators, normalised, with their counts and spellings."""

    unite: str = pa.Field(unique=True, description="the unit as stored in `indicateurs.unite`")
    nb_sous_indicateurs: pl.Int64 = pa.Field(ge=1, description="rows of `indicateurs` with this unit")
    nb_variantes: pl.Int32 = pa.Field(ge=1, description="distinct spellings merged into it")
    variantes: str = pa.Field(description="each spelling as published, with its count")

    class Config:
        strict = True
        coerce = False


class IndicateurFichiersModel(pa.DataFrameModel):
    """``indicateur_fichiers``: one read report per performance file."""

    source_id: str = pa.Field(unique=True)
    fichier: str = pa.Field(description="path of the file in the sources folder")
    famille: str = pa.Field(description="performance family recognised")
    document: str = pa.Field(nullable=True, description="`PAP 2019`, `RAP 2024`; null if unknown")
    statut: str = pa.Field(
        isin=("lu", "erreur", "absent"),
        description="`lu`, `erreur` (last good rows kept) or `absent` (not given this time; rows kept)",
    )
    message: str = pa.Field(nullable=True, description="the error, naming the file, the row and the column")
    lignes: pl.Int64 = pa.Field(nullable=True, description="data rows of the file")
    lignes_retenues: pl.Int64 = pa.Field(nullable=True, description="rows loaded as sub-indicators")
    lignes_ecartees: pl.Int64 = pa.Field(nullable=True, description="rows set aside")
    lignes_ecartees_par_motif: str = pa.Field(nullable=True, description="rows set aside, by reason")
    valeurs: pl.Int64 = pa.Field(nullable=True, description="value rows read")
    type_document: str = pa.Field(nullable=True, isin=DOCUMENT_TYPES, description="`PAP` or `RAP`, from its columns")
    millesime: pl.Int16 = pa.Field(nullable=True, ge=2000, le=2100, description="the document's year")
    document_confirme_par: str = pa.Field(
        nullable=True, description="`colonnes`, plus `nom du fichier` / `catalogue` where they say the same"
    )
    colonnes_valeurs: pl.Int64 = pa.Field(nullable=True, ge=0, description="value and attainment columns")
    correspondance_colonnes: str = pa.Field(
        nullable=True, description="each value column as published → `annee type_valeur` (or `atteinte`)"
    )
    cellules_lues: pl.Int64 = pa.Field(nullable=True, ge=0, description="data rows × value and attainment columns")
    valeurs_chargees: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="rows loaded in `indicateur_valeurs` and `indicateur_atteintes_publiees`"
    )
    cellules_ecartees: pl.Int64 = pa.Field(nullable=True, ge=0, description="value cells set aside")
    cellules_ecartees_par_motif: str = pa.Field(nullable=True, description="value cells set aside, by reason")

    class Config:
        strict = True
        coerce = False
