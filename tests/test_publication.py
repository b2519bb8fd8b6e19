"""What a release holds for its users (issue 10): data package, dictionary, changelog, Parquet metadata.

Real ``budget-warehouse build`` processes on copies of the real files: the small set of
``tests/test_releases.py`` (credits 2020, nomenclature 2020, PAP 2019) for the changelog, and the
session's full build (``built``) for the files every consumer reads.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from frictionless import Package

from assets.publish import PUBLISHED
from tests.conftest import SOURCES, Build, run_build
from warehouse.credits.staging import read_reports
from warehouse.publication.changelog import _same_files, compare_releases
from warehouse.publication.datapackage import datapackage_descriptor
from warehouse.publication.tables import TABLES

SMALL = ["LFI_2020_Credits.csv", "PLF_2020_Credits.csv", "PLF_2020_Nomenclature.csv", "LFI_2020_Nomenclature.csv"]
PAP = "PLF_2019_PAP.csv"
# The second line of LFI_2020_Credits.csv: programme 101, action 01, catégorie 31, AE and CP 50 000 €.
LINE = "2020;LFI;BG;10;JA;101;101-01;;31;3;50 000;50 000"
CHANGED = "2020;LFI;BG;10;JA;101;101-01;;31;3;50 001;50 000"


def _releases(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "releases").iterdir() if p.is_dir() and not p.name.startswith("."))


def _charge_le(database: Path) -> dict[str, object]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return dict(connection.execute("SELECT source_id, charge_le FROM sources WHERE statut = 'lu'").fetchall())


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, Path]:
    """A warehouse built once from the small set of real files: (sources, out)."""
    root = tmp_path_factory.mktemp("publication")
    sources = root / "sources"
    sources.mkdir()
    for name in [*SMALL, PAP]:
        shutil.copyfile(SOURCES / name, sources / name)
        (sources / name).chmod(0o644)
    build = run_build(sources, root / "out")
    assert build.returncode == 0, build.stdout + build.stderr
    return sources, root / "out"


def test_the_first_release_holds_its_documents_and_a_changelog_saying_so(small):
    _, out = small
    latest = out / "latest"
    for name in ("datapackage.json", "dictionnaire.md", "changelog.md", "changelog.json"):
        assert (latest / name).is_file(), name
    changelog = json.loads((latest / "changelog.json").read_text(encoding="utf-8"))
    assert changelog["premiere_publication"] is True and changelog["version_precedente"] is None
    assert changelog["tables"]["credits"]["nb_ajoutees"] == 4453  # LFI 2240 + PLF 2213


def test_two_builds_in_a_row_with_nothing_changed_make_no_second_release(small, tmp_path):
    sources, baseline = small
    out = tmp_path / "out"
    shutil.copytree(baseline, out, symlinks=True)
    (version,) = _releases(out)
    link, loaded = os.readlink(out / "latest"), _charge_le(out / "latest" / "budget.duckdb")
    again = run_build(sources, out)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"release: nothing changed since {version}; no new release" in again.stdout  # no run (incremental)
    assert _releases(out) == [version] and os.readlink(out / "latest") == link
    assert _charge_le(out / "latest" / "budget.duckdb") == loaded


def test_one_changed_amount_gives_exactly_that_row_its_totals_and_its_source_in_the_changelog(small, tmp_path):
    baseline_sources, baseline = small
    sources, out = tmp_path / "sources", tmp_path / "out"
    shutil.copytree(baseline_sources, sources)
    shutil.copytree(baseline, out, symlinks=True)
    (first,) = _releases(out)
    loaded = _charge_le(out / "latest" / "budget.duckdb")
    credits_file = sources / "LFI_2020_Credits.csv"
    text = credits_file.read_text(encoding="utf-8")
    assert text.splitlines()[1] == LINE
    credits_file.write_text(text.replace(LINE, CHANGED, 1), encoding="utf-8")

    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    (_, second) = _releases(out)
    assert os.readlink(out / "latest") == f"releases/{second}"
    assert f"changes since {first} (changelog.md): rows credits +0 -0 ~1, sources +0 -0 ~1; " in build.stdout
    assert "credits totals changed: 2020 LFI; sources changed: lfi-2020" in build.stdout
    changelog = json.loads((out / "latest" / "changelog.json").read_text(encoding="utf-8"))
    assert changelog["version_precedente"] == first and changelog["inchange"] is False
    counts = {
        t: (e["nb_ajoutees"], e["nb_retirees"], e["nb_modifiees"])
        for t, e in changelog["tables"].items()
        if e["nb_ajoutees"] or e["nb_retirees"] or e["nb_modifiees"]
    }
    assert counts == {"credits": (0, 0, 1), "sources": (0, 0, 1)}
    (row,) = changelog["tables"]["credits"]["modifiees"]
    assert row["cle"] == {
        "exercice": 2020,
        "phase": "LFI",
        "type_budget": "BG",
        "code_programme": "101",
        "code_action": "01",
        "code_sous_action": None,
        "code_categorie": "31",
        "code_titre": "3",
    }
    assert row["avant"] == {"ae": "50000.00"} and row["apres"] == {"ae": "50001.00"}
    (total,) = changelog["totaux_credits"]
    assert (total["exercice"], total["phase"], total["ae_ecart"], total["cp_ecart"]) == (2020, "LFI", "1.00", "0.00")
    assert decimal.Decimal(total["ae_apres"]) - decimal.Decimal(total["ae_avant"]) == 1
    (source,) = changelog["sources_modifiees"]
    assert source["source_id"] == "lfi-2020"
    assert source["sha256_apres"] == hashlib.sha256(credits_file.read_bytes()).hexdigest() != source["sha256_avant"]
    # Content, not times: the other files keep their first load time; the changed one is loaded anew.
    now = _charge_le(out / "latest" / "budget.duckdb")
    assert {k: v for k, v in now.items() if k != "lfi-2020"} == {k: v for k, v in loaded.items() if k != "lfi-2020"}
    assert now["lfi-2020"] > loaded["lfi-2020"]
    markdown = (out / "latest" / "changelog.md").read_text(encoding="utf-8")
    assert "| 2020 | LFI | " in markdown and "ae : 50000.00 → 50001.00" in markdown and "lfi-2020" in markdown
    # The tables whose Parquet file did not change were not compared row by row, and the data package is the
    # previous one with the new hashes: both exactly what comparing every row and frictionless give.
    previous, manifest = out / "releases" / first, json.loads((out / "latest" / "manifest.json").read_text())
    assert {"programmes", "indicateur_valeurs"} <= _same_files(previous, manifest) and "credits" not in _same_files(
        previous, manifest
    )
    compared = compare_releases(out / "latest" / "budget.duckdb", previous / "budget.duckdb", list(changelog["tables"]))
    assert json.dumps(compared, ensure_ascii=False, default=str) == json.dumps(
        {k: v for k, v in changelog.items() if k not in ("version", "version_precedente")}, ensure_ascii=False
    )
    checked = json.dumps(datapackage_descriptor(out / "latest", manifest), ensure_ascii=False, indent=1)
    assert (out / "latest" / "datapackage.json").read_text(encoding="utf-8") == checked + "\n"


def test_the_metadata_covers_every_published_table():
    assert list(TABLES) == list(PUBLISHED)


def test_the_dictionary_names_every_value_a_column_admits():
    # A consumer reads a column's values in its description (dictionnaire.md, the Parquet metadata, the data
    # package): every value a published model admits (``isin``) is named there. `CS` (comptes spéciaux) was
    # missing from `type_budget`, and five other columns ended on "…".
    missing = {
        f"{table}.{name}": [v for v in check.statistics["allowed_values"] if str(v) not in (column.description or "")]
        for table, meta in TABLES.items()
        for name, column in meta.model.to_schema().columns.items()
        for check in column.checks
        if check.name == "isin"
    }
    assert {k: v for k, v in missing.items() if v} == {}
    assert "CS" in TABLES["credits"].model.to_schema().columns["type_budget"].description


def test_every_parquet_file_reads_in_duckdb_polars_pandas_and_pyarrow_with_decimal_amounts(built):
    folder = built.out / "latest" / "parquet"
    for table in PUBLISHED:
        path = folder / f"{table}.parquet"
        with duckdb.connect() as connection:
            rows = connection.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0]
        assert pl.read_parquet(path).height == len(pd.read_parquet(path)) == pq.read_table(path).num_rows == rows
    path = folder / "credits.parquet"
    with duckdb.connect() as connection:
        types = dict(connection.execute(f"SELECT column_name, column_type FROM (DESCRIBE '{path}')").fetchall())
    assert types["ae"] == types["cp"] == "DECIMAL(18,2)"
    frame = pl.read_parquet(path)
    assert frame.schema["ae"] == frame.schema["cp"] == pl.Decimal(18, 2)
    arrow = pq.read_table(path)
    assert arrow.schema.field("ae").type == arrow.schema.field("cp").type == pa.decimal128(18, 2)
    pandas = pd.read_parquet(path)
    for column in ("ae", "cp"):
        assert pandas[column].dtype == object
        assert all(isinstance(v, decimal.Decimal) for v in pandas[column])
    assert sum(pandas["ae"]) == frame["ae"].sum() == arrow.column("ae").to_pandas().sum()


def test_the_parquet_files_hold_the_column_descriptions_and_units(built):
    metadata = pq.read_metadata(built.out / "latest" / "parquet" / "credits.parquet").metadata
    values = {k.decode(): v.decode() for k, v in metadata.items()}
    assert values["description:ae"] == "autorisations d'engagement (AE), en euros"
    assert values["unit:ae"] == values["unit:cp"] == "euros"
    assert values["table"] == "credits"
    for table in PUBLISHED:
        keys = pq.read_metadata(built.out / "latest" / "parquet" / f"{table}.parquet").metadata
        columns = pq.read_schema(built.out / "latest" / "parquet" / f"{table}.parquet").names
        described = {k.decode().removeprefix("description:") for k in keys if k.startswith(b"description:")}
        assert described == set(columns), table


def test_the_data_package_validates_and_its_hashes_bytes_and_rows_match_the_files(built):
    latest = built.out / "latest"
    path = latest / "datapackage.json"
    report = Package.validate_descriptor(str(path))
    assert report.valid, report.flatten(["type", "note"])
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    assert descriptor["licenses"][0]["path"] == "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
    resources = {r["name"]: r for r in descriptor["resources"]}
    assert list(resources) == list(PUBLISHED)
    for name, resource in resources.items():
        file = latest / resource["path"]
        assert resource["path"] == f"parquet/{name}.parquet" and resource["format"] == "parquet"
        assert resource["hash"] == "sha256:" + hashlib.sha256(file.read_bytes()).hexdigest()
        assert resource["bytes"] == file.stat().st_size
        assert resource["rows"] == pq.read_metadata(file).num_rows
        assert [f["name"] for f in resource["schema"]["fields"]] == pq.read_schema(file).names
    credits = resources["credits"]
    fields = {f["name"]: f for f in credits["schema"]["fields"]}
    assert fields["ae"]["type"] == "number" and fields["ae"]["unit"] == "euros"
    assert fields["exercice"]["type"] == "integer" and fields["exercice"]["description"]
    assert "primaryKey" not in credits["schema"]  # code_sous_action, code_categorie... may be null
    assert credits["schema"]["uniqueKeys"][0][:2] == ["exercice", "phase"]
    assert resources["programmes"]["schema"]["primaryKey"] == ["exercice", "code_programme"]
    references = {(tuple(k["fields"]), k["reference"]["resource"]) for k in credits["schema"]["foreignKeys"]}
    assert (("exercice", "code_programme"), "programmes") in references
    assert (("exercice", "code_programme", "code_action"), "actions") in references
    valeurs = {k["reference"]["resource"] for k in resources["indicateur_valeurs"]["schema"]["foreignKeys"]}
    assert "indicateurs" in valeurs
    # Every stated key holds in the data: primary keys unique, foreign keys found (where not null).
    with duckdb.connect(str(latest / "budget.duckdb"), read_only=True) as connection:
        for name, resource in resources.items():
            schema = resource["schema"]
            for key in [schema["primaryKey"]] if "primaryKey" in schema else schema.get("uniqueKeys", []):
                cols = ", ".join(key)
                total, distinct = connection.execute(
                    f"SELECT count(*), count(DISTINCT struct_pack({cols})) FROM {name}"
                ).fetchone()
                assert total == distinct, name
            for fk in schema.get("foreignKeys", []):
                pairs = list(zip(fk["fields"], fk["reference"]["fields"], strict=True))
                on = " AND ".join(f"a.{x} = b.{y}" for x, y in pairs)
                filled = " AND ".join(f"a.{x} IS NOT NULL" for x, _ in pairs)
                target = fk["reference"]["resource"]
                missing = connection.execute(
                    f"SELECT count(*) FROM {name} a ANTI JOIN {target} b ON {on} WHERE {filled}"
                ).fetchone()[0]
                assert missing == 0, (name, fk)


def test_the_data_package_keys_hold_in_the_parquet_files(built):
    """Table Schema (v2) makes every ``primaryKey`` field required: no null in it, and its values unique; a
    ``uniqueKeys`` entry is unique among the rows with no null in it (SQL's unique constraint). Checked on the
    Parquet files the package describes: frictionless 5 checks neither on them."""
    latest = built.out / "latest"
    descriptor = json.loads((latest / "datapackage.json").read_text(encoding="utf-8"))
    declared = {"primaryKey": 0, "uniqueKeys": 0}
    for resource in descriptor["resources"]:
        name, schema = resource["name"], resource["schema"]
        frame = pl.read_parquet(latest / resource["path"])
        if key := schema.get("primaryKey"):
            nulls = {c: n for c in key if (n := frame[c].null_count())}
            assert not nulls, (name, nulls)
            assert not frame.select(key).is_duplicated().any(), name
            declared["primaryKey"] += 1
        for key in schema.get("uniqueKeys", []):
            assert not frame.select(key).drop_nulls().is_duplicated().any(), (name, key)
            declared["uniqueKeys"] += 1
    assert declared["primaryKey"] and declared["uniqueKeys"], declared


def test_the_dictionary_has_one_section_per_table_one_line_per_column_and_figures_from_the_data(built):
    text = (built.out / "latest" / "dictionnaire.md").read_text(encoding="utf-8")
    with duckdb.connect(str(built.database), read_only=True) as connection:
        for table in PUBLISHED:
            assert f"## `{table}` : " in text
            for (column,) in connection.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall():
                assert f"| `{column}` | " in text, (table, column)
        exercice, phase, rows = connection.execute(
            "SELECT exercice, phase, count(*) FROM credits GROUP BY ALL ORDER BY 1, 2 LIMIT 1"
        ).fetchone()
        rules = connection.execute("SELECT regle, count(*) FROM ecarts_sources GROUP BY ALL").fetchall()
        empty = connection.execute("SELECT source_id, montants_vides FROM sources WHERE montants_vides > 0").fetchall()
    assert "| `ae` | DECIMAL(18,2) | euros | autorisations d'engagement (AE), en euros |" in text
    assert f"| {exercice} | {phase} | {rows} | " in text
    for regle, count in rules:
        assert f"| {regle} | {count} |" in text
    assert empty and all(f"| {source_id} | " in text and f" | {count} |" in text for source_id, count in empty)
    # Programme 382 has no ministère in the 2024 nomenclature (the only one that year): the data says so.
    assert "| 2024 | 382 | Soutien aux associations de protection animale et aux refuges |" in text


def _small_with_lfi_2019(small, tmp_path: Path, *extra: str) -> tuple[Path, Path, Build]:
    """Copies of the small set's sources and output in ``tmp_path``, the real LFI 2019 added to the sources, then
    built (``extra`` the build's options): the sources, the output folder and the build, which succeeded."""
    baseline_sources, baseline = small
    sources, out = tmp_path / "sources", tmp_path / "out"
    shutil.copytree(baseline_sources, sources)
    shutil.copytree(baseline, out, symlinks=True)
    shutil.copyfile(SOURCES / "LFI_2019_Credits.csv", sources / "LFI_2019_Credits.csv")
    build = run_build(sources, out, *extra)
    assert build.returncode == 0, build.stdout + build.stderr
    return sources, out, build


def test_a_file_outside_years_is_not_listed_as_added_until_a_build_reads_it(small, tmp_path):
    # A tester's find: a credit file of an exercice outside `--years` (its `sources` row `hors_selection`: seen,
    # not read) was listed among the sources added, though none of its data was.
    sources, out, build = _small_with_lfi_2019(small, tmp_path, "--years", "2020")
    assert "sources added" not in build.stdout, build.stdout
    changelog = json.loads((out / "latest" / "changelog.json").read_text(encoding="utf-8"))
    assert changelog["sources_ajoutees"] == [] and changelog["sources_modifiees"] == [], changelog
    assert "## Sources ajoutées\n\nAucune." in (out / "latest" / "changelog.md").read_text(encoding="utf-8")
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        statut = connection.execute("SELECT statut FROM sources WHERE source_id = 'lfi-2019'").fetchall()
    assert statut == [("hors_selection",)]
    # The build that reads it adds it.
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    assert "sources changed: none; sources added: lfi-2019" in build.stdout, build.stdout
    changelog = json.loads((out / "latest" / "changelog.json").read_text(encoding="utf-8"))
    assert [s["source_id"] for s in changelog["sources_ajoutees"]] == ["lfi-2019"], changelog


def _small_with_a_copy(small, tmp_path: Path, name: str) -> tuple[Path, Build]:
    """The small set's sources and output copied to ``tmp_path``, a browser's copy ``<stem> (1).csv`` of the real
    file ``name`` (one of the set) added beside it, then built: the output folder and the build."""
    baseline_sources, baseline = small
    sources, out = tmp_path / "sources", tmp_path / "out"
    shutil.copytree(baseline_sources, sources)
    shutil.copytree(baseline, out, symlinks=True)
    shutil.copyfile(SOURCES / name, sources / f"{Path(name).stem} (1).csv")
    return out, run_build(sources, out)


def _copies_said(out: Path, build: Build, copy: str, of: str) -> str:
    """The file ``copy`` is said as a copy of ``of`` set aside, by one line of the build's summary and by the
    release's changelog (not as a source added), and its ``sources`` row is ``doublon``: its source id."""
    said = f"the same bytes as {of}, set aside"
    assert [line for line in build.stdout.splitlines() if "(1).csv" in line] == [f"copy: {copy}: {said}"], build.stdout
    assert "; copies set aside: " in build.stdout, build.stdout
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        rows = connection.execute("SELECT source_id, statut, message FROM sources WHERE fichier = ?", [copy]).fetchall()
    [(source_id, statut, message)] = rows
    assert (statut, message) == ("doublon", said), rows
    changelog = json.loads((out / "latest" / "changelog.json").read_text(encoding="utf-8"))
    assert changelog["inchange"] is False, changelog
    assert [(s["source_id"], s["fichier"], s["message"]) for s in changelog["sources_doublons"]] == [
        (source_id, copy, said)
    ], changelog
    text = (out / "latest" / "changelog.md").read_text(encoding="utf-8")
    assert "## Copies mises de côté (doublons, non lues)\n\n| source_id | fichier | sha256 | message |" in text, text
    assert f"| {source_id} | {copy} | " in text and f" | {said} |" in text, text
    return source_id


def test_a_copy_of_a_credit_file_is_said_in_the_summary_and_in_the_changelog_as_a_copy_not_a_source_added(
    small, tmp_path
):
    # A review's find: a copy set aside was said by one log line only, and the release's changelog listed it among
    # the sources added. The real LFI 2020 file copied beside it (the catalogue's file kept): no credit changes.
    out, build = _small_with_a_copy(small, tmp_path, "LFI_2020_Credits.csv")
    assert build.returncode == 0, build.stdout + build.stderr
    _copies_said(out, build, "LFI_2020_Credits (1).csv", "LFI_2020_Credits.csv")
    assert "sources added" not in build.stdout, build.stdout
    changelog = json.loads((out / "latest" / "changelog.json").read_text(encoding="utf-8"))
    assert changelog["sources_ajoutees"] == [] and changelog["totaux_credits"] == [], changelog
    assert changelog["tables"]["credits"]["nb_ajoutees"] == 0, changelog
    assert "## Sources ajoutées\n\nAucune." in (out / "latest" / "changelog.md").read_text(encoding="utf-8")


def test_a_copy_of_a_performance_file_is_set_aside_as_a_credit_files_copy_is(small, tmp_path):
    # A byte-identical copy of a performance file (`PLF_2019_PAP (1).csv`) was read as a second file: its rows twice
    # in `indicateurs`, whose key check failed the step: "step failed: performance_tables: ValidationFailed:
    # IndicateursModel: 3860 failure(s)", no release. Now one of them is set aside, by the credits' rule: the file the
    # latest release read is kept (the PAP; before wave 16 the first in path order was, `… (1).csv`: the source read
    # moved to the browser's copy).
    # A review's find (wave 17): the rule ran three times per build (the step's read, its report, `core/sources`);
    # now once, the step recording its copies in its staged reports, which `core/sources` reads, as the credits'.
    _, baseline = small
    out, build = _small_with_a_copy(small, tmp_path, PAP)
    assert build.returncode == 0, build.stdout + build.stderr
    _copies_said(out, build, "PLF_2019_PAP (1).csv", PAP)
    staged = [(r.fichier, r.statut, r.message) for r in read_reports(out / "staging" / "performance")]
    assert staged == [("PLF_2019_PAP (1).csv", "doublon", f"the same bytes as {PAP}, set aside")], staged
    counts = "SELECT (SELECT count(*) FROM indicateurs), (SELECT count(*) FROM indicateur_valeurs), "
    counts += "(SELECT list(fichier ORDER BY fichier) FROM indicateur_fichiers)"
    with duckdb.connect(str(baseline / "budget.duckdb"), read_only=True) as connection:
        before = connection.execute(counts).fetchall()
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        after = connection.execute(counts).fetchall()
    assert before[0][2] == [PAP] and after == before, (before, after)


def test_a_file_added_is_listed_among_the_sources_added_not_changed(small, tmp_path):
    # Found by a tester: a newly added file was listed under "sources changed" (its sha256 before: none).
    _, out, build = _small_with_lfi_2019(small, tmp_path)
    assert "sources changed: none; sources added: lfi-2019" in build.stdout, build.stdout
    changelog = json.loads((out / "latest" / "changelog.json").read_text(encoding="utf-8"))
    assert changelog["sources_modifiees"] == [] and changelog["sources_retirees"] == []
    (added,) = changelog["sources_ajoutees"]
    assert added["source_id"] == "lfi-2019" and added["sha256_avant"] is None
    text = (out / "latest" / "changelog.md").read_text(encoding="utf-8")
    assert (
        "## Sources ajoutées\n\n| source_id |" in text
        and "## Sources dont l'empreinte sha256 a changé\n\nAucune." in text
    )
