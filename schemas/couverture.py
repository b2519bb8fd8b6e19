"""Pandera model of the ``couverture`` table (CONTRACT.md): what the warehouse holds, and lacks."""

import pandera.polars as pa
import polars as pl

__all__ = ["CouvertureModel", "STATUTS"]

#: A key is held (`present`), held by no source (`absent`), or its source failed (`en_erreur`).
STATUTS = ("present", "absent", "en_erreur")


class CouvertureModel(pa.DataFrameModel):
    """One row per (exercice, phase, type_budget) of credits, and per performance document or gap."""

    domaine: str = pa.Field(isin=("credits", "performance"), description="credits or performance")
    exercice: pl.Int16 = pa.Field(description="fiscal year (of the document, for performance)")
    phase: str = pa.Field(nullable=True, description="PLF, AMD, LFI, LFR, EXEC (credits); null for performance")
    document: str = pa.Field(nullable=True, description="e.g. `RAP 2024` (performance); null for credits")
    type_budget: str = pa.Field(nullable=True, description="BG, BA, CAS, CCF (credits)")
    source_autoritaire: str = pa.Field(nullable=True, description="source id of the loaded file; null when absent")
    temoins: pl.List(pl.String) = pa.Field(description="source ids of the witnesses")
    lignes: pl.Int64 = pa.Field(ge=0, description="rows held (credits rows, or indicator values)")
    statut: str = pa.Field(isin=STATUTS, description="present, absent, en_erreur")

    class Config:
        strict = True
        coerce = False
