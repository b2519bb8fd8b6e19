"""From line-level credit rows of several files to the ``credits`` table.

For each (exercice, phase, type_budget) exactly one file is authoritative (``A``),
chosen by coverage, family rank and the catalogue (:func:`assign_roles`). The
others are witnesses (``W``): kept in staging, compared in checks, never loaded
(``shared/data/README.md``, "Credits").
"""

from __future__ import annotations

import functools
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import polars as pl

from schemas.catalogue import catalogue
from schemas.credits import CreditLinesModel
from schemas.families import Family, credit_families
from schemas.row_rules import first_failure, row_rules
from warehouse.credits.files import (
    LINE_SCHEMA,
    CreditRead,
    CreditStream,
    GuessRefuted,
    SourceReadError,
    read_credit_stream,
    read_credit_table,
    reading_order,
)
from warehouse.credits.staged_lines import scan_staged_lines
from warehouse.credits.staging import SourceReport, sink_staging, write_staging
from warehouse.expected import is_absent
from warehouse.reading.csv_files import stream_csv_table
from warehouse.reading.tables import TableReadError
from warehouse.sources import InventoryItem, recognise

__all__ = [
    "COVERAGE_KEY",
    "CREDITS_COLUMNS",
    "AuthorityTie",
    "CopySetAside",
    "RoleAssignment",
    "assign_roles",
    "set_aside_copies",
    "stage_exercice_to",
    "with_roles",
]

log = logging.getLogger(__name__)
FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

#: Columns of the ``credits`` table, in order (README, "The tables").
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


@dataclass(frozen=True)
class AuthorityTie:
    """An (exercice, phase, type_budget) whose authority no rule decides: nothing of it is loaded."""

    exercice: int
    phase: str
    type_budget: str | None
    source_ids: tuple[str, ...]

    def message(self, fichiers: dict[str, str]) -> str:
        names = " and ".join(fichiers.get(s, s) for s in self.source_ids)
        return (
            f"{self.exercice} {self.phase} {self.type_budget or '-'}: {names} are equally authoritative "
            "(same family rank, same coverage, both catalogued or both unknown): nothing of it is loaded; "
            "remove one of them or add the right one to the catalogue"
        )


#: What a source covers for one (exercice, phase, type_budget): its distinct (programme, action) pairs.
COVERAGE_KEY = ("code_programme", "code_action")


def assign_roles(
    lines: pl.DataFrame,
    families: dict[str, Family],
    catalogued: frozenset[str] = frozenset(),
    absent: frozenset[str] = frozenset(),
    replaced: dict[str, list[tuple[str, str]]] | None = None,
) -> tuple[list[RoleAssignment], list[AuthorityTie]]:
    """Decide, for each (exercice, phase, type_budget) in ``lines``, which source is authoritative.

    ``lines``: line-level credit rows of several sources, a frame or a ``LazyFrame`` (columns ``source_id``,
    ``exercice``, ``phase``, ``type_budget``, ``code_programme``, ``code_action``);
    ``families``: source_id → its family; ``catalogued``: the source ids whose file
    the catalogue knows by its sha256 (an official file). Authority follows
    coverage (issue 7, item 1). A source's *coverage* of a scope is the set of its
    distinct (code_programme, code_action) pairs there. In order:

    1. a source that covers only part of another's scope — half as many pairs or
       fewer — is a witness, never authoritative (a few lines exported from the
       portal cannot replace the whole file). Not "a strict subset": two complete
       files of one phase differ by an action or two (PLF 2023 BG: 620 pairs in the
       PLF file, 621 in the PLF columns of the LFI file), and that must not move the
       authority;
    2. among the others, the best family rank for the phase wins
       (``schemas/families/credits.toml``; no rank, or no known family: last);
    3. between equal ranks, the larger coverage (more pairs) wins;
    4. then a catalogued file beats an unknown one;
    5. then a file of the folder beats one of ``absent`` (a source of the latest release no longer in the folder,
       its data kept): the present file replaces it there, and the absent one gets no role in that scope (not
       loaded, not a witness); ``replaced`` (if given) gets ``{absent source_id: [(scope, winner source_id)]}``,
       the scope as ``"2020 LFI BG"``;
    6. a tie that remains is an :class:`AuthorityTie`: no source of the scope gets
       a role there (nothing of it is loaded), and the caller reports the error.
       Never decided by file-name order.

    Returns the roles and the ties.
    """
    # The number of distinct pairs per (scope, source), from the distinct rows of a streaming pass, counted
    # in Polars (only the sizes of the coverages decide; a 10 M-line file has millions of pairs).
    coverage = (
        lines.lazy()
        .select("exercice", "phase", "type_budget", "source_id", *COVERAGE_KEY)
        .unique()
        .group_by("exercice", "phase", "type_budget", "source_id")
        .agg(pl.len().alias("paires"))
        .collect(engine="streaming")
        .sort("source_id")
    )
    assignments: list[RoleAssignment] = []
    ties: list[AuthorityTie] = []
    for (exercice, phase, type_budget), group in coverage.group_by(
        ["exercice", "phase", "type_budget"], maintain_order=True
    ):
        covered = dict(zip(group["source_id"], group["paires"], strict=True))
        partial = {s for s, pairs in covered.items() if any(pairs * 2 <= other for other in covered.values())}
        candidates = [s for s in covered if s not in partial]

        merit = {
            s: (
                (families[s].rank(phase) if s in families else None) or 99,
                -covered[s],
                0 if s in catalogued else 1,
                1 if s in absent else 0,
            )
            for s in candidates
        }
        best = min(merit.values())
        winners = [s for s in candidates if merit[s] == best]
        if len(winners) > 1:
            ties.append(AuthorityTie(exercice, phase, type_budget, tuple(sorted(winners))))
            continue
        if partial:
            log.info("%s %s %s: %s cover part of %s only: witnesses", exercice, phase, type_budget, partial, winners)
        gone = {s for s in candidates if s in absent and s != winners[0] and merit[s][:3] == best[:3]}
        for source_id in sorted(gone):  # replaced by the file of the folder (rule 5): no role
            (replaced if replaced is not None else {}).setdefault(source_id, []).append(
                (f"{exercice} {phase} {type_budget or '-'}", winners[0])
            )
        for source_id in covered:
            if source_id in gone:
                continue
            role = "A" if source_id == winners[0] else "W"
            assignments.append(RoleAssignment(source_id, exercice, phase, type_budget, role))
    return assignments, ties


def with_roles(lines: FrameT, roles: list[RoleAssignment]) -> FrameT:
    """``lines`` (a frame or a ``LazyFrame``) with a ``role`` column (``A`` or ``W``) from ``roles``.

    A projection (one condition per role: a file's scopes are few), not a join, so that a lazy
    ``lines`` streams to its sink without buffering; null where no role applies.
    """
    role = pl.lit(None, pl.String)
    for r in reversed(roles):
        scope = (
            (pl.col("source_id") == r.source_id)
            & (pl.col("exercice") == r.exercice)
            & (pl.col("phase") == r.phase)
            & pl.col("type_budget").eq_missing(pl.lit(r.type_budget, pl.String))
        )
        role = pl.when(scope).then(pl.lit(r.role, pl.String)).otherwise(role)
    return lines.with_columns(role=role)


def stage_exercice_to(root: Path, exercice: int, items: list[InventoryItem]) -> tuple[int, list[SourceReport]]:
    """Read every credit file of ``exercice`` and replace its staging under ``root``, in bounded memory.

    Each file is read and validated on its own (:class:`schemas.credits.CreditLinesModel`); a
    file that fails is reported (``statut = 'erreur'``, the message naming the file, the row and
    the column) and its lines of the previous build (the exercice's former staging, scanned, not
    loaded) are carried over unchanged (``repris = true``), so its last good data stays. The staged
    lines have the columns of :data:`warehouse.credits.files.LINE_SCHEMA` plus ``role`` and ``repris``.
    A CSV file is decoded, read and validated in batches
    (:func:`warehouse.credits.files.read_credit_stream`) into Parquet parts in a temporary
    folder under ``root``; the roles are decided from the coverage pairs (a streaming
    aggregate) and the lines with their role are sunk to the exercice's Parquet file
    (:func:`warehouse.credits.staging.sink_staging`). An exercice of one CSV file needs no roles decided
    (its file is authoritative for every scope it holds): its lines go from the reader's second pass
    straight to the staged file, written once (:func:`_stage_alone`). Returns the number of staged
    lines and the reports.
    """
    root.mkdir(parents=True, exist_ok=True)
    previous = scan_staged_lines(root, exercice)
    items, copies = set_aside_copies(items)
    copied = [c.report() for c in copies]  # recorded beside the files read: `sources` takes them (statut 'doublon')
    if len(items) == 1:
        staged = _stage_alone(root, exercice, items[0], copied)
        if staged is not None:
            return staged
    with tempfile.TemporaryDirectory(prefix=".lecture-", dir=root) as folder:
        lines, reports = _stage(items, previous, Path(folder))
        reports += copied
        rows = sink_staging(root, exercice, lines, reports)
    return rows, reports


@dataclass(frozen=True)
class CopySetAside:
    """A file set aside as a byte-identical copy (``item``) of another (``of``), which is read in its place."""

    item: InventoryItem
    of: InventoryItem

    @property
    def message(self) -> str:
        return f"the same bytes as {self.of.source.fichier}, set aside"

    def report(self) -> SourceReport:
        """Its read report (``statut = 'doublon'``), staged with those of the files read: ``assets/provenance.py``
        writes its ``sources`` row from it, the build's summary and the changelog say it from that row."""
        report = SourceReport.starting(self.item)
        report.statut, report.message = "doublon", self.message
        return report


def set_aside_copies(items: list[InventoryItem]) -> tuple[list[InventoryItem], list[CopySetAside]]:
    """``items`` without the byte-identical copies of another (a browser's ``… (1).csv``): one source, read once;
    and the copies set aside, each with the file it copies. The one kept is the one the latest release read
    (:attr:`InventoryItem.lu_avant`: a browser's ``X (1).csv`` put beside ``X.csv`` never takes its place), else the
    catalogue's own path, else the first in path order; each copy is logged (INFO) and recorded
    (:meth:`CopySetAside.report`: its ``sources`` row says ``doublon``). Files of different bytes are never set
    aside: a tie between them stays an error (:func:`assign_roles`). The one rule of copies: the credits' staging
    and the performance step (``assets/performance.py``) both apply it."""
    kept: dict[str, InventoryItem] = {}
    copies: list[CopySetAside] = []
    order = sorted(
        items,
        key=lambda i: (
            not i.lu_avant,
            i.source.entree is None or i.source.entree.fichier != i.source.fichier,
            i.source.fichier,
        ),
    )
    for item in order:
        if not _has_bytes(item):  # not fetched, in error or empty: no content to be a copy of (each its own error)
            continue
        first = kept.setdefault(item.source.sha256, item)
        if first is not item:
            copies.append(CopySetAside(item, first))
            log.info("%s: %s", item.source.fichier, copies[-1].message)
    return [i for i in items if not _has_bytes(i) or kept[i.source.sha256] is i], copies


def _has_bytes(item: InventoryItem) -> bool:
    """Whether ``item`` has content that another file may copy: fetched (a sha256), not in error, not empty."""
    return bool(item.source.sha256) and item.error is None and item.source.octets > 0


def _stage(
    items: list[InventoryItem], previous: pl.LazyFrame | None, folder: Path
) -> tuple[pl.LazyFrame, list[SourceReport]]:
    """The staged lines of ``items`` (lazy, over Parquet parts written below ``folder``) and their reports."""
    families = {f.id: f for f in credit_families()}
    frames: list[pl.LazyFrame] = []
    reports: list[SourceReport] = []
    family_of: dict[str, Family] = {}
    for number, item in enumerate(items):
        report = SourceReport.starting(item)
        reports.append(report)
        if item.famille is not None:
            family_of[item.source.source_id] = families[item.famille]
        try:
            read = _read_and_validate(item, folder / f"source-{number}")
        except (SourceReadError, TableReadError) as exc:
            absent = is_absent(item)  # not given this time: kept, keeping its status (warehouse/expected.py)
            report.statut, report.message = ("absent" if absent else "erreur"), str(exc)
            if previous is not None:
                kept = previous.filter(pl.col("source_id") == item.source.source_id)
                frames.append(_carried(kept, len(frames)).with_columns(repris=pl.lit(not absent)))
            continue
        _fill_report(report, read)
        block = reading_order(pl.lit(0), pl.lit(0), len(frames))
        lines = read.lines.lazy().with_columns(ordre_lecture=pl.col("ordre_lecture") + block)
        frames.append(lines.with_columns(repris=pl.lit(False)))
    if not frames:
        empty = pl.LazyFrame(schema={**LINE_SCHEMA, "repris": pl.Boolean, "role": pl.String})
        return empty, reports
    lines = pl.concat(frames, how="vertical")
    blocks = len(frames)
    # A file absent from the folder (its last good data kept) whose bytes, as the latest release read them, are a
    # catalogue entry's is catalogued too: its `.xlsx` re-save put in its place beside it is unknown, a witness
    # (rule 4), never a tie with the file that is not there (nothing of the scope was loaded, exit 1).
    official = {e.sha256 for e in catalogue()}
    catalogued = frozenset(
        i.source.source_id
        for i in items
        if (i.source.entree is not None and i.source.entree.sha256 == i.source.sha256)
        or (is_absent(i) and i.source.sha256 in official)
    )
    # A file absent from the folder that a file of it equals by every other rule (an unknown file renamed and
    # changed together) is replaced by it (rule 5), not tied with it.
    absent = frozenset(i.source.source_id for i in items if is_absent(i))
    replaced: dict[str, list[tuple[str, str]]] = {}
    roles, ties = assign_roles(lines, family_of, catalogued, absent, replaced)
    lines = with_roles(lines, roles)
    if ties:
        lines = _report_ties(lines, ties, reports, previous, blocks)
    by_source: dict[str, dict[str, str]] = {}
    for r in roles:
        by_source.setdefault(r.source_id, {})[f"{r.phase}/{r.type_budget or '-'}"] = r.role
    fichiers = {r.source_id: r.fichier for r in reports}
    for report in reports:
        report.roles = by_source.get(report.source_id, {})
        if report.source_id in replaced:
            scopes = ", ".join(sorted(scope for scope, _ in replaced[report.source_id]))
            by = " and ".join(sorted({fichiers.get(s, s) for _, s in replaced[report.source_id]}))
            said = f"replaced by {by} for {scopes} (its data there is not loaded)"
            report.message = "; ".join(m for m in (report.message, said) if m)
    return lines, reports


def _fill_report(report: SourceReport, read: CreditRead) -> None:
    """``report`` of a file read: its counts, totals check and reading facts."""
    report.statut = "lu"
    report.phases = list(read.phases)
    report.lignes = read.data_rows
    report.lignes_retenues = read.kept
    report.lignes_ecartees_par_motif = read.set_aside
    report.montants_vides = read.empty_amounts
    report.titres_corriges = read.titres_corriges
    report.controle_totaux = read.totaux_publies
    report.lignes_preambule = read.lignes_preambule
    report.lignes_recodees = read.lignes_recodees
    if read.broken_phases:
        report.message = (  # published (sources.message): in French, as the notes consumers read
            f"phase(s) {', '.join(read.broken_phases)} inutilisable(s) dans le fichier (une même valeur "
            "sur chaque ligne) : calculée(s) comme PLF + AMD"
        )


def _stage_alone(
    root: Path, exercice: int, item: InventoryItem, copied: list[SourceReport]
) -> tuple[int, list[SourceReport]] | None:
    """Stage an exercice of one CSV credit file, its lines written once: from the reader's batches
    (:meth:`warehouse.credits.files.CreditStream.batches`, each batch validated), batch by batch, by the
    staged file's writer (:func:`warehouse.credits.staging.write_staging`), with ``role = 'A'`` (a file alone is
    authoritative for every scope it holds: :func:`assign_roles` gives no other role) and ``repris = false``.

    A file of one (phase, titre) group (:func:`amount_groups`) is so staged in line order. A file of several
    (``LFI_2021_Credits.csv``: PLF, AMD, LFI; ``PLR_2018_Details.csv``: a titre per column) has its rows staged
    batch after batch, each batch group by group, not group by group over the whole file as the in-memory reader
    gives them; their ``ordre_lecture`` keeps that order, from which the credit elements take the label and
    budget type of their first row (``warehouse.nomenclature.resolution``: in another order, an element first met on
    a line with no amount in the first group takes another line's label; found on ``PLR_2018_Details.csv``: ministère
    07's budget type, BG by groups, CAS by lines).

    The file is read once, the separators and broken phases guessed from its first batch; where the whole file
    decides otherwise, or an error is met, it is read again in two passes (decisions, then lines), as
    :func:`_stage` reads a file.

    None when the file is not a CSV or cannot be read (nothing staged then): :func:`_stage`
    reads it, reports its error and carries its last good lines over.
    """
    if item.error is not None or item.famille is None:
        return None
    found = recognise(item.source, whole_encoding=False)
    if found.match is None or found.head is None or found.head.format != "csv":
        return None
    report = SourceReport.starting(item)
    fichier, source_id = item.source.fichier, item.source.source_id
    schema = {**LINE_SCHEMA, "repris": pl.Boolean, "role": pl.String}

    def stage(reading: CreditStream) -> int:
        batches = (
            lines.with_columns(repris=pl.lit(False), role=pl.lit("A", pl.String)) for lines, _ in reading.batches()
        )

        def reports() -> list[SourceReport]:  # once every line is read: the report of the file
            if reading.sums_at_risk:  # the sums of repeated keys are checked on the lines: those of _stage's read
                raise SourceReadError(fichier, "amounts whose sums may be out of DECIMAL(18,2) range: read again")
            _fill_report(report, reading.result(pl.LazyFrame(schema=schema)))
            report.roles = {f"{phase}/{budget or '-'}": "A" for phase, budget in reading.scopes}
            return [report, *copied]

        return write_staging(root, exercice, batches, schema, reports)

    try:
        with stream_csv_table(item.source.chemin, fichier) as stream:

            def reading(first_pass: bool) -> CreditStream | CreditRead:
                return CreditStream.open(
                    stream,
                    found.match,
                    source_id,
                    found.exercice_hint,
                    check=functools.partial(_validate, fichier),
                    first_pass=first_pass,
                )

            once = reading(first_pass=False)
            if isinstance(once, CreditRead):
                return None
            try:  # one read, the decisions guessed from the first batch and checked against the whole file's
                rows = stage(once)
            except (GuessRefuted, SourceReadError, TableReadError):  # in two passes: the whole file's decisions
                twice = reading(first_pass=True)  # and its first error in line order
                assert isinstance(twice, CreditStream)
                rows = stage(twice)
    except (SourceReadError, TableReadError):
        return None
    return rows, [report, *copied]


def _carried(previous: pl.LazyFrame, block: int) -> pl.LazyFrame:
    """Lines of a previous staging carried over, as block ``block`` of the lines staged: the columns of
    :data:`LINE_SCHEMA`, ``ordre_lecture`` keeping their order's meaning within the block (a staging of an
    earlier version, with no such column, was written in that order: its rows' order then)."""
    low = (1 << 39) - 1  # reading_order's group and line bits
    if "ordre_lecture" in previous.collect_schema().names():
        order = pl.col("ordre_lecture") % (low + 1)
    else:
        order = pl.int_range(pl.len(), dtype=pl.Int64)
    start = reading_order(pl.lit(0), pl.lit(0), block)
    return previous.with_columns(ordre_lecture=order + start).select(list(LINE_SCHEMA))


def _report_ties(
    lines: pl.LazyFrame,
    ties: list[AuthorityTie],
    reports: list[SourceReport],
    previous: pl.LazyFrame | None,
    blocks: int,
) -> pl.LazyFrame:
    """Mark the files of each unresolved tie in error, and keep the scope's last good lines.

    The lines of a tied (exercice, phase, type_budget) stay in staging with no role
    (not loaded); the authoritative lines of the previous build for that scope, if
    any, are carried over (``repris``), so the last good data stays.
    """
    fichiers = {r.source_id: r.fichier for r in reports}
    tied: dict[str, list[AuthorityTie]] = {}
    for tie in ties:
        for source_id in tie.source_ids:
            tied.setdefault(source_id, []).append(tie)
    for report in reports:  # one message per file, starting with it: the summary's line (no log line besides)
        if report.source_id in tied:
            report.statut = "erreur"
            said = _tie_message(report.source_id, tied[report.source_id], fichiers)
            report.message = "; ".join(m for m in (report.message, said) if m)
    for tie in ties:
        if previous is None or "role" not in previous.collect_schema().names():
            continue
        kept = previous.filter(
            (pl.col("exercice") == tie.exercice)
            & (pl.col("phase") == tie.phase)
            & pl.col("type_budget").eq_missing(tie.type_budget)
            & (pl.col("role") == "A")
        )
        columns = lines.collect_schema().names()
        kept = _carried(kept, blocks).with_columns(repris=pl.lit(True), role=pl.lit("A", pl.String))
        lines = pl.concat([lines, kept.select(columns)], how="vertical")
        blocks += 1
    return lines


def _tie_message(source_id: str, ties: list[AuthorityTie], fichiers: dict[str, str]) -> str:
    """What the ``ties`` of one file say of it, in one message starting with the file."""
    others = sorted({fichiers.get(s, s) for tie in ties for s in tie.source_ids if s != source_id})
    scopes = ", ".join(sorted(f"{t.exercice} {t.phase} {t.type_budget or '-'}" for t in ties))
    return (
        f"{fichiers.get(source_id, source_id)}: as authoritative as {' and '.join(others)} for {scopes} (same family "
        "rank, same coverage, both catalogued or both unknown): nothing of it is loaded; remove one of them or add the "
        "right one to the catalogue"
    )


def _read_and_validate(item: InventoryItem, folder: Path) -> CreditRead:
    """Read one credit file: a CSV streamed in batches into Parquet parts under ``folder``, each batch
    validated; a workbook (bounded by the size limits) in memory, then validated."""
    if item.error is not None:  # not downloaded, or not a table (a reader's error names the file already)
        raise SourceReadError(item.source.fichier, item.error_detail)
    found = recognise(item.source, whole_encoding=False)  # the stream decides the encoding from the whole file
    if found.match is None or found.head is None:
        raise SourceReadError(item.source.fichier, found.error or "no longer matches its family")
    fichier = item.source.fichier

    def check(lines: pl.DataFrame) -> None:
        _validate(fichier, lines)

    if found.head.format == "csv":
        with stream_csv_table(item.source.chemin, fichier) as stream:
            return read_credit_stream(
                stream, found.match, item.source.source_id, folder, found.exercice_hint, check=check
            )
    read = read_credit_table(found.table, found.match, item.source.source_id, found.exercice_hint)
    check(read.lines)
    return read


#: The rules of :class:`schemas.credits.CreditLinesModel` as Polars expressions (from its Pandera schema).
_LINE_RULES = row_rules(CreditLinesModel)
_LINE_TYPES = {name: column.dtype.type for name, column in CreditLinesModel.to_schema().columns.items()}


def _validate(fichier: str, lines: pl.DataFrame) -> None:
    """Validate credit lines against :class:`schemas.credits.CreditLinesModel`: its column types, then
    its row rules in one pass (:func:`schemas.row_rules.first_failure`, what Pandera would report first);
    the first failure raises :class:`SourceReadError` naming the file, the line and the column."""
    for name, dtype in _LINE_TYPES.items():
        if lines.schema.get(name) != dtype:
            found = lines.schema.get(name, "missing")
            raise SourceReadError(fichier, f"{CreditLinesModel.__name__}: column {name!r} is {found}, not {dtype}")
    failure = first_failure(lines, _LINE_RULES)
    if failure is not None:
        raise SourceReadError(
            fichier,
            f"{failure.check} failed on {failure.case!r} ({failure.total} failure(s) in all)",
            ligne=lines["source_ligne"][failure.row],
            colonne=failure.column,
        )
