"""Pandera models of the credit tables (polars backend).

Code formats follow GLOSSARY.md; amounts are euros as ``Decimal(18, 2)``; the
titre of a line is the first digit of its catégorie (GLOSSARY.md, "The
nomenclature by nature").
"""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl

__all__ = ["BUDGET_TYPE_TEXT", "BUDGET_TYPES", "BUSINESS_KEY", "CreditLinesModel", "CreditsModel", "PHASES"]

PHASES = ("PLF", "AMD", "LFI", "LFR", "EXEC")
BUDGET_TYPES = ("BG", "BA", "CAS", "CCF", "CS")
#: The budget types as the data dictionary says them (GLOSSARY.md: CS groups CAS and CCF where a file does).
BUDGET_TYPE_TEXT = "BG, BA, CAS, CCF, CS"
EXERCICE_MIN, EXERCICE_MAX = 2000, 2100

Money = Annotated[pl.Decimal, 18, 2]

#: One row of ``credits`` per value of this key (README, "The tables").
BUSINESS_KEY = [
    "exercice",
    "phase",
    "type_budget",
    "code_programme",
    "code_action",
    "code_sous_action",
    "code_categorie",
    "code_titre",
]


class _CreditCodes(pa.DataFrameModel):
    exercice: pl.Int16 = pa.Field(ge=EXERCICE_MIN, le=EXERCICE_MAX, description="exercice budgétaire (année)")
    phase: str = pa.Field(isin=PHASES, description="phase : PLF, AMD, LFI, LFR ou EXEC (exécution)")
    type_budget: str = pa.Field(nullable=True, isin=BUDGET_TYPES, description=f"type de budget : {BUDGET_TYPE_TEXT}")
    code_ministere: str = pa.Field(nullable=True, str_matches=r"^\d{2}$", description="code du ministère, 2 chiffres")
    code_mission: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{2}$", description="code de la mission, 2 lettres")
    code_programme: str = pa.Field(str_matches=r"^\d{3}$", description="code du programme, 3 chiffres (352)")
    code_action: str = pa.Field(
        nullable=True, str_matches=r"^\d{2}$", description="code de l'action, 2 chiffres dans son programme"
    )
    code_sous_action: str = pa.Field(
        nullable=True, str_matches=r"^\d{2}$", description="code de la sous-action, 2 chiffres dans son action"
    )
    code_categorie: str = pa.Field(
        nullable=True, str_matches=r"^\d{2}$", description="code de la catégorie de dépense, 2 chiffres (31)"
    )
    code_titre: str = pa.Field(
        nullable=True, str_matches=r"^[1-7]$", description="titre de dépense, 1 à 7 (premier chiffre de la catégorie)"
    )
    ae: Money = pa.Field(description="autorisations d'engagement (AE), en euros")
    cp: Money = pa.Field(description="crédits de paiement (CP), en euros")
    ae_fdc_adp: Money = pa.Field(
        nullable=True, description="prévision de fonds de concours et attributions de produits en AE, en euros"
    )
    cp_fdc_adp: Money = pa.Field(
        nullable=True, description="prévision de fonds de concours et attributions de produits en CP, en euros"
    )
    calcule: bool = pa.Field(description="vrai si le montant est calculé et non lu (LFI 2023 = PLF + AMD)")
    source_id: str = pa.Field(description="identifiant du fichier source (catalogue)")
    source_ligne: pl.Int32 = pa.Field(ge=1, description="ligne de données du fichier source (à partir de 1)")

    @pa.dataframe_check
    def titre_is_first_digit_of_categorie(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Where a catégorie is given, its first digit is the titre (GLOSSARY.md)."""
        return data.lazyframe.select(
            pl.col("code_categorie").is_null() | (pl.col("code_categorie").str.slice(0, 1) == pl.col("code_titre"))
        )


class CreditLinesModel(_CreditCodes):
    """Line-level rows of one credit file (``staging/credits``): one per source line and phase."""

    class Config:
        strict = False
        coerce = False


class CreditsModel(_CreditCodes):
    """``credits`` (README, "The tables"): one row per business key, authoritative sources only."""

    nb_lignes_source: pl.Int32 = pa.Field(ge=1, description="lignes sources additionnées dans la ligne")

    class Config:
        strict = True
        coerce = False
        unique = BUSINESS_KEY
