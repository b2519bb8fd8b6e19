"""Read any tabular source file (CSV of any vintage, legacy ``.xls``, ``.xlsx``) as text cells.

This is the one reading path of the project: every cell comes out as text exactly
as published (or ``None`` when empty), so that code and amount rules, not type
inference, decide what a value is (``shared/cases/B03``, ``B13``, ``B24``).

- CSV: the encoding is found from the bytes (UTF-8 with zero, one or two BOMs,
  UTF-16 with a BOM, else Windows-1252: never Latin-1, which silently corrupts
  ``’ œ – €``; ``shared/cases/B05``), then Polars splits the ``;``-separated
  records (quoted headers may span several physical lines).
- Excel: python-calamine reads ``.xls`` (BIFF) and ``.xlsx``. Numbers come out
  as their shortest exact text (``0.123456789012345``, ``2024.0``). Legacy
  ``.xls`` text stored as UTF-16LE bytes read one byte per character
  (``P\\x00L\\x00F\\x00``) is decoded as UTF-16LE, never by deleting the NULs.
  Title rows above the header are skipped and a two-level header (a merged
  upper level over sub-columns) is joined into one name (``shared/cases/B11``).
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from python_calamine import CalamineWorkbook

__all__ = ["RawTable", "TableReadError", "decode_text", "read_tables", "repair_utf16le_bytes"]

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"


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
    lignes_preambule: int = 0
    lignes_recodees: int = 0
    lignes_irregulieres: list[tuple[int, int]] = field(default_factory=list)

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


def repair_utf16le_bytes(text: str) -> str:
    """Decode text that a legacy ``.xls`` stored as UTF-16LE bytes read one byte per character.

    ``'P\\x00L\\x00F\\x00'`` → ``'PLF'``; ``'\\x19 '`` → ``'’'``. Text that is not of that kind
    is returned unchanged.
    """
    if len(text) < 2 or len(text) % 2 or "\x00" not in text:
        return text
    odd = text[1::2]
    if odd.count("\x00") * 2 < len(odd):
        return text
    try:
        return text.encode("latin-1").decode("utf-16-le")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def read_tables(path: Path, display_name: str | None = None) -> list[RawTable]:
    """Read every table of the file at ``path``: one for a CSV, one per non-empty sheet of a workbook.

    The format is recognised from the bytes, not the file name (an ``.xlsx`` behind a
    ``.csv`` name reads as a workbook). Raises :class:`TableReadError` for a file
    that is not a table.
    """
    name = display_name or path.name
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(_OLE_MAGIC):
        return _read_workbook(path, name, "xls")
    if head.startswith(_ZIP_MAGIC):
        return _read_workbook(path, name, "xlsx")
    return [_read_csv(path.read_bytes(), name)]


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


def _read_workbook(path: Path, name: str, fmt: str) -> list[RawTable]:
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types
        raise TableReadError(f"unreadable {fmt} workbook: {exc}") from exc
    tables = []
    for sheet_name in workbook.sheet_names:
        raw = workbook.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
        records = [tuple(_excel_cell(v) for v in row) for row in raw]
        if not any(any(v is not None for v in r) for r in records):
            continue
        header_at = _first_filled(records, 2)
        table = _table_from_records(name, fmt, None, records, header_at, sheet=sheet_name)
        tables.append(table)
    return tables


def _excel_cell(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = repair_utf16le_bytes(value)
        return text if text.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _first_filled(records: list[tuple], min_cells: int) -> int:
    """Index of the first record with at least ``min_cells`` non-empty cells (the header)."""
    for index, record in enumerate(records):
        if sum(1 for v in record if v is not None and str(v).strip()) >= min_cells:
            return index
    return 0


def _is_sub_header(header: tuple, candidate: tuple) -> bool:
    """Whether ``candidate`` is the lower level of a two-level header (``shared/cases/B11``)."""
    filled = [v for v in candidate if v is not None]
    if not filled or any(_looks_numeric(v) for v in filled):
        return False
    return any(h is None and c is not None for h, c in zip(header, candidate, strict=False))


def _looks_numeric(value: str) -> bool:
    try:
        float(value.replace(",", ".").replace(" ", ""))
    except ValueError:
        return False
    return True


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
    if fmt != "csv" and data_start < len(records) and _is_sub_header(records[header_at], records[data_start]):
        upper, current = [], None
        for cell in header_cells:
            current = cell if cell is not None else current
            upper.append(current)
        lower = records[data_start]
        header_cells = [
            " ".join(p for p in (u, lw) if p) if lw else (u or "") for u, lw in zip(upper, lower, strict=False)
        ]
        data_start, header_rows = data_start + 1, 2
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
