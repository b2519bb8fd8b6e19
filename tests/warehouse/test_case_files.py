"""Generic fault cases read through the credit line reader (cases B07, B19).

The cases' column names are generic: a column map for them (a family, as data)
maps them to the warehouse's fields, as a new vintage's map would.
"""

import json
import re
from decimal import Decimal

import polars as pl

from schemas.families import Family, match_family
from tests.conftest import CASES
from warehouse.credit_files import read_credit_table
from warehouse.tables import read_tables

CASE_FAMILY = Family(
    id="cas",
    description="generic columns of the fault cases",
    columns={
        "exercice": re.compile("annee"),
        "code_programme": re.compile("programme"),
        "code_action": re.compile("action"),
        "code_sous_action": re.compile("sousaction"),
        "libelle_action": re.compile("libelle"),
    },
    amounts=(re.compile("(?P<grandeur>ae|cp)"),),
    required=("code_programme", "cp"),
    authority={"PLF": 1},
    phase="PLF",
)


def _read(path, exercice_hint=2024):
    table = read_tables(path)[0]
    return read_credit_table(table, match_family(CASE_FAMILY, table.header), path.stem, exercice_hint)


def test_case_b07_total_and_source_lines_are_set_aside_and_checked():
    expected = json.loads((CASES / "B07" / "expected.json").read_text())
    read = _read(CASES / "B07" / "input.csv")
    assert read.kept == expected["detail_rows"] == read.lines.height
    assert read.set_aside == {"total": 1, "note": 1}
    assert read.data_rows == read.kept + sum(read.set_aside.values())
    assert read.lines["ae"].sum() == Decimal(expected["total_row_ae"])
    assert read.totaux_publies == []


def test_case_b07_a_wrong_total_is_reported(tmp_path):
    text = (CASES / "B07" / "input.csv").read_text(encoding="utf-8").replace("350,50", "351,50")
    path = tmp_path / "b07.csv"
    path.write_text(text, encoding="utf-8")
    read = _read(path)
    assert read.totaux_publies == [
        {"ligne": 4, "libelle": "Total général", "colonne": "ae", "attendu": "351.50", "trouve": "350.50"}
    ]


def test_case_b19_a_later_vintage_adds_a_column():
    expected = json.loads((CASES / "B19" / "expected.json").read_text())
    frames = [_read(CASES / "B19" / f"vintage_{year}.csv", None).lines for year in (2023, 2024)]
    table = pl.concat(frames).sort("exercice")
    assert table["exercice"].to_list() == [int(r[0]) for r in expected["rows"]]
    assert table["code_programme"].to_list() == [r[1] for r in expected["rows"]]
    assert table["code_action"].to_list() == [r[2] for r in expected["rows"]]
    # `0101` is action 01 and sous-action 01; the older vintage has none.
    assert table["code_sous_action"].to_list() == [None, "01"]
    assert table["ae"].to_list() == [Decimal(r[4]).quantize(Decimal("0.01")) for r in expected["rows"]]
    assert table["cp"].to_list() == [Decimal(r[5]).quantize(Decimal("0.01")) for r in expected["rows"]]
