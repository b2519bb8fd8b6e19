"""Workbooks are more than cells (issue 7, item 7; cases B32, B33) and unreadable is not unknown (item 9).

Every test reads through the real reading code: ``warehouse.reading.tables.read_tables`` and
``warehouse.sources.recognise`` / ``take_inventory``.
"""

import bz2
import gzip
import json
import shutil
import zipfile

import pytest

from schemas.families import file_name_kind
from tests.conftest import CASES, SOURCES
from tests.credit_reads import credit_read_error
from tests.workbook_files import Sheet, write_xlsx
from warehouse.credits.files import read_credit_table
from warehouse.reading.tables import TableReadError, read_tables
from warehouse.reading.workbooks import html_encoding, table_format
from warehouse.sources import discover_sources, recognise, take_inventory

HEADER = ["exercice", "loi", "typeBudget", "ministere", "mission", "programme", "action", "sous-action",
          "categorie", "titre", "ae", "cp"]  # fmt: skip
ERROR_PAGE = b"<!DOCTYPE html><html><head><title>503</title></head><body><h1>Service Unavailable</h1></body></html>"


def _case_source(case):
    """The input file of a case, as the build discovers it (its ``expected.json`` aside)."""
    (source,) = [s for s in discover_sources(CASES / case) if s.fichier != "expected.json"]
    return source


def _credit_rows(case):
    """The credit lines of a case's input, recognised and read as the build does."""
    source = _case_source(case)
    found = recognise(source)
    assert found.match is not None, found.error
    read = read_credit_table(found.table, found.match, source.source_id, found.exercice_hint)
    columns = ["exercice", "phase", "code_programme", "code_action", "code_categorie", "ae", "cp"]
    rows = [[str(v) if v is not None else None for v in r] for r in read.lines.select(columns).iter_rows()]
    return found, columns, rows


@pytest.mark.parametrize("case", ["B32", "B33"])
def test_cases_b32_b33_read_as_their_expected_credit_rows(case):
    expected = json.loads(next((CASES / case).glob("expected.json")).read_text())
    found, columns, rows = _credit_rows(case)
    assert columns == expected["columns"]
    assert rows == expected["rows"]
    assert found.match.family.id == "credits_codes"


def test_case_b32_an_xls_that_is_an_html_table():
    (table,) = read_tables(CASES / "B32" / "PLF_2023_credits.xls")
    assert (table.format, table.sheet, table.header) == ("html", "tableau 1", HEADER)
    assert [r[6] for r in table.rows] == ["352-01", "352-02"]
    assert [r[10:] for r in table.rows] == [["1000", "2000"], ["3000", "3000"]]
    assert table.rows[0][7] is None  # an empty <td> is an empty cell
    assert recognise(_case_source("B32")).feuille == "tableau 1"


def test_case_b33_hidden_sheets_are_not_data():
    tables = read_tables(CASES / "B33" / "PLF_2023_credits.xlsx")
    assert [t.sheet for t in tables] == ["Credits"]  # the hidden `Ancien` is not read
    assert not any(v in ("999999.0", "888888.0") for r in tables[0].rows for v in r)
    source = _case_source("B33")
    found = recognise(source)
    assert (found.feuille, found.table.format) == ("Credits", "xlsx")
    (item,) = take_inventory([source])
    assert (item.feuille, item.famille, item.exercice) == ("Credits", "credits_codes", 2023)


def test_a_workbook_whose_only_data_is_hidden_is_refused(tmp_path):
    path = write_xlsx(
        tmp_path / "PLF_2023_credits.xlsx",
        [Sheet("Vide", []), Sheet("Ancien", [HEADER, [2023, "PLF"] + [1] * 10], state="veryHidden")],
    )
    with pytest.raises(TableReadError, match="no visible sheet holds data"):
        read_tables(path)


def test_html_table_in_windows_1252_with_spans_and_excel_numbers(tmp_path):
    """An Excel 'web page' save: cp1252 stated by http-equiv, x:num stored numbers, colspan, rowspan, <br>."""
    page = (
        '<html xmlns:x="urn:schemas-microsoft-com:office:excel"><head>'
        '<meta http-equiv=Content-Type content="text/html; charset=windows-1252"></head><body>'
        "<table><tr><td colspan=4>Crédits 2023 – données fictives</td></tr>"
        "<tr><th rowspan=2>Programme</th><th rowspan=2>Libellé</th><th colspan=2>Autorisations d’engagement</th></tr>"
        "<tr><th>LFI 2023</th><th>PLF 2024</th></tr>"
        "<tr><td rowspan=2>352</td><td>Équipe d’intervention<br>numérique</td>"
        '<td x:num="1234.5">1 235</td><td x:num>12</td></tr>'
        "<tr><td>Œuvres</td><td>7,5</td><td>8</td></tr></table></body></html>"
    ).encode("cp1252")
    path = tmp_path / "export.xls"
    path.write_bytes(page)
    assert html_encoding(page) == "cp1252"
    (table,) = read_tables(path)
    assert table.header_row_count == 2
    assert table.header == [
        "Programme", "Libellé", "Autorisations d’engagement LFI 2023", "Autorisations d’engagement PLF 2024",
    ]  # fmt: skip
    assert table.rows == [
        ["352", "Équipe d’intervention\nnumérique", "1234.5", "12"],  # x:num, not the displayed "1 235"
        [None, "Œuvres", "7,5", "8"],  # a number spanning data rows is not copied into the next row
    ]


def test_html_meta_charset_latin_1_means_windows_1252(tmp_path):
    page = '<html><head><meta charset="ISO-8859-1"></head><table><tr><td>a</td><td>b’</td></tr>'
    page += "<tr><td>1</td><td>2 €</td></tr></table></html>"
    path = tmp_path / "t.xls"
    path.write_bytes(page.encode("cp1252"))
    (table,) = read_tables(path)
    assert table.header == ["a", "b’"] and table.rows == [["1", "2 €"]]


def test_a_formula_without_a_cached_value_is_an_error_naming_the_cell(tmp_path):
    rows = [HEADER, [2023, "PLF", "BG", 50, "TR", 352, "352-01", None, 31, 3, 1000, 2000],
            [2023, "PLF", "BG", 50, "TR", 352, "352-02", None, 21, 2, 3000]]  # fmt: skip
    cached = write_xlsx(tmp_path / "cached.xlsx", [Sheet("Credits", rows, formulas={"L3": ("K3*1", 3000)})])
    (table,) = read_tables(cached)
    assert table.rows[1][11] == "3000.0"  # the value the spreadsheet saved with the formula
    uncached = write_xlsx(tmp_path / "PLF_2023_Credits.xlsx", [Sheet("Credits", rows, formulas={"L3": "K3*1"})])
    with pytest.raises(TableReadError, match=r"feuille 'Credits', cellule L3: formula =K3\*1 has no cached value"):
        read_tables(uncached)
    # In a hidden sheet it is no data, hence no error.
    hidden = write_xlsx(
        tmp_path / "hidden.xlsx", [Sheet("Credits", rows[:2]), Sheet("Calc", [["x"]], {"B1": "A1"}, state="hidden")]
    )
    assert [t.sheet for t in read_tables(hidden)] == ["Credits"]


def test_a_bad_cell_of_a_workbook_is_named_by_its_sheet_and_cell(tmp_path):
    # A tester's find: an error in a workbook named the data row and the column ("ligne 2, colonne 'ae'"), which a
    # spreadsheet user cannot find under two title rows; it names the sheet and the cell too (K5 here). A CSV's error
    # is as it was (no cell).
    rows = [["Budget 2023"], [], HEADER, [2023, "PLF", "BG", 50, "TR", 352, "352-01", None, 31, 3, 1000, 2000],
            [2023, "PLF", "BG", 50, "TR", 352, "352-02", None, 21, 2, "douze", 3000]]  # fmt: skip
    folder = tmp_path / "sources"
    folder.mkdir()
    write_xlsx(folder / "PLF_2023_Credits.xlsx", [Sheet("Credits", rows)])
    assert credit_read_error(folder) == (
        "PLF_2023_Credits.xlsx, ligne 2, colonne 'ae' (feuille 'Credits', cellule K5): not an amount: 'douze'"
    )
    (folder / "PLF_2023_Credits.xlsx").unlink()
    (folder / "PLF_2023_Credits.csv").write_text(
        "\n".join(";".join("" if v is None else str(v) for v in row) for row in rows[2:]) + "\n", encoding="utf-8"
    )
    assert credit_read_error(folder) == "PLF_2023_Credits.csv, ligne 2, colonne 'ae': not an amount: 'douze'"


@pytest.mark.parametrize(
    ("header", "bad", "cell"),
    [
        (HEADER[:10] + ["ae", "ae", "cp"], 11, "L5"),  # two amount columns of one header, the second in error
        ([*HEADER, "ae"], 12, "M5"),  # the column read is the second of its header
    ],
    ids=["two amount columns", "the second read"],
)
def test_a_bad_cell_under_a_header_two_columns_share_is_named_by_its_own_cell(header, bad, cell, tmp_path):
    # An adversarial tester's find: the cell of a workbook's error was that of the first column of its header name
    # (K5), where two columns share it and the value in error is in the other one.
    line = [2023, "PLF", "BG", 50, "TR", 352, "352-02", None, 21, 2, 1000, 2000, 3000]
    line[bad] = "douze"
    # Two columns of one field are read only where they agree: the first line's amounts are all equal.
    rows = [["Budget 2023"], [], header, [2023, "PLF", "BG", 50, "TR", 352, "352-01", None, 31, 3, 1000, 1000, 1000],
            line]  # fmt: skip
    folder = tmp_path / "sources"
    folder.mkdir()
    write_xlsx(folder / "PLF_2023_Credits.xlsx", [Sheet("Credits", rows)])
    assert credit_read_error(folder) == (
        f"PLF_2023_Credits.xlsx, ligne 2, colonne 'ae' (feuille 'Credits', cellule {cell}): not an amount: 'douze'"
    )


def test_merged_header_ranges_read_as_excel_shows_them(tmp_path):
    rows = [
        ["Crédits par programme"],
        [],
        ["Mission", "Programme", "Autorisations d'engagement", None, "Crédits de paiement", None],
        [None, None, "LFI 2024", "PLF 2025", "LFI 2024", "PLF 2025"],
        ["Travail et emploi", 102, 100, 110, 90, 95],
        [None, 103, 200, 190, 210, 205],
        ["Culture", 131, 300, None, 7, 8],
    ]
    merges = ["A1:F1", "A3:A4", "B3:B4", "C3:D3", "E3:F3", "A5:A6", "C7:D7"]
    (table,) = read_tables(write_xlsx(tmp_path / "m.xlsx", [Sheet("Feuil1", rows, merges=merges)]))
    assert table.header_row_count == 2
    assert table.header == [
        "Mission", "Programme", "Autorisations d'engagement LFI 2024", "Autorisations d'engagement PLF 2025",
        "Crédits de paiement LFI 2024", "Crédits de paiement PLF 2025",
    ]  # fmt: skip
    assert table.to_frame().columns[2:] == ["ae_lfi_2024", "ae_plf_2025", "cp_lfi_2024", "cp_plf_2025"]
    assert [r[0] for r in table.rows] == ["Travail et emploi", "Travail et emploi", "Culture"]  # text fills its range
    assert table.rows[2][2:4] == ["300.0", None]  # a merged number stays in its first cell, as Excel sums it


def test_a_zip_bomb_like_workbook_is_refused_before_it_is_opened(tmp_path):
    path = write_xlsx(
        tmp_path / "PLF_2023_Credits.xlsx", [Sheet("Credits", [HEADER])], extra={"xl/media/image1.bin": bytes(40 << 20)}
    )
    assert path.stat().st_size < 1 << 20
    with pytest.raises(TableReadError, match=r"member 'xl/media/image1.bin' inflates \d+ times .*zip bomb"):
        read_tables(path)


def test_size_limits_are_set_by_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BUDGET_MAX_UNZIPPED_MB", "0.001")
    with pytest.raises(TableReadError, match=r"would unzip to .* over the limit .*BUDGET_MAX_UNZIPPED_MB"):
        read_tables(CASES / "B33" / "PLF_2023_credits.xlsx")
    monkeypatch.delenv("BUDGET_MAX_UNZIPPED_MB")
    monkeypatch.setenv("BUDGET_MAX_FILE_MB", "0.1")
    for path in (SOURCES / "2024_PLF" / "PLF2024-credits.xls", CASES / "B33" / "PLF_2023_credits.xlsx"):
        if path.stat().st_size > 0.1 * (1 << 20):
            with pytest.raises(TableReadError, match=r"refused: .* MiB on disk, over the limit .*BUDGET_MAX_FILE_MB"):
                read_tables(path)
        else:
            assert read_tables(path)


def _unreadable(tmp_path):
    """Bytes that hold no table, by name: (bytes, what the error says)."""
    xlsx = (CASES / "B33" / "PLF_2023_credits.xlsx").read_bytes()
    xls = (SOURCES / "2024_PLF" / "PLF2024-credits.xls").read_bytes()
    csv = (SOURCES / "LFI_2020_Credits.csv").read_bytes()
    zipped = tmp_path / "zipped.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("LFI_2020_Credits.csv", csv)
    return {
        "empty": (b"", "empty file"),
        "blank": (b"\xef\xbb\xbf \r\n\r\n", "empty file"),
        "gzip": (gzip.compress(csv), "gzip-compressed"),
        "bzip2": (bz2.compress(csv), "bzip2-compressed"),
        "zip of a csv": (zipped.read_bytes(), r"a zip archive of 1 file\(s\) \(LFI_2020_Credits.csv\), not a workbook"),
        "truncated xlsx": (xlsx[: len(xlsx) // 2], "damaged or truncated zip"),
        "truncated xls": (xls[:30000], "unreadable xls workbook"),
        "error page": (ERROR_PAGE, "an HTML page with no table"),
        "binary": (bytes(range(256)) * 20, "binary data, not text"),
        "pdf": (b"%PDF-1.7\n%\xe2\xe3\n1 0 obj", "a PDF document"),
        "spreadsheetml": (
            b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"></Workbook>',
            r"Excel 2003 XML",
        ),
    }


def test_bytes_that_hold_no_table_are_refused_with_the_reason(tmp_path):
    for kind, (data, reason) in _unreadable(tmp_path).items():
        path = tmp_path / f"{kind}.csv"
        path.write_bytes(data)
        with pytest.raises(TableReadError, match=reason):
            read_tables(path)
            pytest.fail(kind)
    # A header with no rows is a readable table (PLF_2023_Associations.csv).
    (table,) = read_tables(SOURCES / "PLF_2023_Associations.csv")
    assert table.header[:2] == ["recordid", "_record_id"] and table.rows == []


def test_every_real_file_is_a_table():
    for path in sorted(p for p in SOURCES.rglob("*") if p.is_file()):
        assert table_format(path) in ("xls", "xlsx", "text"), path


def test_unreadable_is_an_error_where_the_catalogue_or_the_name_says_covered(tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    data = _unreadable(tmp_path)
    (folder / "LFI_2020_Credits.csv").write_bytes(b"")  # catalogued (by name)
    (folder / "PLF_2030_Credits.csv").write_bytes(data["gzip"][0])  # named so
    (folder / "plf_2030_credits.xls").write_bytes(ERROR_PAGE)
    (folder / "PLF_2031_Nomenclature.xlsx").write_bytes(data["truncated xlsx"][0])
    (folder / "RAP_2031.csv").write_bytes(data["binary"][0])
    (folder / "notes.csv").write_bytes(data["gzip"][0])  # the same junk under names of no covered family
    (folder / "page.xls").write_bytes(ERROR_PAGE)
    shutil.copy(SOURCES / "PLF_2023_Associations.csv", folder)
    items = {i.source.fichier: i for i in take_inventory(discover_sources(folder))}
    in_error = {name: (i.kind, i.exercice) for name, i in items.items() if i.in_error}
    assert in_error == {
        "LFI_2020_Credits.csv": ("credits", 2020),
        "PLF_2030_Credits.csv": ("credits", 2030),
        "plf_2030_credits.xls": ("credits", 2030),
        "PLF_2031_Nomenclature.xlsx": ("nomenclature", None),
        "RAP_2031.csv": ("performance", None),
    }
    assert items["LFI_2020_Credits.csv"].holds("credits") and items["RAP_2031.csv"].holds("performance")
    for name in ("notes.csv", "page.xls", "PLF_2023_Associations.csv"):
        assert items[name].kind is None and not items[name].in_error, name
    assert "gzip" in items["notes.csv"].error and items["PLF_2023_Associations.csv"].error is None


def test_the_file_name_patterns_name_every_real_covered_file():
    """The `fichiers` patterns of the families' TOML give every real file the kind its header gives it."""
    for source in discover_sources(SOURCES):
        found = recognise(source)
        if found.match is not None:
            assert file_name_kind(source.fichier) == found.match.family.kind, source.fichier
    assert file_name_kind("PLF_2019_PAP.csv") == file_name_kind("Performance_Depense.csv") == "performance"
    assert file_name_kind("documents/RAP_2021_P352_presentation_strategique.txt") is None
    assert file_name_kind("LFI_2020_ETPT.csv") is None and file_name_kind("PLF_2023_Associations.csv") is None


def test_an_xhtml_page_declaring_its_encoding_reads(tmp_path):
    page = '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml"><body>'
    page += "<table><tr><th>programme</th><th>libellé</th></tr><tr><td>352</td><td>Numérique</td></tr></table>"
    path = tmp_path / "export.xls"
    path.write_bytes((page + "</body></html>").encode())
    (table,) = read_tables(path)
    assert (table.format, table.header, table.rows) == ("html", ["programme", "libellé"], [["352", "Numérique"]])


def _real_workbook_copy(folder, edits):
    """PLF2024-credits.xls's sheet written as an .xlsx in ``folder`` (numbers as numbers, text as text), with
    ``edits`` ((row, column) -> value, 0-based from A1) made: a real workbook modified as a tester would."""
    from python_calamine import CalamineWorkbook

    from warehouse.reading.workbooks import repair_utf16le_bytes

    sheet = CalamineWorkbook.from_path(SOURCES / "2024_PLF" / "PLF2024-credits.xls").get_sheet_by_name("Credits")
    rows = [[repair_utf16le_bytes(v) if isinstance(v, str) else v for v in r] for r in sheet.to_python()]
    rows = [[None if v == "" else v for v in r] for r in rows]
    for (r, c), value in edits.items():
        rows[r][c] = value
    folder.mkdir()
    write_xlsx(folder / "PLF_2024_Credits.xlsx", [Sheet("Credits", rows)])
    return folder


def _read_lines(folder):
    (source,) = discover_sources(folder)
    found = recognise(source)
    read = read_credit_table(found.table, found.match, source.source_id, found.exercice_hint)
    return {line: (ae, cp) for line, ae, cp in read.lines.select("source_ligne", "ae", "cp").iter_rows()}


def test_a_workbook_text_cell_is_read_as_a_csv_cell_and_a_number_as_the_number_it_is(tmp_path):
    # A tester's find: the text cell "1.234" of an amount column of a workbook was staged as 1.23 (read as the
    # reader's text of a number, `.` its decimal mark), and "1 234,50" made the column's separators disagree.
    from decimal import Decimal

    plain = _read_lines(_real_workbook_copy(tmp_path / "tel_quel", {}))
    assert plain[1] == (Decimal("2290904.00"), Decimal("2290904.00"))  # K2, L2: numbers
    assert credit_read_error(_real_workbook_copy(tmp_path / "point", {(1, 10): "1.234"})) == (
        "PLF_2024_Credits.xlsx, ligne 1, colonne 'ae' (feuille 'Credits', cellule K2): ambiguous separator '.': a "
        "value such as '1.234' could be 1234 or 1.234, and no other value of the column or the file decides"
    )  # as in a CSV whose only value with a separator is 1.234
    # Another text cell of the column says `.` groups thousands: 1234, as in a CSV; the numbers stay exact.
    grouped = _read_lines(_real_workbook_copy(tmp_path / "milliers", {(1, 10): "1.234", (3, 10): "2.500.000"}))
    assert (grouped[1][0], grouped[3][0]) == (Decimal("1234.00"), Decimal("2500000.00"))
    # Another text cell says `.` is the decimal mark: three decimals are an error naming the line, as in a CSV.
    assert credit_read_error(_real_workbook_copy(tmp_path / "decimales", {(1, 10): "1.234", (3, 10): "12.5"})) == (
        "PLF_2024_Credits.xlsx, ligne 1, colonne 'ae' (feuille 'Credits', cellule K2): more than two decimals "
        "'1.234': an amount has at most two decimals"
    )
    comma = _read_lines(_real_workbook_copy(tmp_path / "virgule", {(2, 11): "1 234,50"}))
    assert comma[2] == (Decimal("70000.00"), Decimal("1234.50"))
    assert {k: v for k, v in comma.items() if k != 2} == {k: v for k, v in plain.items() if k != 2}


def test_a_workbook_number_with_a_real_third_decimal_is_an_error_and_float_noise_rounds(tmp_path):
    # A tester's find: the number cell K2 = 1234.567 loaded as 1234.57 while the same value in a CSV is an error.
    # Its shortest decimal form (repr) has 3 decimals and 7 significant digits: not a binary float's noise.
    from decimal import Decimal

    assert credit_read_error(_real_workbook_copy(tmp_path / "trois", {(1, 10): 1234.567})) == (
        "PLF_2024_Credits.xlsx, ligne 1, colonne 'ae' (feuille 'Credits', cellule K2): more than two decimals "
        "'1234.567': an amount has at most two decimals"
    )
    # A sum's noise (17 significant digits) rounds to the cent, as before.
    noise = _read_lines(_real_workbook_copy(tmp_path / "bruit", {(1, 10): 1234.5600000000002}))
    assert noise[1][0] == Decimal("1234.56")


def test_a_workbook_with_several_sheets_of_a_known_family_is_an_error_naming_them(tmp_path):
    # A tester's find: a visible sheet `Brouillon` (the header and 2 rows) inserted first in the EXEC 2024 workbook was
    # the only sheet read (3560 rows became 2), exit 0. The sheet is chosen from the whole workbook: never silently.
    data = [HEADER, [2023, "PLF", "BG", 50, "TR", 352, "352-01", None, 31, 3, 1000, 2000],
            [2023, "PLF", "BG", 50, "TR", 352, "352-02", None, 31, 3, 3000, 3000]]  # fmt: skip
    notes = Sheet("Notes", [["Source : direction du budget"], ["Montants en euros"]])
    folder = tmp_path / "deux"
    folder.mkdir()
    write_xlsx(folder / "export.xlsx", [Sheet("Brouillon", data[:3]), notes, Sheet("Credits", data)])
    (source,) = discover_sources(folder)
    found = recognise(source)
    assert found.match is None and found.error == (
        "2 sheets hold a table of a known family: 'Brouillon' (credits_codes), 'Credits' (credits_codes); which one "
        "is the data is not decided: delete or hide the others (a hidden sheet is never read)"
    )
    (item,) = take_inventory([source])
    assert item.in_error and item.kind == "credits"  # a file in error that fails the build, not an unknown file
    # The draft hidden, or a sheet of notes beside the data: the one sheet of a known family is read.
    hidden = tmp_path / "cache"
    hidden.mkdir()
    write_xlsx(hidden / "export.xlsx", [Sheet("Brouillon", data[:3], state="hidden"), notes, Sheet("Credits", data)])
    found = recognise(discover_sources(hidden)[0])
    assert (found.error, found.feuille, found.famille, len(found.table.rows)) == (None, "Credits", "credits_codes", 2)


def _lfi_2020_workbook(folder, edits):
    """LFI_2020_Credits.csv written as an .xlsx in ``folder`` (codes as text, amounts as numbers), with ``edits``
    ((row, column) -> value, 0-based from A1) made: a real file saved from a spreadsheet, altered as a tester would."""
    lines = (SOURCES / "LFI_2020_Credits.csv").read_text(encoding="utf-8").splitlines()
    rows: list[list[object]] = [lines[0].split(";")]
    for line in lines[1:]:
        cells = line.split(";")
        rows.append([c or None for c in cells[:10]] + [int(c.replace(" ", "")) for c in cells[10:]])
    for (r, c), value in edits.items():
        rows[r][c] = value
    folder.mkdir()
    return write_xlsx(folder / "LFI_2020_Credits.xlsx", [Sheet("Credits", rows)])


def test_an_excel_error_cell_is_an_error_naming_the_line_the_column_and_the_cell(tmp_path):
    # A tester's find: python-calamine reads an error cell (`<c t="e"><v>#N/A</v></c>`) as empty (its issue #105),
    # so an AE #N/A published ae = 0.00 (a WARN), AE and CP #DIV/0! set a 50,000 € line aside as having no amount,
    # and a categorie #N/A published a NULL code, each with exit 0.
    from tests.workbook_files import ExcelError

    plain = _lfi_2020_workbook(tmp_path / "tel_quel", {})
    (source,) = discover_sources(plain.parent)
    found = recognise(source)
    assert found.error is None and found.table.rows[0][10] == "50000.0"
    what = "(a formula that failed): correct it in the workbook, or export the values"
    cases = {
        "ae": ({(1, 10): ExcelError("#N/A")}, "ligne 1, colonne 'AE LFI 2020' (feuille 'Credits', cellule K2): "
               f"an Excel error value '#N/A' {what}"),
        "ae_cp": ({(1, 10): ExcelError("#DIV/0!", "J2/0"), (1, 11): ExcelError("#DIV/0!", "J2/0")},
                  "ligne 1, colonne 'AE LFI 2020' (feuille 'Credits', cellule K2): an Excel error value '#DIV/0!'"),
        "categorie": ({(5, 8): ExcelError("#N/A", "VLOOKUP(A6,X!A:B,2,0)")},
                      "ligne 5, colonne 'categorie' (feuille 'Credits', cellule I6): an Excel error value '#N/A'"),
        "titre": ({(2240, 9): ExcelError("#REF!")},
                  "ligne 2240, colonne 'titre' (feuille 'Credits', cellule J2241): an Excel error value '#REF!'"),
        "en_tete": ({(0, 11): ExcelError("#NAME?")},
                    "en-tête, colonne L (sans en-tête) (feuille 'Credits', cellule L1): an Excel error value '#NAME?'"),
    }  # fmt: skip
    for case, (edits, message) in cases.items():
        (source,) = discover_sources(_lfi_2020_workbook(tmp_path / case, edits).parent)
        found = recognise(source)
        assert found.error is not None and message in found.error, (case, found.error)
    # A label too (any column read from the header down): an error is never read as an empty label.
    nomenclature = [["programme", "libelle"], ["101", ExcelError("#VALUE!")]]
    with pytest.raises(TableReadError, match=r"ligne 1, colonne 'libelle' \(feuille 'N', cellule B2\): an Excel"):
        read_tables(write_xlsx(tmp_path / "n.xlsx", [Sheet("N", nomenclature)]))
    # Above the header (a title row), an error is no data: the table reads.
    titled = [[ExcelError("#N/A")], ["programme", "libelle"], ["101", "Justice"]]
    (table,) = read_tables(write_xlsx(tmp_path / "t.xlsx", [Sheet("N", titled)]))
    assert table.rows == [["101", "Justice"]]


def _edit_sheet(path, edit) -> str:
    """Rewrite the first sheet's XML of the workbook at ``path`` by ``edit`` (text -> text), as another writer would
    have written it; return the XML written."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = edit(parts["xl/worksheets/sheet1.xml"].decode())
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return sheet


def test_an_excel_error_cell_without_a_reference_is_placed_as_a_reader_places_it(tmp_path):
    # ECMA-376 makes a cell's `r` optional (the cell after the previous one) and XML allows blanks around `=`.
    from tests.workbook_files import ExcelError

    path = write_xlsx(tmp_path / "n.xlsx", [Sheet("N", [["programme", "libelle"], ["101", "Justice"],
                                                         ["102", ExcelError("#N/A")]])])  # fmt: skip
    _edit_sheet(
        path,
        lambda sheet: (
            sheet.replace('<c r="B3" t="e">', "<c t = 'e'>").replace(' r="A3"', "").replace('<row r="3">', "<row>")
        ),
    )
    with pytest.raises(TableReadError, match=r"ligne 2, colonne 'libelle' \(feuille 'N', cellule B3\): an Excel"):
        read_tables(path)


def test_an_excel_error_cell_is_placed_by_its_own_reference_where_its_row_has_none(tmp_path):
    # An adversarial tester's find (wave 17): rows written without `r` (cells with theirs), the header on row 3,
    # two blank rows above (not written): the scan counted rows, placed the #N/A above the header (a title), and the
    # amount was published 0.00.
    import re

    from tests.workbook_files import ExcelError

    rows = [[], [], ["programme", "libelle"], ["101", ExcelError("#N/A")], ["102", "Justice"]]
    path = write_xlsx(tmp_path / "n.xlsx", [Sheet("N", rows)])
    edited = _edit_sheet(  # an empty row is not written; no row has `r`
        path, lambda sheet: re.sub(r'<row r="\d+"', "<row", re.sub(r'<row r="\d+"(?: [^>]*)?(?:/>|></row>)', "", sheet))
    )
    assert '<row r="' not in edited
    with pytest.raises(TableReadError, match=r"ligne 1, colonne 'libelle' \(feuille 'N', cellule B4\): an Excel"):
        read_tables(path)


def test_an_excel_error_cell_follows_the_file_name_as_every_per_line_error(tmp_path):
    # A fresh user's find (wave 17): `PLF_2026_Credits.xlsx: ligne 2, colonne …` where every other per-line error
    # reads `<file>, ligne N, colonne …`: the same form in the file's error, its staging report and the summary's.
    from tests.workbook_files import ExcelError
    from warehouse.credits.roles import stage_exercice_to
    from warehouse.sources import take_inventory

    path = _lfi_2020_workbook(tmp_path / "sources", {(1, 10): ExcelError("#N/A")})
    message = (
        "LFI_2020_Credits.xlsx, ligne 1, colonne 'AE LFI 2020' (feuille 'Credits', cellule K2): an Excel error value "
        "'#N/A' (a formula that failed): correct it in the workbook, or export the values"
    )
    (item,) = take_inventory(discover_sources(path.parent))
    assert item.error_message == message
    _, (report,) = stage_exercice_to(tmp_path / "staging", 2020, [item])
    assert (report.statut, report.message) == ("erreur", message)
    header = _lfi_2020_workbook(tmp_path / "header", {(0, 11): ExcelError("#NAME?")})
    (item,) = take_inventory(discover_sources(header.parent))
    assert item.error_message.startswith(
        "LFI_2020_Credits.xlsx, en-tête, colonne L (sans en-tête) (feuille 'Credits', cellule L1): an Excel error"
    )
