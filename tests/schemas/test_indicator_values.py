"""The indicator value parser: fault cases B03, B10, B23 and every distinct value of the real files."""

import json
import re

import pytest

from schemas.performance.families import best_performance_family
from schemas.performance.indicator_values import COMPARATEURS, SENS, STATUTS, parse_indicator_value
from tests.conftest import CASES, SOURCES
from warehouse.reading.tables import read_tables

PERFORMANCE_FILES = ["PLF_2019_PAP.csv", "Performance_Depense.csv"]


def _column(table, name):
    index = table.header.index(name)
    return [row[index] for row in table.rows]


def test_case_b03_placeholders_stay_null_with_a_status_and_numbers_stay_numbers():
    expected = json.loads((CASES / "B03" / "input.csv").with_name("expected.json").read_text())
    table = read_tables(CASES / "B03" / "input.csv")[0]
    for name in expected["dtypes"]:
        parsed = [parse_indicator_value(v) for v in _column(table, name)]
        assert all(p.statut in ("ok", "a_verifier") for p in parsed)
        assert all((p.valeur is None) == (p.statut == "a_verifier") for p in parsed)
        assert all(isinstance(p.valeur, float) for p in parsed if p.statut == "ok")
    late = [parse_indicator_value(v) for v in _column(table, "realisation_2024")]
    assert sum(p.valeur is None for p in late) == expected["realisation_2024_nulls"] == 101
    assert late[-1].valeur == expected["realisation_2024_last"] == 109.5
    assert [p.valeur for p in late if p.valeur is not None][0] == 101.5
    early = [parse_indicator_value(v) for v in _column(table, "realisation_2023")]
    assert early[5].valeur == 5.5 and early[0].statut == "a_verifier" and early[0].valeur_brute == "-"


def test_case_b10_null_markers_get_a_status_and_dash_is_never_zero():
    expected = json.loads((CASES / "B10" / "expected.json").read_text())
    table = read_tables(CASES / "B10" / "input.csv")[0]
    parsed = [parse_indicator_value(v) for v in _column(table, "valeur")]
    assert [p.valeur for p in parsed] == expected["valeur"]
    assert [p.statut for p in parsed] == expected["statut"]
    dash = parsed[2]
    assert (dash.valeur_brute, dash.statut, dash.valeur, dash.valeur_min, dash.valeur_max) == (
        "-",
        "a_verifier",
        None,
        None,
        None,
    )


def test_case_b23_bounds_and_trends_fill_the_contract_columns():
    expected = json.loads((CASES / "B23" / "expected.json").read_text())["parsed"]
    table = read_tables(CASES / "B23" / "input.csv")[0]
    cells = _column(table, "valeur")
    assert len(cells) == len(expected) == 7
    for cell, wanted in zip(cells, expected, strict=True):
        parsed = parse_indicator_value(cell)
        got = {key: getattr(parsed, key) for key in wanted}
        assert got == wanted, cell


@pytest.mark.parametrize(
    ("text", "statut", "valeur", "valeur_min", "valeur_max", "comparateur", "sens"),
    [
        ("5,1", "ok", 5.1, None, None, "=", None),
        ("13.7", "ok", 13.7, None, None, "=", None),
        ("12,6*", "ok", 12.6, None, None, "=", None),
        ("0 (a)", "ok", 0.0, None, None, "=", None),
        ("1 070 487*", "ok", 1070487.0, None, None, "=", None),
        ("21\u00a0883 082", "ok", 21883082.0, None, None, "=", None),
        ("600\u202f570", "ok", 600570.0, None, None, "=", None),
        ("1.299,99", "ok", 1299.99, None, None, "=", None),
        ("- 6 474,95", "ok", -6474.95, None, None, "=", None),
        ("93,91\u00a0%", "ok", 93.91, None, None, "=", None),
        ("0,91p", "ok", 0.91, None, None, "=", None),
        ("6,9 (génération 2017)", "ok", 6.9, None, None, "=", None),
        ("84,5 (± 2,6)", "ok", 84.5, None, None, "=", None),
        ("<=450", "borne", None, None, 450.0, "<=", None),
        ("≥ 95", "borne", None, 95.0, None, ">=", None),
        ("⩾30", "borne", None, 30.0, None, ">=", None),
        ("> à 99", "borne", None, 99.0, None, ">", None),
        ("supérieur ou égal à 15", "borne", None, 15.0, None, ">=", None),
        ("≤ 0,90 (*)", "borne", None, None, 0.9, "<=", None),
        ("404-412", "intervalle", None, 404.0, 412.0, None, None),
        ("2 à 4,5", "intervalle", None, 2.0, 4.5, None, None),
        ("Entre 1,8 et 2.0", "intervalle", None, 1.8, 2.0, None, None),
        ("↘", "tendance", None, None, None, None, "baisse"),
        ("En hausse", "tendance", None, None, None, None, "hausse"),
        ("Sans objet", "sans_objet", None, None, None, None, None),
        ("s.o", "sans_objet", None, None, None, None, None),
        ("Non déterminé", "non_determine", None, None, None, None, None),
        ("Non connu", "non_disponible", None, None, None, None, None),
        ("n.c.", "non_communique", None, None, None, None, None),
        ("NC (pas d'enquête en 2017)", "non_communique", None, None, None, None, None),
        ("-", "a_verifier", None, None, None, None, None),
        (None, "vide", None, None, None, None, None),
        # Not one number: kept as text, no number invented.
        (">2017", "non_numerique", None, None, None, None, None),  # "above the 2017 value"
        ("1,04 million", "non_numerique", None, None, None, None, None),
        ("162 (198)", "non_numerique", None, None, None, None, None),
        ("50, 6", "non_numerique", None, None, None, None, None),
        ("~80", "non_numerique", None, None, None, None, None),
        ("9 mois", "non_numerique", None, None, None, None, None),
        ("75/75", "non_numerique", None, None, None, None, None),
        ("2018-05-10T00:00:00", "non_numerique", None, None, None, None, None),
        ("Stabilité", "non_numerique", None, None, None, None, None),
        ("A renseigner le 10 décembre 2018", "non_numerique", None, None, None, None, None),
    ],
)
def test_values_of_the_real_files(text, statut, valeur, valeur_min, valeur_max, comparateur, sens):
    parsed = parse_indicator_value(text)
    assert (parsed.statut, parsed.valeur, parsed.valeur_min, parsed.valeur_max, parsed.comparateur, parsed.sens) == (
        statut,
        valeur,
        valeur_min,
        valeur_max,
        comparateur,
        sens,
    )
    assert parsed.valeur_brute == text


def _distinct_values() -> dict[str, set]:
    """Every distinct value cell of the value columns of both real performance files, read the project's way."""
    found = {}
    for name in PERFORMANCE_FILES:
        table = read_tables(SOURCES / name)[0]
        match = best_performance_family(table.header)
        assert match is not None, name
        found[name] = {row[v.index] for row in table.rows for v in match.values}
    return found


def _numbers_stated(text: str) -> set[float]:
    """The absolute values of the numbers written in ``text`` (an oracle independent of the parser)."""
    plain = re.sub(r"(?<=\d)[ \u00a0\u202f\u2009](?=\d{3}(?!\d))", "", text)
    plain = re.sub(r"(?<=\d)\.(?=\d{3},)", "", plain).replace(",", ".")
    return {abs(float(n)) for n in re.findall(r"\d+(?:\.\d+)?", plain)}


def test_every_distinct_value_of_both_real_files_gets_a_statut_and_no_invented_number():
    values = _distinct_values()
    assert len(values["PLF_2019_PAP.csv"]) > 2000 and len(values["Performance_Depense.csv"]) > 2000
    statuts = set()
    for name, cells in values.items():
        for cell in cells:
            parsed = parse_indicator_value(cell)
            statuts.add(parsed.statut)
            assert parsed.statut in STATUTS, (name, cell)
            assert parsed.valeur_brute == cell
            assert parsed.comparateur is None or parsed.comparateur in COMPARATEURS
            assert parsed.sens is None or parsed.sens in SENS
            numbers = [n for n in (parsed.valeur, parsed.valeur_min, parsed.valeur_max) if n is not None]
            stated = _numbers_stated(cell or "")
            for number in numbers:
                assert abs(number) in stated, (name, cell, number)
                if number < 0:
                    assert "-" in cell or "\u2212" in cell, (name, cell)
            if parsed.statut == "ok":
                assert len(numbers) == 1 and parsed.valeur is not None and parsed.comparateur == "="
            elif parsed.statut in ("borne", "intervalle"):
                assert parsed.valeur is None and len(numbers) == (1 if parsed.statut == "borne" else 2)
            else:
                assert numbers == [], (name, cell)
    # Both files exercise every statut but none: a range of values is enough to show the vocabulary is used.
    assert statuts >= {"ok", "borne", "intervalle", "tendance", "sans_objet", "non_disponible", "vide", "non_numerique"}
    assert "non_determine" in statuts and "a_verifier" in statuts and "non_communique" in statuts


def test_the_oracle_itself_sees_grouped_and_decimal_numbers():
    assert _numbers_stated("1 070 487*") == {1070487.0}
    assert _numbers_stated("404-412") == {404.0, 412.0}
    assert _numbers_stated("12,6*") == {12.6}
