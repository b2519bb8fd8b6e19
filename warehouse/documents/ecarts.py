"""The ``discorde`` rows of ``rapprochements`` as rows of ``ecarts_sources`` (README, "The checks"), rule
``declaration``.

A declaration that disagrees with the data is a disagreement between two official sources (a
report's text and a data file): published, never fatal. ``valeur_attendue`` is the warehouse's figure
(``source_attendue`` its file), ``valeur_trouvee`` the text's (``source_trouvee`` the document's file);
``ecart`` = trouvée − attendue, in ``ecart`` (DECIMAL) for money, in ``ecart_valeur`` (DOUBLE) for
indicator values.
"""

from __future__ import annotations

import polars as pl

from warehouse.disagreements import ECARTS_SCHEMA

__all__ = ["ECART_SCHEMA", "declaration_discrepancies"]

ECART_SCHEMA = ECARTS_SCHEMA
_MONEY = ("ae", "cp", "titre2")


def declaration_discrepancies(rapprochements: pl.DataFrame) -> pl.DataFrame:
    """``ecarts_sources`` rows (exactly :data:`ECART_SCHEMA`) for each ``discorde`` of ``rapprochements``.

    ``cle``: ``<document> <programme> <grandeur>`` (``RAP 2021 352 ae``; an indicator's code and
    sub-indicator for indicators). ``phase``: the phase compared with (null for indicators).
    """
    rows = rapprochements.filter(pl.col("statut") == "discorde")
    money = pl.col("grandeur").is_in(_MONEY)
    trouvee = pl.col("valeur_declaree").cast(pl.Decimal(18, 2))
    attendue = pl.col("valeur_donnees").cast(pl.Decimal(18, 2))
    return rows.select(
        regle=pl.lit("declaration"),
        exercice=pl.col("exercice").cast(pl.Int16),
        phase=pl.col("phase"),
        type_budget=pl.lit(None, pl.String),
        cle=pl.concat_str(
            [
                pl.col("document"),
                pl.col("code_programme"),
                pl.col("grandeur"),
                pl.col("code_sous_indicateur"),
            ],
            separator=" ",
            ignore_nulls=True,
        ),
        valeur_attendue=attendue.cast(pl.String),
        valeur_trouvee=trouvee.cast(pl.String),
        ecart=pl.when(money).then(trouvee - attendue).otherwise(None).cast(pl.Decimal(18, 2)),
        ecart_valeur=pl.when(money).then(None).otherwise((trouvee - attendue).cast(pl.Float64)),
        source_attendue=pl.col("source_donnees"),
        source_trouvee=pl.col("source_id"),
    ).cast(ECART_SCHEMA)
