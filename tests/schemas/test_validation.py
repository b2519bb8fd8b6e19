"""Validation runs on collected frames and names every bad row (case B16); the credits model."""

from decimal import Decimal
from textwrap import dedent

import pandera.polars as pa
import polars as pl
import pytest

from schemas.amounts import parse_amount
from schemas.credits import CreditsModel
from schemas.validation import ValidationFailed, validate
from tests.conftest import CASES, run_python
from warehouse.reading.tables import read_tables


class B16Model(pa.DataFrameModel):
    """The schema of case B16: programme text, annee integer, cp ≥ 0, taux_pct in [0, 100]."""

    programme: str
    annee: int
    cp: float = pa.Field(ge=0)
    taux_pct: float = pa.Field(ge=0, le=100)


def _b16_frame() -> pl.DataFrame:
    table = read_tables(CASES / "B16" / "input.csv")[0]
    return table.to_frame().with_columns(
        pl.col("annee").cast(pl.Int64),
        *[
            pl.col(c).map_elements(lambda v: float(parse_amount(v)), return_dtype=pl.Float64)
            for c in ("cp", "taux_pct")
        ],
    )


def test_case_b16_both_bad_values_are_named_even_from_a_lazy_frame():
    with pytest.raises(ValidationFailed) as failed:
        validate(B16Model, _b16_frame().lazy())
    failures = failed.value.failures
    assert failures.height == 2
    assert sorted(failures["column"].to_list()) == ["cp", "taux_pct"]
    assert failures["index"].to_list() == [0, 0]
    assert sorted(failures["failure_case"].to_list()) == ["-5.0", "101.2"]
    assert "cp" in str(failed.value) and "taux_pct" in str(failed.value)


def test_good_rows_pass_and_come_back_collected():
    good = _b16_frame().filter(pl.col("programme") == "231")
    assert validate(B16Model, good.lazy()).height == 1


def _credit_row(**changes) -> dict:
    row = {
        "exercice": 2021, "phase": "LFI", "type_budget": "BG", "code_ministere": "50", "code_mission": "TR",
        "code_programme": "352", "code_action": "01", "code_sous_action": None, "code_categorie": "31",
        "code_titre": "3", "ae": Decimal("1.00"), "cp": Decimal("2.00"), "ae_fdc_adp": None, "cp_fdc_adp": None,
        "calcule": False, "source_id": "lfi-2021", "source_ligne": 1, "nb_lignes_source": 1,
    }  # fmt: skip
    return {**row, **changes}


def _credits(rows) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "exercice": pl.Int16,
            "phase": pl.String,
            "type_budget": pl.String,
            "code_ministere": pl.String,
            "code_mission": pl.String,
            "code_programme": pl.String,
            "code_action": pl.String,
            "code_sous_action": pl.String,
            "code_categorie": pl.String,
            "code_titre": pl.String,
            "ae": pl.Decimal(18, 2),
            "cp": pl.Decimal(18, 2),
            "ae_fdc_adp": pl.Decimal(18, 2),
            "cp_fdc_adp": pl.Decimal(18, 2),
            "calcule": pl.Boolean,
            "source_id": pl.String,
            "source_ligne": pl.Int32,
            "nb_lignes_source": pl.Int32,
        },  # fmt: skip
        orient="row",
    )


def test_credits_model_accepts_a_good_row():
    assert validate(CreditsModel, _credits([_credit_row()])).height == 1


@pytest.mark.parametrize(
    ("changes", "column"),
    [
        ({"code_programme": "P352"}, "code_programme"),
        ({"phase": "LFR2"}, "phase"),
        ({"exercice": 1999}, "exercice"),
        ({"code_titre": "2"}, "titre_is_first_digit_of_categorie"),
        ({"code_action": "1"}, "code_action"),
    ],
)
def test_credits_model_names_the_bad_column(changes, column):
    with pytest.raises(ValidationFailed) as failed:
        bad = _credit_row(**{"source_ligne": 2, "code_action": "02", **changes})
        validate(CreditsModel, _credits([_credit_row(), bad]))
    text = str(failed.value)
    assert column in text


def test_credits_model_refuses_a_float_amount_and_a_repeated_key():
    as_float = _credits([_credit_row()]).with_columns(pl.col("ae").cast(pl.Float64))
    with pytest.raises(ValidationFailed, match="ae"):
        validate(CreditsModel, as_float)
    with pytest.raises(ValidationFailed):
        validate(CreditsModel, _credits([_credit_row(), _credit_row(source_ligne=2)]))


class _KeyedModel(pa.DataFrameModel):
    """Each feature the one-query pass follows: nullability, a unique column, a unique key, vocabularies,
    patterns, bounds, a NaN-able float and a dataframe check."""

    code: str = pa.Field(unique=True, str_matches=r"^\d{3}$")
    niveau: str = pa.Field(isin=("programme", "mission"))
    annee: pl.Int16 = pa.Field(ge=1990, le=2100)
    mission: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{2}$")
    valeur: pl.Float64 = pa.Field(ge=0)
    borne: pl.Float64 = pa.Field(nullable=True)

    @pa.dataframe_check
    def mission_level_has_a_mission(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("niveau") != "mission") | pl.col("mission").is_not_null())

    class Config:
        strict = True
        coerce = False
        unique = ["niveau", "mission"]


def _keyed(**changes) -> pl.DataFrame:
    rows = {
        "code": ["101", "102", "103"],
        "niveau": ["programme", "mission", "programme"],
        "annee": [2020, 2021, 2022],
        "mission": [None, "AA", "BB"],
        "valeur": [1.0, 0.0, 2.5],
        "borne": [None, float("nan"), 3.0],
    }
    types = {"annee": pl.Int16, "mission": pl.String, "valeur": pl.Float64, "borne": pl.Float64}
    return pl.DataFrame({**rows, **changes}, schema_overrides=types)


@pytest.mark.parametrize(
    "changes",
    [
        {"code": ["101", "101", "103"]},  # unique column
        {"code": ["101", "12", "103"]},  # pattern
        {"niveau": ["programme", "region", "programme"]},  # vocabulary
        {"annee": [2020, 1800, 2022]},  # bound
        {"mission": [None, "AA", None]},  # unique key (nulls alike, as Pandera has them)
        {"mission": [None, None, "BB"]},  # dataframe check
        {"valeur": [1.0, None, 2.5]},  # not nullable
        {"valeur": [1.0, float("nan"), 2.5]},  # NaN in a float that is not nullable
        {"annee": [2020, 2021, 2022]},  # Int64, not Int16
        {"extra": [1, 2, 3]},  # strict
    ],
)
def test_one_query_pass_fails_where_pandera_fails_and_pandera_names_the_failures(changes):
    from schemas.validation import _passes

    frame = _keyed(**changes)
    if "annee" in changes:
        frame = frame.with_columns(pl.col("annee").cast(pl.Int64))
    assert not _passes(_KeyedModel, frame)
    with pytest.raises(ValidationFailed) as failed:
        validate(_KeyedModel, frame)
    assert failed.value.failures.height >= 1


def test_one_query_pass_passes_what_pandera_passes_and_returns_the_same_frame():
    from schemas.validation import _passes

    frame = _keyed().select(["mission", *(c for c in _keyed().columns if c != "mission")])  # not ordered
    assert _passes(_KeyedModel, frame)
    assert _KeyedModel.validate(frame, lazy=True).equals(frame)
    assert validate(_KeyedModel, frame.lazy()).equals(frame)


def test_one_query_pass_works_for_models_built_while_the_definitions_load():
    # CI's find: a model's built-in checks made while `pipelines.definitions` loads (before Pandera registered its
    # Polars functions) hold a dispatcher without them: the one-query pass raised KeyError (the first test of
    # tests/schemas run after tests/assets). In a fresh process, as the command line loads them.
    script = dedent(
        """\
        import pipelines.definitions
        from schemas.credits import CreditLinesModel
        from schemas.validation import _passes
        from tests.schemas.test_row_rules import _lines
        print(_passes(CreditLinesModel, _lines()))
        """
    )
    done = run_python(script, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True", done.stdout + done.stderr
