"""Read any tabular source file (CSV of any vintage, legacy ``.xls``, ``.xlsx``) as text cells.

This is the one reading path of the project: every cell comes out as text exactly
as published (or ``None`` when empty), so that code and amount rules, not type
inference, decide what a value is (``shared/cases/B03``, ``B13``, ``B24``).

- CSV: :mod:`warehouse.reading.csv_files` finds the size, encoding, separator, preamble
  and header from the file, and records the rows whose field count differs from
  the header's (``shared/cases/B05``, ``B22``, ``B27``, ``B31``, ``B39``).
- Workbooks (``.xls``, ``.xlsx``, ``.ods``, an HTML table saved as ``.xls``) and bytes
  that hold no table at all: :mod:`warehouse.reading.workbooks`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

__all__ = ["FrameRows", "RawTable", "TableReadError", "named_error", "read_table_heads", "read_tables"]

#: Rows turned into Python lists at once when iterating over a :class:`FrameRows` (bounds the memory held).
_ROWS_AT_ONCE = 10_000


class TableReadError(ValueError):
    """A file that cannot be read as a table at all (bad encoding, corrupt workbook)."""


def named_error(fichier: str, why: str) -> str:
    """``why`` (an error not naming the file) after ``fichier``: ``'<fichier>, ligne N, …'`` for an error placed at a
    line or in the header (a workbook's Excel error value), as every per-line error reads; else
    ``'<fichier>: <why>'``."""
    return f"{fichier}, {why}" if why.startswith(("ligne ", "en-tête, ")) else f"{fichier}: {why}"


class FrameRows(Sequence[list[str | None]]):
    """The data records of a table held in a Polars frame of text columns, given as Python lists on demand.

    A read-only sequence: ``len()``, indexing, slicing and iteration build the lists
    as they are asked for, so a reader that works on :meth:`RawTable.to_frame` never
    holds one Python object per cell.
    """

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __len__(self) -> int:
        return self.frame.height

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [list(row) for row in self.frame[index].iter_rows()]
        return list(self.frame.row(index))

    def __iter__(self) -> Iterator[list[str | None]]:
        for rows in self.frame.iter_slices(_ROWS_AT_ONCE):
            yield from map(list, rows.rows())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrameRows):
            return self.frame.equals(other.frame)
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FrameRows({self.frame.height} rows)"


@dataclass
class RawTable:
    """One table of a source file, every cell as text.

    ``header``: the column names as published (a two-level header joined with a
    space). ``rows``: the data records after the header, each as long as the
    header, ``None`` for an empty cell; record ``i`` (0-based) is data row
    ``i + 1`` of the file, the ``source_ligne`` of the warehouse (a CSV holds them in
    a :class:`FrameRows`). ``lignes_preambule``: lines above the header set aside
    (titles, blank lines, ``sep=;``). ``lignes_irregulieres``: (data line, field count)
    of each row whose field count differs from the header's with data at stake (see
    :mod:`warehouse.reading.csv_files`); such a row is in ``rows`` cut or padded to the header,
    so a reader raises :meth:`irregular_rows_error` or sets those lines aside.
    ``lignes_recodees``: lines of a UTF-8 file whose stray bytes were decoded as
    Windows-1252. ``quote_error``: for a CSV's head read to recognise the file (its rows read leniently
    then), the error a strict read of that head met (a badly quoted field, or a file cut short; see
    :mod:`warehouse.reading.csv_files`), raised by :meth:`checked` where the head is taken as the whole table.
    """

    fichier: str
    format: str  # "csv", "xls", "xlsx"
    encoding: str | None
    header: list[str]
    rows: Sequence[list[str | None]]
    sheet: str | None = None
    header_row_count: int = 1
    lignes_preambule: int = 0
    lignes_irregulieres: list[tuple[int, int]] = field(default_factory=list)
    lignes_recodees: int = 0
    quote_error: str | None = field(default=None, compare=False, repr=False)
    #: A workbook sheet's row (1-based, as the spreadsheet numbers it) of the first data row; None for a CSV or an
    #: HTML table (no cell references).
    sheet_first_row: int | None = None
    #: For a CSV read whole: (data line, line breaks its quoted fields hold) of each record over several lines (data
    #: line 0: the header), so that :meth:`ligne_du_fichier` counts them.
    lignes_sur_plusieurs: list[tuple[int, int]] = field(default_factory=list, compare=False, repr=False)
    #: For a sheet of an ``.xls``, ``.xlsx`` or ``.ods`` workbook: column index -> the data rows (0-based, ascending)
    #: whose cell held a number (written as its exact text, ``1234.5``); the column's other cells held text, as
    #: published (``"1.234"``, ``"1 234,50"``), to be read as a CSV's cells are. None for a CSV or an HTML table.
    cellules_nombres: dict[int, list[int]] | None = field(default=None, compare=False, repr=False)

    def ligne_du_fichier(self, ligne: int) -> int:
        """The line of the file (1-based) data row ``ligne`` starts on: below the preamble and the header, and the
        line breaks of the quoted fields of the records above it (:attr:`lignes_sur_plusieurs`)."""
        sauts = sum(count for at, count in self.lignes_sur_plusieurs if at < ligne)
        return ligne + self.lignes_preambule + 1 + sauts

    def checked(self) -> RawTable:
        """This table, as a whole table: :class:`TableReadError` (``quote_error``) for a head read leniently."""
        if self.quote_error is not None:
            raise TableReadError(self.quote_error)
        return self

    def cell(self, ligne: int | None, colonne: str | None, index: int | None = None) -> str | None:
        """``feuille 'X', cellule C12``: where data row ``ligne`` (1-based) and the column whose header is ``colonne``
        (as published) are in a workbook's sheet; None for a CSV, an HTML table, or a column not in the header.
        ``index``: the column's index in the header, where known (two columns may share a header: the first
        otherwise)."""
        if self.sheet_first_row is None or ligne is None or colonne is None or colonne not in self.header:
            return None
        if index is None or not 0 <= index < len(self.header) or self.header[index] != colonne:
            index = self.header.index(colonne)
        index, letters = index + 1, ""
        while index:
            index, rest = divmod(index - 1, 26)
            letters = chr(65 + rest) + letters
        return f"feuille {self.sheet!r}, cellule {letters}{self.sheet_first_row + ligne - 1}"

    def to_frame(self) -> pl.DataFrame:
        """The table as a Polars frame of text columns named after :func:`schemas.headers.column_name`."""
        from schemas.headers import column_name

        names: list[str] = []
        for index, header in enumerate(self.header):
            name = column_name(header) or f"colonne_{index + 1}"
            while name in names:
                name = f"{name}_{index + 1}"
            names.append(name)
        if isinstance(self.rows, FrameRows):
            return self.rows.frame.rename(dict(zip(self.rows.frame.columns, names, strict=True)))
        return pl.DataFrame(list(self.rows), schema=dict.fromkeys(names, pl.String), orient="row")

    def irregular_rows_error(self) -> TableReadError | None:
        """The error naming the first row whose field count differs from the header's, or None.

        ``fichier, ligne N: K fields where the header has H (and M other irregular rows)``.
        """
        if not self.lignes_irregulieres:
            return None
        ligne, count = self.lignes_irregulieres[0]
        others = len(self.lignes_irregulieres) - 1
        more = f" (and {others} other irregular row{'s' if others > 1 else ''})" if others else ""
        return TableReadError(
            f"{self.fichier}, ligne {ligne}: {count} fields where the header has {len(self.header)}{more}"
        )


def read_tables(path: Path, display_name: str | None = None) -> list[RawTable]:
    """Read every table of the file at ``path``: one for a CSV, one per visible non-empty sheet of a workbook.

    The format is recognised from the bytes, not the file name (an ``.xlsx`` behind a
    ``.csv`` name reads as a workbook; :func:`warehouse.reading.workbooks.table_format`). Raises
    :class:`TableReadError` for a file that is not a table (empty, compressed, an HTML
    page with no table, binary data…).
    """
    from warehouse.reading.workbooks import WORKBOOK_FORMATS, read_workbook, table_format  # it imports this module

    name = display_name or path.name
    fmt = table_format(path)
    if fmt in WORKBOOK_FORMATS:
        return read_workbook(path, name, fmt)
    from warehouse.reading.csv_files import read_csv_table  # it builds RawTable: imported here, not at the top

    return [read_csv_table(path, name)]


def read_table_heads(
    path: Path, display_name: str | None = None, whole_encoding: bool = True
) -> tuple[list[RawTable], bool]:
    """The tables of the file at ``path`` as far as recognising it needs, and whether they are whole.

    A CSV: its head only (:func:`warehouse.reading.csv_files.read_csv_head`: the header and the first
    rows of the first 256 KiB; its encoding still decided from the whole file, in a streaming
    pass, or from the head when ``whole_encoding`` is false); whole when the file is no longer
    than its head. A workbook: read whole, as :func:`read_tables` does (bounded by the size
    limits of :mod:`warehouse.reading.workbooks`).
    Raises :class:`TableReadError` as :func:`read_tables` does.
    """
    from warehouse.reading.workbooks import WORKBOOK_FORMATS, read_workbook, table_format

    name = display_name or path.name
    fmt = table_format(path)
    if fmt in WORKBOOK_FORMATS:
        return read_workbook(path, name, fmt), True
    from warehouse.reading.csv_files import read_csv_head

    head, whole = read_csv_head(path, name, whole_encoding=whole_encoding)
    return [head], whole


def __getattr__(name: str):
    if name == "repair_utf16le_bytes":  # moved to warehouse.reading.workbooks, still importable from here
        from warehouse.reading.workbooks import repair_utf16le_bytes

        return repair_utf16le_bytes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
