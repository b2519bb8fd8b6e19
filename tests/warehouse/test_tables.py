"""The one table reader: encodings, Excel quirks, headers (cases B05, B11, B13)."""

import codecs
import json
from decimal import Decimal

import pytest

from schemas.amounts import parse_amount
from tests.conftest import CASES, SOURCES
from warehouse.csv_files import decode_text
from warehouse.tables import read_tables, repair_utf16le_bytes


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
