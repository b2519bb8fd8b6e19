"""Incremental builds (README, "Incremental builds"): real builds of a small set of real files
(credits 2019, 2020 and 2021, a nomenclature file, the PAP 2019 indicators), then rebuilds; what was
recomputed is read from the Dagster instance (the materialisations after a cursor)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from tests.conftest import ROOT, SOURCES, run_build

FILES = [
    "LFI_2019_Credits.csv",
    "LFI_2020_Credits.csv",
    "LFI_2021_Credits.csv",
    "PLF_2020_Nomenclature.csv",
    "PLF_2019_PAP.csv",
]
#: The first data line of LFI_2020_Credits.csv (the real file): programme 101, action 01, catégorie 31.
LINE = "2020;LFI;BG;10;JA;101;101-01;;31;3;50 000;50 000"
CHANGED = "2020;LFI;BG;10;JA;101;101-01;;31;3;50 123;50 000"
AMOUNT_SQL = (
    "SELECT sum(ae) FROM credits WHERE exercice = 2020 AND phase = 'LFI' AND code_programme = '101' "
    "AND code_action = '01' AND code_categorie = '31'"
)


def _env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "BUDGET_"))} | extra


def _build_with(sources: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "build", "--sources", str(sources), "--out", str(out)],
        capture_output=True,
        text=True,
        env=_env(**env),
        cwd=ROOT,
        timeout=900,
    )


def _instance(out: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(out / "dagster"))


def _cursor(out: Path) -> int:
    """The id of the latest materialisation of the instance."""
    with _instance(out) as instance:
        (record,) = instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_MATERIALIZATION), limit=1, ascending=False
        )
        return record.storage_id


def _materialised(out: Path, after: int) -> set[str]:
    """The assets (``key|partition``) materialised after event ``after``."""
    with _instance(out) as instance:
        records = instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_MATERIALIZATION, after_cursor=after),
            limit=100_000,
        )
    found = set()
    for record in records:
        event = record.event_log_entry.dagster_event
        partition = event.partition
        found.add(event.asset_key.to_user_string() + (f"|{partition}" if partition else ""))
    return found


def _runs(out: Path) -> int:
    with _instance(out) as instance:
        return len(instance.get_runs())


def _releases(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "releases").iterdir() if p.is_dir() and not p.name.startswith("."))


def _amount(database: Path) -> Decimal:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(AMOUNT_SQL).fetchone()[0]


def _change_one_value(sources: Path) -> None:
    path = sources / "LFI_2020_Credits.csv"
    text = path.read_bytes().decode("cp1252")
    assert text.count(LINE) == 1
    path.write_bytes(text.replace(LINE, CHANGED).encode("cp1252"))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("incremental")
    (root / "sources").mkdir()
    for name in FILES:
        shutil.copyfile(SOURCES / name, root / "sources" / name)
    build = run_build(root / "sources", root / "out")
    assert build.returncode == 0, build.stdout + build.stderr
    assert _runs(root / "out") == 1  # a first build: the 3 exercices, then the publication, in one run
    (root / "first.txt").write_text(build.stdout)
    return root


def _summary(stdout: str) -> list[str]:
    """The summary's lines but those naming this build's folders, its release line and its time."""
    lines = stdout.split("== summary ==")[1].splitlines()
    return [x for x in lines if not x.startswith(("database ", "parquet ", "release:", "changes:", "done in "))]


@pytest.fixture
def warehouse(baseline, tmp_path) -> tuple[Path, Path]:
    shutil.copytree(baseline / "sources", tmp_path / "sources")
    shutil.copytree(baseline / "out", tmp_path / "out", symlinks=True)
    return tmp_path / "sources", tmp_path / "out"


def test_a_rebuild_with_nothing_changed_runs_nothing_and_makes_no_release(warehouse, baseline):
    sources, out = warehouse
    cursor, runs, releases = _cursor(out), _runs(out), _releases(out)
    before = time.monotonic()
    build = run_build(sources, out)
    wall = time.monotonic() - before
    assert build.returncode == 0, build.stdout + build.stderr
    assert f"release: nothing changed since {releases[-1]}; no new release" in build.stdout
    # The last line: the build's time, then the process's whole (its imports and start-up), within the wall time.
    timed = re.fullmatch(
        r"done in (\d+\.\d) s \((\d+\.\d) s with the command's start-up\)", build.stdout.splitlines()[-1]
    )
    assert timed, build.stdout.splitlines()[-1]
    assert float(timed[1]) < float(timed[2]) <= wall + 0.05
    assert f"\ndatabase {out / 'budget.duckdb'}\n" in build.stdout  # the release's, not the removed working copy
    assert _materialised(out, cursor) == set() and _runs(out) == runs and _releases(out) == releases
    # The summary of the build that made the release: tables, findings, checks (the release's latest
    # evaluations, from its state), sources not loaded.
    summary = _summary(build.stdout)
    assert summary == _summary((baseline / "first.txt").read_text())
    (checks,) = [line for line in summary if line.startswith("checks: ")]
    assert checks.endswith("0 failed") and int(checks.split()[1]) > 20


def test_one_changed_value_in_a_2020_file_recomputes_that_exercice_and_what_it_feeds(warehouse):
    sources, out = warehouse
    before = _amount(out / "budget.duckdb")
    assert before == Decimal("50000.00")
    cursor, runs, releases = _cursor(out), _runs(out), _releases(out)
    _change_one_value(sources)
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    done = _materialised(out, cursor)
    assert {k for k in done if "|" in k} == {  # not 2019, not 2021
        "staging/credits|2020",
        "core/credits|2020",
        "staging/credit_elements|2020",
    }
    assert "core/credits" not in done and _runs(out) == runs + 2
    # The performance tables read no credit file: not recomputed; what reads credits is.
    assert not [k for k in done if "indicateur" in k or k == "core/unites"]
    assert {"core/couverture", "core/ecarts_sources", "parquet/credits", "core/sources"} <= done
    assert _amount(out / "budget.duckdb") == Decimal("50123.00")
    (new,) = set(_releases(out)) - set(releases)
    credits = pl.read_parquet(out / "releases" / new / "parquet" / "credits.parquet")
    row = credits.filter(
        (pl.col("exercice") == 2020)
        & (pl.col("phase") == "LFI")
        & (pl.col("code_programme") == "101")
        & (pl.col("code_action") == "01")
        & (pl.col("code_categorie") == "31")
    )
    assert row["ae"].to_list() == [Decimal("50123.00")]
    # And then nothing is left to do.
    cursor = _cursor(out)
    again = run_build(sources, out)
    assert "nothing changed since" in again.stdout and _materialised(out, cursor) == set()


#: What reads the amounts of credits, besides their exercice's partitions: all an amount change recomputes.
AMOUNT_READERS = {
    "raw/sources",  # every build takes the inventory
    "core/credits_code_mission",
    "core/sources",  # the file's sha256
    "core/ecarts_sources",
    "core/couverture",
    "core/rapprochements",
    "core/execution_credits",
    *(f"parquet/{t}" for t in ("credits", "sources", "ecarts_sources", "couverture", "rapprochements")),
}


def _release_hash(stdout: str) -> str:
    (line,) = [x for x in stdout.splitlines() if x.startswith("release: ") and " published" in x]
    return line.split()[1].rsplit("-", 1)[1]


def _published(folder: Path) -> dict[str, pl.DataFrame]:
    """Every published table of a release, the times of reading left out (``sources``: ``vu_le``, ``charge_le``)."""
    return {
        path.stem: pl.read_parquet(path).drop("vu_le", "charge_le", strict=False)
        for path in sorted((folder / "parquet").glob("*.parquet"))
    }


def test_an_amount_change_recomputes_its_exercice_and_the_tables_reading_amounts_only(warehouse, tmp_path):
    """The credit elements of 2020 are recomputed but keep their data version (no code or label changed):
    Dagster's resolver, asked again after the credit run, leaves the nomenclature, the documents read
    and what reads only them as they were. The release equals a full build of the changed folder."""
    sources, out = warehouse
    cursor = _cursor(out)
    _change_one_value(sources)
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    done = _materialised(out, cursor)
    assert done == {"staging/credits|2020", "core/credits|2020", "staging/credit_elements|2020"} | AMOUNT_READERS
    assert f"after the credits, {len(AMOUNT_READERS) - 1} other asset(s) to recompute" in build.stdout
    # Its progress in a log (stdout is not a terminal here): lines, not a bar's carriage returns.
    assert "\ncredits: run 1/1, exercice(s) 2020\ncredits: 1 run(s) done in " in build.stdout
    assert "\r" not in build.stdout
    full = run_build(sources, tmp_path / "full")
    assert full.returncode == 0, full.stdout + full.stderr
    assert _release_hash(build.stdout) == _release_hash(full.stdout)  # the content hash of the release
    incremental, whole = _published(out / "latest"), _published(tmp_path / "full" / "latest")
    assert incremental.keys() == whole.keys() and len(whole) == 21
    for table, frame in whole.items():
        assert incremental[table].equals(frame), table


def test_a_change_then_its_revert_publishes_the_first_data_again(warehouse):
    """One amount changed, built, then changed back and built: the third release holds the first data
    in DuckDB and in every Parquet file (credits 2020 returns to a data version it had before, which the
    Parquet files were last written from: they must still be written again, from the reverted lines)."""
    sources, out = warehouse
    original = (sources / "LFI_2020_Credits.csv").read_bytes()
    first = {t: f for t, f in _published(out / "latest").items()}
    _change_one_value(sources)
    changed = run_build(sources, out)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert _amount(out / "latest" / "budget.duckdb") == Decimal("50123.00")
    assert not list((out / "latest").rglob("*.link"))  # the unchanged files linked, no file left beside them
    (sources / "LFI_2020_Credits.csv").write_bytes(original)
    reverted = run_build(sources, out)
    assert reverted.returncode == 0, reverted.stdout + reverted.stderr
    assert _amount(out / "latest" / "budget.duckdb") == Decimal("50000.00")
    again = _published(out / "latest")
    assert again.keys() == first.keys()
    for table, frame in first.items():
        assert again[table].equals(frame), table
    with duckdb.connect(str(out / "latest" / "budget.duckdb"), read_only=True) as connection:
        differing = connection.execute(
            f"SELECT count(*) FROM (SELECT * FROM credits EXCEPT "
            f"SELECT * FROM read_parquet('{out / 'latest' / 'parquet' / 'credits.parquet'}'))"
        ).fetchone()[0]
    assert differing == 0


def test_a_new_code_in_a_credit_file_recomputes_the_nomenclature(warehouse, tmp_path):
    """A line moved to an action no file stated (101-99): the credit elements of 2020 get a new data
    version, and the nomenclature (and what reads it) is recomputed: the new action is published."""
    sources, out = warehouse
    cursor = _cursor(out)
    path = sources / "LFI_2020_Credits.csv"
    text = path.read_bytes().decode("cp1252")
    path.write_bytes(text.replace(LINE, LINE.replace(";101-01;", ";101-99;")).encode("cp1252"))
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    done = _materialised(out, cursor)
    assert {"core/actions", "parquet/actions", "core/programmes", "core/nomenclature_evenements"} <= done
    assert done >= AMOUNT_READERS and not [k for k in done if "|" in k and not k.endswith("|2020")]
    actions = pl.read_parquet(out / "latest" / "parquet" / "actions.parquet")
    held = actions.filter((pl.col("exercice") == 2020) & (pl.col("code_programme") == "101"))
    assert "99" in held["code_action"].to_list()
    full = run_build(sources, tmp_path / "full")
    assert _release_hash(build.stdout) == _release_hash(full.stdout)


def test_a_failed_build_then_a_fixed_one_publishes_the_data_of_the_files(warehouse):
    """The killed build materialised credits 2020 with the new value (Dagster recorded it) but published
    nothing; Dagster alone would call credits 2020 up to date. The next build compares the latest
    materialisations with the release's and recomputes: the new value is published."""
    sources, out = warehouse
    releases = _releases(out)
    _change_one_value(sources)
    build = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "build", "--sources", str(sources), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(BUDGET_TEST_PAUSE="parquet:120"),
        cwd=ROOT,
    )
    marker = out / "releases" / ".paused-parquet"
    deadline = time.monotonic() + 600
    while not marker.exists():
        assert build.poll() is None, build.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    build.send_signal(signal.SIGKILL)
    build.wait()
    assert _releases(out) == releases and _amount(out / "budget.duckdb") == Decimal("50000.00")
    with _instance(out) as instance:  # the killed build's materialisation of credits 2020 is recorded
        assert instance.get_latest_materialization_event(dg.AssetKey(["core", "credits"])) is not None
    cursor = _cursor(out)
    following = run_build(sources, out)
    assert following.returncode == 0, following.stdout + following.stderr
    assert "core/credits|2020" in _materialised(out, cursor)
    assert _amount(out / "budget.duckdb") == Decimal("50123.00")
    assert len(_releases(out)) == len(releases) + 1


def test_a_new_code_version_recomputes_the_family_of_that_code(warehouse):
    sources, out = warehouse
    cursor = _cursor(out)
    build = _build_with(sources, out, BUDGET_TEST_CODE_SALT="warehouse.performance.tables")
    assert build.returncode == 0, build.stdout + build.stderr
    done = _materialised(out, cursor)
    assert "core/indicateurs" in done and "core/indicateur_valeurs" in done
    credits = ("staging/credits", "core/credits", "parquet/credits", "core/programmes", "core/missions")
    assert not [k for k in done if k.split("|")[0] in credits]  # neither the credits nor the nomenclature
    assert "content unchanged since" in build.stdout  # the same code, renamed: the same tables
    # Back to the code as it is: its version changed again, the family is recomputed once more.
    cursor = _cursor(out)
    build = run_build(sources, out)
    assert "core/indicateurs" in _materialised(out, cursor)


def test_stale_exercices_with_a_gap_take_one_run_per_contiguous_range_of_the_stored_order():
    from pipelines.incremental import contiguous_ranges

    order = ["2018", "2019", "2020", "2021", "2022", "2017"]  # 2017 added last: stored after 2022
    assert contiguous_ranges(["2019", "2020", "2022"], order) == [("2019", "2020"), ("2022", "2022")]
    assert contiguous_ranges(["2022", "2017"], order) == [("2022", "2017")]
    assert contiguous_ranges(["2018", "2017"], order) == [("2018", "2018"), ("2017", "2017")]
    assert contiguous_ranges([], order) == []
    # Each run said with its exercices ascending: a range of consecutive years, else a list.
    from pipelines.incremental import run_label

    assert run_label("2019", "2020", order) == "2019-2020"
    assert run_label("2022", "2022", order) == "2022"
    assert run_label("2022", "2017", order) == "2017, 2022"
    assert run_label("2021", "2017", order) == "2017, 2021-2022"
    assert run_label("2020", "2019", ["2020", "2019"]) == "2019-2020"


def test_a_years_build_with_no_credit_exercice_to_read_again_says_so(warehouse):
    # LFI 2020 changed, the build limited to 2021 (unchanged): no credit exercice is read again, yet what reads
    # every file (the nomenclature) is recomputed; the first line says so rather than "credits of none".
    sources, out = warehouse
    cursor = _cursor(out)
    _change_one_value(sources)
    build = run_build(sources, out, "--years", "2021")
    assert build.returncode == 0, build.stdout + build.stderr
    (first,) = [line for line in build.stdout.splitlines() if line.startswith("budget-warehouse: recomputing")]
    assert re.fullmatch(r"budget-warehouse: recomputing [1-9]\d* asset\(s\), no credits", first), first
    # The changed file left out is named, so that the user knows to build its exercice (a fresh user's find).
    assert (
        "1 credit file(s) changed or new outside --years, left as they were (build their exercice to load them): "
        "LFI_2020_Credits.csv"
    ) in build.stdout
    done = _materialised(out, cursor)
    assert done and not {k for k in done if k.startswith(("staging/credits|", "core/credits|"))}
