"""Pandera model of the ``couverture`` table (README, "The tables"): what the warehouse holds, and lacks."""

import pandera.polars as pa
import polars as pl

from schemas.credits import BUDGET_TYPE_TEXT

__all__ = ["CouvertureModel", "STATUTS"]

#: A key is held (`present`), held by no source (`absent`), or its source failed (`en_erreur`).
STATUTS = ("present", "absent", "en_erreur")


class CouvertureModel(pa.DataFrameModel):
    """One row per (exercice, phase, type_budget) of credits, and per performance document or gap."""

    domaine: str = pa.Field(isin=("credits", "performance"), description="domaine : credits ou performance")
    exercice: pl.Int16 = pa.Field(description="exercice (celui du document, pour la performance)")
    phase: str = pa.Field(nullable=True, description="PLF, AMD, LFI, LFR, EXEC (crédits) ; vide pour la performance")
    document: str = pa.Field(
        nullable=True, description="document, par ex. `RAP 2024` (performance) ; vide pour les crédits"
    )
    type_budget: str = pa.Field(nullable=True, description=f"type de budget : {BUDGET_TYPE_TEXT} (crédits)")
    source_autoritaire: str = pa.Field(nullable=True, description="identifiant du fichier chargé ; vide si absent")
    temoins: pl.List(pl.String) = pa.Field(description="identifiants des fichiers témoins")
    lignes: pl.Int64 = pa.Field(ge=0, description="lignes présentes (lignes de crédits ou valeurs d'indicateurs)")
    statut: str = pa.Field(isin=STATUTS, description="statut : present, absent, en_erreur")

    class Config:
        strict = True
        coerce = False
