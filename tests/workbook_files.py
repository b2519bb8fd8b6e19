"""Write small ``.xlsx`` workbooks for the tests, part by part (Office Open XML, ECMA-376).

No spreadsheet library computes anything here: what is written is exactly what a
reader finds, including a formula cell saved without its cached value (``<f>`` and
no ``<v>``), hidden sheets and merged ranges.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


@dataclass
class Sheet:
    """One worksheet: ``rows`` of values (str, int, float or None) from cell ``A1``.

    ``formulas``: cell reference → formula written with no cached value, or ``(formula,
    cached value)``. ``merges``:
    ranges such as ``"B4:C4"``. ``state``: ``visible``, ``hidden`` or ``veryHidden``.
    """

    name: str
    rows: list[list[object]]
    formulas: dict[str, str | tuple[str, object]] = field(default_factory=dict)
    merges: list[str] = field(default_factory=list)
    state: str = "visible"


@dataclass(frozen=True)
class ExcelError:
    """A cell holding an Excel error value (``#N/A``, ``#DIV/0!``…), as a spreadsheet saves a formula that failed
    (``<c t="e"><f>…</f><v>#N/A</v></c>``), or a typed error without ``formula``."""

    value: str
    formula: str | None = None


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell(ref: str, value: object) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, ExcelError):
        formula = f"<f>{escape(value.formula)}</f>" if value.formula else ""
        return f'<c r="{ref}" t="e">{formula}<v>{escape(value.value)}</v></c>'

    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'


def _sheet_xml(sheet: Sheet) -> str:
    rows = []
    by_row: dict[int, list[str]] = {}
    for ref, formula in sheet.formulas.items():
        formula, cached = formula if isinstance(formula, tuple) else (formula, None)
        value = "" if cached is None else f"<v>{cached!r}</v>"
        number = int("".join(ch for ch in ref if ch.isdigit()))
        by_row.setdefault(number, []).append(f'<c r="{ref}"><f>{escape(formula)}</f>{value}</c>')
    height = max(len(sheet.rows), *by_row, 0)
    for number in range(1, height + 1):
        values = sheet.rows[number - 1] if number <= len(sheet.rows) else []
        cells = [_cell(f"{column_letter(i)}{number}", v) for i, v in enumerate(values)]
        cells += by_row.get(number, [])
        rows.append(f'<row r="{number}">{"".join(cells)}</row>')
    merges = ""
    if sheet.merges:
        merges = f'<mergeCells count="{len(sheet.merges)}">' + "".join(f'<mergeCell ref="{m}"/>' for m in sheet.merges)
        merges += "</mergeCells>"
    return f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}"><sheetData>{"".join(rows)}</sheetData>{merges}</worksheet>'


def write_xlsx(path: Path, sheets: list[Sheet], extra: dict[str, bytes] | None = None) -> Path:
    """Write ``sheets`` as an ``.xlsx`` at ``path`` (plus any ``extra`` zip members); return ``path``."""
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            f"{overrides}</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
            + "".join(
                f'<sheet name="{escape(s.name)}" sheetId="{i}" r:id="rId{i}"'
                + (f' state="{s.state}"' if s.state != "visible" else "")
                + "/>"
                for i, s in enumerate(sheets, 1)
            )
            + "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, len(sheets) + 1)
            )
            + "</Relationships>"
        ),
    }
    for i, sheet in enumerate(sheets, 1):
        parts[f"xl/worksheets/sheet{i}.xml"] = _sheet_xml(sheet)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path
