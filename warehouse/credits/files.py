"""Read one credit (AE/CP) file of a known family into line-level credit rows.

The column map of each family is data (``schemas/families/credits.toml``); this
module applies it to a :class:`warehouse.reading.tables.RawTable` (as a Polars frame of
text columns, :meth:`~warehouse.reading.tables.RawTable.to_frame`), column by column with
Polars expressions, never line by line, with the rules of the project's data
README (``shared/data/README.md``, "Credits") and of issue 7:

- lines that are not data are set aside and counted by reason: ``vide`` (blank,
  ``(vide)``), ``total`` (``Total``, ``Total général``, ``Sous-total``, ``Total
  Ministère A``…: their first non-empty cell, where the programme cell is empty or
  is that cell), ``en_tete_repete`` (the header repeated mid-file), ``note``
  (``Source : …`` alone on its line), ``sans_montant`` (no amount at all),
  ``preambule`` (lines above the header, counted by the table reader), and
  ``irreguliere`` (a row with more or fewer fields than the header, where the
  family says ``lignes_irregulieres = "ecarter"``; otherwise such a row is an error
  naming the line). Patterns: ``schemas/vocabulary.toml``;
- totals are checked against the detail lines they sum: a general total
  (``Total``, ``Total général``) every kept detail line of the file; any other total
  the kept detail lines since the previous such subtotal; differences are reported
  (:attr:`CreditRead.totaux_publies`);
- codes are unwrapped (``="352"``, ``'0101``) and normalised (:mod:`schemas.codes`),
  once per distinct value; an action given only through its sous-action
  (``308-06-03``) takes it from there; the titre is the first digit of the
  catégorie where there is one (the published titre is kept beside it);
- amounts are exact euros, the separators decided per column
  (:func:`schemas.amounts.decide_separators`, :func:`schemas.amounts.parse_euros_column`);
  scientific notation written as text is refused; an empty amount on a line that
  has the other amount counts as 0, and is counted;
- T2 / HT2 split files yield one row per phase (PLF, AMD, LFI); an amendment row
  exists only where AE or CP is not zero; a phase whose published columns hold one
  constant value on every line (LFI 2023: ``4.0``) is broken at source, and is
  computed as PLF + AMD with ``calcule = true``.

Any cell that does not parse raises :class:`SourceReadError` naming the file, the
data row (1-based, after the header) and the column as published: the first such
row of the file over every column checked; an amount column whose separators
cannot be decided raises it naming the column.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Set
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import polars as pl

from schemas.amounts import (
    AmountError,
    SeparatorEvidence,
    Separators,
    decide_separators,
    disagreement_at,
    evidence_of,
    first_marks,
    parse_euros_column,
    parse_euros_columns,
    separator_evidences,
    signatures_expr,
)
from schemas.codes import (
    action_expr,
    categorie_expr,
    code_text,
    ministere_expr,
    mission_expr,
    programme_expr,
    sous_action_expr,
    titre_expr,
)
from schemas.families import AmountColumn, FamilyMatch, vocabulary
from warehouse.reading.csv_files import CsvStream
from warehouse.reading.tables import FrameRows, RawTable, named_error

__all__ = [
    "BATCH_ROWS",
    "CreditRead",
    "CreditStream",
    "GuessRefuted",
    "LINE_SCHEMA",
    "SourceReadError",
    "amount_groups",
    "read_credit_stream",
    "read_credit_table",
    "reading_order",
    "stated_exercice",
]

MONEY = pl.Decimal(18, 2)

#: Columns of the line-level credit frame (``staging/credits``), before roles are assigned.
LINE_SCHEMA: dict[str, pl.DataType] = {
    "source_id": pl.String,
    "source_ligne": pl.Int32,
    "exercice": pl.Int16,
    "phase": pl.String,
    "type_budget": pl.String,
    "code_ministere": pl.String,
    "code_mission": pl.String,
    "code_programme": pl.String,
    "code_action": pl.String,
    "code_sous_action": pl.String,
    "code_categorie": pl.String,
    "code_titre": pl.String,
    "ae": MONEY,
    "cp": MONEY,
    "ae_fdc_adp": MONEY,
    "cp_fdc_adp": MONEY,
    "ae_t2": MONEY,
    "ae_ht2": MONEY,
    "cp_t2": MONEY,
    "cp_ht2": MONEY,
    "ae_publie": MONEY,
    "cp_publie": MONEY,
    "calcule": pl.Boolean,
    "code_titre_publie": pl.String,
    "libelle_ministere": pl.String,
    "libelle_mission": pl.String,
    "libelle_programme": pl.String,
    "libelle_action": pl.String,
    "libelle_sous_action": pl.String,
    "libelle_categorie": pl.String,
    "libelle_titre": pl.String,
    # The row's place in the reading order of its file: amount group first, then line (:func:`reading_order`).
    "ordre_lecture": pl.Int64,
}

#: :func:`reading_order`: a line number takes 31 bits, a (phase, titre) group 8 above it.
_LINE_BITS, _GROUP_BITS = 31, 8

_LABELS = tuple(k for k in LINE_SCHEMA if k.startswith("libelle_"))
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_BROKEN_MIN_ROWS = 10
#: The distinct values of a code or label field whose outputs a streamed file's reader keeps from batch to batch
#: (:meth:`_ColumnReader._lookups`); beyond them a batch computes its new values again (bounded memory).
_KNOWN_VALUES = 20_000
#: Why a line is set aside (``_motif``), as found by the reader (``sans_montant`` and ``preambule`` are counted apart).
_MOTIFS = pl.Enum(["vide", "total", "en_tete_repete", "note", "irreguliere"])


class SourceReadError(ValueError):
    """A source of a covered family that cannot be read: names the file, the row and the column."""

    def __init__(
        self,
        fichier: str,
        message: str,
        ligne: int | None = None,
        colonne: str | None = None,
        cellule: str | None = None,
        index_colonne: int | None = None,
    ) -> None:
        self.fichier, self.message, self.ligne, self.colonne, self.cellule = fichier, message, ligne, colonne, cellule
        # The column's index in the table's header, where the reader knows it: two columns may share a header.
        self.index_colonne = index_colonne
        where = [fichier]
        if ligne is not None:
            where.append(f"ligne {ligne}")
        if colonne is not None:
            where.append(f"colonne {colonne!r}")
        if cellule is not None:  # a workbook's: `feuille 'X', cellule C12`
            where[-1] += f" ({cellule})"
        # A message placed by its own words (a workbook's `ligne 2, colonne …`) follows the file as the others do.
        super().__init__(named_error(fichier, message) if len(where) == 1 else f"{', '.join(where)}: {message}")

    def in_cell(self, table: RawTable) -> SourceReadError:
        """This error with the sheet and the cell of its row and column where ``table`` is a workbook's sheet
        (:meth:`RawTable.cell`); itself otherwise."""
        cellule = None if self.cellule else table.cell(self.ligne, self.colonne, self.index_colonne)
        if cellule is None:
            return self
        return SourceReadError(self.fichier, self.message, self.ligne, self.colonne, cellule, self.index_colonne)


@dataclass
class CreditRead:
    """What reading one credit file gave.

    ``lines``: one row per (data line, phase[, titre]) with the columns of
    :data:`LINE_SCHEMA`, amounts in euros as ``Decimal(18, 2)``.
    ``data_rows`` = ``kept`` + sum of ``set_aside`` (by reason: ``vide``, ``total``
    (totals and subtotals), ``en_tete_repete``, ``note``, ``sans_montant``,
    ``preambule``, ``irreguliere``); ``data_rows`` counts the preamble lines above the
    header the table reader set aside, if any.
    ``totaux_publies``: one dict per (total line, amount column) whose stated total
    differs from the sum of the detail lines it sums: ``ligne`` (int), ``libelle``
    (the line's first non-empty cell), ``colonne`` (header as published), ``attendu``
    (the stated total) and ``trouve`` (the sum), both as text with 2 decimals.
    ``lignes_preambule``, ``lignes_recodees``: the reading facts of the file's table
    (:class:`warehouse.reading.tables.RawTable`): lines above the header set aside (also counted in
    ``set_aside['preambule']``), lines whose stray bytes were decoded as Windows-1252.
    """

    lines: pl.DataFrame | pl.LazyFrame  # a LazyFrame over Parquet parts from read_credit_stream
    exercice: int
    phases: tuple[str, ...]
    data_rows: int
    kept: int
    set_aside: dict[str, int]
    empty_amounts: int = 0
    titres_corriges: int = 0
    broken_phases: tuple[str, ...] = ()
    totaux_publies: list[dict] = field(default_factory=list)
    lignes_preambule: int = 0
    lignes_recodees: int = 0


def read_credit_table(
    table: RawTable, match: FamilyMatch, source_id: str, exercice_hint: int | None = None
) -> CreditRead:
    """Read ``table`` (a credit file of the family of ``match``) into line-level credit rows.

    ``exercice_hint``: the exercice the catalogue or the file name gives, used only
    where the file states none. Raises :class:`SourceReadError` when a required
    column is missing, the exercice is unknown, a row has more or fewer fields than
    the header (unless the family sets such rows aside), an amount column's
    separators cannot be decided, or a cell does not parse.
    """
    fichier = table.fichier
    if match.missing:
        expected = [
            f"{name} (a header like {match.family.columns[name].pattern!r})"
            if name in match.family.columns
            else f"{name} (an amount column)"
            for name in match.missing
        ]
        raise SourceReadError(
            fichier, f"required column(s) missing for family {match.family.id}: {', '.join(expected)}"
        )
    try:
        return _ColumnReader(table, match, source_id, exercice_hint).read()
    except SourceReadError as exc:
        if (located := exc.in_cell(table)) is exc:
            raise
        raise located from exc


def _fold(expr: pl.Expr) -> pl.Expr:
    """Column form of :func:`schemas.headers.fold_header` (lower case, no accents, only a-z0-9)."""
    return (
        expr.str.normalize("NFKD")
        .str.replace_all(r"\p{M}", "")
        .str.to_lowercase()
        .str.replace_all("œ", "oe", literal=True)
        .str.replace_all("[^a-z0-9]+", "")
    )


@dataclass
class _TotalSums:
    """Sums for the totals check, gathered batch by batch: ``all`` (every kept detail line), ``group``
    (per subtotal group), ``totals`` (the total lines), ``groups`` (subtotal lines seen so far)."""

    all: dict[str, Decimal] = field(default_factory=dict)
    group: dict[int, dict[str, Decimal]] = field(default_factory=dict)
    totals: list[dict] = field(default_factory=list)
    groups: int = 0
    #: The sum of the absolute values of every amount cell of the kept detail lines: a bound of any sum of the
    #: amounts of their credit rows (:func:`_check_key_sums` is needed only where it reaches DECIMAL(18,2)'s range).
    magnitude: Decimal = Decimal(0)

    def add(self, later: _TotalSums) -> None:
        """Add ``later``'s sums, those of the next batch gathered from group 0 (:meth:`_ColumnReader._add_total_sums`
        on an empty :class:`_TotalSums`): its groups continue this one's (the same sums as gathered here)."""
        for key, value in later.all.items():
            self.all[key] = self.all.get(key, Decimal(0)) + value
        self.magnitude += later.magnitude
        for number, sums in later.group.items():
            group = self.group.setdefault(number + self.groups, {})
            for key, value in sums.items():
                group[key] = group.get(key, Decimal(0)) + value
        self.totals.extend({**row, "_groupe": row["_groupe"] + self.groups} for row in later.totals)
        self.groups += later.groups


@dataclass
class _Known:
    """What the readers of a file's batches share (:class:`_ColumnReader`): ``values``, per code or label field,
    the values met and their outputs (:meth:`_ColumnReader._lookups`); ``base``, the expressions of
    :meth:`_ColumnReader._base` (the same for every batch of a file: built once)."""

    values: dict[str, pl.DataFrame] = field(default_factory=dict)
    base: _BasePlan | None = None


@dataclass(frozen=True)
class _BasePlan:
    """The expressions of :meth:`_ColumnReader._base`: ``specs`` (:meth:`_ColumnReader._lookups`), ``absent``
    (the columns of fields the file lacks), ``derived`` (the columns computed from both), ``checks``
    (:meth:`_ColumnReader._note_first_errors`) and ``temporary`` (the columns dropped after the checks)."""

    specs: list[tuple[str, list[dict[str, pl.Expr]]]]
    absent: dict[str, pl.Expr]
    derived: dict[str, pl.Expr]
    checks: list[tuple[pl.Expr, int | None, pl.Expr]]
    temporary: list[str]


@dataclass(frozen=True)
class _Values:
    """The values of an amount column over detail lines, as far as the broken-phase rule needs them:
    ``seen`` (some detail line), ``first`` (the first line's cell, as published), ``other`` (another
    cell differs from it) and ``filled`` (some cell states an amount: :func:`_stated`)."""

    seen: bool
    first: str | None
    other: bool
    filled: bool

    @property
    def distinct(self) -> int:
        """Distinct values: 0, 1, or 2 for "more than one"."""
        return 2 if self.other else int(self.seen)

    def then(self, later: _Values) -> _Values:
        """These values followed by ``later``'s (the next batch)."""
        if not self.seen:
            return later
        if not later.seen:
            return self
        other = self.other or later.other or later.first != self.first
        return _Values(True, self.first, other, self.filled or later.filled)


@dataclass
class _Batch:
    """A batch's credit lines (:data:`LINE_SCHEMA`) and ``groups`` (their (phase, titre) group), with what
    :class:`CreditStream` counts of it (:meth:`CreditStream._counted`, in file order): ``kept`` lines, the
    reasons of the lines ``set_aside``, the detail lines ``sans_montant``, the ``exercices`` (each: its rows and first
    line), the ``phases`` its lines state in a column (:func:`_column_phases`), the ``hashes`` of its lines
    (:meth:`_ColumnReader._line_hashes`) and ``scopes``
    ((phase, type_budget)) of its lines, ``empty_amounts``, ``titres`` corrected and the totals' ``sums`` of
    the batch alone (groups from 0)."""

    lines: pl.DataFrame
    groups: pl.Series
    kept: int
    set_aside: list[str]
    sans_montant: int
    exercices: dict[int, tuple[int, int]]
    phases: dict[str, tuple[int, int]]
    hashes: pl.Series
    scopes: set[tuple[str, str | None]]
    empty_amounts: int
    titres: int
    sums: _TotalSums


def amount_groups(match: FamilyMatch) -> dict[tuple[str | None, str | None], list[AmountColumn]]:
    """The amount columns of a file by (phase, titre) group, in the order of their first column: each group
    gives a line its own credit row (:meth:`_ColumnReader._phase_rows`). An amount column that names no phase
    (``AE Prev FDC/ADP``) belongs to the phase of the file's other amount columns when they name exactly one;
    else to the row's phase column (phase ``None`` here)."""
    header_phases = {a.phase for a in match.amounts if a.phase}
    file_phase = next(iter(header_phases)) if len(header_phases) == 1 else None
    groups: dict[tuple[str | None, str | None], list[AmountColumn]] = defaultdict(list)
    for amount in match.amounts:
        groups[(amount.phase or file_phase, amount.titre)].append(amount)
    return groups


class _ColumnReader:
    """Reads a credit table column by column (Polars expressions over whole columns)."""

    def __init__(
        self,
        table: RawTable,
        match: FamilyMatch,
        source_id: str,
        exercice_hint: int | None,
        ligne_offset: int = 0,
        known: _Known | None = None,
    ) -> None:
        self.table, self.match, self.source_id = table, match, source_id
        self.known = _Known() if known is None else known  # shared by the batches of a file
        self.fields = match.fields
        self.vocab = vocabulary()
        header_years = {a.exercice for a in match.amounts if a.exercice}
        if len(header_years) > 1:
            raise SourceReadError(table.fichier, f"several exercices in the header: {header_years}")
        self.header_exercice = next(iter(header_years), None)
        self.exercice_hint = exercice_hint
        if (
            "exercice" not in self.fields
            and "phase" not in self.fields
            and self.header_exercice is None
            and exercice_hint is None
        ):
            raise SourceReadError(
                table.fichier,
                "exercice unknown: stated neither in a column, nor in the header, "
                "nor by the catalogue (sha256), nor by a year in the file name",
            )
        self.groups = amount_groups(match)
        self.doubles = _doubles(match, self.groups)
        frame = table.to_frame()
        # Column i of the header is `_c<i>`: no clash with the warehouse's column names.
        self.names = [f"_c{i}" for i in range(frame.width)]
        frame = frame.rename(dict(zip(frame.columns, self.names, strict=True)))
        first = ligne_offset + 1  # a batch of a streamed file starts after the rows of the batches before it
        self.frame = frame.with_columns(_ligne=pl.int_range(first, first + frame.height, dtype=pl.Int32))
        self.errors: list[tuple[int, int | None, str]] = []  # (ligne, column index, message)
        self.column_groups: set[int] = set()  # the (phase, titre) groups whose phase is each line's (its column)
        self.unmarked: set[int] = set()  # amount columns with no `.` nor `,` on any line (:meth:`_amounts`)
        # A workbook's (xls, xlsx): amount column index -> the lines whose cell held a number (its exact text, read
        # as such); its text cells are read as a CSV's. None: every cell is text as published (a CSV).
        self.numbers: dict[int, pl.Series] | None = None
        if table.format in ("xls", "xlsx") and table.cellules_nombres is not None:
            self.numbers = {
                a.index: pl.Series(table.cellules_nombres.get(a.index, []), dtype=pl.Int32) + first
                for a in match.amounts
            }

    # -- helpers --------------------------------------------------------------------------
    def _col(self, name: str) -> pl.Expr | None:
        index = self.fields.get(name)
        return None if index is None else pl.col(self.names[index])

    def _note_first_error(self, frame: pl.DataFrame, bad: pl.Expr, index: int | None, message: pl.Expr) -> None:
        """Record the first row of ``frame`` where ``bad`` holds, with ``message`` (an expression)."""
        found = frame.lazy().filter(bad).select("_ligne", message.alias("m")).head(1).collect()
        if found.height:
            ligne, text = found.row(0)
            self.errors.append((ligne, index, text))

    def _raise_first_error(self) -> None:
        if self.errors:
            ligne, index, message = min(self.errors, key=lambda e: (e[0], e[1] if e[1] is not None else -1))
            colonne = self.table.header[index] if index is not None else None
            raise SourceReadError(self.table.fichier, message, ligne=ligne, colonne=colonne, index_colonne=index)

    def _several_exercices(self, found: dict[int, tuple[int, int]]) -> SourceReadError:
        """The error of a file whose lines hold several exercices (``found``: exercice -> (rows, first line)):
        naming the first line of the exercice of fewest rows (the others' first, where as many) and the column
        that states it (the exercice's, else the phase's, ``PLF 2019``)."""
        return self._several("exercices", found, self.fields.get("exercice", self.fields.get("phase")))

    def _check_header_exercice(self, found: dict[int, tuple[int, int]]) -> None:
        """Raise the error of a file whose lines state one exercice (``found``: exercice -> (rows, first line)) in a
        column (``Exercice``, or a phase ``PLF 2019``) and whose header another (``AE LFI 2020``), naming its first
        line and that column: never loaded as the column's year, nor as the header's. (Lines of several exercices
        are :meth:`_several_exercices`.)"""
        if self.header_exercice is None or len(found) != 1:
            return
        ((exercice, (_rows, line)),) = found.items()
        if exercice == self.header_exercice:
            return
        index = self.fields.get("exercice", self.fields.get("phase"))
        header = next(a.header for a in self.match.amounts if a.exercice == self.header_exercice)
        message = f"exercice {exercice} on every line, where the header states {self.header_exercice} ({header!r})"
        colonne = self.table.header[index] if index is not None else None
        raise SourceReadError(self.table.fichier, message, ligne=line, colonne=colonne, index_colonne=index)

    def _several_phases(self, found: dict[str, tuple[int, int]]) -> SourceReadError:
        """The error of a file whose phase is each line's (its ``loi`` column) and whose lines state several
        (``found``: phase -> (rows, first line)), worded as for several exercices: a file has one phase there."""
        return self._several("phases", found, self.fields.get("phase"))

    def _several(self, what: str, found: dict, index: int | None) -> SourceReadError:
        rows, line, value = min((r, n, v) for v, (r, n) in found.items())
        colonne = self.table.header[index] if index is not None else None
        message = f"several {what} in one file: {sorted(found)}; {value} on {rows} row(s), the first here"
        return SourceReadError(self.table.fichier, message, ligne=line, colonne=colonne)

    def _line_hashes(self, frame: pl.DataFrame) -> pl.Series:
        """A hash of the cells of every line of ``frame`` (:meth:`_reasons`, every line in order), null where the line
        is set aside: two detail lines of equal hashes are one line repeated (:func:`_repeated_line`)."""
        hashes = frame.select(self.names).hash_rows(seed=_LINE_SEED)  # half a struct's hash's cost
        return frame.select(pl.when(pl.col("_motif").is_null()).then(pl.lit(hashes)).alias("h")).to_series()

    def _repeated(self, hashes: pl.Series) -> None:
        """Raise the error of the first line of the file repeating an earlier one, every cell equal (``hashes``:
        :meth:`_line_hashes` of every line of the file, in order), if there is one."""
        found = _repeated_line(hashes)
        if found is not None:
            earlier, later = found
            message = (
                f"the same cells as line {earlier}, every one: a line repeated (its amounts would be counted twice)"
            )
            raise SourceReadError(self.table.fichier, message, ligne=later)

    # -- lines that are not data -------------------------------------------------------------
    def _reasons(self, known: pl.DataFrame | None = None) -> pl.DataFrame:
        """The frame with ``_motif`` (why a line is set aside, null for a detail line),
        ``_libelle`` (its first non-empty cell) and ``_total_general`` (a total of the whole file).

        ``known``: the lines of this batch set aside, as :meth:`_set_aside` gave them on a first reading
        of the same batch; then they are not looked for again (``_total_general`` is false on every
        other line)."""
        cells = [pl.col(n) for n in self.names]
        first = pl.coalesce(cells) if cells else pl.lit(None, pl.String)
        if known is not None:
            return (
                self.frame.with_columns(_libelle=first)
                .join(known, on="_ligne", how="left", maintain_order="left")
                .with_columns(pl.col("_motif").cast(pl.String), pl.col("_total_general").fill_null(False))
            )
        # An empty cell is None in a RawTable.
        filled = pl.sum_horizontal([c.is_not_null() for c in cells]) if cells else pl.lit(0)
        patterns = self.vocab["lignes_ecartees"]
        programme = self._col("code_programme")
        programme_free = (programme.is_null() | (programme == pl.col("_libelle"))) if programme is not None else True
        frame = self.frame.with_columns(_rempli=filled, _libelle=first)
        repeated = self._repeated_header_lines(frame)
        # The first cells folded and matched once per distinct value (a mission's label on most lines), then joined.
        plie = pl.col("_plie")
        folded = (
            frame.select(pl.col("_libelle").unique())
            .with_columns(_plie=_fold(pl.col("_libelle")))
            .with_columns(
                _est_vide=plie.str.contains(patterns["vide"]),
                _est_total=plie.str.contains(patterns["total"]),
                _est_note=plie.str.contains(patterns["note"]),
                _est_general=plie.str.contains(self.vocab["totaux"]["general"]),
            )
        )
        found = frame.select("_libelle").join(
            folded, on="_libelle", how="left", nulls_equal=True, maintain_order="left"
        )
        frame = frame.with_columns(found.get_columns()[1:])
        reason = (
            pl.when(pl.col("_rempli") == 0)
            .then(pl.lit("vide"))
            .when(pl.col("_est_vide"))
            .then(pl.lit("vide"))
            .when(pl.col("_ligne").is_in(repeated))
            .then(pl.lit("en_tete_repete"))
            .when(pl.col("_est_total") & programme_free)
            .then(pl.lit("total"))
            .when(pl.col("_est_note") & (pl.col("_rempli") == 1))
            .then(pl.lit("note"))
        )
        # A row whose field count differs from the header's is data at stake, unless it is a
        # line that holds no data anyway (blank, or a one-cell note such as `Source : …`).
        irregular = dict(self.table.lignes_irregulieres)
        if irregular:
            not_data = frame.filter(pl.col("_ligne").is_in(list(irregular))).select(
                "_ligne", _motif=reason.fill_null(pl.lit(""))
            )
            at_stake = sorted(line for line, motif in not_data.iter_rows() if motif not in ("vide", "note"))
            if at_stake and not self.match.family.sets_aside_irregular_rows:
                line = at_stake[0]
                raise SourceReadError(
                    self.table.fichier,
                    f"{irregular[line]} field(s) where the header has {len(self.table.header)}: neither padded nor cut",
                    ligne=line,
                )
            if at_stake:
                reason = pl.when(pl.col("_ligne").is_in(at_stake)).then(pl.lit("irreguliere")).otherwise(reason)
        return frame.with_columns(_motif=reason, _total_general=pl.col("_est_general")).drop(
            "_rempli", "_est_vide", "_est_total", "_est_note", "_est_general"
        )

    @staticmethod
    def _set_aside(frame: pl.DataFrame) -> pl.DataFrame:
        """The lines of ``frame`` (:meth:`_reasons`) set aside: ``_ligne``, ``_motif`` (as an enum: a byte
        per line) and ``_total_general``; what :meth:`_reasons` needs to give that frame again."""
        return frame.filter(pl.col("_motif").is_not_null()).select(
            "_ligne", pl.col("_motif").cast(_MOTIFS), "_total_general"
        )

    def _repeated_header_lines(self, frame: pl.DataFrame) -> list[int]:
        """Lines that repeat the header (concatenated exports): every filled cell is its column's
        header as published, at least two of them. Looked for where the programme cell is its header."""
        index = self.fields["code_programme"]
        name, header = self.names[index], self.table.header[index].strip()
        candidates = frame.filter(pl.col(name).str.strip_chars() == header)
        if not candidates.height:
            return []
        hits = pl.sum_horizontal(
            (pl.col(n).str.strip_chars() == h.strip()).fill_null(False)
            for n, h in zip(self.names, self.table.header, strict=True)
            if h.strip()
        )
        found = candidates.filter((hits >= 2) & (hits == pl.col("_rempli")))
        return found["_ligne"].to_list()

    # -- amounts -----------------------------------------------------------------------------
    def _cells(self, frame: pl.LazyFrame | pl.DataFrame, numbers: bool) -> pl.LazyFrame:
        """``frame`` with each amount column's cells that held a number in the workbook (``numbers``) or its text
        cells (not ``numbers``) kept, the others emptied; ``frame`` itself (all text) for a CSV's."""
        frame = frame.lazy()
        if self.numbers is None:
            return frame
        name = self.names
        held = {i: pl.col("_ligne").is_in(lines) for i, lines in self.numbers.items()}
        return frame.with_columns(
            pl.when(held[i] if numbers else ~held[i]).then(pl.col(name[i])).alias(name[i]) for i in self.numbers
        )

    def _evidence(self, frame: pl.DataFrame) -> dict[int, SeparatorEvidence]:
        """The separator evidence of every amount column, over the detail lines of ``frame`` (one query): over its
        text cells only in a workbook (its numbers' text is the reader's, ``1234.5``, not the publisher's)."""
        detail = self._cells(frame, numbers=False).filter(pl.col("_motif").is_null())
        found = separator_evidences(detail, [self.names[a.index] for a in self.match.amounts])
        return {a.index: found[self.names[a.index]] for a in self.match.amounts}

    def _column_facts(
        self, frame: pl.DataFrame, unmarked: Set[int] = frozenset()
    ) -> tuple[int, dict[int, SeparatorEvidence], dict[int, _Values]]:
        """Over the detail lines of ``frame``, in one query: their number, the separator evidence of every
        amount column and its values as :class:`_Values` (first value, whether another one differs).

        ``unmarked``: amount columns known to hold no ``.`` nor ``,`` on any line of ``frame``
        (:attr:`unmarked` after :meth:`_amounts`): their evidence is none, not looked for."""
        names = {a.index: self.names[a.index] for a in self.match.amounts}
        detail = frame.lazy().filter(pl.col("_motif").is_null())
        found = (
            detail.select(
                pl.len().alias("_n"),
                *(signatures_expr(n) for i, n in names.items() if i not in unmarked),
                *(pl.col(n).first().alias(f"_premier{i}") for i, n in names.items()),
                *(pl.col(n).ne_missing(pl.col(n).first()).any().alias(f"_autre{i}") for i, n in names.items()),
            )
            .collect()
            .row(0, named=True)
        )
        rows = found["_n"]
        evidence = {i: SeparatorEvidence() if i in unmarked else evidence_of(found[n]) for i, n in names.items()}
        return rows, evidence, _values_of(detail, names, found, rows > 0)

    def _separators(
        self, evidence: dict[int, SeparatorEvidence], frame: pl.DataFrame | None = None
    ) -> dict[int, Separators]:
        """The separators of every amount column, decided from the evidence of the whole column; ``frame``: its
        lines, where a column whose separators disagree names the first line where they do
        (:meth:`_first_marks`)."""
        # A workbook's numbers written by the reader (``1234.5``), where which cells held numbers is not known.
        float_text = self.table.format in ("xls", "xlsx") and self.numbers is None
        decided = {}
        for amount in self.match.amounts:
            others = [e for i, e in evidence.items() if i != amount.index]
            try:
                decided[amount.index] = decide_separators(evidence[amount.index], others, "." if float_text else None)
            except AmountError as exc:
                ligne = None
                if frame is not None and evidence[amount.index].conflict():
                    ligne = disagreement_at(self._first_marks(frame, amount.index))
                elif frame is not None and self.numbers is not None:  # a workbook's text cell: named
                    ligne = self._first_ambiguous(frame, amount.index)
                raise SourceReadError(
                    self.table.fichier, str(exc), ligne=ligne, colonne=amount.header, index_colonne=amount.index
                ) from exc
        return decided

    def _first_ambiguous(self, frame: pl.DataFrame, index: int) -> int | None:
        """The first detail line whose text cell in the amount column ``index`` could be either separator's
        (``1.234``), values decided on their signatures as :func:`schemas.amounts.first_marks` does."""
        text = pl.col(self.names[index]).cast(pl.String)
        signature = text.str.replace(r"^([^0-9]*)0", "${1}Z").str.replace_all("[0-9]", "9")
        found = (
            self._cells(frame, numbers=False)
            .filter(pl.col("_motif").is_null() & text.str.contains("[.,]"))
            .group_by(signature.alias("s"))
            .agg(pl.col("_ligne").min())
            .collect()
        )
        return min((line for value, line in found.iter_rows() if evidence_of([value]).ambiguous), default=None)

    def _first_marks(self, frame: pl.DataFrame, index: int) -> dict[tuple[str, str], int]:
        """Where each separator role shows first in the amount column ``index`` of the detail lines of ``frame``
        (:func:`schemas.amounts.first_marks`), by data line."""
        detail = self._cells(frame, numbers=False).filter(pl.col("_motif").is_null())
        return first_marks(detail, self.names[index], "_ligne")

    def _amounts(self, frame: pl.DataFrame, decided: dict[int, Separators] | None = None) -> pl.DataFrame:
        """Parse every amount column (separators decided per column, here or given); adds ``_m<index>`` (Decimal)."""
        if decided is None:
            decided = self._separators(self._evidence(frame), frame)
        float_text = self.table.format in ("xls", "xlsx")
        columns = {f"_m{a.index}": (self.names[a.index], decided[a.index]) for a in self.match.amounts}
        plain: set[str] = set()
        if self.numbers is None:
            parsed, errors = parse_euros_columns(frame, columns, float_text, plain)
        else:  # a workbook: its text cells as a CSV's, its numbers as the exact numbers they are
            texts = self._cells(frame, numbers=False).collect()
            parsed, errors = parse_euros_columns(texts, columns, False, plain)
            exact = {target: (name, Separators(None, ".")) for target, (name, _) in columns.items()}
            numbers, number_errors = parse_euros_columns(
                self._cells(frame, numbers=True).collect(), exact, True, shortest=True
            )
            parsed = parsed.with_columns(pl.coalesce(numbers[t], parsed[t]).alias(t) for t in columns)
            for target, erreur in number_errors.items():
                errors[target] = erreur if target not in errors else pl.select(pl.coalesce(erreur, errors[target]))[0]
        # A plain value under separators with no decimal mark is digits, a minus and spaces: no `.` nor `,`.
        self.unmarked = {
            a.index for a in self.match.amounts if f"_m{a.index}" in plain and not decided[a.index].decimal
        }
        frame = frame.with_columns(parsed.get_columns())
        for amount in self.match.amounts:
            erreur = errors.get(f"_m{amount.index}")
            if erreur is None:  # every cell parsed (the common case)
                continue
            self._note_first_error(
                frame.with_columns(_erreur=erreur),
                pl.col("_motif").is_null() & pl.col("_erreur").is_not_null(),
                amount.index,
                pl.col("_erreur"),
            )
        return frame

    def _note_doubles(self, detail: pl.DataFrame) -> None:
        """Note the first detail line where two columns holding the same field (:func:`_doubles`) differ: their
        amounts (parsed), or their cells as published for a code or label. Columns equal on every line are read."""
        if not self.doubles:
            return
        checks = []
        for what, first, other, amount in self.doubles:
            a, b = (f"_m{first}", f"_m{other}") if amount else (self.names[first], self.names[other])
            message = _doubles_message(self.table, what, first, other, self.names[first], self.names[other])
            checks.append((pl.col(a).ne_missing(pl.col(b)), other, message))
        self._note_first_errors(detail, checks)

    def _check_filled(self, rows: int, values: dict[int, _Values]) -> None:
        """Raise where an amount column (but a FDC/ADP one) is empty on every one of the ``rows`` detail lines of the
        file (``values``: :class:`_Values` of every amount column) while another column of its (phase, titre) group
        is not: its lines would be published with 0 for it. A group all of whose columns are empty gives no row, but a
        file all of whose amount columns (FDC/ADP ones too) are empty on every line is in error: it states no credit."""
        if not rows:
            return
        empty = {i for i, v in values.items() if v.seen and not v.filled}  # `" "` and `""` alike: no amount
        if values and all(i in empty for i in values):  # no line states an amount: every line set aside, none read
            places = ", ".join(_column_place(self.table, a.index) for a in self.match.amounts)
            raise SourceReadError(
                self.table.fichier,
                f"no amount on any of its {rows} data lines: every amount column ({places}) is empty on every "
                "line: a file with no amount is not read as a file with no credit",
            )
        for columns in self.groups.values():
            if all(c.index in empty for c in columns):
                continue
            for c in columns:
                if c.index in empty and c.partie != "fdc_adp":
                    raise SourceReadError(
                        self.table.fichier,
                        f"amount column {_column_place(self.table, c.index)} is empty on every line, where "
                        "the other amount columns of its lines are not: a column with no amount is not read as zeros",
                        colonne=c.header,
                        index_colonne=c.index,
                    )

    def _values(self, detail: pl.DataFrame) -> dict[int, _Values]:
        """The :class:`_Values` of every amount column over the lines of ``detail`` (one query)."""
        names = {a.index: self.names[a.index] for a in self.match.amounts}
        found = detail.select(
            *(pl.col(n).first().alias(f"_premier{i}") for i, n in names.items()),
            *(pl.col(n).ne_missing(pl.col(n).first()).any().alias(f"_autre{i}") for i, n in names.items()),
        ).row(0, named=True)
        return _values_of(detail.lazy(), names, found, detail.height > 0)

    def _broken_phases(self, detail: pl.DataFrame) -> set[str]:
        """Phases whose published amount columns hold one non-zero constant on every line."""
        distinct = {a.index: detail[self.names[a.index]].n_unique() for a in self.match.amounts}
        first = {a.index: detail[f"_m{a.index}"][0] if detail.height else None for a in self.match.amounts}
        return self._broken_from(detail.height, distinct, first)

    def _broken_from(self, rows: int, distinct: dict[int, int], first: dict[int, Decimal | None]) -> set[str]:
        """:meth:`_broken_phases` from ``rows`` detail lines, the distinct published values of each
        amount column (a count; 2 means "more than one") and the value of its first detail line."""
        if rows < _BROKEN_MIN_ROWS:
            return set()
        broken = set()
        for phase in {a.phase for a in self.match.amounts if a.phase}:
            columns = [a for a in self.match.amounts if a.phase == phase]
            others = [a for a in self.match.amounts if a.phase and a.phase != phase]
            constant = all(distinct[a.index] == 1 and first[a.index] not in (None, 0) for a in columns)
            if constant and any(distinct[a.index] > 1 for a in others):
                broken.add(phase)
        return broken

    # -- codes, exercice, phase ---------------------------------------------------------------
    def _lookups(self, frame: pl.DataFrame, specs: list[tuple[str, list[dict[str, pl.Expr]]]]) -> pl.DataFrame:
        """Add, for each ``(field name, stages)`` of ``specs``, the columns of ``stages`` (dicts of expressions of
        ``pl.col("_v")``, the cell of that field, and of the columns of the stages before) to ``frame``; the
        columns whose name starts with ``_x`` are the stages' own, not added.

        Each output is computed once per distinct value of its column (codes and labels repeat on many
        lines), then joined back to every line: the key column alone is joined (one match per line: the
        values are distinct), and the outputs of every field are set beside the frame's columns. A value
        several outputs share (a code's text, a parsed struct) is a column of an earlier stage, computed
        once (an expression repeated in several outputs is evaluated for each: three times the cost).

        The values of a field and their outputs are kept for the next batches of the file (:attr:`known`,
        shared by the readers of a streamed file, at most :data:`_KNOWN_VALUES` values a field): a batch
        computes only the values no batch before it met, and joins its column to the values known (one
        join a field, eager: no query to plan).
        """
        if not specs:
            return frame
        columns = {name: self.names[self.fields[name]] for name, _ in specs}
        # A file sorted by programme repeats a code on the lines that follow each other: the fields of runs of
        # at least two lines on average are looked up on the first line of each run of them all, then gathered.
        last_run = frame.select(pl.col(c).rle_id().max().alias(n) for n, c in columns.items()).row(0, named=True)
        grouped = {n for n, k in last_run.items() if k is not None and (k + 1) * 2 <= frame.height}
        found: dict[str, pl.DataFrame] = {}
        if grouped:
            runs = frame.select(pl.struct(*(pl.col(columns[n]) for n in sorted(grouped))).rle_id()).to_series()
            heads = frame.filter(runs.is_first_distinct())
            outputs = [self._known_outputs(n, stages, heads, columns[n]) for n, stages in specs if n in grouped]
            at_runs = pl.concat(outputs, how="horizontal")[runs]
            for name, output in zip([n for n, _ in specs if n in grouped], outputs, strict=True):
                found[name] = at_runs.select(output.columns)
        for name, stages in specs:
            if name not in grouped:
                found[name] = self._known_outputs(name, stages, frame, columns[name])
        return pl.concat([frame, *(found[name] for name, _ in specs)], how="horizontal")

    def _known_outputs(
        self, name: str, stages: list[dict[str, pl.Expr]], frame: pl.DataFrame, column: str
    ) -> pl.DataFrame:
        """The outputs of ``stages`` (:meth:`_lookups`) for every row of ``column`` of ``frame``, from the values
        known (:attr:`known`), those not yet known computed once each and kept."""
        values = frame.get_column(column).alias("_v").to_frame()
        table = self.known.values.get(name)
        if table is not None:
            found = values.join(table, on="_v", how="left", nulls_equal=True, maintain_order="left")
            if not found["_connu"].has_nulls():  # every value known
                return _without(found, "_v", "_connu")
            unseen = found.filter(pl.col("_connu").is_null()).select("_v")
        else:
            unseen = values
        new = unseen.unique()
        for stage in stages:  # eager: a few values, no query to plan
            new = new.with_columns(**stage)
        outputs = [k for stage in stages for k in stage if not k.startswith("_x")]
        computed = new.select("_v", *outputs, _connu=pl.lit(True))
        # Kept as copies: a text sliced from the batch's cells is a view that would keep the batch's buffers alive.
        computed = pl.DataFrame(computed.to_dict(as_series=False), schema=computed.schema)
        table = computed if table is None else pl.concat([table, computed], how="vertical", rechunk=True)
        if table.height <= _KNOWN_VALUES:
            self.known.values[name] = table
        found = values.join(table, on="_v", how="left", nulls_equal=True, maintain_order="left")
        return _without(found, "_v", "_connu")

    def _note_first_errors(self, frame: pl.DataFrame, checks: list[tuple[pl.Expr, int | None, pl.Expr]]) -> None:
        """:meth:`_note_first_error` for every ``(bad, index, message)`` of ``checks``, in one query."""
        if not checks or not frame.select(pl.any_horizontal(bad.fill_null(False).any() for bad, _, _ in checks)).item():
            return  # no rule fails (the common case): one cheap query, not the messages of every rule
        found = frame.select(
            pl.struct(_ligne=pl.col("_ligne"), m=message).filter(bad.fill_null(False)).first().alias(f"_e{i}")
            for i, (bad, _, message) in enumerate(checks)
        ).row(0)
        for first, (_, index, _) in zip(found, checks, strict=True):
            if first is not None and first["_ligne"] is not None:
                self.errors.append((first["_ligne"], index, first["m"]))

    def _base(self, detail: pl.DataFrame) -> pl.DataFrame:
        """The codes, labels, exercice and phase of every detail line (``_phase_ligne``).

        The codes and labels of every field (each once per distinct value, :meth:`_lookups`), the columns
        derived from them (one query), and the first failure of every rule (:meth:`_note_first_errors`). The
        expressions are built once per file (:meth:`_base_plan`)."""
        plan = self.known.base
        if plan is None:
            plan = self.known.base = self._base_plan()
        frame = self._lookups(detail, plan.specs).with_columns(**plan.absent).with_columns(**plan.derived)
        self._note_first_errors(frame, plan.checks)
        return _without(frame, *plan.temporary)

    def _base_plan(self) -> _BasePlan:
        """The expressions of :meth:`_base` for this file's fields."""
        v = pl.col("_v")
        specs: list[tuple[str, list[dict[str, pl.Expr]]]] = []
        checks: list[tuple[pl.Expr, int | None, pl.Expr]] = []
        absent: dict[str, pl.Expr] = {}
        temporary: list[str] = []

        def code(name: str, rule: pl.Expr, outputs: dict[str, pl.Expr], what: str) -> None:
            """Codes of field ``name`` (``outputs``: of ``_xr``, the value of ``rule``); the first filled cell
            that gives no code (first output) is an error."""
            bad = f"_mauvais_{name}"
            first = next(iter(outputs))
            stages = [
                {"_xt": code_text(v), "_xr": rule},
                outputs,
                {bad: pl.col("_xt").is_not_null() & pl.col(first).is_null()},
            ]
            specs.append((name, stages))
            source = pl.col(self.names[self.fields[name]])
            checks.append((pl.col(bad), self.fields[name], pl.format(f"not {what}: '{{}}'", source)))
            temporary.append(bad)

        simple = {
            "code_programme": ("code_programme", programme_expr, "a programme code"),
            "code_ministere": ("code_ministere", ministere_expr, "a ministère code"),
            "code_mission": ("code_mission", mission_expr, "a mission code"),
            "code_categorie": ("code_categorie", categorie_expr, "a catégorie code"),
            "code_titre_publie": ("code_titre", titre_expr, "a titre code"),
        }
        for target, (name, rule, what) in simple.items():
            if name in self.fields:
                code(name, rule(v), {target: pl.col("_xr")}, what)
            else:
                absent[target] = pl.lit(None, pl.String)
        checks.append(
            (pl.col("code_programme").is_null(), self.fields["code_programme"], pl.lit("empty programme code"))
        )
        if "code_action" in self.fields:
            action = pl.col("_xr").struct
            code(
                "code_action",
                action_expr(v),
                {"_a": action.field("action"), "_a_programme": action.field("programme")},
                "an action code",
            )
            checks.append(
                (
                    pl.col("_a_programme") != pl.col("code_programme"),
                    self.fields["code_action"],
                    pl.format(
                        "action '{}' does not belong to programme {}",
                        self._col("code_action"),
                        pl.col("code_programme"),
                    ),
                )
            )
        else:
            absent["_a"] = pl.lit(None, pl.String)
        if "code_sous_action" in self.fields:
            sous_action = pl.col("_xr")
            outputs = {
                "_sa": sous_action.struct.field("sous_action"),
                "_sa_action": sous_action.struct.field("action"),
                "_sa_programme": sous_action.struct.field("programme"),
            }
            code("code_sous_action", sous_action_expr(v), outputs, "a sous-action code")
            where = self.fields["code_sous_action"]
            checks.append(
                (
                    pl.col("_sa_programme") != pl.col("code_programme"),
                    where,
                    pl.format(
                        "sous-action '{}' does not belong to programme {}",
                        self._col("code_sous_action"),
                        pl.col("code_programme"),
                    ),
                )
            )
            checks.append(
                (
                    pl.col("_sa_action") != pl.col("_a"),
                    where,
                    pl.format("sous-action of action {}, on a line of action {}", pl.col("_sa_action"), pl.col("_a")),
                )
            )
        else:
            absent.update(_sa=pl.lit(None, pl.String), _sa_action=pl.lit(None, pl.String))
        if "type_budget" in self.fields:
            term = _fold(v).replace_strict(self.vocab["type_budget"], default=None, return_dtype=pl.String)
            bad = v.is_not_null() & pl.col("type_budget").is_null()
            specs.append(("type_budget", [{"type_budget": term}, {"_mauvais_type_budget": bad}]))
            checks.append(
                (
                    pl.col("_mauvais_type_budget"),
                    self.fields["type_budget"],
                    pl.format("unknown budget type '{}'", self._col("type_budget")),
                )
            )
            temporary.append("_mauvais_type_budget")
        else:
            absent["type_budget"] = pl.lit(None, pl.String)
        phase_year = pl.lit(None, pl.Int16)
        if "phase" in self.fields:
            parts = pl.col("_xp").struct
            phase = parts.field("p").replace_strict(self.vocab["phase"], default=None, return_dtype=pl.String)
            stages = [
                {"_xp": _fold(v).str.extract_groups(r"^(?P<p>[a-z]+?)(?P<e>\d{4})?$")},
                {"_phase_ligne": phase, "_annee_phase": parts.field("e").cast(pl.Int16)},
                {"_mauvais_phase": v.is_not_null() & pl.col("_phase_ligne").is_null()},
            ]
            specs.append(("phase", stages))
            checks.append(
                (pl.col("_mauvais_phase"), self.fields["phase"], pl.format("unknown phase '{}'", self._col("phase")))
            )
            temporary.append("_mauvais_phase")
            phase_year = pl.col("_annee_phase")
        else:
            absent["_phase_ligne"] = pl.lit(None, pl.String)
        year = pl.lit(None, pl.Int16)
        if "exercice" in self.fields:
            found = v.str.extract(r"(?:^|[^0-9])([0-9]{4})(?:[^0-9]|$)", 1).cast(pl.Int16)
            specs.append(
                ("exercice", [{"_annee": found}, {"_mauvais_exercice": v.is_not_null() & pl.col("_annee").is_null()}])
            )
            checks.append(
                (
                    pl.col("_mauvais_exercice"),
                    self.fields["exercice"],
                    pl.format("not an exercice: '{}'", self._col("exercice")),
                )
            )
            temporary.append("_mauvais_exercice")
            year = pl.col("_annee")
        fallback = self.header_exercice or self.exercice_hint
        checks.append((pl.col("exercice").is_null(), self.fields.get("exercice"), pl.lit("exercice unknown")))
        for label in _LABELS:
            if label in self.fields:
                text = v.str.replace_all(r"\s+", " ").str.strip_chars()
                specs.append((label, [{"_xl": text}, {label: pl.when(pl.col("_xl") != "").then(pl.col("_xl"))}]))
            else:
                absent[label] = pl.lit(None, pl.String)
        derived = {
            "code_action": pl.coalesce("_a", "_sa_action"),
            "code_sous_action": pl.col("_sa"),
            "code_titre": pl.coalesce(pl.col("code_categorie").str.slice(0, 1), pl.col("code_titre_publie")),
            "exercice": pl.coalesce(year, phase_year, pl.lit(fallback, pl.Int16)),
            "source_id": pl.lit(self.source_id),
        }
        return _BasePlan(specs, absent, derived, checks, temporary)

    # -- rows per phase -------------------------------------------------------------------------
    def _phase_rows(self, base: pl.DataFrame, broken: set[str]) -> pl.DataFrame:
        """One frame of :data:`LINE_SCHEMA` rows per (phase, titre) group, concatenated (group by group,
        each in line order)."""
        parts_of: dict[tuple[str | None, str | None], dict[tuple[str, str], pl.Expr]] = {}
        summed_of: dict[tuple[str | None, str | None], dict[tuple[str, str], list[AmountColumn]]] = {}
        for key, columns in self.groups.items():
            parts_of[key] = {(c.grandeur, c.partie): pl.col(f"_m{c.index}") for c in columns}
            summed_of[key] = {(c.grandeur, c.partie): [c] for c in columns}
            if key[0] is None:
                self._note_first_error(
                    base,
                    pl.col("_phase_ligne").is_null(),
                    columns[0].index,
                    pl.lit("phase unknown for this amount column"),
                )
        stated = {a.phase for a in self.match.amounts if a.phase}
        if "phase" in self.fields and len(stated) > 1 and self.match.family.phase is None:
            # The header states several phases (`AE PLF 2020;CP LFI 2020`) and a column each line's (`loi`): a line
            # holding an amount in a column of another phase than its own is an error, never a row of that phase.
            for phase in dict.fromkeys(a.phase for a in self.match.amounts if a.phase):
                columns = [a for a in self.match.amounts if a.phase == phase]
                self._note_first_error(
                    base,
                    pl.col("_phase_ligne").is_not_null()
                    & (pl.col("_phase_ligne") != phase)
                    & pl.any_horizontal(pl.col(f"_m{a.index}").is_not_null() for a in columns),
                    self.fields["phase"],
                    pl.format(
                        f"phase '{{}}' on a line holding an amount of phase {phase} "
                        f"({', '.join(repr(a.header) for a in columns)})",
                        self._col("phase"),
                    ),
                )
        if "phase" in self.fields and len(stated) == 1 and self.match.family.phase is None:
            # The header states the file's one phase (`AE LFI 2020`) and a column each line's (`loi`): a line of
            # another phase is an error, never re-labelled with the file's (a tester's PLF line in an LFI file).
            (phase,) = stated
            header = next(a.header for a in self.match.amounts if a.phase == phase)
            self._note_first_error(
                base,
                pl.col("_phase_ligne").is_not_null() & (pl.col("_phase_ligne") != phase),
                self.fields["phase"],
                pl.format(
                    f"phase '{{}}' on a line of a file whose amount columns are {phase} ({header!r})",
                    self._col("phase"),
                ),
            )
        money = [f"_m{a.index}" for a in self.match.amounts]
        keep = [k for k in LINE_SCHEMA if k in base.columns]
        lazy = base.lazy().select(*keep, *money, "_ligne", "_phase_ligne")  # the groups in one query
        frames = []
        sums: list[tuple[list[AmountColumn], pl.Expr]] = []  # sums of amount columns, and their values
        for (phase, titre), parts in parts_of.items():
            computed = phase in broken
            summed = summed_of[(phase, titre)]
            if computed:
                plf, amd = parts_of.get(("PLF", titre)), parts_of.get(("AMD", titre))
                if plf is None or amd is None:
                    continue
                keys = {k for k in (*plf, *amd) if k[1] != "total" or k in plf}
                parts = {k: _add(plf.get(k), amd.get(k)) for k in keys}
                of = (summed_of[("PLF", titre)], summed_of[("AMD", titre)])
                summed = {k: [*of[0].get(k, []), *of[1].get(k, [])] for k in keys}
                sums.extend((summed[k], value) for k, value in parts.items())
            columns: dict[str, pl.Expr] = {}
            for grandeur in ("ae", "cp"):
                total = parts.get((grandeur, "total"))
                t2, ht2 = parts.get((grandeur, "t2")), parts.get((grandeur, "ht2"))
                split = t2 is not None or ht2 is not None
                value = total if total is not None else (_add(t2, ht2) if split else None)
                if total is None and t2 is not None and ht2 is not None:
                    both = [*summed.get((grandeur, "t2"), []), *summed.get((grandeur, "ht2"), [])]
                    sums.append((both, value))
                columns[grandeur] = value if value is not None else pl.lit(None, MONEY)
                columns[f"{grandeur}_t2"] = t2 if t2 is not None else pl.lit(None, MONEY)
                columns[f"{grandeur}_ht2"] = ht2 if ht2 is not None else pl.lit(None, MONEY)
                columns[f"{grandeur}_publie"] = (
                    total if split and not computed and total is not None else pl.lit(None, MONEY)
                )
                fdc = parts.get((grandeur, "fdc_adp"))
                columns[f"{grandeur}_fdc_adp"] = fdc if fdc is not None else pl.lit(None, MONEY)
            frame = lazy.with_columns(
                phase=pl.lit(phase, pl.String) if phase else pl.col("_phase_ligne"),
                calcule=pl.lit(computed),
                **{k: v.cast(MONEY) for k, v in columns.items()},
            )
            if titre is not None:
                frame = frame.with_columns(code_titre=pl.lit(titre, pl.String))
            frame = frame.filter(pl.col("ae").is_not_null() | pl.col("cp").is_not_null())
            if phase == "AMD":
                frame = frame.filter(~((pl.col("ae") == 0) & (pl.col("cp") == 0)))
            if len(frames) >= 1 << _GROUP_BITS:
                raise SourceReadError(self.table.fichier, f"more than {1 << _GROUP_BITS} amount groups")
            if not phase:
                self.column_groups.add(len(frames))
            frames.append(
                frame.with_columns(_vide=pl.col("ae").is_null() | pl.col("cp").is_null(), _groupe=pl.lit(len(frames)))
            )
        self._check_sums(base, sums)
        if not frames:
            return pl.DataFrame(schema={**LINE_SCHEMA, "_vide": pl.Boolean, "_groupe": pl.Int32})
        zero = pl.lit(Decimal("0.00"), MONEY)
        return (
            pl.concat(frames, how="vertical_relaxed")
            .with_columns(
                source_ligne=pl.col("_ligne"),
                ae=pl.col("ae").fill_null(zero),
                cp=pl.col("cp").fill_null(zero),
                ordre_lecture=reading_order(pl.col("_groupe"), pl.col("_ligne")),
            )
            .select(*[pl.col(k).cast(v) for k, v in LINE_SCHEMA.items()], "_vide", "_groupe")
            .collect()
        )

    def _check_sums(self, base: pl.DataFrame, sums: list[tuple[list[AmountColumn], pl.Expr]]) -> None:
        """Raise the first error of ``base`` (:meth:`_raise_first_error`) where a sum of amount columns of a line
        (T2 + HT2, PLF + AMD: ``sums``, the columns and the sum's value) is out of DECIMAL(18,2)'s range, decided
        exactly (in a wider decimal) before the sums are cast to it. Each sum is looked at on the lines only where
        the largest absolute values of its columns (one query) could reach the range: nearly never."""
        if not sums:
            return
        used = sorted({c.index for columns, _ in sums for c in columns})
        found = base.select(
            *(pl.col(f"_m{i}").max().alias(f"max{i}") for i in used),
            *(pl.col(f"_m{i}").min().alias(f"min{i}") for i in used),
        ).row(0, named=True)
        largest = {i: max(abs(found[f"max{i}"] or 0), abs(found[f"min{i}"] or 0)) for i in used}
        risky = [_out_of_range(v, c) for c, v in sums if sum(largest[a.index] for a in c) >= _OUT_OF_RANGE]
        if risky:
            self._note_first_errors(base, risky)
            self._raise_first_error()

    # -- totals -----------------------------------------------------------------------------
    def _add_total_sums(self, frame: pl.DataFrame, kept_lines: pl.Series, sums: _TotalSums) -> None:
        """Add the sums of the kept detail lines of ``frame`` and its total lines to ``sums``.

        ``_groupe`` (the subtotal a line belongs to) is a cumulative sum of the subtotal lines,
        continued from ``sums.groups`` (the subtotals of the batches before), so that a file read
        in batches gives the groups of the whole file.
        """
        money = [f"_m{a.index}" for a in self.match.amounts]
        group_total = ((pl.col("_motif") == "total") & ~pl.col("_total_general")).fill_null(False)
        grouped = frame.with_columns(
            _groupe=(group_total.cum_sum() - group_total.cast(pl.UInt32)).cast(pl.Int64) + sums.groups
        )
        sums.groups += int(frame.select(group_total.sum()).item() or 0)
        kept = grouped.filter(pl.col("_ligne").is_in(kept_lines.implode()))
        # The sums per group, and the absolute values' per group, in one aggregate over the lines; the batch's are
        # those of its groups added (a query over a row per group, not over the lines again).
        found = kept.group_by("_groupe").agg(
            pl.col(money).fill_null(0).sum(), *(pl.col(m).abs().sum().alias(f"{m}_abs") for m in money)
        )
        for key, value in found.select(pl.exclude("_groupe").sum()).row(0, named=True).items():
            if key.endswith("_abs"):
                sums.magnitude += value or Decimal(0)
            else:
                sums.all[key] = sums.all.get(key, Decimal(0)) + (value or Decimal(0))
        for row in found.select("_groupe", *money).iter_rows(named=True):
            group = sums.group.setdefault(row["_groupe"], {})
            for key in money:
                group[key] = group.get(key, Decimal(0)) + (row[key] or Decimal(0))
        columns = ["_ligne", "_libelle", "_total_general", "_groupe", *money]
        sums.totals.extend(grouped.filter(pl.col("_motif") == "total").select(columns).iter_rows(named=True))

    def _compare_totals(self, sums: _TotalSums) -> list[dict]:
        """One dict per (total line, amount column) whose stated total differs from the lines it sums.

        A general total (``Total``, ``Total général``) sums every kept detail line of the
        file; any other total (``Sous-total``, ``Total Ministère A``) sums the kept detail
        lines since the previous such line (or the start of the file).
        """
        mismatches = []
        for row in sums.totals:
            summed_of = sums.all if row["_total_general"] else sums.group.get(row["_groupe"], {})
            for amount in self.match.amounts:
                stated = row[f"_m{amount.index}"]
                if stated is None:
                    continue
                summed = summed_of.get(f"_m{amount.index}") or Decimal(0)
                if summed != stated:
                    mismatches.append(
                        {
                            "ligne": row["_ligne"],
                            "libelle": row["_libelle"],
                            "colonne": amount.header,
                            "attendu": f"{stated:.2f}",
                            "trouve": f"{summed:.2f}",
                        }
                    )
        return mismatches

    # -- reading --------------------------------------------------------------------------
    def read(self) -> CreditRead:
        frame = self._reasons()
        frame = self._amounts(frame)
        detail = frame.filter(pl.col("_motif").is_null())
        self._check_filled(detail.height, self._values(detail))
        self._note_doubles(detail)
        broken = self._broken_phases(detail)
        base = self._base(detail)
        lines = self._phase_rows(base, broken)
        self._raise_first_error()
        kept_lines = lines["source_ligne"].unique()
        set_aside = Counter(frame["_motif"].drop_nulls().to_list())
        set_aside["sans_montant"] = detail.height - kept_lines.len()
        preamble = self.table.lignes_preambule
        set_aside["preambule"] = preamble
        found = _exercices(lines)
        exercices = sorted(found)
        if len(exercices) > 1:
            raise self._several_exercices(found)
        self._check_header_exercice(found)
        phases = _column_phases(lines, self.column_groups)
        if len(phases) > 1:
            raise self._several_phases(phases)
        exercice = exercices[0] if exercices else (self.header_exercice or self.exercice_hint or 0)
        sums = _TotalSums()
        self._add_total_sums(frame, kept_lines, sums)
        if sums.magnitude >= _OUT_OF_RANGE:
            _check_key_sums(lines, self.match, self.table.fichier)
        self._repeated(self._line_hashes(frame))  # after the sums of repeated keys: their error names an earlier line
        titres = base.filter(
            pl.col("code_titre_publie").is_not_null() & (pl.col("code_titre") != pl.col("code_titre_publie"))
        ).height
        return CreditRead(
            lines=lines.drop("_vide", "_groupe"),
            exercice=exercice,
            phases=tuple(sorted(lines["phase"].unique().to_list())),
            data_rows=len(self.table.rows) + preamble,
            kept=kept_lines.len(),
            set_aside={k: v for k, v in set_aside.items() if v},
            empty_amounts=int(lines["_vide"].sum()),
            titres_corriges=titres,
            broken_phases=tuple(sorted(broken)),
            totaux_publies=self._compare_totals(sums),
            lignes_preambule=preamble,
            lignes_recodees=self.table.lignes_recodees,
        )


#: Data rows read at once by :func:`read_credit_stream` and :class:`CreditStream`. 25,000 rather than 50,000
#: since the staged file is written from pass 2 (wave 8): 1 M synthetic lines, staging alone, peak 699 -> 597 MiB
#: for 0.4 s more user time (4.6 %); the 10 M build peaked at 958 MiB with 50,000, 867 MiB with 25,000.
BATCH_ROWS = 25_000


def read_credit_stream(
    stream: CsvStream,
    match: FamilyMatch,
    source_id: str,
    folder: Path,
    exercice_hint: int | None = None,
    check: Callable[[pl.DataFrame], None] | None = None,
    batch_rows: int | None = None,
) -> CreditRead:
    """Read a streamed CSV credit file (:class:`warehouse.reading.csv_files.CsvStream`) batch by batch.

    The rules and errors of :func:`read_credit_table`, in two passes over batches of about
    ``batch_rows`` data rows (default :data:`BATCH_ROWS`), so that memory holds one batch, never the file
    (:class:`CreditStream`); the lines of each batch are written to ``folder`` as Parquet parts
    (``part-<group>-<batch>.parquet``), read in name order: the lines come in the order of the in-memory
    reader (group by group, each in line order). Returns a :class:`CreditRead` whose ``lines`` is a
    ``LazyFrame`` over the parts.
    """
    reading = CreditStream.open(stream, match, source_id, exercice_hint, check, batch_rows)
    if isinstance(reading, CreditRead):
        return reading
    folder.mkdir(parents=True, exist_ok=True)
    for part, (lines, groups) in enumerate(reading.batches()):
        # One part per (phase, titre) group and batch. The groups follow each other in ``lines`` (see
        # _phase_rows): each part is a slice, not a filtered copy.
        start = 0
        for rows, group in groups.rle().struct.unnest().select("len", "value").iter_rows():
            lines.slice(start, rows).write_parquet(
                folder / f"part-{group:03d}-{part:05d}.parquet", compression="uncompressed", statistics=False
            )  # read once, whole, by the staging sink: no compression, no statistics
            start += rows
    return reading.result(pl.scan_parquet(folder / "part-*.parquet", schema=LINE_SCHEMA))


class CreditStream:
    """A streamed CSV credit file after its first pass; :meth:`batches` is the second.

    Pass 1 (:meth:`open`) reads every batch for the reasons of its lines and, from the detail lines
    of the *whole* file, each amount column's separator evidence (merged) and whether it holds one
    value or more (the broken-phase rule); then the separators and the broken phases are decided.
    Pass 2 (:meth:`batches`) reads each batch again into credit lines with those decisions, checks
    them with ``check`` (the caller's validation, on that batch) and yields them with their (phase,
    titre) group; the totals check gathers the sums of the kept lines per subtotal group (a cumulative
    count of the subtotal lines continued from batch to batch). Once every batch is read,
    :meth:`result` gives the :class:`CreditRead`. The first error of the file in line order is raised
    (the batches come in order), by :meth:`open` or while the batches are read.
    """

    def __init__(
        self,
        stream: CsvStream,
        match: FamilyMatch,
        source_id: str,
        exercice_hint: int | None,
        check: Callable[[pl.DataFrame], None] | None,
        batch_rows: int,
    ) -> None:
        self.stream, self.match, self.source_id, self.exercice_hint = stream, match, source_id, exercice_hint
        self.check, self.batch_rows = check, batch_rows
        self.decided: dict[int, Separators] = {}
        self.broken: set[str] = set()
        self.set_aside_lines: list[pl.DataFrame] = []  # per batch, its lines set aside (few)
        self.reader: _ColumnReader | None = None
        self.single: pl.DataFrame | None = None  # a file of one batch: that batch's lines and reasons (pass 1)
        self.sums = _TotalSums()
        self.set_aside: Counter[str] = Counter()
        self.exercices: dict[int, tuple[int, int]] = {}  # exercice -> (rows, first line)
        self.column_phases: dict[str, tuple[int, int]] = {}  # phase stated in its column -> (rows, first line)
        self.hashes: list[pl.Series] = []  # per batch, its lines' hashes (8 bytes a line: 80 MB at 10 M lines)
        self.phases: set[str] = set()
        self.scopes: set[tuple[str, str | None]] = set()  # (phase, type_budget) of the lines
        self.kept = self.empty_amounts = self.titres = 0
        self.known = _Known()  # the codes and labels met and the expressions, for every batch (_ColumnReader)

    @classmethod
    def open(
        cls,
        stream: CsvStream,
        match: FamilyMatch,
        source_id: str,
        exercice_hint: int | None = None,
        check: Callable[[pl.DataFrame], None] | None = None,
        batch_rows: int | None = None,
        first_pass: bool = True,
    ) -> CreditStream | CreditRead:
        """The file after pass 1; a :class:`CreditRead` at once for a file with no data row or a required
        column missing (the errors of the in-memory reader). ``first_pass=False``: pass 1 is not made,
        :meth:`batches` reads the file once with decisions guessed from its first batch (see there)."""
        table = stream.table
        if match.missing or stream.data_rows == 0:
            read = read_credit_table(replace(table, rows=[]), match, source_id, exercice_hint)
            if check is not None:
                check(read.lines)
            return replace(read, lines=read.lines.lazy())
        reading = cls(stream, match, source_id, exercice_hint, check, batch_rows or BATCH_ROWS)
        if first_pass:
            reading._first_pass()
        return reading

    def _readers(self) -> Iterator[_ColumnReader]:
        table = self.stream.table
        for offset, cells in self.stream.batches(self.batch_rows):
            cells = replace(table, rows=FrameRows(cells))
            yield _ColumnReader(cells, self.match, self.source_id, self.exercice_hint, offset, self.known)

    def _first_pass(self) -> None:
        """Separators and constant columns, from the detail lines of the whole file."""
        evidence: dict[int, SeparatorEvidence] = {}
        values: dict[int, _Values] = {}
        detail_rows = 0
        reader: _ColumnReader | None = None
        frame: pl.DataFrame | None = None
        for reader in self._readers():
            frame = reader._reasons()
            self.set_aside_lines.append(reader._set_aside(frame))
            rows, found_evidence, found_values = reader._column_facts(frame)
            detail_rows += rows
            for index, found in found_evidence.items():
                evidence[index] = _merge_evidence(evidence.get(index), found)
            for index, found in found_values.items():
                values[index] = found if index not in values else values[index].then(found)
        assert reader is not None and frame is not None
        self.reader = reader
        if len(self.set_aside_lines) == 1:  # one batch: pass 2 reads it from here, not from the file again
            self.single = _as_known(frame)
        try:
            self.decided, self.broken = self._decisions(reader, evidence, values, detail_rows)
        except SourceReadError as exc:
            raise self._placed(exc, evidence) from exc

    def _placed(self, error: SourceReadError, evidence: dict[int, SeparatorEvidence]) -> SourceReadError:
        """``error`` (an amount column's separators not decided from the whole file), naming the first line
        where the column's separators disagree, found in a read of the batches again (an error's cost only)."""
        amount = next(
            (a for a in self.match.amounts if (a.index, a.header) == (error.index_colonne, error.colonne)),
            next((a for a in self.match.amounts if a.header == error.colonne), None),
        )
        if error.ligne is not None or amount is None or not evidence[amount.index].conflict():
            return error
        first: dict[tuple[str, str], int] = {}
        for reader in self._readers():
            for key, line in reader._first_marks(reader._reasons(), amount.index).items():
                first[key] = min(line, first.get(key, line))
        ligne = disagreement_at(first)
        return SourceReadError(
            error.fichier, error.message, ligne=ligne, colonne=error.colonne, index_colonne=error.index_colonne
        )

    def _decisions(
        self, reader: _ColumnReader, evidence: dict[int, SeparatorEvidence], values: dict[int, _Values], rows: int
    ) -> tuple[dict[int, Separators], set[str]]:
        """The separators of every amount column and the broken phases, from the evidence and values of ``rows``
        detail lines (raises :class:`SourceReadError` where a column's separators cannot be decided)."""
        reader._check_filled(rows, values)
        decided = reader._separators(evidence)
        float_text = self.stream.table.format in ("xls", "xlsx")
        first = {
            index: parse_euros_column(pl.Series([v.first], dtype=pl.String), decided[index], float_text)["euros"][0]
            if v.seen
            else None
            for index, v in values.items()
        }
        return decided, reader._broken_from(rows, {i: v.distinct for i, v in values.items()}, first)

    def batches(self) -> Iterator[tuple[pl.DataFrame, pl.Series]]:
        """Pass 2: ``(lines, groups)`` per batch, in file order: the batch's credit lines (:data:`LINE_SCHEMA`),
        group by group, each in line order, and each line's (phase, titre) group (``_groupe``, Int32).

        Without pass 1 (``open(first_pass=False)``), the file is read once: the separators and broken phases
        are decided from the first batch (a guess), every batch is read with them, and the evidence of every
        batch is gathered as pass 1 would; after the last batch, the decisions of the whole file are made and
        :class:`GuessRefuted` is raised if they differ from the guess (the lines given are then not those of
        the file: the caller discards them and reads it in two passes). An error met on the way may come from
        a wrong guess: the caller reads the file in two passes too, for the first error of the file.

        The batches are read :data:`BATCH_WORKERS` at a time, in threads (:func:`_worked_in_order`: Polars releases the
        GIL), and counted and given in file order; a batch's error is raised once the batches before it are given.
        """
        if self.reader is None:
            yield from self._guessed_batches()
            return
        if self.single is not None:
            reasons, self.single = self.single, None
            yield self._counted(self._batch(self.reader, reasons))
            return

        def read(item: tuple[int, _ColumnReader]) -> _Batch:
            part, reader = item
            return self._batch(reader, reader._reasons(self.set_aside_lines[part]))

        for batch in _worked_in_order(enumerate(self._readers()), read, BATCH_WORKERS):
            yield self._counted(batch)

    def _guessed_batches(self) -> Iterator[tuple[pl.DataFrame, pl.Series]]:
        """:meth:`batches` in one read of the file, the decisions guessed from its first batch."""
        evidence: dict[int, SeparatorEvidence] = {}
        values: dict[int, _Values] = {}
        detail_rows = 0

        def gather(facts: tuple[int, dict[int, SeparatorEvidence], dict[int, _Values]]) -> None:
            nonlocal detail_rows
            rows, found_evidence, found_values = facts
            detail_rows += rows
            for index, found in found_evidence.items():
                evidence[index] = _merge_evidence(evidence.get(index), found)
            for index, found in found_values.items():
                values[index] = found if index not in values else values[index].then(found)

        readers = self._readers()
        reader = next(readers, None)
        assert reader is not None
        frame = reader._reasons()
        gather(reader._column_facts(frame))
        self.reader = reader  # for the file's facts (the decisions, the result), not its cells
        guess = self.decided, self.broken = self._decisions(reader, evidence, values, detail_rows)
        first = self._batch(reader, _as_known(frame))
        del reader, frame  # not held while the caller writes the lines (nor with the next batch)
        yield self._counted(first)
        del first

        def read(reader: _ColumnReader) -> tuple[tuple[int, dict[int, SeparatorEvidence], dict[int, _Values]], _Batch]:
            frame = reader._reasons()
            known = _as_known(frame)
            # The amounts parsed first: the columns with no `.` nor `,` need no evidence.
            parsed = reader._amounts(known, self.decided)
            facts = reader._column_facts(frame, reader.unmarked)
            del frame
            return facts, self._batch(reader, known, parsed)

        for facts, batch in _worked_in_order(readers, read, BATCH_WORKERS):
            gather(facts)
            yield self._counted(batch)
        if self._decisions(self.reader, evidence, values, detail_rows) != guess:
            raise GuessRefuted(self.stream.table.fichier)

    def _batch(self, reader: _ColumnReader, reasons: pl.DataFrame, parsed: pl.DataFrame | None = None) -> _Batch:
        """The credit lines of a batch, from its lines with their reasons (pass 2's frame), checked with ``check``,
        and what is counted of them (:class:`_Batch`); nothing of the stream changed (batches are read at once).
        ``parsed``: ``reasons`` with its amounts (:meth:`_ColumnReader._amounts`), where already parsed."""
        frame = reader._amounts(reasons, self.decided) if parsed is None else parsed
        detail = frame.filter(pl.col("_motif").is_null())
        reader._note_doubles(detail)
        base = reader._base(detail)
        lines = reader._phase_rows(base, self.broken)
        reader._raise_first_error()
        kept_lines = lines["source_ligne"].unique()
        # The (phase, type_budget) of the lines, from the first line of each run of them (rows come group by group,
        # in line order: a few runs; a `unique` of every row took 6 % of the batch's CPU).
        first = (pl.int_range(pl.len()) == 0) | pl.any_horizontal(
            pl.col(c).ne_missing(pl.col(c).shift(1)) for c in ("phase", "type_budget")
        )
        scopes = lines.lazy().select("phase", "type_budget").filter(first).unique().collect().iter_rows()
        sums = _TotalSums()
        reader._add_total_sums(frame, kept_lines, sums)
        titres = base.filter(
            pl.col("code_titre_publie").is_not_null() & (pl.col("code_titre") != pl.col("code_titre_publie"))
        ).height
        batch = _Batch(
            lines=_without(lines, "_vide", "_groupe"),
            groups=lines["_groupe"],
            kept=kept_lines.len(),
            set_aside=frame["_motif"].drop_nulls().to_list(),
            sans_montant=detail.height - kept_lines.len(),
            exercices=_exercices(lines),
            phases=_column_phases(lines, reader.column_groups),
            hashes=reader._line_hashes(frame),
            scopes=set(scopes),
            empty_amounts=int(lines["_vide"].sum()),
            titres=titres,
            sums=sums,
        )
        if self.check is not None:
            self.check(batch.lines)
        return batch

    def _counted(self, batch: _Batch) -> tuple[pl.DataFrame, pl.Series]:
        """Count ``batch`` (the next one in file order) and give its lines and groups."""
        self.kept += batch.kept
        self.set_aside.update(batch.set_aside)
        self.set_aside["sans_montant"] += batch.sans_montant
        for found, counted in ((batch.exercices, self.exercices), (batch.phases, self.column_phases)):
            for value, (rows, line) in found.items():
                before = counted.get(value)
                counted[value] = (rows, line) if before is None else (before[0] + rows, min(before[1], line))
        self.hashes.append(batch.hashes)
        self.scopes.update(batch.scopes)
        self.phases.update(phase for phase, _ in self.scopes)
        self.empty_amounts += batch.empty_amounts
        self.titres += batch.titres
        self.sums.add(batch.sums)
        return batch.lines, batch.groups

    @property
    def sums_at_risk(self) -> bool:
        """Whether the lines of a repeated business key, summed at load, might be out of DECIMAL(18,2)'s range: the
        sum of the absolute values of the amount cells of the file's kept lines is (nearly never: then
        :func:`_check_key_sums` on the lines)."""
        return self.sums.magnitude >= _OUT_OF_RANGE

    def result(self, lines: pl.LazyFrame) -> CreditRead:
        """What reading the file gave, once :meth:`batches` has read every batch; ``lines``: its lines."""
        table, reader = self.stream.table, self.reader
        assert reader is not None
        if len(self.exercices) > 1:
            raise reader._several_exercices(self.exercices)
        reader._check_header_exercice(self.exercices)
        if len(self.column_phases) > 1:
            raise reader._several_phases(self.column_phases)
        if self.sums_at_risk:
            _check_key_sums(lines, self.match, table.fichier)
        hashes, self.hashes = self.hashes, []
        reader._repeated(pl.concat(hashes, rechunk=False) if hashes else pl.Series("h", [], pl.UInt64))
        del hashes
        exercice = next(iter(self.exercices)) if self.exercices else (reader.header_exercice or self.exercice_hint or 0)
        set_aside = Counter(self.set_aside)
        set_aside["preambule"] = table.lignes_preambule
        return CreditRead(
            lines=lines,
            exercice=exercice,
            phases=tuple(sorted(self.phases)),
            data_rows=self.stream.data_rows + table.lignes_preambule,
            kept=self.kept,
            set_aside={k: v for k, v in set_aside.items() if v},
            empty_amounts=self.empty_amounts,
            titres_corriges=self.titres,
            broken_phases=tuple(sorted(self.broken)),
            totaux_publies=reader._compare_totals(self.sums),
            lignes_preambule=table.lignes_preambule,
            lignes_recodees=table.lignes_recodees,
        )


class GuessRefuted(Exception):
    """A file read once (:meth:`CreditStream.batches` without pass 1) whose decisions, made from its first batch,
    are not those of the whole file: the lines read are not the file's."""


#: Batches of a file read at once by :meth:`CreditStream.batches` (:func:`_worked_in_order`).
BATCH_WORKERS = 2

T = TypeVar("T")
R = TypeVar("R")


def _worked_in_order(items: Iterable[T], work: Callable[[T], R], workers: int) -> Iterator[R]:
    """``work(item)`` for each of ``items``, ``workers`` at a time in threads, the results given in the items' order.

    An error of ``work`` is raised where its result is taken, once the results before it are given; an error taking
    the next item, once the results of the items before it are given (the first error of a file in line order). At
    most ``workers`` items are worked on or waiting to be taken; closed early, the work running is waited for."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="budget-warehouse-batch") as pool:
        pending: deque[Future[R]] = deque()
        iterator = iter(items)
        try:
            while True:
                try:
                    item = next(iterator)
                except StopIteration:
                    break
                except Exception:
                    while pending:  # the errors of the items before it first
                        yield pending.popleft().result()
                    raise
                pending.append(pool.submit(work, item))
                del item
                if len(pending) >= workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _as_known(frame: pl.DataFrame) -> pl.DataFrame:
    """A batch's frame as :meth:`_ColumnReader._reasons` gave it on a first reading, as ``_reasons(known)``
    gives it on the second: ``_total_general`` only on the lines set aside, no ``_plie``."""
    general = pl.when(pl.col("_motif").is_not_null()).then(pl.col("_total_general")).otherwise(False)
    return frame.drop("_plie").with_columns(_total_general=general)


def _without(frame: pl.DataFrame, *names: str) -> pl.DataFrame:
    """``frame`` without the columns ``names`` (eager: :meth:`pl.DataFrame.drop` plans a query)."""
    return pl.DataFrame([c for c in frame.get_columns() if c.name not in names])


def _merge_evidence(a: SeparatorEvidence | None, b: SeparatorEvidence) -> SeparatorEvidence:
    if a is None:
        return b
    return SeparatorEvidence(a.thousands | b.thousands, a.decimal | b.decimal, a.ambiguous | b.ambiguous)


#: The least amount out of DECIMAL(18,2)'s range (16 digits before the point).
_OUT_OF_RANGE = Decimal(10) ** 16


def _out_of_range(value: pl.Expr, columns: list[AmountColumn]) -> tuple[pl.Expr, int | None, pl.Expr]:
    """A check of :meth:`_ColumnReader._note_first_errors`: ``value``, the sum of ``columns`` on a line (exact, in a
    wider decimal), out of DECIMAL(18,2)'s range; the error names the first column and says the sum."""
    headers = " + ".join(c.header for c in columns)
    message = pl.format(f"{headers} = {{}}: amount out of DECIMAL(18,2) range", value.cast(pl.String))
    bad = value.cast(pl.Decimal(38, 2)).abs() >= pl.lit(_OUT_OF_RANGE, pl.Decimal(38, 2))
    return bad, columns[0].index if columns else None, message


def _exercices(lines: pl.DataFrame) -> dict[int, tuple[int, int]]:
    """The exercices of credit ``lines``: each with its rows and its first line (grouped only where there are several:
    a fifth of the cost where there is one, nearly always)."""
    exercices = lines["exercice"].unique()
    if exercices.len() == 1 and exercices[0] is not None:
        return {exercices[0]: (lines.height, lines["source_ligne"].min())}
    found = lines.group_by("exercice").agg(pl.len(), pl.col("source_ligne").min())
    return {e: (n, line) for e, n, line in found.iter_rows() if e is not None}


def _column_phases(lines: pl.DataFrame, groups: set[int]) -> dict[str, tuple[int, int]]:
    """The phases that credit ``lines`` of a file whose phase is each line's (its column: the rows of ``groups``)
    state, each with its rows and first line (grouped only where there are several, as :func:`_exercices`)."""
    if not groups:
        return {}
    of_column = lines.filter(pl.col("_groupe").is_in(sorted(groups)))
    phases = of_column["phase"].unique()
    if phases.len() == 1 and phases[0] is not None:
        return {phases[0]: (of_column.height, of_column["source_ligne"].min())}
    found = of_column.group_by("phase").agg(pl.len(), pl.col("source_ligne").min())
    return {p: (n, line) for p, n, line in found.iter_rows() if p is not None}


#: The seed of :meth:`_ColumnReader._line_hashes` (one for every batch of a file).
_LINE_SEED = 0x6C69676E


def _repeated_line(hashes: pl.Series) -> tuple[int, int] | None:
    """The first line (counted from 1: ``hashes`` holds every line of the file, in order; null for a line set aside)
    whose hash is an earlier line's, with that earlier line: ``(earlier, later)``; None where none is (nearly always:
    then one sort of the hashes and a comparison of neighbours, no table of them)."""
    ordered = hashes.drop_nulls().sort()
    if not (ordered.len() > 1 and (ordered.slice(1) == ordered.slice(0, ordered.len() - 1)).any()):
        return None
    del ordered
    lines = hashes.to_frame("h").with_row_index("l", 1).drop_nulls()
    found = (
        lines.filter(pl.col("h").is_duplicated())
        .group_by("h")
        .agg(pl.col("l").min().alias("earlier"), pl.col("l").sort().get(1).alias("later"))
        .sort("later")
    )
    earlier, later = found.row(0)[1:]
    return int(earlier), int(later)


_SUMMED = ("ae", "cp", "ae_fdc_adp", "cp_fdc_adp")


def _check_key_sums(lines: pl.DataFrame | pl.LazyFrame, match: FamilyMatch, fichier: str) -> None:
    """Raise :class:`SourceReadError` where the lines of one business key (summed into one row at load) sum to an
    amount out of DECIMAL(18,2)'s range, exactly (in a wider decimal): the first such key by its first line, naming
    the lines summed and the amount column."""
    from schemas.credits import BUSINESS_KEY  # beside the Pandera model: the inventory imports this module (issue 11)

    sums = [pl.col(c).cast(pl.Decimal(38, 2)).sum() for c in _SUMMED]
    found = (
        lines.lazy()
        .group_by(BUSINESS_KEY)
        .agg(*sums, lignes=pl.col("source_ligne").unique().sort(), premiere=pl.col("source_ligne").min())
        .filter(pl.any_horizontal(pl.col(c).abs() >= pl.lit(_OUT_OF_RANGE, pl.Decimal(38, 2)) for c in _SUMMED))
        .sort("premiere")
        .head(1)
        .collect()
    )
    if not found.height:
        return
    row = found.row(0, named=True)
    column = next(c for c in _SUMMED if row[c] is not None and abs(row[c]) >= _OUT_OF_RANGE)
    grandeur, _, fdc = column.partition("_")
    headers = [
        a.header
        for a in match.amounts
        if a.grandeur == grandeur and (a.partie == "fdc_adp") == bool(fdc) and a.phase in (row["phase"], None)
    ]
    lignes = ", ".join(str(n) for n in row["lignes"])
    raise SourceReadError(
        fichier,
        f"lines {lignes} (one business key, summed into one row) sum to {row[column]}: "
        "amount out of DECIMAL(18,2) range",
        ligne=row["premiere"],
        colonne=" + ".join(headers) if headers else column,
    )


def _doubles(
    match: FamilyMatch, groups: dict[tuple[str | None, str | None], list[AmountColumn]]
) -> list[tuple[str, int, int, bool]]:
    """The columns of a file that hold a field another column already holds (headers folded): ``(what, first
    column, other column, amount?)``; amounts: two of one (phase, titre) group with the same grandeur and part."""
    doubles = [(f"the field {name}", first, other, False) for name, first, other in match.doubles]
    for (phase, titre), columns in groups.items():
        seen: dict[tuple[str, str], int] = {}
        for c in columns:
            key = (c.grandeur, c.partie)
            if key in seen:
                part = "" if c.partie == "total" else f" {c.partie}"
                scope = ", ".join(x for x in (phase, f"titre {titre}" if titre else None) if x)
                what = f"the amount {c.grandeur}{part}{f' ({scope})' if scope else ''}"
                doubles.append((what, seen[key], c.index, True))
            else:
                seen[key] = c.index
    return doubles


def _doubles_message(table: RawTable, what: str, first: int, other: int, a: str, b: str) -> pl.Expr:
    """The error of a line where two columns holding ``what`` (``first`` and ``other``, of cells ``a`` and ``b`` as
    published) differ."""
    return pl.concat_str(
        pl.lit(f"two columns hold {what}: {_column_place(table, first)} and "),
        pl.lit(f"{_column_place(table, other)}, which differ on this line ('"),
        pl.col(a).fill_null(""),
        pl.lit("' against '"),
        pl.col(b).fill_null(""),
        pl.lit("'): which one to read is unknown"),
    )


def differing_doubles(table: RawTable, doubles: tuple[tuple[str, int, int], ...]) -> SourceReadError | None:
    """The credit reader's error (:meth:`_Reader._note_doubles`) for a reader of a whole table (the nomenclature's):
    where two columns hold one field (``FamilyMatch.doubles``: the field, its first column, the other) and differ on
    a data row (cells as published), the first such row (then the leftmost column); None where each pair is equal on
    every row (read as one column)."""
    if not doubles:
        return None
    names = [f"c{i}" for i in range(len(table.header))]
    frame = pl.DataFrame(table.rows, schema=dict.fromkeys(names, pl.String), orient="row")
    frame = frame.with_columns(_ligne=pl.int_range(1, pl.len() + 1))
    errors = []
    for name, first, other in doubles:
        message = _doubles_message(table, f"the field {name}", first, other, names[first], names[other])
        found = frame.filter(pl.col(names[first]).ne_missing(pl.col(names[other]))).head(1)
        if found.height:
            errors.append((found["_ligne"][0], other, found.select(message).item()))
    if not errors:
        return None
    ligne, index, message = min(errors)
    return SourceReadError(table.fichier, message, ligne=ligne, colonne=table.header[index], index_colonne=index)


def _column_place(table: RawTable, index: int) -> str:
    """A column as a user finds it: ``'AE LFI 2020' (column 7, G)``."""
    number, letters = index + 1, ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{table.header[index]!r} (column {index + 1}, {letters})"


#: An amount cell as published that states no amount: empty, white space, a lone dash (``euros_expr``'s ``vide``),
#: white space around it (``-``, `` - ``, ``--``, ``—``; the minus, en and figure dashes as ``-``).
_BLANK = r"^\s*(?:[-\u2212\u2013\u2012]\s*){0,2}$|^\s*\u2014\s*$"


_BLANK_CELL = re.compile(_BLANK)


def _stated(name: str) -> pl.Expr:
    """Whether some cell of column ``name`` states an amount (is not :data:`_BLANK`, nor null): one aggregate."""
    return pl.col(name).str.contains(_BLANK).not_().fill_null(False).any()


def _values_of(lines: pl.LazyFrame, names: dict[int, str], found: dict, seen: bool) -> dict[int, _Values]:
    """The :class:`_Values` of the amount columns ``names`` (index: column) of ``lines``, from ``found``: their first
    cell (``_premier<i>``) and whether another differs (``_autre<i>``). Whether a cell states an amount
    (:func:`_stated`, a scan of the column: 27 ns a cell) is looked for only in a column whose first cell states none
    and whose cells differ: a first cell stated is an amount, cells all equal to a blank first state none."""
    first = {i: found[f"_premier{i}"] for i in names}
    other = {i: bool(found[f"_autre{i}"]) for i in names}
    filled = {i: first[i] is not None and _BLANK_CELL.fullmatch(first[i]) is None for i in names}
    unsure = [i for i in names if other[i] and not filled[i]]
    if unsure:
        row = lines.select(_stated(names[i]).alias(f"_rempli{i}") for i in unsure).collect().row(0, named=True)
        filled |= {i: bool(row[f"_rempli{i}"]) for i in unsure}
    return {i: _Values(seen, first[i], other[i], filled[i]) for i in names}


def _add(a: pl.Expr | None, b: pl.Expr | None) -> pl.Expr | None:
    """``a + b`` where either may be absent; null only where both are null."""
    if a is None:
        return b
    if b is None:
        return a
    return pl.when(a.is_null() & b.is_null()).then(pl.lit(None, MONEY)).otherwise(a.fill_null(0) + b.fill_null(0))


def reading_order(group: pl.Expr, line: pl.Expr, block: int = 0) -> pl.Expr:
    """``ordre_lecture`` of credit rows: their order as the reader gives a file, (phase, titre) group by group
    (:func:`amount_groups`), each in line order; ``block``: the place of the file's rows among the blocks of
    rows staged together (``warehouse.credits.roles``). One Int64: ``block``, then ``group`` (8 bits), then ``line``
    (31 bits); so rows staged in another order (line by line, in one write) keep this order's meaning
    (``warehouse.nomenclature.resolution``: the first row of an element)."""
    high = pl.lit(block * (1 << (_LINE_BITS + _GROUP_BITS)), pl.Int64)
    return high + group.cast(pl.Int64) * (1 << _LINE_BITS) + line.cast(pl.Int64)


def stated_exercice(table: RawTable, match: FamilyMatch, exercice_hint: int | None) -> int | None:
    """The exercice a credit file holds, found cheaply (before the file is read in full).

    The ``exercice`` column of the first data line, else the year of its ``phase``
    column (``PLF 2019``), else the year of the amount headers (``AE LFI 2019``),
    else ``exercice_hint`` (catalogue or file name). None when nothing states it.
    """
    for name in ("exercice", "phase"):
        index = match.fields.get(name)
        if index is None:
            continue
        for row in table.rows:
            if row[index] is not None:
                year = _YEAR.search(row[index])
                if year:
                    return int(year.group(1))
                break
    header_years = {a.exercice for a in match.amounts if a.exercice}
    if len(header_years) == 1:
        return header_years.pop()
    return exercice_hint
