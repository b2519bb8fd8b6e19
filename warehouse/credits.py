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

from schemas.credits import BUSINESS_KEY, CreditLinesModel
from schemas.families import Family, credit_families
from schemas.validation import ValidationFailed, validate
from warehouse.credit_files import LINE_SCHEMA, CreditRead, SourceReadError, read_credit_table
from warehouse.expected import is_absent
from warehouse.sources import InventoryItem, recognise
from warehouse.staging import SourceReport
from warehouse.tables import TableReadError

__all__ = [
    "CREDITS_COLUMNS",
    "RoleAssignment",
    "assign_roles",
    "stage_exercice",
    "to_credits",
    "with_roles",
]

log = logging.getLogger(__name__)

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


def assign_roles(lines: pl.DataFrame, families: dict[str, Family]) -> list[RoleAssignment]:
    """Decide, for each (exercice, phase, type_budget) in ``lines``, which source is authoritative.

    ``lines``: line-level credit rows of several sources (columns ``source_id``,
    ``exercice``, ``phase``, ``type_budget``); ``families``: source_id → its family.
    The best rank (lowest number) wins; a source whose family has no rank for the
    phase (or whose family is unknown: lines carried over from a failed download)
    ranks last; between equal ranks the first source id in sort order
    wins, and the tie is logged.
    """
    keys = lines.select("exercice", "phase", "type_budget", "source_id").unique()
    assignments = []
    for (exercice, phase, type_budget), group in keys.group_by(
        ["exercice", "phase", "type_budget"], maintain_order=True
    ):
        ranked = sorted(
            ((families[s].rank(phase) if s in families else None) or 99, s) for s in group["source_id"].to_list()
        )
        best_rank, best = ranked[0]
        ties = [s for r, s in ranked if r == best_rank]
        if len(ties) > 1:
            log.warning(
                "%s %s %s: %s rank equally; %s is taken as authoritative",
                exercice,
                phase,
                type_budget,
                ties,
                best,
            )
        for _rank, source_id in ranked:
            assignments.append(
                RoleAssignment(source_id, exercice, phase, type_budget, "A" if source_id == best else "W")
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
    return lines.join(frame, on=["source_id", "exercice", "phase", "type_budget"], how="left", nulls_equal=True)


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
        *[pl.when(pl.col(m).is_not_null().any()).then(pl.col(m).sum()).alias(m) for m in ("ae_fdc_adp", "cp_fdc_adp")],
        pl.col("calcule").any(),
        pl.col("source_id").first(),
        pl.col("source_ligne").min(),
        pl.len().cast(pl.Int32).alias("nb_lignes_source"),
    )
    return (
        grouped.with_columns(
            *[pl.col(m).cast(pl.Decimal(18, 2)) for m in money],
        )
        .select(CREDITS_COLUMNS)
        .sort(list(BUSINESS_KEY), nulls_last=True)
    )


def stage_exercice(
    items: list[InventoryItem], previous: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, list[SourceReport]]:
    """Read every credit file of one exercice into line-level rows with their role.

    ``items``: the inventory items of the exercice's credit files. Each file is
    read and validated on its own (:class:`schemas.credits.CreditLinesModel`); a
    file that fails is reported (``statut = 'erreur'``, the message naming the
    file, the row and the column) and its lines of the previous build
    (``previous``, the exercice's former staging) are carried over unchanged
    (``repris = true``), so its last good data stays. Returns the lines (columns
    of :data:`warehouse.credit_files.LINE_SCHEMA` plus ``role`` and ``repris``) and
    one report per file.
    """
    families = {f.id: f for f in credit_families()}
    frames: list[pl.DataFrame] = []
    reports: list[SourceReport] = []
    family_of: dict[str, Family] = {}
    for item in items:
        report = SourceReport.starting(item)
        reports.append(report)
        if item.famille is not None:
            family_of[item.source.source_id] = families[item.famille]
        try:
            read = _read_and_validate(item)
        except (SourceReadError, TableReadError) as exc:
            absent = is_absent(item)  # not given this time: kept, keeping its status (warehouse/expected.py)
            report.statut, report.message = ("absent" if absent else "erreur"), str(exc)
            if previous is not None:
                kept = previous.filter(pl.col("source_id") == item.source.source_id)
                if kept.height:
                    frames.append(kept.select(list(LINE_SCHEMA)).with_columns(repris=pl.lit(not absent)))
            continue
        report.statut = "lu"
        report.phases = list(read.phases)
        report.lignes = read.data_rows
        report.lignes_retenues = read.kept
        report.lignes_ecartees_par_motif = read.set_aside
        report.montants_vides = read.empty_amounts
        report.titres_corriges = read.titres_corriges
        report.controle_totaux = read.total_mismatches
        if read.broken_phases:
            report.message = (
                f"phase(s) {', '.join(read.broken_phases)} broken at source (one constant value "
                "on every line): computed as PLF + AMD"
            )
        frames.append(read.lines.with_columns(repris=pl.lit(False)))
    if not frames:
        empty = pl.DataFrame(schema={**LINE_SCHEMA, "repris": pl.Boolean, "role": pl.String})
        return empty, reports
    lines = pl.concat(frames, how="vertical")
    roles = assign_roles(lines, family_of)
    lines = with_roles(lines, roles)
    by_source: dict[str, dict[str, str]] = {}
    for r in roles:
        by_source.setdefault(r.source_id, {})[f"{r.phase}/{r.type_budget or '-'}"] = r.role
    for report in reports:
        report.roles = by_source.get(report.source_id, {})
    return lines, reports


def _read_and_validate(item: InventoryItem) -> CreditRead:
    if item.error is not None:  # not downloaded, or not a table
        raise SourceReadError(item.source.fichier, item.error)
    found = recognise(item.source)
    if found.match is None or found.table is None:
        raise SourceReadError(item.source.fichier, found.error or "no longer matches its family")
    read = read_credit_table(found.table, found.match, item.source.source_id, found.exercice_hint)
    try:
        validate(CreditLinesModel, read.lines)
    except ValidationFailed as exc:
        first = exc.failures.drop_nulls("index").head(1)
        if first.height:
            row = first.row(0, named=True)
            ligne = read.lines["source_ligne"][row["index"]]
            raise SourceReadError(
                item.source.fichier,
                f"{row['check']} failed on {row['failure_case']!r} ({exc.failures.height} failure(s) in all)",
                ligne=ligne,
                colonne=row["column"],
            ) from exc
        raise SourceReadError(item.source.fichier, str(exc)) from exc
    return read
