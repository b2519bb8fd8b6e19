"""Authority follows coverage, then rank, then the catalogue; a tie that remains is an error
(issue 7, item 1)."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from schemas.families import credit_families
from tests.conftest import SOURCES
from warehouse.credits.roles import assign_roles, set_aside_copies, stage_exercice_to
from warehouse.credits.staged_lines import staged_files
from warehouse.credits.staging import read_reports
from warehouse.sources import discover_sources, take_inventory

FAMILIES = {f.id: f for f in credit_families()}


def _lines(coverage: dict[str, list[tuple[str, str]]], phase: str = "PLF") -> pl.DataFrame:
    rows = [
        {
            "source_id": source,
            "exercice": 2025,
            "phase": phase,
            "type_budget": "BG",
            "code_programme": p,
            "code_action": a,
        }
        for source, pairs in coverage.items()
        for p, a in pairs
    ]
    return pl.DataFrame(rows, schema_overrides={"exercice": pl.Int16})


def _roles(lines: pl.DataFrame, families: dict, catalogued=frozenset()) -> tuple[dict[str, str], list]:
    roles, ties = assign_roles(lines, families, frozenset(catalogued))
    return {r.source_id: r.role for r in roles}, ties


FULL = [(f"{p}", f"{a:02d}") for p in range(100, 130) for a in range(1, 4)]  # 90 pairs


def test_a_partial_source_is_a_witness_even_with_the_better_rank():
    lines = _lines({"a-extrait": FULL[:8], "z-complet": FULL})
    families = {"a-extrait": FAMILIES["credits_codes_libelles"], "z-complet": FAMILIES["credits_codes"]}  # 1 vs 3
    roles, ties = _roles(lines, families)
    assert roles == {"a-extrait": "W", "z-complet": "A"} and ties == []


def test_an_action_more_or_less_does_not_move_the_authority():
    lines = _lines({"plf": FULL[:-1], "lfi-colonnes-plf": FULL})
    families = {"plf": FAMILIES["credits_codes"], "lfi-colonnes-plf": FAMILIES["credits_t2_ht2"]}  # PLF: 3 vs 9
    assert _roles(lines, families)[0] == {"plf": "A", "lfi-colonnes-plf": "W"}


def test_equal_ranks_are_decided_by_coverage_then_by_the_catalogue_never_by_name():
    family = FAMILIES["credits_codes_libelles"]
    wider = _lines({"b": FULL[:60], "a": FULL[10:80]})  # 60 vs 70 pairs, neither half of the other
    assert _roles(wider, {"a": family, "b": family})[0] == {"a": "A", "b": "W"}
    same = _lines({"b-officiel": FULL, "a-inconnu": FULL})
    assert _roles(same, {"b-officiel": family, "a-inconnu": family}, {"b-officiel"})[0] == {
        "b-officiel": "A",
        "a-inconnu": "W",
    }
    roles, ties = _roles(same, {"b-officiel": family, "a-inconnu": family})
    assert roles == {}
    (tie,) = ties
    assert (tie.exercice, tie.phase, tie.type_budget, tie.source_ids) == (
        2025,
        "PLF",
        "BG",
        ("a-inconnu", "b-officiel"),
    )
    message = tie.message({"a-inconnu": "x/extrait.csv", "b-officiel": "y/complet.csv"})
    assert "x/extrait.csv" in message and "y/complet.csv" in message


def test_a_present_file_replaces_an_absent_source_it_equals_and_only_then():
    """Rule 5: of two files equal by every other rule, the one in the folder wins, the absent one gets no role there
    (not a witness); an absent catalogued file still beats an unknown present one (rule 4); two absent still tie."""
    family = FAMILIES["credits_codes_libelles"]
    same = _lines({"a-absent": FULL, "b-present": FULL})
    families = {"a-absent": family, "b-present": family}
    replaced: dict = {}
    roles, ties = assign_roles(same, families, frozenset(), frozenset({"a-absent"}), replaced)
    assert {r.source_id: r.role for r in roles} == {"b-present": "A"} and ties == []
    assert replaced == {"a-absent": [("2025 PLF BG", "b-present")]}
    roles, ties = assign_roles(same, families, frozenset({"a-absent"}), frozenset({"a-absent"}))
    assert {r.source_id: r.role for r in roles} == {"a-absent": "A", "b-present": "W"}
    wider = _lines({"a-absent": FULL, "b-present": FULL[:80]})  # more pairs: rule 3 before rule 5, a witness
    roles, _ = assign_roles(wider, families, frozenset(), frozenset({"a-absent"}))
    assert {r.source_id: r.role for r in roles} == {"a-absent": "A", "b-present": "W"}
    _, ties = assign_roles(same, families, frozenset(), frozenset({"a-absent", "b-present"}))
    assert len(ties) == 1


def test_two_unknown_copies_of_a_file_stop_their_scopes_and_name_both(tmp_path):
    """Through the real reading code: the same PLF 2025 lines in two files the catalogue does not know (not the same
    bytes: one ends its lines in CRLF; byte-identical copies are one source, set aside before any tie)."""
    text = (SOURCES / "PLF_2025_Depenses_Destination.csv").read_bytes().decode("utf-8").lstrip("\ufeff")
    lines = text.splitlines()
    sample = "\n".join([lines[0], *lines[1:400]]) + "\n"
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "copie_a.csv").write_text(sample, encoding="utf-8")
    (tmp_path / "sources" / "copie_b.csv").write_text(sample, encoding="utf-8", newline="\r\n")
    items = take_inventory(discover_sources(tmp_path / "sources"))
    root = tmp_path / "staging"
    _, reports = stage_exercice_to(root / "seul", 2025, items)
    staged = pl.read_parquet(staged_files(root / "seul", 2025))
    assert {r.statut for r in reports} == {"erreur"}
    for report, other in zip(reports, ("copie_b.csv", "copie_a.csv"), strict=True):  # each message starts with its file
        assert report.message.startswith(f"{report.fichier}: as authoritative as {other} for 2025 PLF "), report.message
    assert staged["role"].null_count() == staged.height  # nothing of the tied scopes is loaded
    # with a previous build where copie_a alone was authoritative, its lines stay (carried over)
    stage_exercice_to(root / "suite", 2025, [i for i in items if i.source.fichier == "copie_a.csv"])
    before = pl.read_parquet(staged_files(root / "suite", 2025))
    assert set(before["role"]) == {"A"}
    stage_exercice_to(root / "suite", 2025, items)
    again = pl.read_parquet(staged_files(root / "suite", 2025))
    carried = again.filter(pl.col("role") == "A")
    assert set(carried["source_id"]) == {"fichier-copie-a"}


def test_copies_are_set_aside_by_their_bytes_and_files_not_fetched_never(tmp_path):
    """Byte-identical files are one source (the first in path order kept); files with no bytes (a download that
    failed: no sha256) are never taken for copies of each other."""
    (tmp_path / "sources").mkdir()
    text = (SOURCES / "LFI_2019_Credits.csv").read_bytes()
    for name in ("b.csv", "a (1).csv", "c.csv"):
        (tmp_path / "sources" / name).write_bytes(text if name != "c.csv" else text + b"\n")
    items = take_inventory(discover_sources(tmp_path / "sources"))
    kept, copies = set_aside_copies(items)
    assert [i.source.fichier for i in kept] == ["a (1).csv", "c.csv"]
    assert [(c.item.source.fichier, c.of.source.fichier, c.message) for c in copies] == [
        ("b.csv", "a (1).csv", "the same bytes as a (1).csv, set aside")
    ]
    unfetched = [replace(i, source=replace(i.source, sha256="")) for i in items]
    assert set_aside_copies(unfetched) == (unfetched, [])


def test_the_staging_records_the_copies_it_sets_aside_in_its_reports(tmp_path):
    """The copies set aside are staged as reports of statut 'doublon' naming the file they copy (``sources`` takes
    them from there, not from the bytes again): for a file read alone and for files read with their roles."""
    (tmp_path / "sources").mkdir()
    text = (SOURCES / "LFI_2019_Credits.csv").read_bytes()
    for name in ("b.csv", "a (1).csv", "c.csv"):
        (tmp_path / "sources" / name).write_bytes(text if name != "c.csv" else text + b"\n")
    items = take_inventory(discover_sources(tmp_path / "sources"))
    alone = [i for i in items if i.source.fichier != "c.csv"]
    for root, given in ((tmp_path / "seul", alone), (tmp_path / "tous", items)):
        _, reports = stage_exercice_to(root, 2019, given)
        for staged in (reports, read_reports(root, 2019)):
            copies = [(r.fichier, r.statut, r.message) for r in staged if r.statut == "doublon"]
            assert copies == [("b.csv", "doublon", "the same bytes as a (1).csv, set aside")], staged
        (copy,) = [i.source.source_id for i in items if i.source.fichier == "b.csv"]
        staged_ids = set(pl.read_parquet(staged_files(root, 2019))["source_id"])
        assert copy not in staged_ids and len(staged_ids) == len(given) - 1, staged_ids  # none of its lines
