"""Read workbooks (legacy ``.xls``, ``.xlsx``, ``.ods``, and HTML tables saved as ``.xls``) as text cells.

What a file is comes from its bytes, never its name (:func:`table_format`): OLE2
(``.xls``), a zip holding a workbook (``.xlsx``, ``.ods``), an HTML document (an
``.xls`` that a portal or Excel's "web page" save wrote as HTML), or text (a CSV,
read by :mod:`warehouse.reading.tables`). Bytes that hold no table at all are refused with
:class:`warehouse.reading.tables.TableReadError`: an empty file, compressed bytes (gzip,
bzip2, xz, zstd, a zip that holds no workbook), a PDF, an HTML page with no table,
binary data. The workbook rules (README, "Workbooks"):

- **Only visible worksheets are data.** A hidden or very hidden sheet (python-calamine
  ``sheets_metadata``) often keeps stale figures (``shared/cases/B33``); it is never read.
  A workbook with no visible sheet holding data is refused.
- **Merged cells read as Excel shows them.** The value of a merged range is in every
  cell of the range in the header rows and, for text (labels, codes), in data rows
  too. A number merged over several data cells stays in its top-left cell only, as in
  Excel's own arithmetic (``SUM`` counts it once): it is never copied into other rows.
  HTML ``colspan``/``rowspan`` are merges.
- **A formula without a cached value is an error** naming the sheet and the cell. An
  ``.xlsx`` written by a program that does not compute (a library, a script) stores
  ``<c r="C3"><f>SUM(A3:B3)</f></c>`` with no ``<v>``: a reader sees an empty cell.
  Each visible sheet of an ``.xlsx`` is streamed (``zipfile`` + lxml ``iterparse``,
  constant memory) to find such cells before any is read. A legacy ``.xls`` FORMULA
  record always carries its last result (BIFF8, [MS-XLS] 2.4.127), so none is checked.
- **An Excel error value is an error** (``#N/A``, ``#DIV/0!``…, ``<c t="e">``) in the header or a data row of
  an ``.xlsx``, naming the line, the column and the cell, whatever the column: python-calamine reads it as an
  empty cell (its issue #105), so the formula scan above notes the error cells of each visible sheet. Not yet in
  a legacy ``.xls`` or an ``.ods``.
- **Zip safety** (zip bombs): before an ``.xlsx``/``.ods`` is opened, the sizes its zip
  directory declares are checked: in all at most ``BUDGET_MAX_UNZIPPED_MB`` MiB
  (default 1024) unzipped, and no member over 1 MiB may inflate more than
  ``BUDGET_MAX_ZIP_RATIO`` times (default 100, the limit of Apache POI's
  ``ZipSecureFile``). Python's ``zipfile`` stops a member at its declared size and
  checks its CRC, so a directory that lies fails the formula scan. Every workbook is
  also refused above ``BUDGET_MAX_FILE_MB`` MiB on disk (default 512, the limit of
  text files too).
- **HTML tables** are parsed with lxml's HTML parser, in the encoding the bytes state
  (a BOM, else ``<meta charset>`` / ``http-equiv``; ISO-8859-1 and ASCII labels mean
  Windows-1252, as browsers read them), else UTF-8 if the bytes are valid UTF-8, else
  Windows-1252. A cell's ``x:num`` attribute (Excel's stored number) is preferred to
  its displayed text. Each ``<table>`` with at least two rows of at least two cells is
  one table, named ``tableau <n>``.
- Numbers come out as their shortest exact text (``0.123456789012345``, ``2024.0``), and which data cells held
  a number is kept (``RawTable.cellules_nombres``): a text cell ``"1.234"`` is text as published, read as a CSV's;
  legacy ``.xls`` text stored as UTF-16LE bytes read one byte per character
  (``P\\x00L\\x00F\\x00``) is decoded as UTF-16LE, never by deleting the NULs.
- Title rows above the header are skipped (the header is the first row with at least
  two cells, merged titles counting once) and a two-level header (an upper level merged
  over sub-columns) is joined into one name per column (``shared/cases/B11``).
"""

from __future__ import annotations

import codecs
import datetime as dt
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from lxml import etree
from lxml import html as lxml_html
from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from warehouse.reading.tables import RawTable, TableReadError

__all__ = [
    "MAX_FILE_MB_ENV",
    "MAX_UNZIPPED_MB_ENV",
    "MAX_ZIP_RATIO_ENV",
    "WORKBOOK_FORMATS",
    "check_zip",
    "read_workbook",
    "repair_utf16le_bytes",
    "table_format",
]

#: Largest file read, in MiB (workbooks here; text files in :mod:`warehouse.reading.tables`).
MAX_FILE_MB_ENV = "BUDGET_MAX_FILE_MB"
#: Largest total a zipped workbook may unzip to, in MiB.
MAX_UNZIPPED_MB_ENV = "BUDGET_MAX_UNZIPPED_MB"
#: Largest ratio of unzipped to zipped size of one member (over 1 MiB) of a zipped workbook.
MAX_ZIP_RATIO_ENV = "BUDGET_MAX_ZIP_RATIO"
_DEFAULTS = {MAX_FILE_MB_ENV: 512.0, MAX_UNZIPPED_MB_ENV: 1024.0, MAX_ZIP_RATIO_ENV: 100.0}
_RATIO_FLOOR = 1 << 20  # members smaller than this are not ratio-checked (tiny XML parts compress well)

#: The formats :func:`read_workbook` reads (the others are text, for :mod:`warehouse.reading.tables`).
WORKBOOK_FORMATS = ("xls", "xlsx", "ods", "html")

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_COMPRESSED = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"(\xb5/\xfd": "zstd",
    b"7z\xbc\xaf'\x1c": "7-zip",
    b"Rar!\x1a\x07": "rar",
}
_SNIFF = 64 * 1024
_CONTROL_BYTES = bytes([*range(0, 9), 11, *range(14, 32), 127])
_MAX_CONTROL_SHARE = 0.02
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")  # <f>, <f t="shared" …/>, <x:f>
_ERROR_CELL = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?c\s[^>]*?\bt\s*=\s*["']e["']""")  # <c r="K2" t="e">
_CELL_REFERENCE = re.compile(r"([A-Z]+)([0-9]+)")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_MAX_HTML_CELLS = 20_000_000  # rows × columns of one HTML table, spans included
#: WHATWG Encoding Standard: these labels mean windows-1252 in an HTML document.
#: A number as a cell may display it (sign, parentheses, blanks between thousands, a currency sign).
_NUMBER = re.compile(r"[-+\u2212(]?\s*\d[\d \u00a0\u202f.,]*\)?\s*(?:€|EUR)?")
_WINDOWS_1252_LABELS = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "ascii", "us-ascii", "cp819"}


def _limit(name: str) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return _DEFAULTS[name]
    try:
        value = float(text)
    except ValueError as exc:
        raise TableReadError(f"{name}={text!r} is not a number") from exc
    if value <= 0:
        raise TableReadError(f"{name}={text!r} must be positive")
    return value


def _mib(octets: float) -> str:
    return f"{octets / (1 << 20):.1f} MiB"


def table_format(path: Path) -> str:
    """What the file at ``path`` is, from its bytes: ``xls``, ``xlsx``, ``ods``, ``html`` or ``text``.

    Raises :class:`TableReadError` for bytes that hold no table: an empty file (no byte,
    or only blanks and BOMs), compressed bytes (gzip, bzip2, xz, zstd, 7-zip, rar, a
    zip of anything but a workbook), a PDF, XML that is not HTML (including Excel 2003
    XML, not read), binary data (more than 2 % of control bytes in the first 64 KiB of
    a file that is not UTF-16). ``OSError`` if the file cannot be opened.
    """
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF)
    if head.startswith(_OLE_MAGIC):
        return "xls"
    if head.startswith(_ZIP_MAGICS):
        return _zip_kind(path)
    for magic, kind in _COMPRESSED.items():
        if head.startswith(magic):
            raise TableReadError(f"{kind}-compressed bytes, not a table: decompress the file first")
    if head.startswith(b"%PDF-"):
        raise TableReadError("a PDF document, not a table")
    text = _sniff_text(head)
    if not text.strip(" \t\r\n\f\v\ufeff\x00"):
        if len(head) < _SNIFF:
            raise TableReadError("empty file" + (f" ({len(head)} blank byte(s))" if head else " (0 bytes)"))
        return "text"
    start = text.lstrip(" \t\r\n\ufeff")[:1024].lower()
    if start.startswith("<") and any(tag in start for tag in ("<html", "<!doctype html", "<table")):
        return "html"
    if start.startswith("<?xml"):
        what = "Excel 2003 XML (SpreadsheetML)" if "office:spreadsheet" in start else "an XML document"
        raise TableReadError(f"{what}, not a table this project reads: save it as .xlsx or CSV")
    if not _is_utf16(head):
        control = len(head) - len(head.translate(None, _CONTROL_BYTES))  # the control bytes, counted in C
        if control > _MAX_CONTROL_SHARE * len(head):
            raise TableReadError(f"binary data, not text ({control} control bytes in the first {len(head)})")
    return "text"


def _is_utf16(head: bytes) -> bool:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    sample = head[:2000]
    return bool(sample) and max(sample[1::2].count(0), sample[0::2].count(0)) > len(sample) // 4


def _sniff_text(head: bytes) -> str:
    """The start of a text file, decoded just well enough to look at its first characters."""
    if _is_utf16(head):
        even = head[: len(head) // 2 * 2]
        big_endian = head.startswith(codecs.BOM_UTF16_BE) or (
            not head.startswith(codecs.BOM_UTF16_LE) and even[0::2].count(0) > even[1::2].count(0)
        )
        return even.decode("utf-16-be" if big_endian else "utf-16-le", errors="replace")
    return head.decode("utf-8", errors="replace")  # enough to see blanks, BOMs and markup


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            mimetype = b""
            if "mimetype" in names:  # read only its start: the zip is not size-checked yet
                with archive.open("mimetype") as stream:
                    mimetype = stream.read(100)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise TableReadError(f"a damaged or truncated zip (.xlsx) file: {exc}") from exc
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        return "xlsx"
    if mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
        return "ods"
    shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
    raise TableReadError(f"a zip archive of {len(names)} file(s) ({shown}), not a workbook: unzip it first")


def check_zip(path: Path) -> None:
    """Refuse a zipped workbook that would unzip to too much (a zip bomb), from its zip directory.

    Raises :class:`TableReadError` when the members declare more than
    ``BUDGET_MAX_UNZIPPED_MB`` MiB in all, or a member over 1 MiB inflates more than
    ``BUDGET_MAX_ZIP_RATIO`` times its compressed size.
    """
    max_total = _limit(MAX_UNZIPPED_MB_ENV) * (1 << 20)
    max_ratio = _limit(MAX_ZIP_RATIO_ENV)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise TableReadError(f"a damaged or truncated zip (.xlsx) file: {exc}") from exc
    total = sum(m.file_size for m in members)
    if total > max_total:
        raise TableReadError(
            f"refused: the workbook would unzip to {_mib(total)}, over the limit of {_mib(max_total)} "
            f"({MAX_UNZIPPED_MB_ENV})"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_FLOOR and ratio > max_ratio:
            raise TableReadError(
                f"refused: member {member.filename!r} inflates {ratio:.0f} times ({_mib(member.compress_size)} → "
                f"{_mib(member.file_size)}), over the limit of {max_ratio:g} ({MAX_ZIP_RATIO_ENV}): a zip bomb?"
            )


def _check_size(path: Path) -> None:
    limit = _limit(MAX_FILE_MB_ENV) * (1 << 20)
    size = path.stat().st_size
    if size > limit:
        raise TableReadError(f"refused: {_mib(size)} on disk, over the limit of {_mib(limit)} ({MAX_FILE_MB_ENV})")


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


@dataclass
class _Grid:
    """One sheet as read: ``records`` with each value in its own cell only (merged ranges not
    yet filled), ``numeric`` marking the cells that held a number, and the merged ranges
    ``((first_row, first_column), (last_row, last_column))``, 0-based, inclusive."""

    name: str
    records: list[list[str | None]]
    numeric: set[tuple[int, int]]
    merges: list[tuple[tuple[int, int], tuple[int, int]]]
    #: (row, column) -> the Excel error value a cell holds (``#N/A``, ``#DIV/0!``…), which the records hold as None.
    errors: dict[tuple[int, int], str] = field(default_factory=dict)


def read_workbook(path: Path, name: str, fmt: str) -> list[RawTable]:
    """Read every visible, non-empty sheet (or HTML table) of a workbook as a :class:`RawTable`.

    ``fmt``: what :func:`table_format` found (``xls``, ``xlsx``, ``ods``, ``html``).
    ``RawTable.sheet`` names the sheet read (``tableau <n>`` for HTML). Raises
    :class:`TableReadError` for a workbook that is too large or a zip bomb, damaged, with
    no visible sheet holding data, with a formula cell that has no cached value (the
    message names the sheet and the cell), or an ``.xlsx`` with an Excel error value in the
    header or a data row (the message names the line, the column and the cell).
    """
    _check_size(path)
    if fmt == "html":
        grids = _html_grids(path.read_bytes())
        if not grids:
            raise TableReadError("an HTML page with no table (an error page?), not a table")
    else:
        grids = _calamine_grids(path, fmt)
    tables = [_table(name, fmt, grid) for grid in grids]
    tables = [t for t in tables if t is not None]
    if not tables:
        raise TableReadError(f"no visible sheet holds data ({fmt} workbook)")
    return tables


def _calamine_grids(path: Path, fmt: str) -> list[_Grid]:
    if fmt in ("xlsx", "ods"):
        check_zip(path)
    try:
        with open(path, "rb") as handle:
            workbook = CalamineWorkbook.from_filelike(handle)
        visible = [
            m.name
            for m in workbook.sheets_metadata
            if m.visible == SheetVisibleEnum.Visible and m.typ == SheetTypeEnum.WorkSheet
        ]
        errors = _scan_sheets(path, visible) if fmt == "xlsx" else {}
        grids = []
        for sheet_name in visible:
            sheet = workbook.get_sheet_by_name(sheet_name)
            records, numeric = _cells(sheet.to_python(skip_empty_area=False))
            merges = [tuple(map(tuple, m)) for m in (sheet.merged_cell_ranges or [])]
            grids.append(_Grid(sheet_name, records, numeric, merges, errors.get(sheet_name, {})))
    except CalamineError as exc:  # calamine's own error types (damaged, truncated, password…)
        raise TableReadError(f"unreadable {fmt} workbook: {exc}") from exc
    return grids


def _cells(raw: list[list[object]]) -> tuple[list[list[str | None]], set[tuple[int, int]]]:
    """The text of every cell of ``raw`` (:func:`_excel_cell`) and the positions of those that held a
    number, in one pass (a sheet of 100 000 cells: the common text and empty cells take the short way)."""
    numeric: set[tuple[int, int]] = set()
    records = []
    repaired: dict[str, str] = {}  # a legacy .xls repeats its labels: each one repaired once
    for r, row in enumerate(raw):
        texts: list[str | None] = []
        append = texts.append
        for c, value in enumerate(row):
            kind = type(value)
            if kind is str:
                if "\x00" in value:
                    text = repaired.get(value)
                    if text is None:
                        text = repaired[value] = repair_utf16le_bytes(value)
                    value = text
                append(value if value.strip() else None)
            elif kind is float:  # what _excel_cell gives, without the call (the common numbers)
                numeric.add((r, c))
                append(repr(value))
            elif kind is int:
                numeric.add((r, c))
                append(str(value))
            else:
                if isinstance(value, (int, float, bool)):
                    numeric.add((r, c))
                append(_excel_cell(value))
        records.append(texts)
    return records, numeric


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


# --- formulas saved without their value (.xlsx) ------------------------------------------


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → its part in the zip, from ``xl/workbook.xml`` and its relationships."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    workbook = etree.fromstring(archive.read("xl/workbook.xml"), parser)
    rels = etree.fromstring(archive.read("xl/_rels/workbook.xml.rels"), parser)
    targets = {r.get("Id"): r.get("Target", "") for r in rels if _local(r.tag) == "Relationship"}
    parts = {}
    for element in workbook.iter():
        if _local(element.tag) != "sheet":
            continue
        rel = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
        target = targets.get(rel, "")
        part = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
        parts[element.get("name")] = part
    return parts


def _scan_sheets(path: Path, sheets: list[str]) -> dict[str, dict[tuple[int, int], str]]:
    """Raise :class:`TableReadError` at the first formula cell with no cached value in ``sheets``; return each
    sheet's Excel error cells, (row, column) 0-based -> the error value (``#N/A``), which calamine reads as empty.

    A sheet part with no formula element and no error cell at all (most exports) is only scanned as bytes; one with
    either is parsed row by row (constant memory).
    """
    found: dict[str, dict[tuple[int, int], str]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            parts = _sheet_parts(archive)
            for sheet in sheets:
                part = parts.get(sheet)
                if part is None:
                    continue
                formulas, errors = _marks(archive, part)
                if not (formulas or errors):
                    continue
                found[sheet] = cells = {}
                with archive.open(part) as stream:
                    row_at = -1
                    for _event, row in etree.iterparse(
                        stream, events=("end",), tag="{*}row", resolve_entities=False, no_network=True
                    ):
                        row_at = int(row.get("r")) - 1 if row.get("r", "").isdigit() else row_at + 1
                        if formulas:
                            for formula in row.iterfind("{*}c/{*}f"):
                                _check_cached(formula, sheet)
                        if errors:
                            _note_errors(row, row_at, cells)
                        row.clear()  # done with this row: free it and the rows before
                        while row.getprevious() is not None:
                            del row.getparent()[0]
    except (zipfile.BadZipFile, KeyError, EOFError, etree.XMLSyntaxError) as exc:
        raise TableReadError(f"unreadable xlsx workbook: {exc}") from exc
    return found


def _note_errors(row, row_at: int, cells: dict[tuple[int, int], str]) -> None:
    """Note the error cells (``t="e"``) of one ``<row>`` in ``cells``, where a reader places them: at the cell's
    own reference (``K2``) when it has one, whatever its row's ``r``; a cell without ``r`` is the one after the
    previous cell of its row (ECMA-376 makes both optional)."""
    column, at = -1, row_at
    for cell in row.iterfind("{*}c"):
        reference = _CELL_REFERENCE.fullmatch(cell.get("r", ""))
        if reference:
            column = 0
            for letter in reference.group(1):
                column = column * 26 + ord(letter) - 64
            column, at = column - 1, int(reference.group(2)) - 1
        else:
            column += 1
        if cell.get("t") == "e":
            value = next((child.text for child in cell if _local(child.tag) == "v"), None)
            cells[(at, column)] = (value or "").strip() or "#?"


def _marks(archive: zipfile.ZipFile, part: str) -> tuple[bool, bool]:
    """Whether the sheet ``part`` holds a formula element, and an error cell (from its bytes)."""
    formulas = errors = False
    with archive.open(part) as stream:
        tail = b""
        while chunk := stream.read(1 << 20):
            text = tail + chunk
            formulas = formulas or bool(_FORMULA_TAG.search(text))
            # `"e"` first (a fast find; an error cell holds it): the regular expression only where it is
            errors = errors or ((b'"e"' in text or b"'e'" in text) and bool(_ERROR_CELL.search(text)))
            if formulas and errors:
                break
            tail = chunk[-256:]
    return formulas, errors


def _check_cached(formula, sheet: str) -> None:
    cell = formula.getparent()
    value = next((child for child in cell if _local(child.tag) == "v"), None)
    if value is not None and (value.text or cell.get("t") == "str"):
        return
    text = f" ={formula.text}" if formula.text else " (shared formula)"
    raise TableReadError(
        f"feuille {sheet!r}, cellule {cell.get('r')}: formula{text} has no cached value "
        "(saved by a program that does not calculate): open and save it in a spreadsheet, or export the values"
    )


# --- HTML tables ------------------------------------------------------------------------


def html_encoding(data: bytes) -> str:
    """The encoding of an HTML document: its BOM, else its ``<meta charset>``, else UTF-8 if valid, else cp1252."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    found = _META_CHARSET.search(data[:_SNIFF])
    if found:
        label = found.group(1).decode("ascii").lower()
        if label in _WINDOWS_1252_LABELS:
            return "cp1252"
        try:
            return codecs.lookup(label).name
        except LookupError:
            pass
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _html_grids(data: bytes) -> list[_Grid]:
    encoding = html_encoding(data)
    text = data.decode(encoding, errors="replace").lstrip("\ufeff")
    text = _XML_DECLARATION.sub("", text, count=1)  # XHTML: lxml refuses a decoded text that declares an encoding
    try:
        document = lxml_html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        raise TableReadError(f"an HTML document that cannot be parsed: {exc}") from exc
    grids = []
    for number, table in enumerate(document.iter("table"), 1):
        grid = _html_table(table, f"tableau {number}")
        if sum(1 for row in grid.records if sum(v is not None for v in row) >= 2) >= 2:
            grids.append(grid)
    return grids


def _html_table(table, name: str) -> _Grid:
    """One ``<table>`` as a grid; ``colspan``/``rowspan`` become merged ranges (nested tables are their own)."""
    rows = [tr for tr in table.iter("tr") if next(tr.iterancestors("table")) is table]
    cells: dict[tuple[int, int], str | None] = {}
    numeric: set[tuple[int, int]] = set()
    merges = []
    taken: set[tuple[int, int]] = set()
    width = 0
    for r, tr in enumerate(rows):
        c = 0
        for td in tr:
            if td.tag not in ("td", "th"):
                continue
            while (r, c) in taken:
                c += 1
            colspan, rowspan = _span(td.get("colspan")), min(_span(td.get("rowspan")), len(rows) - r)
            value, is_number = _html_cell(td)
            cells[(r, c)] = value
            if is_number:
                numeric.add((r, c))
            for dr in range(rowspan):
                for dc in range(colspan):
                    taken.add((r + dr, c + dc))
            if colspan > 1 or rowspan > 1:
                merges.append(((r, c), (r + rowspan - 1, c + colspan - 1)))
            c += colspan
            width = max(width, c)
    height = len(rows)
    if height * width > _MAX_HTML_CELLS:
        raise TableReadError(f"{name}: {height} rows × {width} columns, over the limit of {_MAX_HTML_CELLS} cells")
    records = [[cells.get((r, c)) for c in range(width)] for r in range(height)]
    return _Grid(name, records, numeric, merges)


def _span(value: str | None) -> int:
    try:
        return min(max(int(value or 1), 1), 1000)
    except ValueError:
        return 1


def _html_cell(td) -> tuple[str | None, bool]:
    """A cell's text as a browser shows it (runs of blanks as one space, ``<br>`` as a line break;
    ``x:num``, Excel's stored number, where given), and whether it is a number."""
    stored = td.get("x:num")
    if stored:
        return stored.strip(), True
    for br in td.iter("br"):
        br.tail = "\n" + (br.tail or "")
    lines = (re.sub(r"[ \t\r\n\f]+", " ", line).strip() for line in td.text_content().split("\n"))
    text = "\n".join(line for line in lines if line)
    return (text or None), stored is not None or bool(_NUMBER.fullmatch(text))


# --- from a grid to a table -------------------------------------------------------------


def _filled_count(record: list[str | None]) -> int:
    return sum(1 for v in record if v is not None)


def _looks_numeric(value: str) -> bool:
    try:
        float(value.replace(",", ".").replace(" ", ""))
    except ValueError:
        return False
    return True


def _is_sub_header(upper: list[str | None], candidate: list[str | None]) -> bool:
    """Whether ``candidate`` is the lower level of a two-level header (``shared/cases/B11``): text only,
    with a value under a cell the upper level leaves empty (merged into its left neighbour)."""
    filled = [v for v in candidate if v is not None]
    if not filled or any(_looks_numeric(v) for v in filled):
        return False
    return any(h is None and c is not None for h, c in zip(upper, candidate, strict=False))


def _table(name: str, fmt: str, grid: _Grid) -> RawTable | None:
    """The table of one sheet: header found past title rows, merged ranges filled, trailing empty columns dropped."""
    records = grid.records
    if not any(_filled_count(r) for r in records):
        return None
    header_at = next((i for i, r in enumerate(records) if _filled_count(r) >= 2), 0)
    two_levels = header_at + 1 < len(records) and _is_sub_header(records[header_at], records[header_at + 1])
    data_start = header_at + (2 if two_levels else 1)
    filled = _fill_merges(grid, data_start)
    if two_levels:
        upper = filled[header_at]
        if not any(first[0] == header_at for first, _last in grid.merges):
            upper, current = [], None  # no merge recorded: the upper level spans the empty cells to its right
            for cell in filled[header_at]:
                current = cell if cell is not None else current
                upper.append(current)
        lower = records[header_at + 1]
        header_cells = [
            u if lw is None or lw == u else (lw if u is None else f"{u} {lw}")
            for u, lw in zip(upper, lower, strict=True)
        ]
    else:
        header_cells = filled[header_at]
    header = [(h or "").strip() for h in header_cells]
    _refuse_errors(grid, header, header_at, data_start)
    rows = [list(r) for r in filled[data_start:]]
    numbers: dict[int, list[int]] = {}
    for r, c in sorted(grid.numeric):
        if r >= data_start:
            numbers.setdefault(c, []).append(r - data_start)
    # Drop trailing columns with no header and no value.
    while header and not header[-1] and all(r[len(header) - 1] is None for r in rows):
        header.pop()
        for r in rows:
            r.pop()
    return RawTable(
        name,
        fmt,
        None,
        header,
        rows,
        sheet=grid.name,
        header_row_count=2 if two_levels else 1,
        sheet_first_row=None if fmt == "html" else data_start + 1,  # the grid starts at A1 (skip_empty_area=False)
        cellules_nombres=None if fmt == "html" else {c: r for c, r in numbers.items() if c < len(header)},
    )


def _refuse_errors(grid: _Grid, header: list[str], header_at: int, data_start: int) -> None:
    """Raise :class:`TableReadError` at the first Excel error cell (``#N/A``, ``#DIV/0!``…) of the header or the data,
    in line order, naming the line, the column and the cell: an error value is neither empty nor a value."""
    below = sorted(at for at in grid.errors if at[0] >= header_at)
    if not below:
        return
    r, c = below[0]
    letters, index = "", c + 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    where = f"feuille {grid.name!r}, cellule {letters}{r + 1}"
    value = grid.errors[(r, c)]
    what = f"an Excel error value {value!r} (a formula that failed): correct it in the workbook, or export the values"
    colonne = f"colonne {header[c]!r}" if c < len(header) and header[c] else f"colonne {letters} (sans en-tête)"
    if r < data_start:
        raise TableReadError(f"en-tête, {colonne} ({where}): {what}")
    raise TableReadError(f"ligne {r - data_start + 1}, {colonne} ({where}): {what}")


def _fill_merges(grid: _Grid, data_start: int) -> list[list[str | None]]:
    """The records with each merged range's value in its cells: every cell of a header row; in
    data rows, text only (a number merged over data cells stays in its first cell, as Excel sums it)."""
    filled = [list(r) for r in grid.records]
    for (r0, c0), (r1, c1) in grid.merges:
        if r0 >= len(filled) or c0 >= len(filled[r0]):
            continue
        value = filled[r0][c0]
        if value is None:
            continue
        in_data = r1 >= data_start
        if in_data and (r0, c0) in grid.numeric:
            continue
        for r in range(r0, min(r1, len(filled) - 1) + 1):
            for c in range(c0, min(c1, len(filled[r]) - 1) + 1):
                filled[r][c] = value
    return filled
