"""Pandera model of the ``ecarts_sources`` table (README, "The tables"): where the sources disagree."""

import pandera.polars as pa
import polars as pl

from schemas.credits import BUDGET_TYPE_TEXT, Money

__all__ = ["EcartsModel"]


class EcartsModel(pa.DataFrameModel):
    """One row per disagreement a rule finds between official sources (or within one)."""

    regle: str = pa.Field(description="la règle : t2_plus_ht2, lfi_egale_plf_plus_amd, temoin, total_publie, …")
    exercice: pl.Int16 = pa.Field(nullable=True, description="l'exercice concerné")
    phase: str = pa.Field(nullable=True, description="PLF, AMD, LFI, LFR, EXEC ; vide si la règle n'a pas de phase")
    type_budget: str = pa.Field(nullable=True, description=f"{BUDGET_TYPE_TEXT} ; vide si la règle n'en a pas")
    cle: str = pa.Field(description="la ligne ou l'élément, en texte (`352-01-31/ae`, `RAP 2024 30421`, …)")
    valeur_attendue: str = pa.Field(nullable=True, description="le chiffre ou libellé attendu, tel que comparé")
    valeur_trouvee: str = pa.Field(nullable=True, description="le chiffre ou libellé trouvé, tel que comparé")
    ecart: Money = pa.Field(nullable=True, description="trouvé − attendu en euros, si les deux sont des montants")
    ecart_valeur: pl.Float64 = pa.Field(
        nullable=True, description="trouvé − attendu, si les deux sont d'autres nombres"
    )
    source_attendue: str = pa.Field(nullable=True, description="identifiant de la source du chiffre attendu")
    source_trouvee: str = pa.Field(nullable=True, description="identifiant de la source du chiffre trouvé")

    class Config:
        strict = True
        coerce = False
