"""Releases, faults and concurrent use, against real ``budget-warehouse build`` processes (issue 8).

Every test runs the real command in child processes on a small set of real files
(credits 2020, two nomenclature files, the PAP 2019 indicators): kills are real
SIGKILLs, readers are real DuckDB connections and Parquet reads, and two builds
are two processes. A build is held at a given phase by the documented test hook
``BUDGET_TEST_PAUSE=<phase>:<seconds>`` (``warehouse/publication/releases.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT, SOURCES, TABLES, run_build
from warehouse.publication.releases import VOLATILE_COLUMNS

SMALL = ["LFI_2020_Credits.csv", "PLF_2020_Credits.csv", "PLF_2020_Nomenclature.csv", "LFI_2020_Nomenclature.csv"]
PAP = "PLF_2019_PAP.csv"
CREDITS_2020 = 4453  # rows of credits 2020: LFI 2240 + PLF 2213 (the real files)
LFI_2020 = 2240
VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{6}Z-[0-9a-f]{6}$")


def _sources(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(SOURCES / name, folder / name)
    return folder


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "BUDGET_"))}
    return env | extra


def _start(sources: Path, out: Path, *extra: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "build", "--sources", str(sources), "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(**env),
        cwd=ROOT,
    )


def _start_paused(sources: Path, out: Path, phase: str) -> subprocess.Popen:
    """A ``--prune`` build of ``sources`` into ``out``, returned once it waits at ``phase`` (``BUDGET_TEST_PAUSE``:
    the marker ``releases/.paused-<phase>`` is there)."""
    build = _start(sources, out, "--prune", BUDGET_TEST_PAUSE=f"{phase}:120")
    marker = out / "releases" / f".paused-{phase}"
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert build.poll() is None, build.communicate()
        assert time.monotonic() < deadline, f"the build never reached phase {phase}"
        time.sleep(0.1)
    return build


def _snapshot(out: Path) -> dict[str, str]:
    """What ``latest`` shows, byte for byte: every file's sha256, and where the links point."""
    files = {p.relative_to(out / "latest").as_posix(): p for p in (out / "latest").rglob("*") if p.is_file()}
    shown = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in sorted(files.items())}
    links = {name: os.readlink(out / name) for name in ("latest", "budget.duckdb", "parquet")}
    return shown | {f"link:{k}": v for k, v in links.items()}


def _count(database: Path, sql: str) -> int:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchone()[0]


def _releases(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "releases").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A warehouse built once from the small set of real files (credits 2020 and the PAP 2019)."""
    root = tmp_path_factory.mktemp("baseline")
    sources = _sources(root / "sources", [*SMALL, PAP])
    build = run_build(sources, root / "out")
    assert build.returncode == 0, build.stdout + build.stderr
    return root


@pytest.fixture
def warehouse(baseline, tmp_path) -> tuple[Path, Path]:
    """A private copy of the baseline (sources folder, output folder): (sources, out)."""
    shutil.copytree(baseline / "sources", tmp_path / "sources")
    shutil.copytree(baseline / "out", tmp_path / "out", symlinks=True)
    return tmp_path / "sources", tmp_path / "out"


def test_a_build_publishes_a_release_and_the_same_content_makes_none(warehouse):
    sources, out = warehouse
    (version,) = _releases(out)
    assert VERSION.match(version)
    assert os.readlink(out / "latest") == f"releases/{version}"
    assert (out / "budget.duckdb").resolve() == out / "releases" / version / "budget.duckdb"
    assert (out / "parquet").resolve() == out / "releases" / version / "parquet"
    manifest = json.loads((out / "latest" / "manifest.json").read_text())
    assert manifest["version"] == version and version.endswith(manifest["content_sha256"][:6])
    files = {f["path"]: f for f in manifest["files"]}
    assert set(files) == {f"parquet/{t}.parquet" for t in TABLES} | {"budget.duckdb"}
    for name, entry in files.items():
        assert hashlib.sha256((out / "latest" / name).read_bytes()).hexdigest() == entry["sha256"]
    assert (
        files["parquet/credits.parquet"]["rows"]
        == CREDITS_2020
        == pl.read_parquet(out / "parquet/credits.parquet").height
    )
    assert {s["source_id"] for s in manifest["sources"]} >= {"lfi-2020", "plf-2020"}
    before = _snapshot(out)

    again = run_build(sources, out)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"nothing changed since {version}; no new release" in again.stdout  # no run at all (incremental)
    assert _releases(out) == [version] and _snapshot(out) == before
    assert not [p for p in (out / "releases").iterdir() if p.name.startswith(".building-")]


def test_a_build_with_nothing_new_points_a_removed_or_moved_parquet_and_database_at_latest_again(warehouse):
    # Found by a tester: `<out>/parquet` removed or replaced stayed so after a build with nothing new (only a new
    # release switched the links), so a consumer reading `<out>/parquet/credits.parquet` found nothing. A link
    # removed or pointing elsewhere is restored; a file or folder put there is a user's: left, and said so.
    sources, out = warehouse
    before = _snapshot(out)
    (out / "budget.duckdb").unlink()
    (out / "parquet").unlink()
    (out / "parquet").symlink_to("nowhere")
    again = run_build(sources, out)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "restored budget.duckdb and parquet -> latest (missing, or a link elsewhere)" in again.stdout
    assert _snapshot(out) == before
    assert pl.read_parquet(out / "parquet" / "credits.parquet").height == CREDITS_2020

    (out / "parquet").unlink()
    (out / "parquet").mkdir()
    (out / "parquet" / "mine.txt").write_text("a user's file")
    (out / "parquet" / "user.parquet").write_bytes(b"")
    kept = run_build(sources, out)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    # the summary lists the release's files, not the user's
    assert (
        f"parquet {out / 'latest' / 'parquet' / 'credits.parquet'}" in kept.stdout and "user.parquet" not in kept.stdout
    )
    message = f"not restored: {out / 'parquet'} is a folder, not the link to latest/parquet: left as it is"
    assert message in kept.stdout and "restored budget.duckdb" not in kept.stdout, kept.stdout
    assert (out / "parquet" / "mine.txt").read_text() == "a user's file"
    (out / "parquet" / "mine.txt").unlink()
    (out / "parquet" / "user.parquet").unlink()
    (out / "parquet").rmdir()
    (out / "parquet").symlink_to((out / "latest" / "parquet").resolve())  # absolute, to the same folder: fine
    quiet = run_build(sources, out)
    assert quiet.returncode == 0 and "restored" not in quiet.stdout, quiet.stdout


def test_a_new_release_moves_a_file_or_folder_in_place_of_its_links_aside_and_says_where(warehouse):
    # A fresh user's find: a new release deleted a folder put at `<out>/parquet` (moved aside, then removed) and
    # replaced a file at `<out>/budget.duckdb`, in silence; and a build with nothing new then failed reading that
    # file as the release's database.
    sources, out = warehouse
    (out / "parquet").unlink()
    (out / "parquet").mkdir()
    (out / "parquet" / "mine.txt").write_text("a user's file")
    (out / "budget.duckdb").unlink()
    (out / "budget.duckdb").write_text("not a database")
    same = run_build(sources, out)  # nothing new: the summary reads the release's database, not this file
    assert same.returncode == 0 and "not restored: " in same.stdout, same.stdout + same.stderr
    (sources / "PLF_2020_Credits.csv").unlink()
    new = run_build(sources, out, "--prune")
    assert new.returncode == 0, new.stdout + new.stderr
    (folder,) = out.glob("parquet.kept-*")
    (file,) = out.glob("budget.duckdb.kept-*")
    assert f"{out / 'parquet'} was a folder, not the link to latest/parquet: moved to {folder} (nothing removed)" in (
        new.stdout
    )
    assert f"{out / 'budget.duckdb'} was a file, not the link to latest/budget.duckdb: moved to {file}" in new.stdout
    assert (folder / "mine.txt").read_text() == "a user's file" and file.read_text() == "not a database"
    assert os.readlink(out / "parquet") == "latest/parquet" and os.readlink(out / "budget.duckdb") == (
        "latest/budget.duckdb"
    )


def test_a_latest_link_removed_or_pointed_back_never_costs_a_release(warehouse):
    # An adversarial tester's find: with `latest` removed, the next build took every release for a killed build's
    # leftovers and deleted them all; with `latest` pointed back at an older release (a rollback), the newer ones.
    sources, out = warehouse
    (first,) = _releases(out)
    (sources / "PLF_2020_Credits.csv").unlink()
    assert run_build(sources, out, "--prune").returncode == 0
    second = max(_releases(out))
    assert _releases(out) == [first, second]
    (out / "latest").unlink()
    again = run_build(sources, out)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"latest pointed at no release: pointed at the newest, releases/{second}" in again.stdout
    assert "removed what a killed build left" not in again.stdout and _releases(out) == [first, second]
    assert os.readlink(out / "latest") == f"releases/{second}"
    (out / "latest").unlink()
    (out / "latest").symlink_to(f"releases/{first}")  # a user's rollback
    back = run_build(sources, out)
    assert back.returncode == 0, back.stdout + back.stderr
    assert "removed what a killed build left" not in back.stdout and second in _releases(out), back.stdout


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_as_published(out: Path) -> None:
    """Every release's files have the sha256 its manifest records, and its Parquet files the rows of its database."""
    for version in _releases(out):
        folder = out / "releases" / version
        manifest = json.loads((folder / "manifest.json").read_text())
        for entry in manifest["files"]:
            assert _sha256(folder / entry["path"]) == entry["sha256"], (version, entry["path"])
            if entry["rows"] is not None:
                assert pq.read_metadata(folder / entry["path"]).num_rows == entry["rows"], (version, entry["path"])
        assert pq.read_metadata(folder / "parquet/titres.parquet").num_rows == _count(
            folder / "budget.duckdb", "SELECT count(*) FROM titres"
        )


def _two_releases_sharing_titres(sources: Path, out: Path) -> tuple[str, str, Path]:
    credits = sources / "LFI_2020_Credits.csv"
    credits.write_bytes(credits.read_bytes().replace(b";50 000;50 000\n", b";50 001;50 001\n", 1))
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    first, second = _releases(out)
    titres = out / "releases" / second / "parquet/titres.parquet"
    assert os.path.samefile(titres, out / "releases" / first / "parquet/titres.parquet")  # a hard link
    return first, second, titres


def test_a_published_parquet_file_overwritten_in_place_is_written_again_in_every_release_sharing_it(warehouse):
    # A fresh user's find: `pyarrow.parquet.write_table(t.slice(0, 6), "out/parquet/titres.parquet")` changed the
    # file of every release at once (hard links), the next build said `nothing changed` (exit 0), and the one after
    # a real change failed on the working copy (`6 rows, expected 7`) with no way back. Release files are
    # read-only now (root ignores it), and each build finds the change and puts the published file back.
    sources, out = warehouse
    first, second, titres = _two_releases_sharing_titres(sources, out)
    for path in (out / "releases" / second).rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o444, path
    expected = next(
        f["sha256"]
        for f in json.loads((titres.parents[1] / "manifest.json").read_text())["files"]
        if f["path"] == "parquet/titres.parquet"
    )
    table = pq.read_table(titres)
    pq.write_table(table.slice(0, 6), out / "parquet/titres.parquet")  # as the user did: every release's copy
    damaged = _sha256(titres)
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    assert (
        f"budget-warehouse: {titres}: a file of the latest release changed since it was published (its sha256 is "
        f"{damaged}, {titres.parents[1] / 'manifest.json'} records {expected}): written again from its database, "
        f"with the recorded sha256, and put back in 2 release(s): {second}, {first}\n"
    ) in build.stdout, build.stdout
    assert f"nothing changed since {second}; no new release" in build.stdout and "Warning" not in build.stderr
    _assert_as_published(out)
    assert pq.read_metadata(titres).num_rows == table.num_rows and stat.S_IMODE(titres.stat().st_mode) == 0o444
    assert os.path.samefile(titres, out / "releases" / first / "parquet/titres.parquet")
    again = run_build(sources, out)  # checked by its size, mtime and inode: nothing said
    assert again.returncode == 0 and "changed since it was published" not in again.stdout, again.stdout


def test_a_changed_parquet_file_that_cannot_be_written_again_as_published_is_refused_and_the_recovery_works(
    warehouse,
):
    # Where the file written again from the database has not the sha256 the manifest records (here a manifest edited
    # by hand), the build is refused, naming the file, both sha256 and every release holding it; removing them, as
    # the message says, builds again (from nothing here) a release whose files are its manifest's.
    sources, out = warehouse
    first, second, titres = _two_releases_sharing_titres(sources, out)
    manifest = titres.parents[1] / "manifest.json"
    pq.write_table(pq.read_table(titres).slice(0, 6), titres)
    recorded = json.loads(manifest.read_text())
    entry = next(f for f in recorded["files"] if f["path"] == "parquet/titres.parquet")
    entry["sha256"] = "0" * 64
    manifest.write_text(json.dumps(recorded, ensure_ascii=False, indent=1))
    build = run_build(sources, out)
    assert build.returncode == 2, build.stdout + build.stderr
    (said,) = build.stderr.strip().splitlines()
    assert said == (
        f"budget-warehouse: {titres}: a file of the latest release changed since it was published (its sha256 is "
        f"{_sha256(titres)}, {manifest} records {'0' * 64}); the release(s) holding the same file: "
        f"{titres.parents[1]}, {out / 'releases' / first}: remove them all (rm -rf) to build again from the release "
        "before them, or from nothing if no other is left; nothing built"
    ), said
    assert _releases(out) == [first, second] and not list((out / "releases").glob(".building-*"))
    for version in (first, second):
        shutil.rmtree(out / "releases" / version)  # the recovery the message names
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    _assert_as_published(out)
    assert _count(out / "budget.duckdb", "SELECT count(*) FROM credits WHERE ae = 50001") > 0


@pytest.mark.parametrize("phase", ["load", "parquet", "switch"])
def test_a_killed_build_leaves_latest_byte_for_byte_and_the_next_build_completes(warehouse, phase):
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()  # the killed build would have made a new release
    before = _snapshot(out)
    build = _start_paused(sources, out, phase)
    build.send_signal(signal.SIGKILL)
    build.wait()
    assert _snapshot(out) == before  # latest, budget.duckdb and parquet/ as they were, byte for byte
    assert _count(out / "budget.duckdb", "SELECT count(*) FROM credits") == CREDITS_2020

    following = run_build(sources, out, "--prune")  # no cleanup by hand
    assert following.returncode == 0, following.stdout + following.stderr
    assert _count(out / "budget.duckdb", "SELECT count(*) FROM credits") == LFI_2020
    assert len(_releases(out)) == 2  # the previous one and the new one; nothing the killed build left
    dotted = sorted(p.name for p in (out / "releases").iterdir() if p.name.startswith("."))
    assert dotted == [".lock", ".state.json", ".verified.json"]  # the build's own files (.verified.json: a stat cache)
    if phase == "switch":  # killed after its last run ended: no run to mark
        return
    # Crash hygiene: the run the kill cut short is failed in the instance; none stays STARTED.
    assert "run(s) of a killed build marked failed" in following.stdout
    with dg.DagsterInstance.from_config(str(out / "dagster")) as instance:
        started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        failed = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    assert started == []
    assert any(run.tags.get("budget-warehouse/pid") == str(build.pid) for run in failed)


def test_readers_never_block_a_build_nor_see_a_partial_release(warehouse):
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()
    first = run_build(sources, out, "--prune")
    assert first.returncode == 0, first.stdout + first.stderr
    shutil.copyfile(SOURCES / "PLF_2020_Credits.csv", sources / "PLF_2020_Credits.csv")
    held = duckdb.connect(str(out / "budget.duckdb"), read_only=True)  # an analyst's open connection
    assert held.execute("SELECT count(*) FROM credits").fetchone()[0] == LFI_2020
    seen: list[tuple[int, int, int, int]] = []
    errors: list[str] = []
    stop = threading.Event()

    def query_in_a_loop() -> None:
        while not stop.is_set():
            try:
                with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
                    rows, files = connection.execute(
                        "SELECT (SELECT count(*) FROM credits), (SELECT count(*) FROM sources)"
                    ).fetchone()
                release = (out / "latest").resolve()  # one release: its database and its Parquet agree
                with duckdb.connect(str(release / "budget.duckdb"), read_only=True) as connection:
                    in_release = connection.execute("SELECT count(*) FROM credits").fetchone()[0]
                parquet = pl.read_parquet(release / "parquet" / "credits.parquet").height
                seen.append((rows, files, in_release, parquet))
            except Exception as exc:  # noqa: BLE001 - every failure of a reader is a finding
                errors.append(repr(exc))
            time.sleep(0.02)

    reader = threading.Thread(target=query_in_a_loop)
    reader.start()
    try:
        build = run_build(sources, out)
    finally:
        stop.set()
        reader.join()
    assert build.returncode == 0, build.stdout + build.stderr
    assert held.execute("SELECT count(*) FROM credits").fetchone()[0] == LFI_2020  # its view stays consistent
    held.close()
    assert errors == []
    assert len(seen) > 10
    # Each reading is one whole release: the old (LFI only, 4 sources) or the new (LFI and PLF, 5 sources).
    assert {(r, f) for r, f, _, _ in seen} <= {(LFI_2020, 4), (CREDITS_2020, 5)}
    assert {(d, p) for _, _, d, p in seen} <= {(LFI_2020, LFI_2020), (CREDITS_2020, CREDITS_2020)}
    assert _count(out / "budget.duckdb", "SELECT count(*) FROM credits") == CREDITS_2020


def test_two_builds_at_once_both_succeed_one_waits(warehouse):
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()
    builds = [_start(sources, out, "--prune"), _start(sources, out, "--prune")]
    outputs = [b.communicate(timeout=600) for b in builds]
    assert [b.returncode for b in builds] == [0, 0], outputs
    waited = [o for o, _ in outputs if "another build is running" in o]
    assert len(waited) == 1
    assert "no new release" in waited[0]  # the second found the first's release, with the same content
    assert len(_releases(out)) == 2
    assert _count(out / "budget.duckdb", "SELECT count(*) FROM credits") == LFI_2020


def test_a_source_absent_from_the_folder_is_kept_with_a_warning_and_pruned_only_with_prune(warehouse):
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()
    (sources / PAP).unlink()
    kept = run_build(sources, out)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "absent from the sources folder" in kept.stdout
    assert "  - PLF_2020_Credits.csv" in kept.stdout and f"  - {PAP}" in kept.stdout
    database = out / "budget.duckdb"
    assert _count(database, "SELECT count(*) FROM credits WHERE source_id = 'plf-2020'") == CREDITS_2020 - LFI_2020
    assert _count(database, "SELECT count(*) FROM indicateurs") == 1930
    assert _count(database, "SELECT count(*) FROM sources WHERE statut = 'absent'") == 2

    assert len(_releases(out)) == 2  # old releases stay unless asked
    pruned = run_build(sources, out, "--prune", "--keep-releases", "1")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert _releases(out) == [os.readlink(out / "latest").removeprefix("releases/")]  # only the latest kept
    kept = out / ".staging-releases"  # the staging of the releases removed goes with them (wave 17)
    assert not kept.exists() or not any(kept.iterdir()), list(kept.iterdir())
    assert _count(database, "SELECT count(*) FROM credits") == LFI_2020
    assert _count(database, "SELECT count(*) FROM indicateurs") == 0
    assert _count(database, "SELECT count(*) FROM sources WHERE source_id IN ('plf-2020', 'fichier-plf-2019-pap')") == 0


#: A credit file of 2023 whose one label holds mojibake (`Ã‰quipe`): the ERROR check `no_mojibake_in_labels` fails,
#: and the build publishes nothing.
MOJIBAKE_2023 = (
    "Année LFI;Type de Budget (Hors Budgets annexes);Code Mission;Mission;Code Programme;Programme;Code Action;Action;"
    "Code Sous-Action;Sous-Action;Code Catégorie;Catégorie;AE LFI 2023;CP LFI 2023;Code Titre;Titre;Code Ministère;"
    "Ministère\n"
    "2023;Budget général;TR;Transformation et fonction publiques;352;Innovation et transformation numériques;02;"
    "Ã‰quipe d'intervention;;;21;Rémunérations;3000;3000;2;Dépenses de personnel;MIN50;Transformation\n"
)


def assert_absent_source_kept(build, out: Path) -> None:
    """``build`` (without ``--prune``, ``PLF_2020_Credits.csv`` absent) published the credits of the absent file as
    the latest release had them, and its summary says so: kept, no credit row removed."""
    assert build.returncode == 0, build.stdout + build.stderr
    assert "(their data is kept; --prune removes it):\n  - PLF_2020_Credits.csv" in build.stdout, build.stdout
    database = out / "budget.duckdb"
    assert _count(database, "SELECT count(*) FROM credits WHERE source_id = 'plf-2020'") == CREDITS_2020 - LFI_2020
    assert _count(database, "SELECT count(*) FROM credits") == CREDITS_2020
    assert _count(database, "SELECT statut FROM sources WHERE source_id = 'plf-2020'") == "absent"
    assert pl.read_parquet(out / "parquet" / "credits.parquet").height == CREDITS_2020
    lines = build.stdout.splitlines()
    assert re.fullmatch(
        rf"table credits +{CREDITS_2020} rows", next(x for x in lines if x.startswith("table credits "))
    )
    assert f"  credits 2020:  {CREDITS_2020} rows (LFI,PLF)" in lines, build.stdout
    (changes,) = [x for x in lines if x.startswith("changes since ")]
    assert "credits +" not in changes and "credits totals changed: none" in changes, changes


@pytest.mark.parametrize("upgraded", [False, True], ids=["kept-aside", "upgraded"])
def test_a_failed_prune_build_changes_nothing_a_later_build_keeps(warehouse, upgraded):
    # The adversarial tester's find: a --prune build that failed kept its pruned staging; the next build without
    # --prune, the file still absent, said its data was kept but published `credits +0 -2213`. `upgraded`: the
    # warehouse of a version that kept no staging aside (no `.staging-latest`): the failed build is the first
    # after the upgrade, whose changes were not put back (wave 16).
    sources, out = warehouse
    if upgraded:
        shutil.rmtree(out / ".staging-latest")
    (sources / "PLF_2020_Credits.csv").unlink()
    (sources / "LFI_2023_Credits.csv").write_text(MOJIBAKE_2023, encoding="utf-8")
    before = _snapshot(out)
    failed = run_build(sources, out, "--prune")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "  FAIL: core/ecarts_sources:no_mojibake_in_labels" in failed.stdout, failed.stdout
    assert "release: none published" in failed.stdout and _snapshot(out) == before
    (sources / "LFI_2023_Credits.csv").unlink()  # the failure's cause gone: its staged 2023 goes with it

    kept = run_build(sources, out)
    assert_absent_source_kept(kept, out)
    assert "put back as the latest release" in kept.stdout, kept.stdout
    assert _count(out / "budget.duckdb", "SELECT count(*) FROM credits WHERE exercice = 2023") == 0
    assert not (out / "staging" / "credits" / "exercice=2023").exists()
    again = run_build(sources, out)  # idempotent: nothing left to put back, nothing changed
    assert again.returncode == 0 and "put back" not in again.stdout, again.stdout + again.stderr
    assert "no new release" in again.stdout, again.stdout


@pytest.mark.parametrize("route", ["pointed-back", "removed"])
def test_a_rollback_after_a_prune_build_keeps_what_the_release_pointed_back_at_published(warehouse, route):
    # The fresh user's find (wave 17): release A kept an absent file's data, B (--prune) removed it, `latest` pointed
    # back at A (by hand, or B's folder removed as the README allows): the next build said the absent file's data
    # was kept (`lignes_chargees` of A) but published none of it (`credits +0 -2213`, exit 0): it took B's pruned
    # staging for A's. Now every release keeps the links to its staged files; the build after the rollback puts A's
    # back, and publishes A's content.
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()
    assert_absent_source_kept(run_build(sources, out), out)  # release A
    a = os.readlink(out / "latest")
    a_content = json.loads((out / "latest" / "manifest.json").read_text())["content_sha256"]
    pruned = run_build(sources, out, "--prune")  # release B: 2020 LFI only
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert _count(out / "budget.duckdb", "SELECT count(*) FROM credits") == LFI_2020
    b = os.readlink(out / "latest")
    assert b != a
    if route == "pointed-back":
        (out / "latest.new").symlink_to(a)
        os.replace(out / "latest.new", out / "latest")
    else:
        shutil.rmtree(out / b)

    kept = run_build(sources, out)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "(their data is kept; --prune removes it):\n  - PLF_2020_Credits.csv" in kept.stdout, kept.stdout
    database = out / "budget.duckdb"
    assert _count(database, "SELECT count(*) FROM credits WHERE source_id = 'plf-2020'") == CREDITS_2020 - LFI_2020
    assert _count(database, "SELECT count(*) FROM credits") == CREDITS_2020
    assert f"latest is {a.removeprefix('releases/')}, not the release the staging was last kept for" in kept.stdout
    assert f"  credits 2020:  {CREDITS_2020} rows (LFI,PLF)" in kept.stdout.splitlines(), kept.stdout
    assert f"release: content unchanged since {a.removeprefix('releases/')}; no new release" in kept.stdout
    assert json.loads((out / "latest" / "manifest.json").read_text())["content_sha256"] == a_content
    assert os.readlink(out / "latest") == a
    again = run_build(sources, out)  # nothing left to put back
    assert again.returncode == 0 and "put back" not in again.stdout, again.stdout + again.stderr


def test_a_rollback_to_a_release_whose_staging_is_not_kept_is_refused(warehouse):
    # A release published before each release kept its staging (an upgrade), `latest` pointed back at it after a
    # --prune build: its staging cannot be had back. Refused, exit 2, nothing published; --prune builds.
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()
    assert run_build(sources, out).returncode == 0  # release A, PLF 2020 kept
    a = os.readlink(out / "latest")
    assert run_build(sources, out, "--prune").returncode == 0  # release B
    b = os.readlink(out / "latest")
    shutil.rmtree(out / ".staging-releases")  # as a version before wave 17 left it
    (out / "latest.new").symlink_to(a)
    os.replace(out / "latest.new", out / "latest")
    before = _snapshot(out)

    refused = run_build(sources, out)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert (
        f"the staging is release {b.removeprefix('releases/')}'s, not {a.removeprefix('releases/')}'s" in refused.stderr
    )
    assert f"back at {b}, or build with --prune" in refused.stderr and "nothing built" in refused.stderr
    assert _snapshot(out) == before and not list((out / "releases").glob(".building-*"))
    pruned = run_build(sources, out, "--prune")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert _count(out / "budget.duckdb", "SELECT count(*) FROM credits") == LFI_2020


@pytest.mark.parametrize("damage", ["empty", "garbled"])
def test_a_broken_credit_file_keeps_its_data_in_every_table_and_exits_1(warehouse, damage):
    sources, out = warehouse
    database = out / "budget.duckdb"
    before = {
        t: _count(database, f"SELECT count(*) FROM {t}")
        for t in ("credits", "programmes", "actions", "sous_actions", "indicateurs", "indicateur_valeurs")
    }
    sha_before = _count(database, "SELECT sha256 FROM sources WHERE source_id = 'plf-2020'")
    target = sources / "PLF_2020_Credits.csv"
    target.write_bytes(b"" if damage == "empty" else bytes(reversed(target.read_bytes()[:5000])))
    (sources / PAP).write_bytes(b"<html>not a file</html>")
    build = run_build(sources, out)
    assert build.returncode == 1, build.stdout + build.stderr
    assert "PLF_2020_Credits.csv" in build.stdout and f"{PAP}" in build.stdout
    assert re.search(r"release: \S+ published", build.stdout)  # sources in error: still a release, data kept
    after = {t: _count(database, f"SELECT count(*) FROM {t}") for t in before}
    assert after == before
    with duckdb.connect(str(database), read_only=True) as connection:
        statut, sha, message = connection.execute(
            "SELECT statut, sha256, message FROM sources WHERE source_id = 'plf-2020'"
        ).fetchone()
    assert (statut, sha) == ("erreur", sha_before)  # the row describes the data held, and says it is kept
    assert "last good data is kept" in message


@pytest.mark.parametrize(
    ("target", "content", "exact", "said"),
    [
        (  # another exercice and phase (an amount changed: bytes no catalogue entry has)
            "LFI_2020_Credits.csv",
            "PLF_2022_Credits_Destination_Nature.csv",
            False,
            "holds PLF 2022 where the catalogue's lfi-2020 is LFI 2020",
        ),
        (
            "LFI_2020_Credits.csv",
            "PLF_2020_Credits.csv",
            False,
            "holds PLF 2020 where the catalogue's lfi-2020 is LFI 2020",
        ),
        (  # another catalogue entry's very bytes (a fresh user's find: set aside as a copy of that file, exit 0)
            "LFI_2020_Credits.csv",
            "PLF_2020_Credits.csv",
            True,
            "holds PLF 2020 (the bytes of PLF_2020_Credits.csv) where the catalogue's lfi-2020 is LFI 2020",
        ),
        (  # a nomenclature states no year nor phase inside: its bytes are those of another source of the release
            "LFI_2020_Nomenclature.csv",
            "PLF_2020_Nomenclature.csv",
            True,
            "holds PLF 2020 (the bytes of PLF_2020_Nomenclature.csv) where the latest release's "
            "fichier-lfi-2020-nomenclature is LFI 2020",
        ),
    ],
    ids=["another exercice", "another phase", "another entry's bytes", "a nomenclature"],
)
def test_a_source_whose_content_becomes_another_exercice_or_phase_keeps_its_data_and_exits_1(
    warehouse, target, content, exact, said
):
    sources, out = warehouse
    database = out / "budget.duckdb"
    tables = ("credits", "programmes", "actions", "sous_actions", "nomenclature_evenements")
    before = {t: _count(database, f"SELECT count(*) FROM {t}") for t in tables}
    replaced = (SOURCES / content).read_bytes()
    if not exact:
        replaced += b"\n"  # other bytes than the catalogue's: the file is known by its name only
    (sources / target).write_bytes(replaced)
    build = run_build(sources, out)
    assert build.returncode == 1, build.stdout + build.stderr
    assert f"  - {target}: {said}" in build.stdout, build.stdout
    assert {t: _count(database, f"SELECT count(*) FROM {t}") for t in tables} == before
    with duckdb.connect(str(database), read_only=True) as connection:
        statut, message = connection.execute(
            "SELECT statut, message FROM sources WHERE fichier = ?", [target]
        ).fetchall()[0]
    assert statut == "erreur" and "last good data is kept" in message


def test_quotes_semicolons_and_comments_in_paths(tmp_path):
    hostile = tmp_path / "l'état; DROP TABLE credits; --x"
    sources = _sources(hostile / "sources'; --", SMALL)
    out = hostile / "out'; COPY credits TO 'evil.csv'; --"
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    assert _count(out / "budget.duckdb", "SELECT count(*) FROM credits") == CREDITS_2020
    assert pl.read_parquet(out / "parquet" / "credits.parquet").height == CREDITS_2020
    assert not list(tmp_path.rglob("evil.csv")) and not list(ROOT.glob("evil.csv"))


def test_a_step_failing_validation_gives_the_failing_row_not_panderas_json():
    # The summary's one line for a step failed by a model: ValidationFailed (the row, the column, the check), not
    # the SchemaErrors it was raised from, a JSON dump of Pandera's report (seen by a fresh user on a real build).
    import dagster as dg
    import pandera.polars as pa

    from pipelines.cli import root_cause
    from schemas.validation import validate

    class Model(pa.DataFrameModel):
        code_programme: str = pa.Field(str_matches=r"^\d{3}$")

    @dg.asset
    def programmes() -> None:
        validate(Model, pl.DataFrame({"code_programme": ["352", "35"]}))

    result = dg.materialize([programmes], raise_on_error=False)
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    line = root_cause(failure.event_specific_data.error)
    assert line.startswith("ValidationFailed: Model: 1 failure(s)"), line
    assert "row 1, column 'code_programme'" in line and "'35'" in line and "SchemaErrors" not in line, line


def test_a_failed_step_gives_its_cause_in_one_line_and_publishes_nothing(warehouse):
    sources, out = warehouse
    before = _snapshot(out)
    shutil.rmtree(out / "staging" / "credits")
    (out / "staging" / "credits").write_text("in the way")  # staging cannot be written
    (sources / "PLF_2020_Credits.csv").unlink()
    build = run_build(sources, out, "--prune")
    assert build.returncode == 1
    (line,) = [x for x in build.stdout.splitlines() if x.startswith("  step failed: staging__credits")]
    assert str(out / "staging" / "credits") in line and "Error occurred while executing" not in line
    assert "release: none published" in build.stdout
    # The figures of the summary are this build's: their database is named as the copy that goes on exit.
    (database,) = [x for x in build.stdout.splitlines() if x.startswith("database ")]
    assert "(this build's working copy, not published: removed on exit; the latest release's is " in database
    assert database.endswith(f"{out / 'budget.duckdb'})") and not Path(database.split()[1]).exists(), database
    assert _snapshot(out) == before


def test_a_staging_folder_of_credit_elements_replaced_by_a_file_names_its_real_cause(warehouse):
    # Found by a tester: the summary named DuckDB's "ResourceInUseException: … connection has an open result" (a
    # reset of the memory limit, refused while a result was open, replaced the step's error), not its cause.
    sources, out = warehouse
    before = _snapshot(out)
    shutil.rmtree(out / "staging" / "credit_elements")
    (out / "staging" / "credit_elements").write_text("in the way")
    (sources / "PLF_2020_Credits.csv").unlink()
    build = run_build(sources, out, "--prune")
    assert build.returncode == 1
    (line,) = [x for x in build.stdout.splitlines() if x.startswith("  step failed: staging__credit_elements")]
    assert "NotADirectoryError" in line and str(out / "staging" / "credit_elements") in line, line
    assert "ResourceInUseException" not in line
    assert "release: none published" in build.stdout
    assert _snapshot(out) == before


def test_a_catalogued_file_absent_and_its_uncatalogued_resave_beside_is_no_tie(warehouse):
    # A tester's find: the catalogued .xls removed and an .xlsx of the same data put in its place: the absent file
    # tied with the new one ("both catalogued or both unknown", though the absent one is the catalogue's), exit 1,
    # nothing of 2020 PLF loaded until --prune. Rule 4 decides: the catalogued file (its last good data) stays
    # authoritative, the unknown one is a witness; with --prune, the new file alone is read.
    sources, out = warehouse
    original = sources / "PLF_2020_Credits.csv"
    (sources / "PLF_2020_Credits_resauve.csv").write_bytes(original.read_bytes() + b"\n")  # other bytes, same data
    original.unlink()
    kept = run_build(sources, out)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "equally authoritative" not in kept.stdout and "as authoritative as" not in kept.stdout
    database = out / "budget.duckdb"
    assert _count(database, "SELECT count(*) FROM credits WHERE source_id = 'plf-2020'") == CREDITS_2020 - LFI_2020
    pruned = run_build(sources, out, "--prune")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert _count(database, "SELECT count(*) FROM credits WHERE source_id = 'plf-2020'") == 0
    assert _count(database, "SELECT count(*) FROM credits") == CREDITS_2020


def test_of_copies_the_file_the_latest_release_read_is_kept_not_the_first_in_path_order(warehouse):
    # A tester's find: a browser's `X (1).csv` put beside an uncatalogued `X.csv` was kept (a space sorts before a
    # dot) and `X.csv` became the copy: the source read changed. The one the latest release read stays read.
    sources, out = warehouse
    original = sources / "LFI 2020 credits.csv"
    original.write_bytes((sources / "LFI_2020_Credits.csv").read_bytes() + b"\n")  # unknown to the catalogue
    first = run_build(sources, out)
    assert first.returncode == 0, first.stdout + first.stderr
    database = out / "budget.duckdb"
    query = "SELECT fichier, statut FROM sources WHERE fichier LIKE 'LFI 2020 credits%' ORDER BY fichier"
    with duckdb.connect(str(database), read_only=True) as connection:
        assert connection.execute(query).fetchall() == [("LFI 2020 credits.csv", "lu")]
    (sources / "LFI 2020 credits (1).csv").write_bytes(original.read_bytes())
    second = run_build(sources, out)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "LFI 2020 credits (1).csv: the same bytes as LFI 2020 credits.csv, set aside" in second.stdout
    with duckdb.connect(str(database), read_only=True) as connection:
        assert connection.execute(query).fetchall() == [
            ("LFI 2020 credits (1).csv", "doublon"),
            ("LFI 2020 credits.csv", "lu"),
        ]


def test_a_release_database_does_not_grow_with_the_history_of_builds(tmp_path):
    """DuckDB keeps in its file the blocks of the rows a build replaced, and a build starts from a copy of the
    latest release's: without a compaction, every incremental build left a bigger ``budget.duckdb`` for the same
    content (a fresh user's find; 4.2 MB, then 6.0 MB, for this 20,000-line file)."""
    from benchmarks.synthetic import generate

    sources, out = tmp_path / "sources", tmp_path / "out"
    credits = generate(20_000, sources).path
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    first = (out / "latest" / "budget.duckdb").stat().st_size
    original = credits.read_bytes()
    lines = original.split(b"\n")
    fields = lines[1].split(b";")  # AE T2 PLF of the first line: 7 euros more
    fields[13] = str(int(fields[13].replace(b" ", b"")) + 7).encode()
    changed = b"\n".join([lines[0], b";".join(fields), *lines[2:]])
    compacted = []  # a review's find (wave 17): a build said nothing of it; now one line of its summary, the sizes
    for content in (changed, original, changed):
        credits.write_bytes(content)
        build = run_build(sources, out)
        assert build.returncode == 0, build.stdout + build.stderr
        said = [line for line in build.stdout.splitlines() if line.startswith("database compacted")]
        size = (out / "latest" / "budget.duckdb").stat().st_size
        if said:
            found = re.fullmatch(
                r"database compacted \(more than a fifth of its blocks were free\): ([\d.]+) MB -> ([\d.]+) MB", said[0]
            )
            assert len(said) == 1 and found and found[2] == f"{size / 1e6:.2f}" and float(found[1]) > size / 1e6, said
            compacted.append(said[0])
    assert compacted, "no build said it compacted its database"
    versions = _releases(out)
    assert len(versions) == 4 and versions[0][-6:] == versions[2][-6:] != versions[3][-6:] == versions[1][-6:]
    sizes = [(out / "releases" / v / "budget.duckdb").stat().st_size for v in versions]
    assert max(sizes) <= 1.3 * first, sizes
    latest = out / "latest" / "budget.duckdb"
    manifest = json.loads((out / "latest" / "manifest.json").read_text())
    (recorded,) = [f["sha256"] for f in manifest["files"] if f["path"] == "budget.duckdb"]
    assert hashlib.sha256(latest.read_bytes()).hexdigest() == recorded
    with duckdb.connect() as connection:  # the third release (the first's content) holds the same rows; views answer
        connection.execute(f"ATTACH '{out / 'releases' / versions[0] / 'budget.duckdb'}' AS premiere (READ_ONLY)")
        connection.execute(f"ATTACH '{out / 'releases' / versions[2] / 'budget.duckdb'}' AS derniere (READ_ONLY)")
        listed = "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = ? ORDER BY 1"
        objects = connection.execute(listed, ["premiere"]).fetchall()
        assert objects == connection.execute(listed, ["derniere"]).fetchall()
        assert {kind for _, kind in objects} == {"BASE TABLE", "VIEW"}
        for name, _ in objects:
            columns = "SELECT column_name FROM information_schema.columns WHERE table_catalog = ? AND table_name = ? ORDER BY ordinal_position"
            kept = [c for (c,) in connection.execute(columns, ["derniere", name]).fetchall()]
            assert kept == [c for (c,) in connection.execute(columns, ["premiere", name]).fetchall()]
            kept = ", ".join(f'"{c}"' for c in kept if c not in VOLATILE_COLUMNS)
            for a, b in (("premiere", "derniere"), ("derniere", "premiere")):
                assert not connection.execute(
                    f'SELECT {kept} FROM {a}."{name}" EXCEPT ALL SELECT {kept} FROM {b}."{name}"'
                ).fetchall(), (name, a, b)


def test_the_temporary_files_of_a_killed_build_are_removed_by_the_next_and_the_release_stays_whole(warehouse):
    # A review's find (wave 17): a build killed while it wrote `releases/.verified.json` or `.state.json`, or put back
    # a release's Parquet file (`titres.parquet.repair-<pid>`), left the temporary file for ever. The next build
    # removes those of a process no longer alive (one alive may be writing: kept), wherever the build writes them.
    sources, out = warehouse
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    release = (out / "latest").resolve()
    left = [
        out / "releases" / f".verified.json.tmp-{pid}",
        out / "releases" / f".state.json.tmp-{pid}",
        release / "parquet" / f".titres.parquet.tmp-{pid}",
        out / "staging" / "nomenclature" / f".rapport.json.tmp-{pid}",
        out / f".latest.tmp-{pid}",
    ]
    for path in left:
        path.write_text("{", encoding="utf-8")
    os.link(release / "parquet" / "titres.parquet", release / "parquet" / f"titres.parquet.repair-{pid}")  # before 17
    left.append(release / "parquet" / f"titres.parquet.repair-{pid}")
    alive = out / "releases" / f".verified.json.tmp-{os.getpid()}"
    alive.write_text("{", encoding="utf-8")
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    assert [p for p in left if p.exists()] == [] and alive.exists()
    assert _releases(out) == [release.name] and (out / "latest").resolve() == release
    _assert_as_published(out)
