"""Documents whose source is absent from the folder keep their rows (issue 8: a fault never deletes
what users had), and ``--prune`` removes them."""

from __future__ import annotations

import shutil

import duckdb

from tests.conftest import SOURCES, run_build

QUERY = {
    "documents": "SELECT source_id, document, code_programme, texte FROM documents ORDER BY ALL",
    "declarations": "SELECT document, code_programme, grandeur, valeur, debut, fin FROM declarations ORDER BY ALL",
    "rapprochements": "SELECT document, code_programme, exercice, phase, grandeur, statut FROM rapprochements "
    "ORDER BY ALL",
}


def _tables(database) -> dict[str, list[tuple]]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return {name: connection.sql(sql).fetchall() for name, sql in QUERY.items()}


def _statut(database, fichier: str) -> str:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute("SELECT statut FROM sources WHERE fichier = ?", [fichier]).fetchall()[0][0]


def test_documents_of_an_absent_source_are_kept_and_pruned_only_with_prune(tmp_path):
    sources = tmp_path / "sources"
    (sources / "documents").mkdir(parents=True)
    (sources / "2024_PLRG").mkdir()
    for name in ("LFI_2021_Credits.csv", "PLF_2022_Credits_Destination_Nature.csv"):
        shutil.copyfile(SOURCES / name, sources / name)
    text = "documents/RAP_2021_P352_presentation_strategique.txt"
    workbook = "2024_PLRG/MiS_PGM_ACT_SSA.xls"
    for name in (text, workbook):
        shutil.copyfile(SOURCES / name, sources / name)
    out = tmp_path / "out"
    first = run_build(sources, out)
    assert first.returncode == 0, first.stdout + first.stderr
    before = _tables(first.database)
    kinds = {(row[1].split()[0], "commentFP" in row[1]) for row in before["documents"]}
    assert kinds == {("RAP", False), ("RAP", True)}  # the RAP 2021 text and the PLRG 2024 narratives
    assert len(before["declarations"]) > 17 and before["rapprochements"]

    (sources / text).unlink()
    (sources / workbook).unlink()
    second = run_build(sources, out)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "absent from the sources folder" in second.stdout
    assert _tables(second.database) == before
    assert _statut(second.database, text) == "absent"

    pruned = run_build(sources, out, "--prune")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert _tables(pruned.database)["documents"] == []
