"""The performance assets and checks, materialised in-process on the real files."""

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from assets.performance import PERFORMANCE_ASSETS, PERFORMANCE_CHECKS, performance_cell_accounting_balances
from assets.sources import source_files
from pipelines.resources import build_resources
from pipelines.settings import Settings
from tests.conftest import SOURCES
from warehouse.coverage import performance_coverage, performance_files

PAP_2023 = "2020 Réalisation;2021 Réalisation;2022 Cible (PAP 2022);2023 Cible;2024 Cible;2025 Cible"
TABLES = [
    "indicateurs",
    "indicateur_valeurs",
    "indicateur_atteintes_publiees",
    "indicateur_correspondances",
    "unites",
    "indicateur_fichiers",
]


def _materialise(sources: Path, out: Path) -> dg.ExecuteInProcessResult:
    resources = build_resources(Settings(sources_dir=sources, out_dir=out))
    with dg.instance_for_test() as instance:
        return dg.materialize(
            [source_files, *PERFORMANCE_ASSETS, *PERFORMANCE_CHECKS],
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )


def _database(out: Path) -> Path:
    """The database the assets write in process: the working copy (a release is published by the CLI)."""
    return Settings(sources_dir=None, out_dir=out).database


def _checks(result) -> dict[str, tuple[bool, str, dict]]:
    return {
        e.check_name: (e.passed, e.severity.value, {k: v.value for k, v in e.metadata.items()})
        for e in result.get_asset_check_evaluations()
    }


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    out = tmp_path_factory.mktemp("performance")
    result = _materialise(SOURCES, out)
    assert result.success
    return result, _database(out)


def test_every_table_is_materialised_with_row_count_and_column_schema(build):
    result, database = build
    materialised = {
        m.asset_key.path[-1]: m for m in result.get_asset_materialization_events() if m.asset_key.path[0] == "core"
    }
    assert set(materialised) == {*TABLES, "indicateur_atteinte"}
    with duckdb.connect(str(database), read_only=True) as connection:
        for table in [*TABLES, "indicateur_atteinte"]:
            metadata = materialised[table].materialization.metadata
            rows = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            assert metadata["dagster/row_count"].value == rows > 0, table
            assert metadata["dagster/column_schema"].value.columns, table
    columns = {
        c.name: c
        for c in materialised["indicateur_valeurs"].materialization.metadata["dagster/column_schema"].value.columns
    }
    assert "valeur_brute" in columns and columns["statut"].description


def test_checks_pass_and_the_published_attainment_disagreements_are_listed(build):
    result, _ = build
    checks = _checks(result)
    assert len(checks) == sum(len(step.check_keys) for step in PERFORMANCE_CHECKS) == 8
    for name, (passed, severity, _) in checks.items():
        if severity == "ERROR":
            assert passed, name
    # The published attainments that disagree with the computed ones: rows of `ecarts_sources`
    # (rule `atteinte_publiee`, tests/test_findings.py), read here from the view they come from.
    _, database = build
    with duckdb.connect(str(database), read_only=True) as connection:
        disagreements = connection.execute(
            "SELECT code_sous_indicateur, realisation_brute FROM indicateur_atteinte WHERE NOT concorde ORDER BY 1"
        ).fetchall()
    assert [code for code, _ in disagreements] == ["23562", "30421"]


def test_the_352_facts_in_duckdb(build):
    _, database = build
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute(
            """
            SELECT annee, type_valeur, valeur, statut, valeur_brute FROM indicateur_valeurs
            WHERE document = 'RAP 2024' AND code_programme = '352' AND code_sous_indicateur = '30157'
            ORDER BY type_valeur, annee
            """
        ).fetchall()
        assert rows == [
            (2024, "cible", 7.0, "ok", "7"),
            (2025, "cible", 5.0, "ok", "5"),
            (2022, "realisation", 6.0, "ok", "6"),
            (2023, "realisation", 6.0, "ok", "6"),
            (2024, "realisation", 7.0, "ok", "7"),
        ]
        unit = connection.execute("SELECT unite FROM indicateurs WHERE code_sous_indicateur = '30157'").fetchall()
        assert unit == [("Nb",)]
        women = connection.execute(
            """
            SELECT annee, valeur, statut FROM indicateur_valeurs
            WHERE code_sous_indicateur = '30462' AND type_valeur = 'realisation' ORDER BY annee
            """
        ).fetchall()
        assert women == [(2022, 45.0, "ok"), (2023, None, "sans_objet"), (2024, 17.4, "ok")]
        attainment = connection.execute(
            """
            SELECT realisation, cible, atteinte_calculee, atteinte_publiee, concorde FROM indicateur_atteinte
            WHERE document = 'RAP 2024' AND code_sous_indicateur = '30157' AND annee = 2024
            """
        ).fetchall()
        assert attainment == [(7.0, 7.0, "atteinte", "cible atteinte", True)]
        women_2024 = connection.execute(
            "SELECT atteinte_calculee, atteinte_publiee, concorde FROM indicateur_atteinte "
            "WHERE code_sous_indicateur = '30462' AND annee = 2024"
        ).fetchall()
        assert women_2024 == [("non_atteinte", "absence amélioration", True)]
        files = connection.execute(
            "SELECT fichier, document, statut, lignes, lignes_retenues, lignes_ecartees "
            "FROM indicateur_fichiers ORDER BY 1"
        ).fetchall()
        assert files == [
            ("PLF_2019_PAP.csv", "PAP 2019", "lu", 1965, 1930, 35),
            ("Performance_Depense.csv", "RAP 2024", "lu", 2177, 2177, 0),
        ]


def test_a_file_that_cannot_be_read_keeps_its_last_good_rows(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    for name in ("PLF_2019_PAP.csv", "Performance_Depense.csv"):
        shutil.copyfile(SOURCES / name, good / name)
    shutil.copyfile(SOURCES / "Performance_Depense.csv", bad / "Performance_Depense.csv")
    text = (SOURCES / "PLF_2019_PAP.csv").read_text(encoding="utf-8-sig")
    (bad / "PLF_2019_PAP.csv").write_text(text.replace("P129.1.2", "indicateur deux", 1), encoding="utf-8")
    out = tmp_path / "out"
    assert _materialise(good, out).success
    database = _database(out)
    with duckdb.connect(str(database), read_only=True) as connection:
        before = connection.execute("SELECT count(*) FROM indicateur_valeurs WHERE document = 'PAP 2019'").fetchone()
    result = _materialise(bad, out)
    checks = _checks(result)
    assert checks["every_performance_file_readable"][0] is False
    assert (
        "PLF_2019_PAP.csv, ligne 1, colonne 'Numéro indicateur'"
        in checks["every_performance_file_readable"][2]["detail"]
    )
    with duckdb.connect(str(database), read_only=True) as connection:
        after = connection.execute("SELECT count(*) FROM indicateur_valeurs WHERE document = 'PAP 2019'").fetchone()
        statut = connection.execute(
            "SELECT statut FROM indicateur_fichiers WHERE fichier = 'PLF_2019_PAP.csv'"
        ).fetchone()
        coverage = performance_coverage(performance_files(connection))
    assert after == before == (11580,)
    assert statut == ("erreur",)
    # Its document is still held, from a source in error: `couverture` says so (the row was dropped).
    assert coverage.select("document", "source_autoritaire", "lignes", "statut").rows() == [
        ("PAP 2019", "fichier-plf-2019-pap", 11580, "en_erreur"),
        ("RAP 2024", "fichier-performance-depense", 10885, "present"),
    ]


@pytest.mark.parametrize("line", [50, 1000], ids=["in its head", "past its head"])
def test_a_pap_csv_refused_after_its_head_was_recognised_keeps_its_family(line, tmp_path):
    # A tester's find: a PAP CSV whose head was recognised (performance_pap) and whose whole read was refused (a
    # quote opening a field and not closed as a field ends, in its head or past it) had `famille = 'inconnue'` in
    # `indicateur_fichiers`: recognise_performance dropped the family it had matched when the whole read raised
    # (the inventory never holds a performance family: `item.famille` is None for every performance file).
    sources = tmp_path / "sources"
    sources.mkdir()
    lines = (SOURCES / "PLF_2019_PAP.csv").read_text(encoding="utf-8-sig").split("\n")
    lines[line] = lines[line].replace(";", ';"', 1)
    (sources / "PLF_2019_PAP.csv").write_text("\n".join(lines), encoding="utf-8")
    out = tmp_path / "out"
    result = _materialise(sources, out)
    detail = _checks(result)["every_performance_file_readable"][2]["detail"]
    assert f"PLF_2019_PAP.csv: line {line + 1} of the file, column 'Mission'" in detail, detail
    with duckdb.connect(str(_database(out)), read_only=True) as connection:
        rows = connection.execute("SELECT fichier, famille, statut FROM indicateur_fichiers").fetchall()
    assert rows == [("PLF_2019_PAP.csv", "performance_pap", "erreur")]


def test_the_cell_accounting_check_fails_when_a_loaded_value_is_missing(build, tmp_path):
    _, database = build
    copy = tmp_path / "budget.duckdb"
    shutil.copyfile(database, copy)
    resource = DuckDBResource(database=str(copy))
    assert performance_cell_accounting_balances(duckdb=resource).passed
    with duckdb.connect(str(copy)) as connection:
        connection.execute(
            "DELETE FROM indicateur_valeurs WHERE code_sous_indicateur = '30157' AND annee = 2022 "
            "AND type_valeur = 'realisation'"
        )
    result = performance_cell_accounting_balances(duckdb=resource)
    assert (result.passed, result.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert result.metadata["lignes_en_defaut"].value == 1
    assert "Performance_Depense.csv" in result.metadata["detail"].value


def test_a_pap_layout_file_and_an_unknown_column_end_to_end(tmp_path):
    """The RAP 2024 rows under PAP 2023 columns load as `PAP 2023`; a file with `2026 Estimation` is in error."""
    sources = tmp_path / "sources"
    (sources / "a").mkdir(parents=True)
    (sources / "b").mkdir()
    text = (SOURCES / "Performance_Depense.csv").read_text(encoding="utf-8-sig")
    header, rest = text.split("\n", 1)
    pap = header.replace("Exec 2022;Exec 2023;2024 Cible;Exec 2024;Atteinte de la cible 2024;2025 Cible", PAP_2023)
    assert pap != header
    (sources / "a" / "Performance_Depense.csv").write_text(pap + "\n" + rest, encoding="utf-8")
    (sources / "b" / "Performance_Depense.csv").write_text(
        header.replace("2025 Cible", "2026 Estimation") + "\n" + rest, encoding="utf-8"
    )
    out = tmp_path / "out"
    checks = _checks(_materialise(sources, out))
    passed, _, metadata = checks["every_performance_file_readable"]
    assert not passed and "b/Performance_Depense.csv: column(s) '2026 Estimation' mapped neither" in metadata["detail"]
    assert checks["performance_cell_accounting_balances"][0] is True
    with duckdb.connect(str(_database(out)), read_only=True) as connection:
        files = connection.execute(
            "SELECT fichier, document, type_document, millesime, statut, cellules_lues, valeurs_chargees, "
            "cellules_ecartees FROM indicateur_fichiers ORDER BY fichier"
        ).fetchall()
        documents = connection.execute("SELECT DISTINCT document FROM indicateur_valeurs").fetchall()
    assert files == [
        ("a/Performance_Depense.csv", "PAP 2023", "PAP", 2023, "lu", 2177 * 6, 2177 * 6, 0),
        ("b/Performance_Depense.csv", None, None, None, "erreur", None, None, None),
    ]
    assert documents == [("PAP 2023",)]
