"""Amount parsing: exact decimals whatever the spelling, separators decided per column
(cases B01, B02, B05, B09, B30, B38)."""

import json
import random
from decimal import Decimal

import polars as pl
import pytest

from schemas.amounts import (
    AmountError,
    Separators,
    decide_separators,
    disagreement_at,
    euros_expr,
    first_marks,
    parse_amount,
    parse_euros,
    parse_euros_column,
    parse_euros_columns,
    separator_evidence,
)
from tests.conftest import CASES
from warehouse.reading.tables import read_tables


def _case_column(case: str, column: str) -> list[str | None]:
    table = read_tables(CASES / case / "input.csv")[0]
    index = table.header.index(column)
    return [row[index] for row in table.rows]


@pytest.mark.parametrize("case", ["B01", "B02"])
def test_cases_b01_b02_amounts_are_exact_decimals(case):
    expected = json.loads((CASES / case / "expected.json").read_text())
    for column in ("ae", "cp"):
        parsed = [parse_euros(v) for v in _case_column(case, column)]
        assert parsed == [Decimal(v) for v in expected[column]]
        assert all(isinstance(v, Decimal) and v.as_tuple().exponent == -2 for v in parsed)


def test_case_b09_accounting_negatives_and_currency_signs():
    expected = json.loads((CASES / "B09" / "expected.json").read_text())
    assert [parse_euros(v) for v in _case_column("B09", "montant")] == [Decimal(v) for v in expected["montant"]]


def test_case_b05_amount_in_millions_of_euros():
    expected = json.loads((CASES / "B05" / "expected.json").read_text())
    (value,) = _case_column("B05", "Montant")
    assert value == expected["montant_raw"]
    assert parse_euros(value) == Decimal(expected["montant_eur"])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7300000.0", "7300000.00"),
        ("3 316 105", "3316105.00"),
        ("1\u202f234,5", "1234.50"),
        ("1,2 Md€", "1200000000.00"),
        ("311029341.88000005", "311029341.88"),
        ("0.30000000000000004", "0.30"),
        ("1234,120", "1234.12"),
        ("-", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_euros_rounds_to_the_cent(text, value):
    assert parse_euros(text) == (Decimal(value) if value else None)


def test_full_precision_is_kept_before_rounding():
    assert parse_amount("0.123456789012345") == Decimal("0.123456789012345")


@pytest.mark.parametrize("text", ["n.d.", "abc", "12,5 kg", "1e400000", "99999999999999999"])
def test_text_that_is_not_an_amount_raises(text):
    with pytest.raises(AmountError):
        parse_euros(text)


# -- separators decided per column (cases B30, B38; item 5 of issue 7) ----------------------------


def _column(values, others=(), default_decimal=None, float_text=False):
    series = pl.Series(values, dtype=pl.String)
    separators = decide_separators(series, [separator_evidence(pl.Series(o)) for o in others], default_decimal)
    return separators, parse_euros_column(series, separators, float_text)


def test_case_b38_thousands_dot_decided_per_column():
    # `12.500` alone could be 12.5; in a column holding `1.234.567` it is 12 500.
    separators, parsed = _column(["1.234.567", "12.500", "3.000"])
    assert separators == Separators(thousands=".", decimal=None)
    assert parsed["euros"].to_list() == [Decimal("1234567.00"), Decimal("12500.00"), Decimal("3000.00")]
    # A column holding only `12.500` and `3.000` (B38's cp) is decided by the file's other amount column.
    separators, parsed = _column(["12.500", "3.000"], others=[["1.234.567", "3.000"]])
    assert parsed["euros"].to_list() == [Decimal("12500.00"), Decimal("3000.00")]


def test_own_mixed_column_thousands_dot_decimal_comma():
    separators, parsed = _column(["1.234.567", "12.500", "7,5", "1.000,25"])
    assert separators == Separators(thousands=".", decimal=",")
    assert parsed["euros"].to_list() == [Decimal(v) for v in ("1234567.00", "12500.00", "7.50", "1000.25")]


def test_a_column_of_decimal_points_keeps_them():
    separators, parsed = _column(["7300000.0", "12.500", "0.5"])
    assert separators == Separators(thousands=None, decimal=".")
    assert parsed["euros"].to_list() == [Decimal("7300000.00"), Decimal("12.50"), Decimal("0.50")]


def test_an_ambiguous_column_is_an_error_never_a_guess():
    with pytest.raises(AmountError, match="ambiguous separator '.'"):
        _column(["1.234", "5.678", "100"])
    # Another column of the file that uses `,` as its decimal mark decides: `.` groups thousands.
    _, parsed = _column(["1.234", "5.678"], others=[["12,5"]])
    assert parsed["euros"].to_list() == [Decimal("1234.00"), Decimal("5678.00")]
    # Another column whose decimal mark is `.` decides nothing: formats may differ per column, and
    # `1.000` beside `0.00` read as 1 € would be another figure (found by the random files' test).
    with pytest.raises(AmountError, match="ambiguous separator '.'"):
        _column(["1.000", "0"], others=[["0.00", "12.50"]])
    # A workbook's numbers are written `1234.5` by the reader: there `.` is the decimal mark.
    _, parsed = _column(["1.234"], default_decimal=".", float_text=True)
    assert parsed["euros"].to_list() == [Decimal("1.23")]
    # The same value as text (a CSV whose other values say `.` is the decimal mark): a third decimal is lost.
    _, parsed = _column(["1.234", "7300000.0"])
    assert parsed["erreur"][0].startswith("more than two decimals '1.234'")


def test_a_column_that_contradicts_itself_is_an_error():
    with pytest.raises(AmountError, match="separators disagree"):
        _column(["1.234,5", "1,234.5"])
    with pytest.raises(AmountError, match="separators disagree"):
        _column(["1.234.567", "12.34"])  # `.` groups thousands in one value, is a decimal mark in the other


def test_a_value_that_does_not_fit_its_column_is_an_error_naming_it():
    _, parsed = _column(["1.234.567", "12.3456.7"])
    assert parsed["euros"].to_list() == [Decimal("1234567.00"), None]
    assert "'12.3456.7' does not fit the separators of its column" in parsed["erreur"][1]


def test_case_b30_scientific_notation_is_refused():
    _, parsed = _column(["1,23457E+11", "3000"])
    assert parsed["euros"][0] is None
    assert parsed["erreur"][0].startswith("scientific notation '1,23457E+11'")
    with pytest.raises(AmountError, match="scientific notation"):
        parse_euros("1.5e3")
    # In a workbook, the reader writes a float's exact shortest text: 1.4e-14 is 0.00, not an error.
    series = pl.Series(["1.4210854715202004e-14", "2.5"])
    parsed = parse_euros_column(series, Separators(decimal="."), float_text=True)
    assert parsed["euros"].to_list() == [Decimal("0.00"), Decimal("2.50")]


@pytest.mark.parametrize(
    ("values", "error"),
    [
        (["1 224 736 519,125", "45 000"], "more than two decimals '1 224 736 519,125'"),
        (["0.005", "7300000.0"], "more than two decimals '0.005'"),
        (["4 11 91 06 1", "45 000"], "irregular grouping '4 11 91 06 1'"),
        (["12 34 5", "45 000"], "irregular grouping '12 34 5'"),
        (["1234 567", "45 000"], "irregular grouping '1234 567'"),
    ],
)
def test_digits_lost_or_groups_irregular_are_errors(values, error):
    """A figure is exact or an error: a third decimal rounding would lose, or thousands grouped by spaces in
    groups not of three digits (`4 11 91 06 1` is not 41191061 for sure), on the fast path as on the slow one."""
    separators = decide_separators(pl.Series(values))
    parsed = parse_euros_column(pl.Series(values), separators)
    assert parsed["euros"][0] is None and parsed["erreur"][0].startswith(error)
    _, errors = parse_euros_columns(pl.DataFrame({"v": values}), {"m": ("v", separators)})
    assert errors["m"][0].startswith(error)
    with pytest.raises(AmountError, match=error.split(" '")[0]):
        parse_euros(values[0])


def test_a_workbook_number_out_of_range_says_so():
    """`1e+17` in a workbook is the reader's exact text of a number (repr): out of DECIMAL(18,2)'s range, not
    digits lost."""
    parsed = parse_euros_column(pl.Series(["1e+17", "2.5"]), Separators(decimal="."), float_text=True)
    assert parsed["euros"][0] is None
    assert parsed["erreur"][0].startswith("amount out of DECIMAL(18,2) range: '1e+17'")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1234-", "-1234.00"),
        ("1 234,50-", "-1234.50"),
        ("(1 234,50 €)", "-1234.50"),
        ("EUR 1 234,50", "1234.50"),
        ("1 234,50 euros", "1234.50"),
        ("-€12,5", "-12.50"),
        ("1\u00a0234\u202f567,5", "1234567.50"),
        ("\u22121 234,50", "-1234.50"),
        ("+12", "12.00"),
    ],
)
def test_accounting_spellings(text, value):
    assert parse_euros(text) == Decimal(value)


@pytest.mark.parametrize("text", ["-(5)", "(5)-", "(5", "5)", "--5", "12 €€", "+-5", "+(5)", "+5-", "+ −5"])
def test_two_signs_or_unbalanced_parentheses_are_refused(text):
    with pytest.raises(AmountError):
        parse_euros(text)


@pytest.mark.parametrize("text", ["+-5", "+(5)", "+5-", "+ −5"])
def test_a_plus_beside_a_minus_is_not_an_amount_in_a_column(text):
    # A tester's find: `+-5` in an amount column was read as -5 (the `+` was not counted as a sign).
    frame = pl.DataFrame({"v": ["12", text, "+7"]})
    parsed, errors = parse_euros_columns(frame, {"m": ("v", Separators(None, None))})
    assert parsed["m"].to_list() == [Decimal("12.00"), None, Decimal("7.00")]
    assert errors["m"].to_list() == [None, f"not an amount: '{text}'", None]


VALUES = [
    "1 234,50", "-3.000,5", "7300000.0", "(1 234,50)", "1234-", "0.005", "311029341.88000005", "", None, "-",
    "12,5 M€", "1,2 Md€", "3 k€", "12 m", "€(63,12)", "( 7 )", "-€12,5", "EUR 1 234,50", "1.234.567", "12.500",
    "1,23457E+11", "1e400000", "99999999999999999", "9999999999999999.995", "n.d.", "abc", "12,5 kg", "-(5)",
    "(5", "12 €€", "+-5", "+5", "\u22121\u202f000,25", "0,5", ".5", "12.", "1.234.567,891", "1,234,567.5", "00012",
]  # fmt: skip


def test_fast_and_full_paths_agree_and_scalar_agrees_with_column():
    series = pl.Series(["100", "-2,5", "1 234,56", "(7)", "3,005", None, "12,5 M€"])
    separators = decide_separators(series)
    fast = parse_euros_column(series, separators)
    full = pl.DataFrame({"v": series}).select(euros_expr("v", separators).struct.field("euros")).to_series()
    assert fast["euros"].to_list() == full.to_list()
    for value in VALUES:
        column = pl.Series([value], dtype=pl.String)
        try:
            separators = decide_separators(column)
        except AmountError:
            with pytest.raises(AmountError):
                parse_euros(value)
            continue
        parsed = pl.DataFrame({"v": column}).select(euros_expr("v", separators)).to_series().item()
        if parsed["erreur"] is not None:
            with pytest.raises(AmountError):
                parse_euros(value)
        else:
            assert parse_euros(value) == parsed["euros"], value
            assert parse_amount(value) == (None if parsed["nombre"] is None else Decimal(parsed["nombre"])), value


@pytest.mark.parametrize("case", ["B01", "B02"])
def test_cases_b01_b02_through_the_column_rules(case):
    expected = json.loads((CASES / case / "expected.json").read_text())
    for column in ("ae", "cp"):
        series = pl.Series(_case_column(case, column), dtype=pl.String)
        parsed = parse_euros_column(series, decide_separators(series))
        assert parsed["euros"].to_list() == [Decimal(v) for v in expected[column]]


def test_case_b09_through_the_column_rules():
    expected = json.loads((CASES / "B09" / "expected.json").read_text())
    series = pl.Series(_case_column("B09", "montant"), dtype=pl.String)
    parsed = parse_euros_column(series, decide_separators(series))
    assert parsed["euros"].to_list() == [Decimal(v) for v in expected["montant"]]


def _render(cents: int, thousands: str, decimal: str, decimals: int, negative: str, currency: str) -> str:
    units, rest = divmod(abs(cents), 100)
    digits = f"{units:,}".replace(",", thousands)
    if decimals:
        digits += decimal + f"{rest:02d}"[:decimals]
    if cents < 0:
        digits = {"-": "-{}", "\u2212": "\u2212{}", "after": "{}-", "()": "({})"}[negative].format(digits)
    return currency.format(digits)


def test_random_columns_read_back_the_same_figures_or_an_error():
    """Columns rendered in random spellings (one per column, as software writes them): read back, the
    figures are the same, or the column is refused as ambiguous; never other figures."""
    rng = random.Random(20261130)
    decided = refused = 0
    for _ in range(300):
        thousands = rng.choice(["", " ", ".", ",", "\u00a0", "\u202f"])
        decimal = rng.choice([m for m in (",", ".") if m != thousands])
        decimals = rng.choice([0, 1, 2])
        negative = rng.choice(["-", "\u2212", "after", "()"])
        currency = rng.choice(["{}", "{} €", "€ {}", "{}€"])
        size = rng.choice([10**3, 10**5, 10**8, 10**12])
        cents = [rng.randint(-size, size) * 100 + (rng.randint(0, 99) if decimals else 0) for _ in range(12)]
        if decimals == 1:
            cents = [c - c % 10 if c >= 0 else -((-c) - (-c) % 10) for c in cents]
        texts = [_render(c, thousands, decimal, decimals, negative, currency) for c in cents]
        series = pl.Series(texts)
        try:
            parsed = parse_euros_column(series, decide_separators(series))
        except AmountError:
            refused += 1
            continue
        assert parsed["erreur"].null_count() == len(texts), (texts, parsed["erreur"].to_list())
        assert parsed["euros"].to_list() == [Decimal(c).scaleb(-2) for c in cents], texts
        decided += 1
    assert decided > 200 and refused > 0


def test_several_columns_parsed_at_once_give_what_each_column_gives_alone():
    frame = pl.DataFrame(
        {
            "plain": ["130 307 601", "-186", None, "12,5"],
            "mixed": ["1 234,50", "(1 234,50)", "-", "1,23457E+11"],
            "points": ["1.234.567", "12.500", "7", None],
        }
    )
    columns = {
        "a": ("plain", Separators(decimal=",")),
        "b": ("mixed", Separators(thousands=None, decimal=",")),
        "c": ("points", Separators(thousands=".")),
    }
    parsed, errors = parse_euros_columns(frame, columns)
    assert parsed["a"].to_list() == [Decimal("130307601.00"), Decimal("-186.00"), None, Decimal("12.50")]
    assert parsed["b"].to_list() == [Decimal("1234.50"), Decimal("-1234.50"), None, None]
    assert parsed["c"].to_list() == [Decimal("1234567.00"), Decimal("12500.00"), Decimal("7.00"), None]
    assert list(errors) == ["b"]  # only the column with a cell that does not parse
    assert errors["b"].to_list()[:3] == [None, None, None]
    assert errors["b"][3].startswith("scientific notation '1,23457E+11'")
    for target, (source, separators) in columns.items():
        alone = parse_euros_column(frame[source], separators)
        assert parsed[target].to_list() == alone["euros"].to_list()


def test_several_columns_parsed_at_once_name_the_columns_of_plain_cells_only():
    frame = pl.DataFrame({"plain": ["130 307 601", "-186", None], "points": ["1.234.567", "12", "7"]})
    columns = {"a": ("plain", Separators()), "c": ("points", Separators(thousands="."))}
    plain: set[str] = set()
    parsed, _ = parse_euros_columns(frame, columns, plain=plain)
    assert plain == {"a"}  # a cell of "points" has a thousands separator: not plain
    assert parsed["c"].to_list() == [Decimal("1234567.00"), Decimal("12.00"), Decimal("7.00")]


@pytest.mark.parametrize(
    "cells",
    [
        ["130 307 601", "- 186", None, "0"],  # plain: spaces anywhere, a minus, an empty cell
        ["12", "", "7"],  # a cell left empty but not null: not plain
        ["12", "   ", "7"],  # a cell of spaces: not plain
        ["1\x1f2", "3", "4"],  # the character joining a line's cells, inside one: not plain
        ["12 345 678 901 234 567", "1", "2"],  # 17 digits: not plain (out of range)
        ["1,5", "2", "3"],  # a decimal mark where the column has none: not plain
    ],
)
def test_several_columns_whether_plain_as_each_column_alone(cells):
    """Whether every cell is plain is decided on each line's cells joined: the same columns are plain, and the same
    amounts and errors come out, as when each column is looked at alone (its own pattern, its own parse)."""
    other = ["1 234,5", "-7", None][: len(cells)] + ["3"] * (len(cells) - 3)
    frame = pl.DataFrame({"x": cells, "y": other}, schema={"x": pl.String, "y": pl.String})
    columns = {"a": ("x", Separators()), "b": ("y", Separators(decimal=","))}
    plain: set[str] = set()
    parsed, errors = parse_euros_columns(frame, columns, plain=plain)
    for target, (source, separators) in columns.items():
        alone = parse_euros_column(frame[source], separators)
        assert parsed[target].to_list() == alone["euros"].to_list()
        assert (target in errors) == (alone["erreur"].null_count() < alone.height)
        text = frame[source].str.replace_all(" ", "", literal=True)
        every_plain = text.str.contains(
            r"^-?[0-9]{1,16}(?:,[0-9]{1,2})?$" if separators.decimal else r"^-?[0-9]{1,16}$"
        )
        assert (target in plain) == every_plain.fill_null(True).all()


@pytest.mark.parametrize(
    ("values", "line"),
    [
        (["12", "1.234.567", None, "3,5", "1,234,567", "7,25"], 5),  # `,` groups thousands on 5, after `.` did
        (["1.5", "2", "1,5", "2,5"], 3),  # two decimal marks: the second shows on 3
        (["12.500", "1.234,5", "2,5"], None),  # agree: `.` groups thousands, `,` is the decimal mark
    ],
)
def test_the_first_line_where_a_columns_separators_disagree(values, line):
    # A tester's find: "separators disagree" named no line; the line is where the evidence of the lines up to it
    # first contradicts itself (SeparatorEvidence.conflict), found from the first line of each (role, mark).
    frame = pl.DataFrame({"v": values, "ligne": list(range(1, len(values) + 1))})
    assert disagreement_at(first_marks(frame, "v", "ligne")) == line
