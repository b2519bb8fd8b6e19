"""The rules of ``ecarts_sources``, the rows of ``couverture`` and the mojibake check, on frames
and reports built here (issue 7, items 6, 10, 11)."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import polars as pl

from schemas.couverture import CouvertureModel
from schemas.ecarts import EcartsModel
from schemas.validation import validate
from warehouse.coverage import credit_coverage, grid_lines, performance_coverage
from warehouse.credits.staging import SourceReport
from warehouse.disagreements import RULES, Evidence, collect, total_publie
from warehouse.reading.mojibake import mojibake_labels


def _report(controle_totaux: list) -> SourceReport:
    return SourceReport(
        source_id="lfi-2022",
        fichier="LFI_2022_Credits.csv",
        statut="lu",
        exercice=2022,
        controle_totaux=controle_totaux,
    )


def test_total_publie_reads_the_line_reports_format():
    """``SourceReport.controle_totaux``: one dict per mismatch (ligne, libelle, colonne, attendu, trouve)."""
    report = _report(
        [
            {
                "ligne": 2405,
                "libelle": "Total général",
                "colonne": "ae",
                "attendu": "3243144901.00",
                "trouve": "3243144900.00",
            },
            {"ligne": 17, "libelle": "Sous-total 124", "colonne": "cp", "attendu": "10.50", "trouve": "11.00"},
        ]
    )
    with duckdb.connect() as connection:
        rows = validate(EcartsModel, total_publie(Evidence(connection=connection, reports=[report])))
    assert rows.select("regle", "exercice", "cle", "valeur_attendue", "valeur_trouvee", "ecart").rows() == [
        ("total_publie", 2022, "ligne 2405 Total général/ae", "3243144901.00", "3243144900.00", Decimal("-1.00")),
        ("total_publie", 2022, "ligne 17 Sous-total 124/cp", "10.50", "11.00", Decimal("0.50")),
    ]
    assert set(rows["source_attendue"]) == set(rows["source_trouvee"]) == {"lfi-2022"}


def test_rules_on_an_empty_warehouse_give_no_row_and_one_more_rule_is_one_line():
    with duckdb.connect() as connection:
        evidence = Evidence(connection=connection, reports=[_report([])])
        assert collect(evidence).is_empty()
        extra = {**RULES, "discorde": lambda e: pl.DataFrame({"cle": ["352/ae"], "ecart": [Decimal("5.00")]})}
        rows = validate(EcartsModel, collect(evidence, extra))
    assert rows.select("regle", "cle", "ecart").rows() == [("discorde", "352/ae", Decimal("5.00"))]


def _staged(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "exercice": pl.Int16,
            "phase": pl.String,
            "type_budget": pl.String,
            "source_id": pl.String,
            "role": pl.String,
            "repris": pl.Boolean,
        },
        orient="row",
    )


def test_credit_coverage_rows():
    lines = _staged(
        [
            (2019, "PLF", "BG", "plf-2019-bg", "A", False),
            (2019, "PLF", "BG", "plf-2019-bg-dest", "W", False),
            (2019, "PLF", "BA", "plf-2019-ba", "A", False),
            (2021, "PLF", "BG", "plf-2021", "A", True),  # its file failed: last good lines carried over
            (2021, "LFI", "BG", "x", None, False),  # a tie: no authority
            (2021, "LFI", "BG", "y", None, False),
        ]
    )
    loaded = pl.DataFrame(
        {"exercice": [2019, 2019, 2021], "phase": ["PLF", "PLF", "PLF"], "type_budget": ["BG", "BA", "BG"]}
    ).with_columns(lignes=pl.Series([10, 3, 7]))
    rows = validate(CouvertureModel, credit_coverage(lines, loaded))
    got = {(r["exercice"], r["phase"], r["type_budget"]): r for r in rows.iter_rows(named=True)}
    assert set(got) == {
        (2019, "PLF", "BA"),
        (2019, "PLF", "BG"),
        (2020, "PLF", "BA"),
        (2020, "PLF", "BG"),
        (2021, "PLF", "BA"),
        (2021, "PLF", "BG"),
        (2021, "LFI", "BA"),
        (2021, "LFI", "BG"),
    }
    assert got[(2019, "PLF", "BG")] == {
        "domaine": "credits",
        "exercice": 2019,
        "phase": "PLF",
        "document": None,
        "type_budget": "BG",
        "source_autoritaire": "plf-2019-bg",
        "temoins": ["plf-2019-bg-dest"],
        "lignes": 10,
        "statut": "present",
    }
    assert got[(2020, "PLF", "BG")]["statut"] == "absent" and got[(2020, "PLF", "BG")]["lignes"] == 0
    assert got[(2021, "PLF", "BG")]["statut"] == "en_erreur"
    assert (got[(2021, "LFI", "BG")]["statut"], got[(2021, "LFI", "BG")]["source_autoritaire"]) == ("en_erreur", None)
    assert got[(2021, "LFI", "BA")]["statut"] == "absent"
    grid = "\n".join(grid_lines(rows))
    assert "    PLF BG        X    .    !" in grid
    assert all(len(line) < 100 for line in grid.splitlines())


def test_performance_coverage_gaps_inside_a_series_only():
    files = pl.DataFrame(
        {
            "document": ["RAP 2021", "RAP 2024", "PAP 2019", "RAP 2024"],
            "source_id": ["rap-2021", "rap-2024", "pap-2019", "rap-2024-bis"],
            "statut": ["lu", "lu", "lu", "erreur"],
            "lignes": [5, 7, 3, 7],
        }
    )
    rows = validate(CouvertureModel, performance_coverage(files))
    assert rows.select("document", "statut", "source_autoritaire", "temoins", "lignes").rows() == [
        ("PAP 2019", "present", "pap-2019", [], 3),
        ("RAP 2021", "present", "rap-2021", [], 5),
        ("RAP 2022", "absent", None, [], 0),
        ("RAP 2023", "absent", None, [], 0),
        ("RAP 2024", "en_erreur", "rap-2024", ["rap-2024-bis"], 7),
    ]
    alone = performance_coverage(files.filter(pl.col("source_id").is_in(["rap-2024", "pap-2019"])))
    assert alone["statut"].to_list() == ["present", "present"]  # PAP 2019 and RAP 2024: no gap


def test_mojibake_is_found_in_every_label_column():
    with duckdb.connect() as connection:
        connection.execute(
            "CREATE TABLE actions (code_action VARCHAR, libelle_action VARCHAR);"
            "INSERT INTO actions VALUES ('01', 'Ã‰quipe d’intervention'), ('02', 'Équipe'), ('03', 'lâ€™État');"
            "CREATE TABLE indicateurs (unite VARCHAR, libelle_indicateur VARCHAR);"
            "INSERT INTO indicateurs VALUES ('%', 'Taux de rÃ©ussite'), ('€', 'Coût moyen'), ('nombre', 'Total Â ');"
        )
        found = mojibake_labels(connection)
    assert found.rows() == [
        ("actions", "libelle_action", "lâ€™État", 1),
        ("actions", "libelle_action", "Ã‰quipe d’intervention", 1),
        ("indicateurs", "libelle_indicateur", "Taux de rÃ©ussite", 1),
        ("indicateurs", "libelle_indicateur", "Total Â ", 1),
    ]
