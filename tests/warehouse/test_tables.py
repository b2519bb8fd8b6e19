"""The one table reader: encodings, Excel quirks, headers (cases B05, B11, B13)."""

import codecs
import json
from decimal import Decimal

import pytest

from schemas.amounts import parse_amount
from tests.conftest import CASES, SOURCES
from warehouse.reading.csv_files import decode_text
from warehouse.reading.tables import TableReadError, read_tables, repair_utf16le_bytes


def test_case_b05_windows_1252_is_not_read_as_latin_1():
    expected = json.loads((CASES / "B05" / "expected.json").read_text())
    table = read_tables(CASES / "B05" / "input.csv")[0]
    assert table.encoding == expected["encoding"]
    assert table.header == ["Mission", "Libellé", "Montant"]
    assert table.rows[0][1] == expected["libelle"]
    assert not any("\x80" <= ch <= "\x9f" for ch in table.rows[0][1])


def test_case_b11_title_rows_and_two_level_header():
    expected = json.loads((CASES / "B11" / "expected.json").read_text())
    table = read_tables(CASES / "B11" / "input.xlsx")[0]
    assert table.header_row_count == 2
    frame = table.to_frame()
    assert frame.columns == expected["columns"]
    rows = [[row[0], *(parse_amount(v) for v in row[1:])] for row in frame.iter_rows()]
    assert rows == [[r[0], *(Decimal(v) for v in r[1:])] for r in expected["rows"]]


def test_case_b13_numbers_and_numbers_stored_as_text():
    expected = json.loads((CASES / "B13" / "expected.json").read_text())
    table = read_tables(CASES / "B13" / "input.xlsx")[0]
    values = [parse_amount(row[1]) for row in table.rows]
    assert values == [None if v is None else Decimal(str(v)) for v in expected["cp"]]
    assert values[3] == Decimal("0.123456789012345")


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (codecs.BOM_UTF8 * 2 + "exercice;é".encode(), "utf-8-sig-sig"),
        (codecs.BOM_UTF8 + b"a;b", "utf-8-sig"),
        (b"a;b", "ascii"),
        ("Crédits d’œuvre".encode("cp1252"), "cp1252"),
        (codecs.BOM_UTF16_LE + "a;é".encode("utf-16-le"), "utf-16"),
    ],
)
def test_decode_text(data, encoding):
    text, found = decode_text(data)
    assert found == encoding
    assert not text.startswith("\ufeff")


def test_utf16le_bytes_are_decoded_not_stripped():
    original = "Dépenses d’œuvre – 10 €"
    as_bytes = original.encode("utf-16-le").decode("latin-1")
    assert "\x00" in as_bytes
    assert repair_utf16le_bytes(as_bytes) == original
    assert repair_utf16le_bytes("PLF") == "PLF"


def test_real_xls_text_is_decoded():
    table = read_tables(SOURCES / "2024_PLF" / "PLF2024-credits.xls")[0]
    assert table.format == "xls"
    assert table.sheet == "Credits"
    assert table.header == [
        "exercice", "loi", "typeBudget", "ministere", "mission", "programme",
        "action", "sous-action", "categorie", "titre", "ae", "cp",
    ]  # fmt: skip
    assert {row[1] for row in table.rows} == {"PLF"}
    assert not any("\x00" in (cell or "") for row in table.rows for cell in row)


def test_xlsx_behind_a_csv_name_reads_as_a_workbook():
    tables = read_tables(SOURCES / "PLF_2022_Depenses_fiscales.csv")
    assert {t.format for t in tables} == {"xlsx"}


def test_multi_line_quoted_header_and_empty_trailing_columns():
    (plr,) = read_tables(SOURCES / "PLR_2018_Credits.csv")
    assert plr.header[12] == "EXEC AE 2018\nRAP 2018"
    assert len(plr.rows) == 3060
    (plf,) = read_tables(SOURCES / "PLF_2020_Credits.csv")
    assert len(plf.header) == 12  # the 153 empty trailing columns are dropped


# -- CSV structure (issue 7, items 3 and 6; issue 8, size limit) ------------------------------


def _write(tmp_path, data: bytes, name: str = "fichier.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_case_b22_title_and_blank_lines_above_the_header_are_counted():
    expected = json.loads((CASES / "B22" / "expected.json").read_text())
    (table,) = read_tables(CASES / "B22" / "input.csv")
    assert table.encoding == "cp1252"
    assert table.header == ["Ministère", "Programme", "Titre", "AE", "CP"]
    assert table.lignes_preambule == expected["skip_preamble_lines"]
    assert len(table.rows) == expected["detail_rows"] + expected["subtotal_rows"]
    assert table.rows[2] == ["Total Ministère A", None, None, "1 500 000", "1 400 000"]
    assert table.lignes_irregulieres == []


@pytest.mark.parametrize(("case", "preamble"), [("B27", 1), ("B39", 1)])
def test_cases_b27_b39_the_real_header_below_a_sep_line_or_a_blank_line(case, preamble):
    expected = json.loads((CASES / case / "expected.json").read_text())
    (table,) = read_tables(CASES / case / "PLF_2023_credits.csv")
    assert table.header[:3] == ["exercice", "loi", "typeBudget"]
    assert table.header[-2:] == ["ae", "cp"]
    assert table.lignes_preambule == preamble
    got = [[r[0], r[1], r[5], parse_amount(r[-2]), parse_amount(r[-1])] for r in table.rows]
    want = [[r[0], r[1], r[2], Decimal(r[5]), Decimal(r[6])] for r in expected["rows"]]
    assert got == want


def test_case_b31_stray_windows_1252_byte_in_a_utf8_file():
    expected = json.loads((CASES / "B31" / "expected.json").read_text())["files"]["LFI_2023_credits.csv"]
    (table,) = read_tables(CASES / "B31" / "LFI_2023_credits.csv")
    assert table.encoding == "utf-8"
    assert table.header[10] == expected["header_col_11"]
    assert len(table.rows) == expected["rows"]
    assert table.rows[1][table.header.index("Action")] == expected["libelle_action_02"]
    assert table.lignes_recodees == 1
    cells = [c for row in table.rows for c in row if c] + table.header
    assert not any("Ã" in c or "â€" in c for c in cells)


def test_mixed_encoding_of_my_own_counts_the_lines_and_keeps_utf8_on_them(tmp_path):
    data = (
        "libellé;montant\n".encode()
        + b"Dotation d\x92\xc3\xa9quipement;1\n"  # cp1252 ’ then UTF-8 é on the same line
        + "Crédits d’œuvre;2\n".encode()
        + b"Fonds \x93sp\xe9cial\x94;3\n"
    )
    (table,) = read_tables(_write(tmp_path, data))
    assert (table.encoding, table.lignes_recodees) == ("utf-8", 2)
    assert [r[0] for r in table.rows] == ["Dotation d’équipement", "Crédits d’œuvre", "Fonds “spécial”"]


@pytest.mark.parametrize(("straddling", "cell"), [("É".encode(), "xxÉ"), (b"\r\n", "xx")])
def test_mixed_encoding_across_the_decoder_chunks(tmp_path, straddling, cell):
    """A UTF-8 character or a CRLF cut by the 1 MiB read boundary, and stray bytes after it."""
    line = "2023;Équipe;1\r\n".encode()
    head = b"annee;libelle;ae\r\n" + line * (((1 << 20) - 100) // len(line))
    prefix, suffix = (b"2023;1;", b"") if straddling == b"\r\n" else (b"2023;", b";1\r\n")
    boundary = prefix + b"x" * ((1 << 20) - 1 - len(head) - len(prefix)) + straddling + suffix
    assert len(head) + boundary.index(straddling) == (1 << 20) - 1
    data = head + boundary + b"2023;d\x92eau;2\r\n" * 3
    (table,) = read_tables(_write(tmp_path, data))
    assert table.encoding == "utf-8"
    assert table.lignes_recodees == 3
    assert len(table.rows) == (len(head) - 18) // len(line) + 4
    assert table.rows[-4][1 if straddling != b"\r\n" else 2].endswith(cell)
    assert table.rows[-1] == ["2023", "d’eau", "2"]
    assert table.lignes_irregulieres == []


@pytest.mark.parametrize("fichier", ["LFI_2021_Credits.csv", "PLF_2019_BG_Nature.csv", "PLF_2021_Nomenclature.csv"])
def test_real_windows_1252_files_stay_windows_1252(fichier):
    """PLF 2021's nomenclature holds `é\\xa0»`, valid UTF-8 by chance (頻): the whole file decides."""
    (table,) = read_tables(SOURCES / fichier)
    assert (table.encoding, table.lignes_recodees) == ("cp1252", 0)
    cells = [c for row in table.rows for c in row if c]
    assert not any("頻" in c for c in cells)
    if fichier == "PLF_2021_Nomenclature.csv":
        assert sum("invalidité\xa0»" in c for c in cells) == 1


def test_one_cell_first_line_no_longer_cuts_the_rows(tmp_path):
    data = "Crédits du PLF 2023 (en euros)\nexercice;programme;ae;cp\n2023;352;1000;2000\n2023;129;5;6\n"
    (table,) = read_tables(_write(tmp_path, data.encode()))
    assert table.header == ["exercice", "programme", "ae", "cp"]
    assert table.rows == [["2023", "352", "1000", "2000"], ["2023", "129", "5", "6"]]
    assert table.lignes_preambule == 1


@pytest.mark.parametrize("separator", [",", "\t", "|", ";"])
def test_each_separator_is_detected_from_several_lines(tmp_path, separator):
    """The other candidates appear inside cells (decimal commas, a `;` in a label, a `|`) and in a title."""
    cells = [
        ["programme", "libelle", "ae"],
        ["352", "Innovation; transformation | numérique", "12,5"],
        ["129", "Coordination, travail", "3,25"],
        ["101", "Accès au droit", "7"],
    ]
    quote = '"{}"'.format
    lines = [separator.join(quote(c) if separator in c else c for c in row) for row in cells]
    data = "Titre: budget, annexe; 2023 | v1\n\n" + "\n".join(lines) + "\n"
    (table,) = read_tables(_write(tmp_path, data.encode()))
    assert table.header == cells[0]
    assert table.rows == cells[1:]
    assert table.lignes_preambule == 2


def test_short_and_long_rows_are_recorded_never_padded_or_cut_in_silence(tmp_path):
    data = b"a;b;c\n1;2;3\n4;5\n6;7;8;9\n10;11;12;;\n;\n;;;;;\n13;14;15\n"
    (table,) = read_tables(_write(tmp_path, data, "irregulier.csv"))
    assert table.lignes_irregulieres == [(2, 2), (3, 4)]
    error = table.irregular_rows_error()
    assert str(error) == "irregulier.csv, ligne 2: 2 fields where the header has 3 (and 1 other irregular row)"
    assert len(table.rows) == 7  # the rows stay, for a family that sets them aside and counts them
    regular = _write(tmp_path, b"a;b;c\n1;2;3\n;\n4;5;6;;;\n", "regulier.csv")
    assert read_tables(regular)[0].irregular_rows_error() is None


def test_real_files_hold_no_irregular_row():
    """Trailing empty fields (PLF 2020–2022: 153 of them, header included) and `;`-only lines lose no data."""
    read = {p.name: read_tables(p)[0] for p in sorted(SOURCES.glob("*.csv")) if p.read_bytes()[:2] != b"PK"}
    assert len(read) == 67
    assert {name: t.lignes_irregulieres for name, t in read.items() if t.lignes_irregulieres} == {}
    blank = [r for r in read["PLF_2019_BG_Destination.csv"].rows if not any(r)]
    assert len(blank) == 111
    assert len(read["PLF_2021_Credits.csv"].header) == 12
    assert read["PLF_2021_Depenses_fiscales.csv"].lignes_preambule == 1  # its title line `;;;Dépense fiscale;;`
    assert read["PLF_2021_Depenses_fiscales.csv"].header[0] == "Catégorie"
    one_column = read["PLF_2025_Fonctionnement_Investissement.csv"]  # no separator: one column, no preamble
    assert (one_column.header, len(one_column.rows)) == (["I. Section de fonctionnement (en Md€)"], 30)


def test_nomenclature_reader_raises_the_irregular_row_error(tmp_path):
    from schemas.families import best_family, nomenclature_families
    from warehouse.nomenclature.files import read_nomenclature_table
    from warehouse.reading.tables import TableReadError

    lines = (SOURCES / "PLF_2020_Nomenclature.csv").read_bytes().split(b"\r\n")
    lines[41] = b";".join(lines[41].split(b";")[:-2])  # data line 41 loses its last two fields
    (table,) = read_tables(_write(tmp_path, b"\r\n".join(lines), "PLF_2020_Nomenclature.csv"))
    match = best_family(table.header, nomenclature_families())
    assert match is not None and match.family.kind == "nomenclature"
    with pytest.raises(TableReadError, match=r"PLF_2020_Nomenclature.csv, ligne 41: 5 fields where the header has 7"):
        read_nomenclature_table(table, match, "plf-2020-nomenclature", 2020, "PLF")


def test_a_quote_inside_a_field_is_a_character_where_no_quote_opens_a_field_and_an_error_where_one_does(tmp_path):
    # Where no quote of the file opens a field, `Pouce 12"` is a label with an inch sign. Where quotes open fields
    # (`"a;b"`), a quote inside a field it does not open is no CSV (RFC 4180): this test read it as a character
    # (Python's csv, the whole read) while the stream refused it (Polars); every read now names it (see
    # test_quoting.py, test_a_quote_inside_a_field_of_a_file_whose_quotes_open_fields_is_an_error_in_every_read).
    (table,) = read_tables(_write(tmp_path, b'code;libelle\n1;Pouce 12"\n2;a b\n'))
    assert table.rows == [["1", 'Pouce 12"'], ["2", "a b"]]
    with pytest.raises(TableReadError, match="^fichier.csv: line 2 of the file, column 'libelle': an unbalanced quote"):
        read_tables(_write(tmp_path, b'code;libelle\n1;Pouce 12"\n2;"a;b"\n'))


def test_csv_rows_are_a_polars_frame_read_as_lists(tmp_path):
    (table,) = read_tables(_write(tmp_path, b"Code Programme;AE\n352;10\n129;\n"))
    frame = table.to_frame()
    assert frame.columns == ["code_programme", "ae"]
    assert frame.rows() == [("352", "10"), ("129", None)]
    assert list(table.rows) == [["352", "10"], ["129", None]]
    assert table.rows[-1] == ["129", None]


def test_files_above_the_size_limit_are_refused(tmp_path, monkeypatch):
    from warehouse.reading.tables import TableReadError

    path = _write(tmp_path, b"a;b\n" + b"1;2\n" * 600, "gros.csv")  # 2,404 bytes
    monkeypatch.setenv("BUDGET_MAX_FILE_MB", "0.002")  # 2,097 bytes
    with pytest.raises(TableReadError, match=r"^gros.csv: 2404 bytes \(0.0 MiB\), above the limit of 2097 bytes"):
        read_tables(path)
    monkeypatch.setenv("BUDGET_MAX_FILE_MB", "0.003")
    assert len(read_tables(path)[0].rows) == 600
    monkeypatch.setenv("BUDGET_MAX_FILE_MB", "beaucoup")
    with pytest.raises(TableReadError, match="BUDGET_MAX_FILE_MB"):
        read_tables(path)


def test_a_byte_of_no_encoding_is_an_error_naming_the_line(tmp_path):
    from warehouse.reading.tables import TableReadError

    with pytest.raises(TableReadError, match=r"^inconnu.csv: line 3: byte b'\\x81' is not cp1252"):
        read_tables(_write(tmp_path, b"a;b\nd\xe9pense;1\n\x81;2\n", "inconnu.csv"))


def test_empty_lines_after_the_header_are_blank_data_lines(tmp_path):
    (table,) = read_tables(_write(tmp_path, b"a;b\r\n\r\n1;2\r\n\r\n"))
    assert table.rows == [[None, None], ["1", "2"], [None, None]]
    assert table.lignes_irregulieres == []


_CELLS = ["", "352", "1 234,56", "-12.5", "Équipe d’intervention", "œuvre – 10 €", "a;b", "x,y", "p|q", "t\tu",
          'il dit "oui"', "deux\nlignes", "  marges  "]  # fmt: skip
_NAMES = ["exercice", "Code Programme", "Libellé", "AE", "CP", "catégorie", "titre", "sous-action"]


def _render(rng, separator, encoding, eol):
    """A random table, its preamble and its bytes: separators, quotes and line breaks inside cells."""
    width = rng.randint(2, 7)
    header = rng.sample(_NAMES, width)
    rows = [[rng.choice(_CELLS) for _ in range(width)] for _ in range(rng.randint(0, 25))]
    preamble = rng.choice([[], [f"sep={separator}"], ["Crédits 2023 (en euros)", ""], ["", "", "Titre"]])

    def field(cell):
        if any(c in cell for c in (separator, '"', "\n", "\r")):
            return '"' + cell.replace('"', '""') + '"'
        return cell

    lines = preamble + [separator.join(field(c) for c in row) for row in [header, *rows]]
    return header, rows, len(preamble), (eol.join(lines) + eol).encode(encoding)


def test_random_tables_read_back_cell_for_cell(tmp_path):
    """Own inputs, 300 of them: every separator, preamble, encoding and line end gives back the same cells."""
    import random

    rng = random.Random(20261130)
    for case in range(300):
        separator = rng.choice([";", ",", "\t", "|"])
        encoding = rng.choice(["utf-8", "utf-8-sig", "cp1252", "utf-16"])
        eol = rng.choice(["\n", "\r\n"])
        header, rows, preamble, data = _render(rng, separator, encoding, eol)
        (table,) = read_tables(_write(tmp_path, data, f"cas_{case}.csv"))
        where = f"case {case}: {separator!r} {encoding} {eol!r}"
        assert table.header == header, where
        assert table.lignes_preambule == preamble, where
        assert table.rows == [[c or None for c in row] for row in rows], where
        assert table.lignes_irregulieres == [], where


@pytest.mark.parametrize("quoted", [False, True], ids=["lines", "quoted records"])
def test_a_file_cut_short_is_an_error_naming_its_last_line_read_whole_streamed_or_as_a_head(tmp_path, quoted):
    """A last line with no line end and fewer fields than the header and every other line: cut short (a fresh user's
    find). Under a title holding a quote, with a label holding a line break, the line named is the file's. A
    complete last line with no line end reads."""
    from warehouse.reading.csv_files import read_csv_head, stream_csv_table
    from warehouse.reading.tables import TableReadError

    label = b'"deux\nlignes"' if quoted else b"deux lignes"
    title = b'"Cr\xc3\xa9dits" 2020\n' if quoted else b"Cr\xc3\xa9dits 2020\n"
    text = title + b"Mission;Libell\xc3\xa9;AE;CP;;\nA;" + label + b";1;2;;\nB;x;3;4;;\n"
    last = 6 if quoted else 5
    cut = _write(tmp_path, text + b"C;y;5;6;", "cut.csv")
    message = f"cut.csv: the file ends inside line {last}: 5 field(s) where the header has 6, and no line end: it "
    message += "looks cut short"
    for read in (
        lambda: read_tables(cut),
        lambda: read_csv_head(cut, "cut.csv")[0].checked(),
        lambda: stream_csv_table(cut, "cut.csv").__enter__(),
    ):
        with pytest.raises(TableReadError) as error:
            read()
        assert str(error.value) == message
    assert read_csv_head(cut, "cut.csv")[0].header == ["Mission", "Libellé", "AE", "CP"]  # recognised all the same
    complete = _write(tmp_path, text + b"C;y;5;6;;", "complete.csv")
    (table,) = read_tables(complete)
    assert table.rows[-1] == ["C", "y", "5", "6"] and len(table.rows) == 3 and table.lignes_irregulieres == []
    with stream_csv_table(complete, "complete.csv") as stream:
        assert stream.data_rows == 3 and stream.table.lignes_irregulieres == []
    # An adversarial tester's: a last line of the header's named fields (without its trailing `;;`), a one-cell note,
    # a space or a DOS end-of-file mark, with no line end, are no cut (a cut there cannot be told from them).
    for tail, rows in ((b"C;y;5;6", 3), (b"Source : DB", 3), (b" ", 3), (b"\x1a", 3)):  # rows as the table has
        path = _write(tmp_path, text + tail, "tail.csv")
        (table,) = read_tables(path)
        assert len(table.rows) == rows, tail
        with stream_csv_table(path, "tail.csv") as stream:
            assert stream.data_rows == rows, tail
