"""From line-level credit rows of several files to the ``credits`` table.

For each (exercice, phase, type_budget) exactly one file is authoritative (``A``):
the one whose family has the best rank for that phase in
``schemas/families/credits.toml``. The others are witnesses (``W``): kept in
staging, compared in checks, never loaded (``shared/data/README.md``, "Credits").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

from schemas.families import Family

__all__ = ["BUSINESS_KEY", "CREDITS_COLUMNS", "RoleAssignment", "assign_roles", "to_credits"]

log = logging.getLogger(__name__)

#: One row of ``credits`` per value of this key (CONTRACT.md).
BUSINESS_KEY = (
    "exercice",
    "phase",
    "type_budget",
    "code_programme",
    "code_action",
    "code_sous_action",
    "code_categorie",
    "code_titre",
)

#: Columns of the ``credits`` table, in order (CONTRACT.md).
CREDITS_COLUMNS = (
    "exercice",
    "phase",
    "type_budget",
    "code_ministere",
    "code_mission",
    "code_programme",
    "code_action",
    "code_sous_action",
    "code_categorie",
    "code_titre",
    "ae",
    "cp",
    "ae_fdc_adp",
    "cp_fdc_adp",
    "calcule",
    "source_id",
    "source_ligne",
    "nb_lignes_source",
)


@dataclass(frozen=True)
class RoleAssignment:
    """The role of one source for one (exercice, phase, type_budget)."""

    source_id: str
    exercice: int
    phase: str
    type_budget: str | None
    role: str  # "A" authoritative, "W" witness
    authoritative_source_id: str


def assign_roles(lines: pl.DataFrame, families: dict[str, Family]) -> list[RoleAssignment]:
    """Decide, for each (exercice, phase, type_budget) in ``lines``, which source is authoritative.

    ``lines``: line-level credit rows of several sources (columns ``source_id``,
    ``exercice``, ``phase``, ``type_budget``); ``families``: source_id → its family.
    The best rank (lowest number) wins; a source whose family has no rank for the
    phase is a witness only; between equal ranks the first source id in sort order
    wins, and the tie is logged.
    """
    keys = lines.select("exercice", "phase", "type_budget", "source_id").unique()
    assignments = []
    for (exercice, phase, type_budget), group in keys.group_by(
        ["exercice", "phase", "type_budget"], maintain_order=True
    ):
        ranked = sorted(
            (families[s].rank(phase) or 99, s) for s in group["source_id"].to_list()
        )
        best_rank, best = ranked[0]
        ties = [s for r, s in ranked if r == best_rank]
        if len(ties) > 1:
            log.warning(
                "%s %s %s: %s rank equally; %s is taken as authoritative",
                exercice, phase, type_budget, ties, best,
            )
        for _rank, source_id in ranked:
            assignments.append(
                RoleAssignment(
                    source_id, exercice, phase, type_budget, "A" if source_id == best else "W", best
                )
            )
    return assignments


def with_roles(lines: pl.DataFrame, roles: list[RoleAssignment]) -> pl.DataFrame:
    """``lines`` with a ``role`` column (``A`` or ``W``) from ``roles``."""
    frame = pl.DataFrame(
        [(r.source_id, r.exercice, r.phase, r.type_budget, r.role) for r in roles],
        schema={
            "source_id": pl.String,
            "exercice": pl.Int16,
            "phase": pl.String,
            "type_budget": pl.String,
            "role": pl.String,
        },
        orient="row",
    )
    return lines.join(
        frame, on=["source_id", "exercice", "phase", "type_budget"], how="left", nulls_equal=True
    )


def to_credits(lines: pl.DataFrame) -> pl.DataFrame:
    """The ``credits`` rows: authoritative lines summed by business key.

    ``lines``: line-level rows with a ``role`` column. Lines that share the whole
    business key are summed into one row; ``source_ligne`` is the first of them and
    ``nb_lignes_source`` their count. Amounts stay ``Decimal(18, 2)`` (euros).
    """
    authoritative = lines.filter(pl.col("role") == "A")
    money = ["ae", "cp", "ae_fdc_adp", "cp_fdc_adp"]
    grouped = authoritative.group_by(list(BUSINESS_KEY), maintain_order=True).agg(
        pl.col("code_ministere").drop_nulls().first(),
        pl.col("code_mission").drop_nulls().first(),
        *[pl.col(m).sum().alias(m) for m in ("ae", "cp")],
        *[
            pl.when(pl.col(m).is_not_null().any()).then(pl.col(m).sum()).alias(m)
            for m in ("ae_fdc_adp", "cp_fdc_adp")
        ],
        pl.col("calcule").any(),
        pl.col("source_id").first(),
        pl.col("source_ligne").min(),
        pl.len().cast(pl.Int32).alias("nb_lignes_source"),
    )
    return grouped.with_columns(
        *[pl.col(m).cast(pl.Decimal(18, 2)) for m in money],
    ).select(CREDITS_COLUMNS).sort(list(BUSINESS_KEY), nulls_last=True)
