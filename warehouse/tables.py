"""Read any tabular source file (CSV of any vintage, legacy ``.xls``, ``.xlsx``) as text cells.

This is the one reading path of the project: every cell comes out as text exactly
as published (or ``None`` when empty), so that code and amount rules, not type
inference, decide what a value is (``shared/cases/B03``, ``B13``, ``B24``).

- CSV: the encoding is found from the bytes (UTF-8 with zero, one or two BOMs,
  UTF-16 with a BOM, else Windows-1252: never Latin-1, which silently corrupts
  ``’ œ – €``; ``shared/cases/B05``), then Polars splits the ``;``-separated
  records (quoted headers may span several physical lines).
- Workbooks (``.xls``, ``.xlsx``, ``.ods``, an HTML table saved as ``.xls``) and bytes
  that hold no table at all: :mod:`warehouse.workbooks`.
"""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass
from pathlib import Path

import polars as pl

__all__ = ["RawTable", "TableReadError", "decode_text", "read_tables"]


class TableReadError(ValueError):
    """A file that cannot be read as a table at all (bad encoding, corrupt workbook)."""


@dataclass
class RawTable:
    """One table of a source file, every cell as text.

    ``header``: the column names as published (a two-level header joined with a
    space). ``rows``: the data records after the header, each as long as the
    header, ``None`` for an empty cell; record ``i`` (0-based) is data row
    ``i + 1`` of the file, the ``source_ligne`` of the warehouse.
    """

    fichier: str
    format: str  # "csv", "xls", "xlsx"
    encoding: str | None
    header: list[str]
    rows: list[list[str | None]]
    sheet: str | None = None
    header_row_count: int = 1

    def to_frame(self) -> pl.DataFrame:
        """The table as a Polars frame of text columns named after :func:`schemas.headers.column_name`."""
        from schemas.headers import column_name

        names: list[str] = []
        for index, header in enumerate(self.header):
            name = column_name(header) or f"colonne_{index + 1}"
            while name in names:
                name = f"{name}_{index + 1}"
            names.append(name)
        return pl.DataFrame(self.rows, schema=dict.fromkeys(names, pl.String), orient="row")


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode the bytes of a text file; return ``(text, encoding name)``.

    UTF-8 (any number of leading BOMs, all removed), UTF-16 with a BOM or
    with NULs every other byte, else Windows-1252. Raises :class:`TableReadError`
    when none fits.
    """
    boms = 0
    while data.startswith(codecs.BOM_UTF8):
        data, boms = data[len(codecs.BOM_UTF8) :], boms + 1
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    sample = data[:2000]
    if sample and sample[1::2].count(0) > len(sample) // 4:
        return data.decode("utf-16-le"), "utf-16-le"
    try:
        text = data.decode("utf-8")
        name = "ascii" if text.isascii() and not boms else "utf-8"
        return text, name + ("-sig" * boms)
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise TableReadError(
            f"neither UTF-8 nor Windows-1252 (byte {exc.start}: {data[exc.start : exc.start + 1]!r})"
        ) from exc


def read_tables(path: Path, display_name: str | None = None) -> list[RawTable]:
    """Read every table of the file at ``path``: one for a CSV, one per visible non-empty sheet of a workbook.

    The format is recognised from the bytes, not the file name (an ``.xlsx`` behind a
    ``.csv`` name reads as a workbook; :func:`warehouse.workbooks.table_format`). Raises
    :class:`TableReadError` for a file that is not a table (empty, compressed, an HTML
    page with no table, binary data…).
    """
    from warehouse.workbooks import WORKBOOK_FORMATS, read_workbook, table_format  # it imports this module

    name = display_name or path.name
    fmt = table_format(path)
    if fmt in WORKBOOK_FORMATS:
        return read_workbook(path, name, fmt)
    return [_read_csv(path.read_bytes(), name)]


def __getattr__(name: str):
    if name == "repair_utf16le_bytes":  # moved to warehouse.workbooks, still importable from here
        from warehouse.workbooks import repair_utf16le_bytes

        return repair_utf16le_bytes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _read_csv(data: bytes, name: str) -> RawTable:
    text, encoding = decode_text(data)
    if not text.strip():
        return RawTable(name, "csv", encoding, [], [])
    first_line = text.split("\n", 1)[0]
    separator = ";" if ";" in first_line or "," not in first_line else ","
    try:
        frame = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            separator=separator,
            has_header=False,
            infer_schema=False,
            truncate_ragged_lines=True,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError as exc:
        raise TableReadError(f"not a {separator!r}-separated table: {exc}") from exc
    records = frame.rows()
    return _table_from_records(name, "csv", encoding, records, header_at=_first_filled(records, 1))


def _first_filled(records: list[tuple], min_cells: int) -> int:
    """Index of the first record with at least ``min_cells`` non-empty cells (the header)."""
    for index, record in enumerate(records):
        if sum(1 for v in record if v is not None and str(v).strip()) >= min_cells:
            return index
    return 0


def _table_from_records(
    name: str,
    fmt: str,
    encoding: str | None,
    records: list[tuple],
    header_at: int,
    sheet: str | None = None,
) -> RawTable:
    if not records:
        return RawTable(name, fmt, encoding, [], [], sheet=sheet)
    header_cells = list(records[header_at])
    data_start = header_at + 1
    header_rows = 1
    header = [(h or "").strip() for h in header_cells]
    width = len(header)
    rows = [_pad(list(r), width) for r in records[data_start:]]
    # Drop trailing columns with no header and no value (PLF 2020–2022 CSVs carry 153 of them).
    while header and not header[-1] and all(r[len(header) - 1] is None for r in rows):
        header.pop()
        for r in rows:
            r.pop()
    return RawTable(name, fmt, encoding, header, rows, sheet=sheet, header_row_count=header_rows)


def _pad(values: list, width: int) -> list[str | None]:
    cells = [(v if v is not None and str(v).strip() != "" else None) for v in values[:width]]
    return cells + [None] * (width - len(cells))
