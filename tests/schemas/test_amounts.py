"""Amount parsing: exact decimals whatever the spelling (cases B01, B02, B05, B09)."""

import json
from decimal import Decimal

import pytest

from schemas.amounts import AmountError, parse_amount, parse_euros
from tests.conftest import CASES
from warehouse.tables import read_tables


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
        ("0.005", "0.01"),
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
