"""Fault cases read through the credit line reader (cases B07, B19, B28, B30, B35, B36, B38).

The cases' column names are generic: a column map for them (a family, as data)
maps them to the warehouse's fields, as a new vintage's map would.
"""

import json
import re
import shutil
from dataclasses import replace
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from schemas.families import Family, match_family
from tests.conftest import CASES, run_build
from warehouse.credits.files import SourceReadError, read_credit_table
from warehouse.reading.tables import read_tables
from warehouse.sources import discover_sources, recognise

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


# -- cases shaped as credit files, through recognition and the reader (issue 7, items 4, 5, 8) -----

CREDIT_CASES = ["B28", "B35", "B36", "B38"]


def _recognised(folder):
    (source,) = [s for s in discover_sources(folder) if s.fichier.endswith(".csv")]
    found = recognise(source)
    assert found.famille == "credits_codes"
    return found


def _read_recognised(folder):
    found = _recognised(folder)
    return read_credit_table(found.table, found.match, found.source.source_id, found.exercice_hint)


def _rows(lines: pl.DataFrame) -> list[list[str]]:
    columns = ["exercice", "phase", "code_programme", "code_action", "code_categorie", "ae", "cp"]
    return [[str(v) for v in row] for row in lines.select(columns).rows()]


@pytest.mark.parametrize("case", CREDIT_CASES)
def test_credit_case_through_the_reader(case):
    expected = json.loads((CASES / case / "expected.json").read_text())
    read = _read_recognised(CASES / case)
    assert _rows(read.lines) == expected["rows"]
    assert read.set_aside == expected.get("set_aside", {})
    assert read.data_rows == read.kept + sum(read.set_aside.values())
    assert read.totaux_publies == []


def test_case_b28_totals_are_checked_against_their_detail_lines():
    expected = json.loads((CASES / "B28" / "expected.json").read_text())
    read = _read_recognised(CASES / "B28")
    for column, total in expected["total_checks"].items():
        assert read.lines[column].sum() == Decimal(total)
    # The same file with its `Sous-total` wrong by one euro: reported, naming the line.
    found = _recognised(CASES / "B28")
    rows = [list(r) for r in found.table.rows]
    rows[2][10] = "4001"
    read = read_credit_table(replace(found.table, rows=rows), found.match, "b28", None)
    assert read.totaux_publies == [
        {"ligne": 3, "libelle": "Sous-total", "colonne": "ae", "attendu": "4001.00", "trouve": "4000.00"}
    ]


def test_case_b30_scientific_notation_names_line_and_column():
    with pytest.raises(SourceReadError) as error:
        _read_recognised(CASES / "B30")
    assert (error.value.ligne, error.value.colonne) == (1, "ae")
    assert "scientific notation '1,23457E+11'" in error.value.message
    assert "123457000000" not in str(error.value)


HEADER = "exercice;loi;typeBudget;ministere;mission;programme;action;sous-action;categorie;titre;ae;cp\n"


def _own(tmp_path, body: str, name: str = "PLF_2023_own.csv"):
    folder = tmp_path / name.removesuffix(".csv")
    folder.mkdir()
    (folder / name).write_text(HEADER + body, encoding="utf-8")
    return _recognised(folder)


def _read_found(found):
    return read_credit_table(found.table, found.match, found.source.source_id, found.exercice_hint)


def test_own_ministry_subtotal_wrong_by_one_euro(tmp_path):
    found = _own(
        tmp_path,
        "2023;PLF;BG;50;TR;352;352-01;;31;3;1 000;2 000\n"
        "2023;PLF;BG;50;TR;352;352-02;;21;2;3 000;3 000\n"
        "Total Ministère 50;;;;;;;;;;4 001;5 000\n"
        "2023;PLF;BG;07;RD;101;101-01;;31;3;500;500\n"
        "Total Ministère 07;;;;;;;;;;500;500\n"
        "Total général;;;;;;;;;;4 500;5 500\n"
        "(vide);;;;;;;;;;;\n"
        "Source : fichier de test\n",
    )
    read = _read_found(found)
    assert read.kept == 3 and read.set_aside == {"total": 3, "vide": 1, "note": 1}
    assert read.data_rows == 8 == read.kept + sum(read.set_aside.values())
    assert read.totaux_publies == [
        {"ligne": 3, "libelle": "Total Ministère 50", "colonne": "ae", "attendu": "4001.00", "trouve": "4000.00"}
    ]


def test_own_concatenated_export_and_spreadsheet_codes(tmp_path):
    found = _own(
        tmp_path,
        '2023;PLF;BG;="50";TR;\'352;;\'0101;="31";3;1.234.567;12.500\n'
        + HEADER
        + "\n"
        + "2023;PLF;BG;50;TR;352;352-02;;21;2;(1.000);3.000-\n",
    )
    read = _read_found(found)
    assert read.set_aside == {"en_tete_repete": 1, "vide": 1}
    rows = read.lines.select("code_programme", "code_action", "code_sous_action", "code_categorie", "ae", "cp")
    assert rows.rows() == [
        ("352", "01", "01", "31", Decimal("1234567.00"), Decimal("12500.00")),
        ("352", "02", None, "21", Decimal("-1000.00"), Decimal("-3000.00")),
    ]


def test_own_bad_code_and_ambiguous_column_are_errors_naming_the_cell(tmp_path):
    found = _own(tmp_path, "2023;PLF;BG;50;TR;352;352-01;;31;3;1000;2000\n2023;PLF;BG;50;TR;35X;352-02;;21;2;1;2\n")
    with pytest.raises(SourceReadError) as error:
        _read_found(found)
    assert (error.value.ligne, error.value.colonne) == (2, "programme")
    found = _own(
        tmp_path,
        "2023;PLF;BG;50;TR;352;352-01;;31;3;1.000;2.000\n2023;PLF;BG;50;TR;352;352-02;;21;2;3.500;1\n",
        name="PLF_2023_ambigu.csv",
    )
    with pytest.raises(SourceReadError, match="ambiguous separator") as error:
        _read_found(found)
    assert error.value.colonne == "ae" and error.value.ligne is None


def test_irregular_rows_are_errors_unless_the_family_sets_them_aside(tmp_path):
    found = _own(tmp_path, "2023;PLF;BG;50;TR;352;352-01;;31;3;1000;2000\n2023;PLF;BG;50;TR;352;352-02;;21;2;3;3\n")
    table = replace(found.table, lignes_irregulieres=[(2, 13)], lignes_preambule=2)
    with pytest.raises(SourceReadError, match="13 field") as error:
        read_credit_table(table, found.match, "x", None)
    assert error.value.ligne == 2
    family = replace(found.match.family, sets_aside_irregular_rows=True)
    read = read_credit_table(table, match_family(family, table.header), "x", None)
    assert read.kept == 1 and read.set_aside == {"irreguliere": 1, "preambule": 2}
    assert read.data_rows == 4 == read.kept + sum(read.set_aside.values())


# -- each case alone, built end to end ------------------------------------------------------------


def _built(case, tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    for path in (CASES / case).glob("*.csv"):
        shutil.copy(path, sources)
    return run_build(sources, tmp_path / "out")


def _sources_row(build, fichier):
    with duckdb.connect(str(build.database), read_only=True) as db:
        return db.execute(
            "SELECT statut, lignes, lignes_retenues, lignes_ecartees, lignes_preambule, lignes_recodees, encodage "
            "FROM sources WHERE fichier = ?",
            [fichier],
        ).fetchone()


@pytest.mark.parametrize("case", [*CREDIT_CASES, "B27", "B39"])
def test_credit_case_built_alone(case, tmp_path):
    expected = json.loads((CASES / case / "expected.json").read_text())
    build = _built(case, tmp_path)
    # Exit 0 without any nomenclature file: its codes unknown to a nomenclature are WARN rows of
    # `ecarts_sources` (rule `code_inconnu`), never a failed build.
    assert build.returncode == 0, build.stdout + build.stderr
    assert "not loaded" not in build.stdout + build.stderr
    with duckdb.connect(str(build.database), read_only=True) as db:
        rows = db.sql(
            "SELECT exercice, phase, code_programme, code_action, code_categorie, ae, cp FROM credits ORDER BY ALL"
        ).fetchall()
        unknown = db.sql("SELECT DISTINCT cle FROM ecarts_sources WHERE regle = 'code_inconnu' ORDER BY 1").fetchall()
    assert [[str(v) for v in row] for row in rows] == expected["rows"]
    assert ("categorie 31",) in unknown  # no nomenclature file labels the catégories
    statut, lignes, retenues, ecartees, preambule, recodees, _ = _sources_row(build, "PLF_2023_credits.csv")
    assert (statut, recodees) == ("lu", 0)
    assert lignes == retenues + ecartees
    # B27's `sep=;` and B39's blank first line are the preamble, counted; the other cases have none.
    assert preambule == {"B27": 1, "B39": 1}.get(case, 0)


def test_case_b31_built_alone_one_line_recoded(tmp_path):
    expected = json.loads((CASES / "B31" / "expected.json").read_text())["files"]["LFI_2023_credits.csv"]
    build = _built("B31", tmp_path)
    assert build.returncode == 0, build.stdout + build.stderr
    with duckdb.connect(str(build.database), read_only=True) as db:
        label = db.execute(
            "SELECT libelle_action FROM actions WHERE exercice = 2023 AND code_programme = '352' AND code_action = '02'"
        ).fetchone()
        lines = db.execute("SELECT count(DISTINCT source_ligne) FROM credits").fetchone()
    assert label == (expected["libelle_action_02"],) == ("Équipe d’intervention",)
    assert lines == (expected["rows"],)
    statut, lignes, retenues, _, preambule, recodees, encodage = _sources_row(build, "LFI_2023_credits.csv")
    assert (statut, lignes, retenues, preambule, recodees) == ("lu", 2, 2, 0, 1)
    assert encodage.startswith("utf-8")


def test_case_b30_built_alone_fails_naming_line_and_column(tmp_path):
    build = _built("B30", tmp_path)
    assert build.returncode != 0
    assert "PLF_2023_credits.csv, ligne 1, colonne 'ae': scientific notation" in build.stdout + build.stderr


B22_FAMILY = Family(
    id="cas_b22",
    description="the columns of case B22: Ministère;Programme;Titre;AE;CP",
    columns={
        "libelle_ministere": re.compile("ministere"),
        "code_programme": re.compile("programme"),
        "code_titre": re.compile("titre"),
    },
    amounts=(re.compile("(?P<grandeur>ae|cp)"),),
    required=("code_programme", "ae", "cp"),
    authority={"PLF": 1},
    phase="PLF",
)


def _b22_table(tmp_path):
    """B22 past its 3 preamble lines (finding them is the table reader's part), counted as such."""
    text = (CASES / "B22" / "input.csv").read_bytes().decode("cp1252")
    body = "".join(text.splitlines(keepends=True)[3:])
    path = tmp_path / "b22.csv"
    path.write_text(body, encoding="utf-8")
    return replace(read_tables(path)[0], lignes_preambule=3)


def test_case_b22_ministry_subtotals_are_set_aside_and_checked(tmp_path):
    expected = json.loads((CASES / "B22" / "expected.json").read_text())
    table = _b22_table(tmp_path)
    read = read_credit_table(table, match_family(B22_FAMILY, table.header), "b22", 2018)
    assert read.kept == expected["detail_rows"]
    assert read.set_aside == {"total": expected["subtotal_rows"], "preambule": expected["skip_preamble_lines"]}
    assert read.data_rows == read.kept + sum(read.set_aside.values())
    assert read.totaux_publies == []
    for ministere, sums in expected["checks"].items():
        lines = read.lines.filter(pl.col("libelle_ministere") == ministere)
        assert (lines["ae"].sum(), lines["cp"].sum()) == (Decimal(sums["ae"]), Decimal(sums["cp"]))
    # Ministère B's subtotal one euro off: reported, naming its line; Ministère A's still checks out.
    table = replace(table, rows=[[*r[:3], "250 001", r[4]] if r[0] == "Total Ministère B" else r for r in table.rows])
    read = read_credit_table(table, match_family(B22_FAMILY, table.header), "b22", 2018)
    assert read.totaux_publies == [
        {"ligne": 5, "libelle": "Total Ministère B", "colonne": "AE", "attendu": "250001.00", "trouve": "250000.00"}
    ]
