"""Pandera model of the ``ecarts_sources`` table (CONTRACT.md): where the sources disagree."""

import pandera.polars as pa
import polars as pl

from schemas.credits import Money

__all__ = ["EcartsModel"]


class EcartsModel(pa.DataFrameModel):
    """One row per disagreement a rule finds between official sources (or within one)."""

    regle: str = pa.Field(description="the rule: t2_plus_ht2, lfi_egale_plf_plus_amd, temoin, total_publie, …")
    exercice: pl.Int16 = pa.Field(nullable=True, description="the year it applies to")
    phase: str = pa.Field(nullable=True, description="PLF, AMD, LFI, LFR, EXEC; null where the rule has none")
    type_budget: str = pa.Field(nullable=True, description="BG, BA, CAS, CCF; null where the rule has none")
    cle: str = pa.Field(description="the line or element, as text (`352-01-31/ae`, `RAP 2024 30421`, …)")
    valeur_attendue: str = pa.Field(nullable=True, description="the expected figure or label, as compared")
    valeur_trouvee: str = pa.Field(nullable=True, description="the figure or label found, as compared")
    ecart: Money = pa.Field(nullable=True, description="found − expected in euros, where both are money")
    ecart_valeur: pl.Float64 = pa.Field(nullable=True, description="found − expected, where both are other numbers")
    source_attendue: str = pa.Field(nullable=True, description="source id of the expected figure")
    source_trouvee: str = pa.Field(nullable=True, description="source id of the figure found")

    class Config:
        strict = True
        coerce = False
