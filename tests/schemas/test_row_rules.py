"""The credit line model's rules as Polars expressions report what Pandera reports first, and as many failures."""

from decimal import Decimal

import polars as pl
import pytest

from schemas.credits import CreditLinesModel
from schemas.row_rules import first_failure, row_rules
from schemas.validation import ValidationFailed, validate
from warehouse.credits.files import LINE_SCHEMA

RULES = row_rules(CreditLinesModel)


def _lines(**changes) -> pl.DataFrame:
    """Four valid credit lines, then the columns of ``changes`` replaced (a list of 4 values each)."""
    rows = {k: [None] * 4 for k in LINE_SCHEMA}
    rows |= {
        "source_id": ["s"] * 4,
        "source_ligne": [1, 2, 3, 4],
        "exercice": [2021] * 4,
        "phase": ["PLF", "PLF", "LFI", "AMD"],
        "type_budget": ["BG", None, "CAS", "BG"],
        "code_programme": ["352", "129", "352", "101"],
        "code_action": ["01", None, "02", "03"],
        "code_categorie": ["31", None, "64", "21"],
        "code_titre": ["3", "2", "6", "2"],
        "ae": [Decimal("1.50"), Decimal(0), Decimal("-3"), Decimal(7)],
        "cp": [Decimal(1)] * 4,
        "calcule": [False] * 4,
    }
    return pl.DataFrame(rows | changes, schema=LINE_SCHEMA)


def _pandera_first(frame: pl.DataFrame):
    try:
        validate(CreditLinesModel, frame)
    except ValidationFailed as exc:
        first = exc.failures.drop_nulls("index").row(0, named=True)
        return first["index"], first["column"], first["check"], first["failure_case"], exc.failures.height
    return None


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"exercice": [2021, 1999, 2021, 2101]},
        {"phase": ["PLF", "PLF", "XX", None]},
        {"type_budget": ["BG", None, "ZZ", "BG"]},
        {"code_programme": ["352", "35X", "352", None], "code_action": ["1", None, "02", "03"]},
        {"code_titre": ["3", "2", "8", "3"]},
        {"code_categorie": ["31", "2", "64", "21"], "code_titre": ["4", "2", "6", "2"]},
        {"source_ligne": [1, 0, 3, 4], "exercice": [2021, 2021, 2021, 1900]},
        {"code_mission": ["AB", "ab", None, "A1"], "code_ministere": ["07", "7", None, "07"]},
        # A failing code repeated (its rules are tried on the distinct values first): every row still counted.
        {"code_programme": ["352", "35X", "35X", "352"], "phase": ["PLF", "PLF", "PLF", "XX"]},
    ],
    ids=lambda c: "+".join(c) or "valid",
)
def test_first_failure_is_pandera_s(changes):
    frame = _lines(**changes)
    found = first_failure(frame, RULES)
    expected = _pandera_first(frame)
    if expected is None:
        assert found is None
    else:
        assert (found.row, found.column, found.check, found.case, found.total) == expected


def test_a_check_with_no_translation_is_refused():
    import pandera.polars as pa

    class Odd(pa.DataFrameModel):
        code: str = pa.Field(str_length={"min_value": 2})

    with pytest.raises(NotImplementedError, match="str_length"):
        row_rules(Odd)
