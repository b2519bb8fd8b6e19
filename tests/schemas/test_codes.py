"""Budget codes stay text in their warehouse form (GLOSSARY.md; case B24)."""

import json

import polars as pl
import pytest

from schemas.codes import (
    CodeError,
    action_expr,
    categorie_expr,
    code_text,
    ministere_expr,
    mission_expr,
    normalise_action,
    normalise_categorie,
    normalise_ministere,
    normalise_mission,
    normalise_programme,
    normalise_sous_action,
    normalise_titre,
    programme_expr,
    sous_action_expr,
    titre_expr,
)
from tests.conftest import CASES
from warehouse.reading.tables import read_tables


@pytest.mark.parametrize("raw", ["352", "352.0", "P352", "0352", " 352 "])
def test_programme(raw):
    assert normalise_programme(raw) == "352"


def test_short_programme_is_padded():
    assert normalise_programme("7") == "007"


@pytest.mark.parametrize("raw", ["1", "01", "352-01", "0352-01", "P352-01"])
def test_action(raw):
    assert normalise_action(raw, "352") == "01"


def test_action_of_another_programme_is_refused():
    with pytest.raises(CodeError):
        normalise_action("129-16", "352")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("308-06-03", ("06", "03")), ("146-07-36", ("07", "36")), ("3", (None, "03")), ("", (None, None))],
)
def test_sous_action(raw, expected):
    assert normalise_sous_action(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("MIN50", "50"), ("50.0", "50"), ("7", "07"), ("MIN50 Transformation et fonction publiques", "50")],
)
def test_ministere(raw, expected):
    assert normalise_ministere(raw) == expected


def test_mission_categorie_titre():
    assert normalise_mission("TR") == "TR"
    assert normalise_mission("MTR Transformation et fonction publiques") == "TR"
    assert normalise_categorie("31.0") == "31"
    assert normalise_titre("2.0") == "2"
    with pytest.raises(CodeError):
        normalise_titre("23")


def test_case_b24_codes_keep_their_leading_zeros():
    expected = json.loads((CASES / "B24" / "expected.json").read_text())
    table = read_tables(CASES / "B24" / "input.csv")[0]
    column = {name: [row[i] for row in table.rows] for i, name in enumerate(table.header)}
    # Read as text, nothing lost.
    for name in ("programme", "action", "sous_action", "departement"):
        assert column[name] == expected[name]
    # In their warehouse form: `0101` is action 01 and sous-action 01 written together.
    assert [normalise_programme(v) for v in column["programme"]] == expected["programme"]
    assert [normalise_action(v) for v in column["action"]] == expected["action"]
    split = [normalise_sous_action(v) for v in column["sous_action"]]
    assert split == [(v[:2], v[2:]) for v in expected["sous_action"]]


# -- codes written to defeat spreadsheets (case B36), and the column forms -------------------------


@pytest.mark.parametrize("raw", ['="352"', "'352", '="0352"', "'P352", ' ="352" '])
def test_spreadsheet_text_protection_is_unwrapped(raw):
    assert normalise_programme(raw) == "352"


def test_own_apostrophe_keeps_action_and_sous_action_joined():
    assert normalise_sous_action("'0101") == ("01", "01")
    assert normalise_action('="352-01"', "352") == "01"
    assert normalise_categorie('="31"') == "31"
    assert normalise_ministere('="50"') == "50"


CODE_VALUES = [
    '="352"', "'0101", "352.0", "P352", "0352", " 352 ", "352-01", "0352-01", "1", "308-06-03", "3", "MIN50",
    "50.0", "MIN50 Transformation et fonction publiques", "tr", "MTR Transformation", "31.0", "2.0", "23", "abc",
    "", "'", None, "2A", "12345",
]  # fmt: skip


def _scalar(rule, value):
    try:
        return rule(value)
    except CodeError:
        return None


@pytest.mark.parametrize(
    ("expr", "rule"),
    [
        (programme_expr, normalise_programme),
        (ministere_expr, normalise_ministere),
        (mission_expr, normalise_mission),
        (categorie_expr, normalise_categorie),
        (titre_expr, normalise_titre),
        (lambda c: action_expr(c).struct.field("action"), normalise_action),
        (lambda c: sous_action_expr(c).struct.field("sous_action"), lambda v: normalise_sous_action(v)[1]),
    ],
)
def test_column_forms_agree_with_the_scalar_rules(expr, rule):
    frame = pl.DataFrame({"v": CODE_VALUES}, schema={"v": pl.String})
    column = frame.select(expr(pl.col("v"))).to_series().to_list()
    assert column == [_scalar(rule, v) for v in CODE_VALUES]
    # What the column form leaves null although the cell is filled is what the scalar refuses.
    filled = frame.select(code_text("v")).to_series().to_list()
    refused = [v for v, c, f in zip(CODE_VALUES, column, filled, strict=True) if f is not None and c is None]
    assert all(_raises(rule, v) for v in refused)


def test_action_of_a_sous_action_column_form():
    frame = pl.DataFrame({"v": CODE_VALUES}, schema={"v": pl.String})
    column = frame.select(sous_action_expr("v").struct.field("action")).to_series().to_list()
    assert column == [(_scalar(normalise_sous_action, v) or (None, None))[0] for v in CODE_VALUES]


def _raises(rule, value):
    try:
        rule(value)
    except CodeError:
        return True
    return False
