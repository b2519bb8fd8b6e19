"""Source ids across builds (README, "What happens with bad input", and the `sources` table): real builds of
copies of real files of the snapshot, then rebuilds into the same output folder.

Found by wave 17's adversarial tester: a new file whose name differed from a file already read only by punctuation
took over its id (``-`` sorts before ``_``); an uncatalogued credit file renamed and changed together tied with its
absent self, exit 1."""

from __future__ import annotations

import duckdb
import pytest

from tests.conftest import SOURCES, run_build, sources_with
from tests.workbook_files import Sheet, write_xlsx

NOMENCLATURE = "LFI_2020_Nomenclature.csv"


def _rows(database, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def _lfi_2020_workbook(path) -> None:
    """The real LFI 2020 credit file's lines as an ``.xlsx`` (unknown to the catalogue: another name, other bytes)."""
    lines = (SOURCES / "LFI_2020_Credits.csv").read_bytes().decode("cp1252").splitlines()
    write_xlsx(path, [Sheet("Credits", [line.split(";") for line in lines if line])])


@pytest.mark.parametrize("new", ["changed", "empty"])
def test_a_new_file_whose_name_differs_only_by_punctuation_never_takes_the_id_of_a_file_read(tmp_path, new):
    sources = sources_with(tmp_path / "sources", NOMENCLATURE)
    _lfi_2020_workbook(sources / "LFI_2020_Credits.xlsx")
    out = tmp_path / "out"
    first = run_build(sources, out)
    assert first.returncode == 0, first.stdout + first.stderr
    query = "SELECT source_id, fichier, statut FROM sources WHERE fichier LIKE 'LFI%Credits%' ORDER BY fichier"
    assert _rows(out / "budget.duckdb", query) == [("fichier-lfi-2020-credits", "LFI_2020_Credits.xlsx", "lu")]
    lfi = _rows(out / "budget.duckdb", "SELECT count(*), sum(ae) FROM credits WHERE phase = 'LFI'")

    plf = (SOURCES / "PLF_2020_Credits.csv").read_bytes()
    changed = plf.replace(b";460 459;456 300;", b";460 460;456 300;", 1)  # a new PLF 2020 file: one amount changed
    assert changed != plf
    (sources / "LFI-2020-Credits.csv").write_bytes(changed if new == "changed" else b"")  # sorts before the xlsx
    second = run_build(sources, out)
    rows = _rows(out / "budget.duckdb", query)
    assert [r[:2] for r in rows] == [
        ("fichier-lfi-2020-credits-csv", "LFI-2020-Credits.csv"),  # a new id of its own
        ("fichier-lfi-2020-credits", "LFI_2020_Credits.xlsx"),  # the file already read keeps its id
    ]
    assert _rows(out / "budget.duckdb", "SELECT count(*) FROM sources WHERE fichier = 'LFI_2020_Credits.xlsx'") == [
        (1,)
    ]
    assert "holds PLF 2020 where" not in second.stdout
    assert rows[1][2] == "lu"  # unchanged, still read
    assert _rows(out / "budget.duckdb", "SELECT count(*), sum(ae) FROM credits WHERE phase = 'LFI'") == lfi
    plf_rows = _rows(out / "budget.duckdb", "SELECT count(*) FROM credits WHERE phase = 'PLF'")[0][0]
    if new == "changed":
        assert second.returncode == 0, second.stdout + second.stderr
        assert rows[0][2] == "lu"
        assert plf_rows > 0
    else:  # an empty file named as a credit file: a source in error of its own, nothing else touched
        assert second.returncode == 1, second.stdout + second.stderr
        assert rows[0][2] == "erreur"
        assert plf_rows == 0


def test_an_uncatalogued_credit_file_renamed_and_changed_together_replaces_its_absent_self(tmp_path):
    sources = sources_with(tmp_path / "sources", NOMENCLATURE)
    lfi = (SOURCES / "LFI_2020_Credits.csv").read_bytes()
    first_bytes = lfi.replace(b";31;3;50 000;50 000", b";31;3;50 001;50 000", 1)  # not the catalogue's bytes
    assert first_bytes != lfi
    (sources / "credits_export.csv").write_bytes(first_bytes)
    out = tmp_path / "out"
    first = run_build(sources, out)
    assert first.returncode == 0, first.stdout + first.stderr
    total = "SELECT source_id, count(*), sum(ae) FROM credits GROUP BY ALL ORDER BY ALL"
    ((_, lines, ae),) = _rows(out / "budget.duckdb", total)

    (sources / "credits_export.csv").unlink()
    (sources / "credits_export_v2.csv").write_bytes(first_bytes.replace(b";31;3;50 001;", b";31;3;50 101;", 1))
    second = run_build(sources, out)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "as authoritative as" not in second.stdout
    assert _rows(out / "budget.duckdb", total) == [("fichier-credits-export-v2", lines, ae + 100)]
    query = "SELECT fichier, statut, message FROM sources WHERE fichier LIKE 'credits_export%' ORDER BY fichier"
    (old, new) = _rows(out / "budget.duckdb", query)
    assert old[:2] == ("credits_export.csv", "absent") and new[:2] == ("credits_export_v2.csv", "lu")
    assert "replaced by credits_export_v2.csv for 2020 LFI BA, 2020 LFI BG, 2020 LFI CAS, 2020 LFI CCF" in old[2]
    assert _rows(out / "budget.duckdb", "SELECT count(*) FROM ecarts_sources") == [(0,)]  # not a witness either

    pruned = run_build(sources, out, "--prune")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert _rows(out / "budget.duckdb", total) == [("fichier-credits-export-v2", lines, ae + 100)]


def test_a_new_file_whose_path_folds_to_an_absent_files_id_is_another_source(tmp_path):
    # An adversarial tester's find (wave 17): `a/c.csv` (an uncatalogued LFI 2020 file, BG, BA, CAS, CCF) removed and
    # `a-c.csv` holding its BG lines added: the new file took `fichier-a-c`, so the absent file's BA, CAS and CCF
    # (118 rows) went with no warning and no --prune. The new file is another source: the absent one's data is kept
    # where the new file does not replace it (rule 5: BG).
    sources = sources_with(tmp_path / "sources", NOMENCLATURE)
    lfi = (SOURCES / "LFI_2020_Credits.csv").read_bytes()
    first_bytes = lfi.replace(b";31;3;50 000;50 000", b";31;3;50 001;50 000", 1)  # not the catalogue's bytes
    (sources / "a").mkdir()
    (sources / "a" / "c.csv").write_bytes(first_bytes)
    out = tmp_path / "out"
    first = run_build(sources, out)
    assert first.returncode == 0, first.stdout + first.stderr
    per_budget = "SELECT source_id, type_budget, count(*) FROM credits GROUP BY ALL ORDER BY ALL"
    before = _rows(out / "budget.duckdb", per_budget)
    assert {r[0] for r in before} == {"fichier-a-c"} and {r[1] for r in before} == {"BA", "BG", "CAS", "CCF"}

    (sources / "a" / "c.csv").unlink()
    bg = [line for line in first_bytes.split(b"\n") if not line.startswith((b"2020;LFI;BA", b"2020;LFI;C"))]
    (sources / "a-c.csv").write_bytes(b"\n".join(bg).replace(b";31;3;50 001;", b";31;3;50 101;", 1))
    second = run_build(sources, out)
    assert second.returncode == 0, second.stdout + second.stderr
    query = "SELECT source_id, fichier, statut FROM sources WHERE source_id LIKE 'fichier-a-c%' ORDER BY fichier"
    assert _rows(out / "budget.duckdb", query) == [
        ("fichier-a-c-csv", "a-c.csv", "lu"),  # a new source
        ("fichier-a-c", "a/c.csv", "absent"),  # the file read before keeps its id, absent
    ]
    after = _rows(out / "budget.duckdb", per_budget)
    assert [r for r in after if r[1] != "BG"] == [r for r in before if r[1] != "BG"]  # BA, CAS, CCF kept
    assert [r for r in after if r[1] == "BG"] == [("fichier-a-c-csv", "BG", 2122)]
