"""What ``budget-warehouse build`` prints when something goes wrong, against real builds on real files (a fresh
user's finds): one line per failed step and per source in error, the tracebacks in a file the summary names, no
"done" for interrupted runs, a document never listed as a file of no covered family."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import duckdb
import pytest

from tests.conftest import ROOT, SOURCES, build_env, run_build, run_child, run_python
from tests.test_releases import SMALL, _releases, _sources, _start_paused, baseline, warehouse
from tests.workbook_files import Sheet, write_xlsx

__all__ = ["baseline", "warehouse"]  # the fixtures of tests/test_releases.py: a small warehouse built once

DOCUMENT = "documents/RAP_2021_P352_presentation_strategique.txt"


def _lines_naming(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if name in line]


def _garble(path: Path, row: int, column: int) -> None:
    """``douze`` in the ``column``-th field (from 0) of the data row ``row`` (from 1, below a one-line header)."""
    lines = path.read_bytes().splitlines(keepends=True)
    fields = lines[row].split(b";")
    fields[column] = b"douze"
    lines[row] = b";".join(fields)
    path.write_bytes(b"".join(lines))


def _on_a_terminal(command: list[str], env: dict, rows: int, columns: int, while_idle=None) -> tuple[int, str]:
    """``command`` run on a pseudo-terminal of ``rows`` x ``columns`` (0 x 0: one nobody sized), from the repository;
    ``while_idle(pid)`` called while it prints nothing. Its exit status and all it printed."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the command, its output the terminal's
        os.chdir(ROOT)
        os.execve(command[0], command, env)
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    os.set_blocking(terminal, False)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except BlockingIOError:
            if while_idle is not None:
                while_idle(pid)
            time.sleep(0.05)
            continue
        except OSError:  # the command ended: the terminal is closed
            break
        if not chunk:
            break
        shown += chunk
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")


def test_a_failed_step_is_one_line_on_the_console_and_its_traceback_is_in_the_file_the_summary_names(warehouse):
    sources, out = warehouse
    shutil.rmtree(out / "staging" / "credits")
    (out / "staging" / "credits").write_text("in the way")  # staging cannot be written
    (sources / "PLF_2020_Credits.csv").unlink()
    build = run_build(sources, out, "--prune")
    assert build.returncode == 1
    console = build.stdout + build.stderr
    for dagster_report in ("STEP_FAILURE", "RUN_FAILURE", "Stack Trace", "Traceback", "dagster - ERROR"):
        assert dagster_report not in console, console
    (failed,) = _lines_naming(console, "FileExistsError")
    assert failed.startswith("  step failed: staging__credits: FileExistsError:") and str(out / "staging") in failed
    (named,) = [line for line in build.stdout.splitlines() if line.startswith("  its traceback: ")]
    log = Path(named.removeprefix("  its traceback: "))
    assert log.parent == out / "dagster" / "logs" and log.is_file()
    text = log.read_text(encoding="utf-8")
    assert "staging__credits" in text and "FileExistsError" in text
    assert "Stack Trace:" in text and "assets/credits.py" in text  # the full traceback, down to our code


def test_each_source_in_error_is_one_line_saying_whether_its_last_good_data_is_kept(warehouse):
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").write_bytes(b"")  # its data kept, as an expected source (emptied)
    _garble(sources / "LFI_2020_Credits.csv", 4, 3)  # ministere, data row 4: its data kept too
    shutil.copyfile(SOURCES / "LFI_2021_Credits.csv", sources / "LFI_2021_Credits.csv")
    _garble(sources / "LFI_2021_Credits.csv", 2, 3)  # Programme, data row 2; never loaded: no last good data
    build = run_build(sources, out)
    assert build.returncode == 1, build.stdout + build.stderr
    console = build.stdout + build.stderr
    assert "dagster - ERROR" not in console and "not loaded: " not in console, console
    (emptied,) = _lines_naming(console, "PLF_2020_Credits.csv")
    (garbled,) = _lines_naming(console, "LFI_2020_Credits.csv")
    (first,) = _lines_naming(console, "LFI_2021_Credits.csv")
    assert "ligne 4" in garbled and "douze" in garbled and "ligne 2" in first
    assert emptied.endswith("; its last good data is kept)") and garbled.endswith(" (its last good data is kept)")
    assert "last good data" not in first  # it has none
    assert "source(s) not loaded (error):" in build.stdout


def test_an_interrupted_build_does_not_say_its_credit_runs_are_done(warehouse):
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()
    build = _start_paused(sources, out, "load")  # in the credits run's step
    build.send_signal(signal.SIGINT)
    stdout, stderr = build.communicate(timeout=60)
    assert build.returncode == 130, stdout + stderr
    assert "credits: run 1/1" in stdout and "run(s) done" not in stdout, stdout
    assert stderr.strip().splitlines()[-1].startswith("budget-warehouse: interrupted (SIGINT)")


def test_a_failed_first_build_does_not_list_a_document_as_a_file_of_no_covered_family(tmp_path):
    sources = _sources(tmp_path / "sources", SMALL)
    (sources / "documents").mkdir()
    shutil.copyfile(SOURCES / DOCUMENT, sources / DOCUMENT)
    shutil.copyfile(SOURCES / "LFI_2020_ETPT.csv", sources / "LFI_2020_ETPT.csv")  # of no covered family
    out = tmp_path / "out"
    (out / "staging").mkdir(parents=True)
    (out / "staging" / "credit_elements").write_text("in the way")  # the credits run fails
    build = run_build(sources, out)
    assert build.returncode == 1
    assert "  step failed: staging__credit_elements: NotADirectoryError" in build.stdout, build.stdout
    assert "1 file(s) not loaded (no covered family):" in build.stdout
    assert _lines_naming(build.stdout, "LFI_2020_ETPT.csv") and not _lines_naming(build.stdout, "RAP_2021_P352")


def test_the_progress_bar_shows_on_a_terminal_of_zero_size(warehouse):
    """A pseudo-terminal nobody sized (0 columns, 0 rows: some CI runners, containers) made tqdm draw nothing."""
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()  # a credit run to show
    command = [sys.executable, "-m", "pipelines.cli", "build", "--sources", str(sources), "--out", str(out), "--prune"]
    status, text = _on_a_terminal(command, build_env(), rows=0, columns=0)
    assert status == 0, text
    assert "credits: 100%" in text and "1/1" in text, text


def test_prune_names_no_removal_when_a_step_failed_and_nothing_was_published(warehouse):
    # The adversarial tester's find: "--prune: credits removed since <latest>: 2020 PLF" though the build failed
    # and the latest release still held them.
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()
    shutil.rmtree(out / "staging" / "nomenclature")
    (out / "staging" / "nomenclature").write_text("in the way")  # the publication run fails
    build = run_build(sources, out, "--prune")
    assert build.returncode == 1
    assert "  step failed: " in build.stdout and "release: none published" in build.stdout, build.stdout
    assert "--prune: credits removed" not in build.stdout, build.stdout


def test_a_build_the_machine_stops_outside_a_step_is_one_line_and_keeps_the_latest_release(warehouse):
    # The adversarial tester's find: a read-only `releases` or a full disk ended in a Python traceback. Here the
    # build's lock cannot be opened (a folder in its place), as a read-only `releases/.lock` could not.
    sources, out = warehouse
    latest = os.readlink(out / "latest")
    (out / "releases" / ".lock").unlink()
    (out / "releases" / ".lock").mkdir()
    build = run_build(sources, out)
    assert build.returncode == 1
    console = build.stdout + build.stderr
    assert "Traceback" not in console, console
    lines = build.stderr.strip().splitlines()
    assert lines[0].startswith("budget-warehouse: the build stopped: IsADirectoryError: "), console
    assert lines[1].startswith("budget-warehouse: its traceback: ") and "IsADirectoryError" in Path(
        lines[1].removeprefix("budget-warehouse: its traceback: ")
    ).read_text(encoding="utf-8")
    assert lines[2] == f"budget-warehouse: nothing published; the latest release stays {Path(latest).name}"
    assert os.readlink(out / "latest") == latest


def test_a_file_name_not_valid_utf8_is_named_and_not_read_and_the_build_goes_on(warehouse):
    # A fresh user's find: a Latin-1 file name (common for French files) crashed the build in the inventory's
    # digest, with a Python traceback and no summary.
    sources, out = warehouse
    name = os.fsdecode(b"Notes_\xe9t\xe9.csv")
    (sources / name).write_bytes(b"a;b\n1;2\n")
    (sources / os.fsdecode(b"dossier_\xe9")).mkdir()
    build = run_build(sources, out)
    console = build.stdout + build.stderr
    assert build.returncode == 0, console
    assert "Traceback" not in console
    assert "2 file(s) or folder(s) in the sources folder not read (a name not valid UTF-8: rename):" in build.stdout
    assert "  - Notes_\\xe9t\\xe9.csv" in build.stdout and "  - dossier_\\xe9" in build.stdout, build.stdout
    # With --prune, such a file may be a source of the latest release: its data would go. Refused, nothing built.
    latest = os.readlink(out / "latest")
    pruned = run_build(sources, out, "--prune")
    assert pruned.returncode == 2 and os.readlink(out / "latest") == latest  # refused as bad arguments are
    assert "budget-warehouse: --prune refused: 2 file(s) or folder(s) of the sources folder not read" in pruned.stderr


def _interrupted_on_a_terminal(warehouse, kill) -> tuple[str, int]:
    """The output and process id of a rebuild of ``warehouse`` (one credit run) on an 80x24 terminal, sent SIGINT by ``kill``
    (``os.kill``: the build alone; ``os.killpg``: its process group, as Ctrl-C) once paused in the load step."""
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()  # a credit run to interrupt
    command = [sys.executable, "-m", "pipelines.cli", "build", "--sources", str(sources), "--out", str(out)]
    marker, sent = out / "releases" / ".paused-load", []

    def interrupt_once_paused(pid: int) -> None:
        if marker.exists() and not sent:
            kill(pid, signal.SIGINT)
            sent.append(pid)

    env = {**build_env(), "BUDGET_TEST_PAUSE": "load:120"}  # paused in the credits run's load step
    status, text = _on_a_terminal(command, env, rows=24, columns=80, while_idle=interrupt_once_paused)
    assert sent and status == 130, text
    return text, sent[0]


def test_an_interrupted_build_on_a_terminal_does_not_draw_its_credit_run_done(warehouse):
    # A fresh user's find: Ctrl-C during the credits drew `credits: 100%| 1/1` before "interrupted (SIGINT)".
    text, _ = _interrupted_on_a_terminal(warehouse, os.kill)
    assert "credits:" in text and "interrupted (SIGINT)" in text, text
    assert "100%" not in text and "1/1" not in text, text


def test_ctrl_c_on_a_terminal_reaches_the_whole_process_group_and_prints_only_the_builds_lines(warehouse):
    # A tester's find: a terminal sends Ctrl-C's SIGINT to its whole foreground process group, Dagster's processes
    # mirroring a step's captured output too (`tail -F` and `watch_orphans.py`): each watcher printed a
    # KeyboardInterrupt traceback. The group is the one pty.fork made (the build leads its own session).
    text, pid = _interrupted_on_a_terminal(warehouse, os.killpg)
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    lines = [line for line in text.replace("\r", "\n").splitlines() if line.strip()]
    ours = ("budget-warehouse: ", "credits: ")  # the build's own lines only
    assert all(line.startswith(ours) for line in lines), text
    assert lines[-1].startswith("budget-warehouse: interrupted (SIGINT): no release published; latest stays "), text
    try:  # no `tail` or watcher left in the group (signal 0: nothing sent, only whether one is there)
        os.killpg(pid, 0)
        raise AssertionError(f"processes left in the build's process group {pid}")
    except ProcessLookupError:
        pass
    # The step's output is still captured for the UI, in Dagster's files.
    assert list((warehouse[1] / "dagster" / "storage").glob("*/compute_logs/*.out")), "no captured step output"


def test_an_absent_source_and_a_link_are_each_said_once_by_the_summary(warehouse, tmp_path):
    # A tester's find: each absent source and each link not followed was said twice, a WARNING line on stderr at
    # the start, then the summary.
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()  # of the latest release: absent, its data kept
    outside = tmp_path / "outside.csv"
    outside.write_text("a;b\n", encoding="utf-8")
    (sources / "lien.csv").symlink_to(outside)
    build = run_build(sources, out)
    console = build.stdout + build.stderr
    assert build.returncode == 0, console
    assert "WARNING" not in build.stderr, build.stderr
    assert len(_lines_naming(console, "PLF_2020_Credits.csv")) == 1, console
    assert len(_lines_naming(console, "lien.csv")) == 1, console
    assert "1 source(s) of the latest release absent from the sources folder" in build.stdout
    assert "1 symbolic link(s) in the sources folder not followed:" in build.stdout


@pytest.mark.parametrize("prune", [(), ("--prune",)], ids=["kept", "--prune"])
def test_a_source_absent_from_an_exercice_outside_years_is_said_absent_and_published_absent(tmp_path, prune):
    # A fresh user's find: LFI 2021's file removed, then `--years 2020`: no warning, and `sources` still said `lu`
    # for a file no longer there (its exercice not staged, its read report of the earlier build was published).
    # A tester's (M3): the same with `--prune`, which removes only the credit sources of the exercices built.
    sources = _sources(tmp_path / "sources", [*SMALL, "LFI_2021_Credits.csv"])
    out = tmp_path / "out"
    assert run_build(sources, out).returncode == 0
    (sources / "LFI_2021_Credits.csv").unlink()
    build = run_build(sources, out, "--years", "2020", *prune)
    assert build.returncode == 0, build.stdout + build.stderr
    assert "1 source(s) of the latest release absent from the sources folder" in build.stdout, build.stdout
    assert "  - LFI_2021_Credits.csv" in build.stdout, build.stdout
    assert ("outside --years, kept by --prune" if prune else "--prune removes it") in build.stdout, build.stdout
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        row = connection.execute(
            "SELECT statut, message FROM sources WHERE fichier = 'LFI_2021_Credits.csv'"
        ).fetchall()
        kept = connection.execute("SELECT count(*) FROM credits WHERE exercice = 2021").fetchall()[0][0]
    assert row and row[0][0] == "absent" and "absent from the sources folder" in row[0][1], row
    assert kept > 0  # its data is kept (its exercice outside --years: not pruned)


def test_a_sources_folder_of_links_only_says_the_links_it_did_not_follow(tmp_path):
    # With the inventory's warnings left to the summary, a folder holding only a link to a credit file said
    # "no credit file ...: nothing to build" and nothing of the link: no summary follows that line.
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "LFI_2020_Credits.csv").symlink_to(SOURCES / "LFI_2020_Credits.csv")
    build = run_build(sources, tmp_path / "out")
    assert build.returncode == 1
    assert f"no credit file in {sources}: nothing to build" in build.stderr, build.stderr
    assert "1 symbolic link(s) in the sources folder not followed:" in build.stderr, build.stderr
    assert "  - LFI_2020_Credits.csv -> " in build.stderr, build.stderr


def test_a_failed_credit_run_is_said_failed_and_the_next_runs_checks_look_at_their_own_exercices(tmp_path):
    # A tester's find: the staging of 2019 failed in the first of two credit runs (2019, then 2021), the second
    # run's check credits_sum_to_kept_lines failed on 2019 as well, and "credits: 2 run(s) done" was printed.
    sources = _sources(tmp_path / "sources", [*SMALL, "LFI_2019_Credits.csv", "LFI_2021_Credits.csv"])
    out = tmp_path / "out"
    assert run_build(sources, out).returncode == 0
    for name in ("LFI_2019_Credits.csv", "LFI_2021_Credits.csv"):  # changed (a blank line): 2019 and 2021 stale
        (sources / name).write_bytes((sources / name).read_bytes().rstrip(b"\n") + b"\n\n")
    shutil.rmtree(out / "staging" / "credits" / "exercice=2019")
    (out / "staging" / "credits" / "exercice=2019").write_text("in the way")  # the staging of 2019 fails
    build = run_build(sources, out)
    assert build.returncode == 1
    assert "credits: run 1/2, exercice(s) 2019" in build.stdout and "credits: run 2/2, exercice(s) 2021" in build.stdout
    assert "credits: 1 run(s) done, 1 failed (exercice(s) 2019) in " in build.stdout, build.stdout
    assert "  step failed: staging__credits: FileExistsError" in build.stdout, build.stdout
    assert "FAIL:" not in build.stdout and " warned, 0 failed" in build.stdout, build.stdout
    # On a terminal (the same two runs: nothing was published), the bar ends naming the failed run.
    command = [sys.executable, "-m", "pipelines.cli", "build", "--sources", str(sources), "--out", str(out)]
    status, text = _on_a_terminal(command, build_env(), rows=24, columns=100)
    assert status == 1, text
    bar = [line for line in text.replace("\r", "\n").splitlines() if line.startswith("credits:")][-1]
    assert "2/2" in bar and bar.endswith("2021; 1 failed: 2019]"), text


def test_a_run_over_exercices_first_built_out_of_order_is_said_in_ascending_order(warehouse):
    # A tester's find: after `--prune`, "credits: run 1/1, exercice(s) 2020-2019", a range printed backwards. The
    # stored order of the exercices is that of their first build (2020, then 2019 added): the run is one range there.
    sources, out = warehouse
    shutil.copyfile(SOURCES / "LFI_2019_Credits.csv", sources / "LFI_2019_Credits.csv")
    build = run_build(sources, out, "--prune")  # every exercice recomputed, in one run
    assert build.returncode == 0, build.stdout + build.stderr
    assert "credits: run 1/1, exercice(s) 2019-2020, with " in build.stdout, build.stdout
    assert "2020-2019" not in build.stdout, build.stdout


@pytest.mark.parametrize(
    ("in_the_way", "credits_line", "failed_step"),
    [
        ("staging/nomenclature", "credits: 1 run(s) done in ", "staging__nomenclature"),
        (
            "staging/credits/exercice=2020",
            "credits: 0 run(s) done, 1 failed (exercice(s) 2020) in ",
            "staging__credits",
        ),
    ],
)
def test_in_the_one_run_of_a_first_build_only_a_failed_step_of_the_credits_is_a_failed_credit_run(
    tmp_path, in_the_way, credits_line, failed_step
):
    # A first build runs the credits and the rest in one run: a failed step of the rest (the nomenclature's
    # staging) is no failed credit run; a failed step of the credits is.
    sources = _sources(tmp_path / "sources", SMALL)
    out = tmp_path / "out"
    (out / in_the_way).parent.mkdir(parents=True)
    (out / in_the_way).write_text("in the way")
    build = run_build(sources, out)
    assert build.returncode == 1
    assert "credits: run 1/1, exercice(s) 2020, with " in build.stdout, build.stdout
    assert credits_line in build.stdout, build.stdout
    assert f"  step failed: {failed_step}: FileExistsError" in build.stdout, build.stdout


def test_a_latest_release_whose_manifest_does_not_read_is_named_and_nothing_is_built(warehouse):
    # An adversarial tester's find: an emptied `releases/<latest>/manifest.json` ended in a JSONDecodeError traceback.
    sources, out = warehouse
    manifest = out / "latest" / "manifest.json"
    manifest.write_text("", encoding="utf-8")
    build = run_build(sources, out)
    assert build.returncode == 2
    console = build.stdout + build.stderr
    assert "Traceback" not in console, console
    (said,) = [line for line in build.stderr.splitlines() if "manifest" in line]
    assert said.startswith(f"budget-warehouse: {manifest.resolve()}: the latest release's manifest does not read (")
    assert said.endswith("restore it, or point " + str(out / "latest") + " at another release; nothing built")


@contextlib.contextmanager
def _tiny_disk(folder: Path, megabytes: int):
    """A tmpfs of ``megabytes`` mounted on ``folder`` (made) for the block: a real filesystem that fills up (the tests
    run as root, as the builds of the benchmarks do: ``mount`` needs it)."""
    folder.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def _build_with_home(sources: Path, out: Path, home: Path) -> subprocess.CompletedProcess:
    """The real command, its Dagster instance in ``home`` (off the tiny disk: the step, not Dagster's SQLite, fills
    it)."""
    command = [sys.executable, "-m", "pipelines.cli", "build", "--sources", str(sources), "--out", str(out)]
    env = {**build_env(), "DAGSTER_HOME": str(home)}
    return run_child(command, env=env)


@contextlib.contextmanager
def _built_on_a_tiny_disk(tmp_path: Path) -> Iterator[tuple[Path, Path, Path, str]]:
    """The real LFI 2020 built (a success) into ``out`` on a tiny disk of 32 MB, for the block: yields the sources
    folder, the disk, ``out`` and the target of its ``latest``."""
    sources = _sources(tmp_path / "sources", ["LFI_2020_Credits.csv"])
    with _tiny_disk(tmp_path / "disk", 32) as disk:
        out = disk / "out"
        first = _build_with_home(sources, out, tmp_path / "dagster")
        assert first.returncode == 0, first.stdout + first.stderr
        yield sources, disk, out, os.readlink(out / "latest")


def test_a_full_disk_in_a_step_names_the_disk_the_file_and_the_step_and_keeps_the_latest_release(tmp_path):
    # An adversarial tester's find: the disk filling while the credits step committed gave `step failed:
    # core__credits: TransactionException: … cannot rollback - no transaction is active`: the failed COMMIT had
    # already ended the transaction, and the ROLLBACK after it raised in place of the real cause.
    with _built_on_a_tiny_disk(tmp_path) as (sources, disk, out, latest):
        held = duckdb.connect(str(out / "budget.duckdb"), read_only=True)
        before = held.execute("SELECT count(*), sum(ae), sum(cp) FROM credits").fetchall()
        held.close()
        shutil.copyfile(SOURCES / "LFI_2021_Credits.csv", sources / "LFI_2021_Credits.csv")  # a new exercice
        # Room for the build's working copy of the release's database and a little more: the credits of 2021 do not
        # fit in its WAL when the load commits.
        room = (out / "budget.duckdb").stat().st_size + 400 * 1024
        filler = os.open(disk / "filler", os.O_CREAT | os.O_WRONLY)
        os.posix_fallocate(filler, 0, shutil.disk_usage(disk).free - room)
        os.close(filler)
        build = _build_with_home(sources, out, tmp_path / "dagster")
        assert build.returncode == 1, build.stdout + build.stderr
        console = build.stdout + build.stderr
        assert "Traceback" not in console and "cannot rollback" not in console, console
        failed = [line for line in build.stdout.splitlines() if line.startswith("  step failed: ")]
        assert failed and all("No space left on device" in line for line in failed), console
        (credits,) = [line for line in failed if line.startswith("  step failed: core__credits: ")]
        assert f'"{out}/releases/.building-' in credits and '/budget.duckdb.wal": No space left on device' in credits
        assert f"  the disk of {out} is full (" in build.stdout, console
        assert f"release: none published (a step or an ERROR check failed); latest stays {Path(latest).name}" in (
            build.stdout
        )
        assert os.readlink(out / "latest") == latest and not list((out / "releases").glob(".building-*"))
        held = duckdb.connect(str(out / "budget.duckdb"), read_only=True)
        assert held.execute("SELECT count(*), sum(ae), sum(cp) FROM credits").fetchall() == before  # 2020's, as before
        held.close()


def test_a_full_disk_while_copying_the_release_removes_the_working_copy(tmp_path):
    # An adversarial tester's find: a build failing on a full disk as it copied the latest release's database left
    # its `releases/.building-<pid>/` (a partial copy) behind, so the disk stayed full after the build.
    with _built_on_a_tiny_disk(tmp_path) as (sources, disk, out, latest):
        path = sources / "LFI_2020_Credits.csv"
        path.write_bytes(path.read_bytes().replace(b";50 000;50 000", b";50 001;50 000", 1))
        free = shutil.disk_usage(disk).free
        room = (out / "budget.duckdb").stat().st_size // 2  # half the database: its copy fails
        filler = os.open(disk / "filler", os.O_CREAT | os.O_WRONLY)
        os.posix_fallocate(filler, 0, free - room)
        os.close(filler)
        build = _build_with_home(sources, out, tmp_path / "dagster")
        assert build.returncode == 1, build.stdout + build.stderr
        assert "No space left on device" in build.stdout + build.stderr
        assert not list((out / "releases").glob(".building-*")), build.stdout + build.stderr
        assert os.readlink(out / "latest") == latest
        assert shutil.disk_usage(disk).free >= room - 64 * 1024  # the room given back


def test_an_output_or_sources_path_not_valid_utf8_is_named_escaped_and_nothing_is_built(tmp_path):
    # An adversarial tester's find: `--out` in a folder named in Latin-1 (`d\xe9p`) ended in SQLite's "Could not
    # decode to UTF-8 column 'file'" (Dagster's storage), after the output folder was made. DuckDB (std::bad_cast),
    # Polars and SQLite's own PRAGMA database_list take UTF-8 paths only: refused at once, before anything is written.
    folder = tmp_path / os.fsdecode(b"d\xe9p")
    folder.mkdir()
    sources = _sources(tmp_path / "sources", ["LFI_2020_Credits.csv"])
    build = run_build(sources, folder / "out")
    assert build.returncode == 2, build.stdout + build.stderr
    assert "Traceback" not in build.stdout + build.stderr
    shown = f"{tmp_path}/d\\xe9p"
    assert build.stderr.strip().splitlines() == [
        f"budget-warehouse: --out {shown}/out: not a UTF-8 path (DuckDB, Polars and Dagster's SQLite take UTF-8 "
        f"paths only): rename {shown}, or give another folder; nothing built"
    ]
    assert list(folder.iterdir()) == []  # no output folder, no Dagster instance
    shutil.move(sources, folder / "sources")
    build = run_build(folder / "sources", tmp_path / "out")
    assert build.returncode == 2 and not (tmp_path / "out").exists(), build.stdout + build.stderr
    assert build.stderr.startswith(f"budget-warehouse: --sources {shown}/sources: not a UTF-8 path ("), build.stderr


def test_names_holding_a_newline_are_escaped_in_the_summary_lists(tmp_path):
    # An adversarial tester's find: a file named `Notes<newline>fake.csv` printed `  - Notes` then a line
    # `fake.csv: a | b` that no list holds; its control characters are now escaped, as a name's non-UTF-8 bytes are.
    sources = _sources(tmp_path / "sources", ["LFI_2020_Credits.csv"])
    shutil.copyfile(SOURCES / "PLF_2020_Credits.csv", sources / "PLF_2020\nCredits.csv")
    (sources / "Notes\nfake.csv").write_bytes(b"a;b\n1;2\n")
    out = tmp_path / "out"
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    assert "  credits 2020:  4453 rows (LFI,PLF)" in build.stdout  # the file is read: only its name is shown escaped
    assert "  - Notes\\nfake.csv: a | b" in build.stdout and "\nfake.csv" not in build.stdout, build.stdout
    (sources / "PLF_2020\nCredits.csv").unlink()
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    assert "  - PLF_2020\\nCredits.csv\n" in build.stdout and "\nCredits.csv" not in build.stdout, build.stdout


def test_names_and_header_cells_holding_an_escape_or_a_c1_control_are_escaped_in_the_summary_lists(tmp_path):
    # A review's find: the summary escaped C0 controls only: a name holding CSI (U+009B) or NEL (U+0085), or a
    # workbook's header cell holding ESC, reached the terminal raw (an escape sequence it acts on).
    sources = _sources(tmp_path / "sources", ["LFI_2020_Credits.csv"])
    (sources / "Notes\x85\x9b31mfake.csv").write_bytes(b"a;b\n1;2\n")
    cells = [["_x001B_[2J_x001B_[31mrouge", "b\x9b2J"], ["1", "2"]]  # ESC written as OOXML writes it (_x001B_)
    write_xlsx(sources / "Entete.xlsx", [Sheet("Feuil1", cells)])
    os.mkdir(sources / os.fsdecode(b"d\xe9p\x1b[2J"))  # a name not valid UTF-8 that holds ESC too
    build = run_build(sources, tmp_path / "out")
    assert build.returncode == 0, build.stdout + build.stderr
    assert "  - Notes\\x85\\x9b31mfake.csv: a | b\n" in build.stdout, build.stdout
    assert "  - Entete.xlsx: \\x1b[2J\\x1b[31mrouge | b\\x9b2J\n" in build.stdout, build.stdout
    assert "  - d\\xe9p\\x1b[2J\n" in build.stdout, build.stdout
    assert not {"\x1b", "\x85", "\x9b"} & set(build.stdout + build.stderr), build.stdout + build.stderr


def test_a_latest_release_whose_database_does_not_open_is_named_and_nothing_is_built(warehouse):
    # An adversarial tester's find: a damaged `releases/<latest>/budget.duckdb` was named by the build's working copy
    # (`releases/.building-<pid>/budget.duckdb`, removed on exit), or not at all (a checksum error), then the summary
    # ended in a traceback.
    sources, out = warehouse
    latest = os.readlink(out / "latest")
    database = (out / "latest" / "budget.duckdb").resolve()
    good = database.read_bytes()
    for damaged in (b"not a database" * 1000, good[:4096] + bytes(len(good) - 4096)):  # garbage; blocks zeroed
        database.write_bytes(damaged)
        build = run_build(sources, out)
        assert build.returncode == 2, build.stdout + build.stderr
        assert "Traceback" not in build.stdout + build.stderr and ".building-" not in build.stderr, build.stderr
        (said,) = build.stderr.strip().splitlines()
        assert said.startswith(f"budget-warehouse: {database}: the latest release's database does not open ("), said
        assert said.endswith(f"): restore it, or point {out / 'latest'} at another release; nothing built"), said
        assert os.readlink(out / "latest") == latest and not list((out / "releases").glob(".building-*"))


def test_a_latest_release_written_by_a_reader_is_refused_and_removing_it_recovers(warehouse):
    # A fresh user's find: `output/budget.duckdb` links into `releases/<latest>/`; an analyst's read-write connection
    # (DuckDB's default) deleted the 2020 credits and added a table of notes in the release's file, and the next build
    # with one amount changed published a release without the 2020 credits and with the notes (checks passed, exit 0).
    sources, out = warehouse
    latest = os.readlink(out / "latest")
    database = (out / "latest" / "budget.duckdb").resolve()
    with duckdb.connect(str(out / "budget.duckdb")) as analyst:
        analyst.execute("DELETE FROM credits WHERE exercice = 2020")
        analyst.execute("CREATE TABLE mes_notes AS SELECT 1 AS x")
    credits = sources / "LFI_2020_Credits.csv"
    credits.write_bytes(credits.read_bytes().replace(b";50 000;50 000\n", b";50 001;50 001\n", 1))
    build = run_build(sources, out)
    assert build.returncode == 2, build.stdout + build.stderr
    (said,) = build.stderr.strip().splitlines()
    assert said == (
        f"budget-warehouse: {database}: the latest release's database changed since it was published (its sha256 is "
        f"not the one {database.parent / 'manifest.json'} records: written by a connection not opened read-only?): "
        f"remove {database.parent} to build again from the release before it, or from nothing if it is the only one; "
        "nothing built"
    ), said
    assert os.readlink(out / "latest") == latest and not list((out / "releases").glob(".building-*"))
    assert _releases(out) == [latest.removeprefix("releases/")]
    shutil.rmtree(database.parent)  # the recovery the message names (the only release: built again from nothing)
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    assert os.readlink(out / "latest") != latest
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as reader:
        tables = {r[0] for r in reader.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        rows = reader.execute("SELECT count(*), count(*) FILTER (ae = 50001) FROM credits WHERE exercice = 2020")
        (held, changed) = rows.fetchall()[0]
        assert "mes_notes" not in tables and held > 0 and changed > 0, (tables, held, changed)
    again = run_build(sources, out)  # and the next build takes the new release as it is
    assert again.returncode == 0 and "nothing changed since" in again.stdout, again.stdout + again.stderr


def test_a_byte_identical_copy_of_a_credit_file_is_set_aside_in_one_summary_line_and_the_file_loaded(tmp_path):
    # A fresh user's find: a browser's copy (`LFI_2019_Credits (1).csv`, the same bytes) was a tie between equally
    # authoritative files: LFI 2019 not loaded, three ERROR lines, `every_credit_file_readable` failed, exit 1.
    # Then it was said by one warning line during the build; now by one line of the summary (a review's find).
    sources = _sources(tmp_path / "sources", ["LFI_2019_Credits.csv"])
    shutil.copyfile(sources / "LFI_2019_Credits.csv", sources / "LFI_2019_Credits (1).csv")
    build = run_build(sources, tmp_path / "out")
    assert build.returncode == 0, build.stdout + build.stderr
    said = build.stdout + build.stderr
    assert _lines_naming(said, "(1).csv") == [
        "copy: LFI_2019_Credits (1).csv: the same bytes as LFI_2019_Credits.csv, set aside"
    ], said
    assert "  credits 2019:  2260 rows (LFI)" in build.stdout and "ERROR" not in said, said
    with duckdb.connect(str(tmp_path / "out" / "budget.duckdb"), read_only=True) as reader:
        rows = reader.execute("SELECT fichier, statut, message FROM sources ORDER BY fichier").fetchall()
    assert rows == [
        ("LFI_2019_Credits (1).csv", "doublon", "the same bytes as LFI_2019_Credits.csv, set aside"),
        ("LFI_2019_Credits.csv", "lu", None),
    ], rows


def test_a_tie_between_files_of_different_bytes_is_one_summary_line_per_file_starting_with_it(tmp_path):
    # A fresh user's find: a tie printed three `ERROR warehouse.credits.roles: …` lines before the summary, then two
    # 600-character summary lines not starting with their file. The same lines in other bytes (CRLF; a last blank
    # line), neither catalogued: still a tie, an error, said once per file.
    text = (SOURCES / "LFI_2019_Credits.csv").read_bytes()
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "LFI_2019_Credits (2).csv").write_bytes(text.replace(b"\n", b"\r\n"))
    (tmp_path / "sources" / "LFI_2019_Credits.csv").write_bytes(text + b"\n")
    build = run_build(tmp_path / "sources", tmp_path / "out")
    assert build.returncode == 1, build.stdout + build.stderr
    said = build.stdout + build.stderr
    assert "ERROR" not in said and "FAIL: staging/credits:every_credit_file_readable (2 row(s))" in said, said
    scopes = "for 2019 LFI BG, 2019 LFI CAS, 2019 LFI CCF (same family rank"
    assert [line[:110] for line in said.splitlines() if "as authoritative as" in line] == [
        f"  - LFI_2019_Credits (2).csv: as authoritative as LFI_2019_Credits.csv {scopes}"[:110],
        f"  - LFI_2019_Credits.csv: as authoritative as LFI_2019_Credits (2).csv {scopes}"[:110],
    ], said


def test_the_builds_interrupt_logged_by_a_library_is_not_printed_and_other_errors_are():
    # A fresh user's find (once in 27 Ctrl-C): the interrupt raised inside SQLAlchemy's pool cleanup was logged by
    # SQLAlchemy at ERROR with its traceback, above the build's `interrupted (SIGINT)` line.
    script = dedent(
        """\
        import logging, signal
        from pipelines.cli import _console_logging
        from pipelines.interrupts import BuildInterrupted
        _console_logging()
        pool = logging.getLogger('sqlalchemy.pool.impl.QueuePool')
        try:
            raise BuildInterrupted(signal.SIGINT)
        except BuildInterrupted:
            pool.error('Exception during reset or similar', exc_info=True)
        try:
            raise OSError('disk gone')
        except OSError:
            pool.error('Exception during reset or similar', exc_info=True)
        """
    )
    done = run_python(script, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "BuildInterrupted" not in done.stderr, done.stderr
    assert done.stderr.count("ERROR sqlalchemy.pool.impl.QueuePool: Exception during reset") == 1, done.stderr
    assert "OSError: disk gone" in done.stderr, done.stderr


def _table_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("table ")]


def test_the_summary_aligns_the_rows_of_every_table_on_the_longest_name(warehouse):
    # A tester's find: `table indicateur_atteintes_publiees    2140 rows`, out of the column of the others.
    sources, out = warehouse
    build = run_build(sources, out)
    assert build.returncode == 0, build.stdout + build.stderr
    lines = _table_lines(build.stdout)
    assert any(" indicateur_atteintes_publiees " in line for line in lines), lines
    assert len({line.index(" rows") for line in lines}) == 1, "\n".join(lines)
    # A fresh user's find (wave 17): `document_fichiers` listed as the others, with no Parquet file published.
    published = {p.stem for p in (out / "parquet").glob("*.parquet")}
    for line in lines:
        name = line.split()[1]
        assert line.endswith(" rows") == (name in published), line
        assert name in published or line.endswith(
            " rows (in budget.duckdb only: no Parquet file, not in datapackage.json)"
        )
    assert any(line.split()[1] == "document_fichiers" for line in lines), lines
    assert len([line for line in lines if line.endswith(" rows")]) == len(published)


def test_files_of_no_covered_family_are_listed_when_new_or_changed_and_else_counted_in_one_line(warehouse):
    # A data engineer's find: the 42 files of no covered family were listed one by one by every build. Listed when
    # new or changed since the latest release; else one line saying where their list is (the `sources` table).
    sources, out = warehouse
    shutil.copyfile(SOURCES / "LFI_2020_ETPT.csv", sources / "LFI_2020_ETPT.csv")
    (version,) = _releases(out)
    first = run_build(sources, out)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"1 file(s) not loaded (no covered family, new or changed since {version}):" in first.stdout, first.stdout
    assert len(_lines_naming(first.stdout, "LFI_2020_ETPT.csv: Exercice | loi")) == 1, first.stdout
    # The release's progress, one line per Parquet file written and per stage (not a terminal).
    written = [line for line in first.stdout.splitlines() if line.startswith("publication: parquet ")]
    assert written and written[0].startswith(f"publication: parquet 1/{len(written)} "), first.stdout
    assert f"publication: parquet {len(written)}/{len(written)} " in written[-1], first.stdout
    assert any(line.endswith(" sources.parquet") for line in written), first.stdout
    assert "publication: checking the 21 Parquet files against the database" in first.stdout
    assert "publication: done in " in first.stdout
    latest = os.readlink(out / "latest").removeprefix("releases/")
    second = run_build(sources, out)
    assert second.returncode == 0, second.stdout + second.stderr
    assert not _lines_naming(second.stdout, "LFI_2020_ETPT.csv"), second.stdout
    assert (
        f"1 file(s) not loaded (no covered family), unchanged since {latest}: listed with their header in the "
        "table sources (statut 'non_reconnu')"
    ) in second.stdout, second.stdout
    shutil.copyfile(SOURCES / "LFI_2021_ETPT.csv", sources / "LFI_2021_ETPT.csv")
    with (sources / "LFI_2020_ETPT.csv").open("a", encoding="utf-8") as changed:
        changed.write("\n")
    third = run_build(sources, out)
    assert third.returncode == 0, third.stdout + third.stderr
    assert f"2 file(s) not loaded (no covered family, new or changed since {latest}):" in third.stdout, third.stdout
    assert len(_lines_naming(third.stdout, "_ETPT.csv: Exercice | loi")) == 2, third.stdout


#: A picture (a PNG of one pixel) and a PDF that is no known document: bytes no step reads.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8ffff3f0005fe02fe"
    "a7d6a4a00000000049454e44ae426082"
)
_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def test_files_no_step_can_read_make_no_run_and_no_release_and_are_named_once(warehouse):
    # A tester's find: a PNG and a PDF dropped in the sources folder made a new release (their `sources` rows,
    # sha256 and all, in its content). A RAP/PAP text put there after them is still read, and makes one.
    sources, out = warehouse
    (sources / "graphique.png").write_bytes(_PNG)
    (sources / "notes").mkdir()
    (sources / "notes" / "notice.pdf").write_bytes(_PDF)
    before = _releases(out)
    build = run_build(sources, out)
    console = build.stdout + build.stderr
    assert build.returncode == 0, console
    assert f"nothing changed since {before[-1]}: no run" in build.stdout and _releases(out) == before, console
    assert "2 file(s) of no covered family that cannot be read (recorded nowhere):" in build.stdout, console
    (picture,) = _lines_naming(console, "graphique.png")
    assert picture.startswith("  - graphique.png: binary data, not text"), console
    assert _lines_naming(console, "notice.pdf") == ["  - notes/notice.pdf: a PDF document, not a table"], console
    (sources / "documents").mkdir()
    shutil.copyfile(SOURCES / DOCUMENT, sources / DOCUMENT)
    read = run_build(sources, out)
    assert read.returncode == 0, read.stdout + read.stderr
    assert len(_releases(out)) == len(before) + 1, read.stdout
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        rows = connection.execute("SELECT fichier, statut FROM sources ORDER BY fichier").fetchall()
        documents = connection.execute("SELECT count(*) FROM documents").fetchall()[0][0]
    assert (DOCUMENT, "lu") in rows and documents == 1, rows
    assert not [f for f, _ in rows if f.endswith((".png", ".pdf"))], rows
    assert len(_lines_naming(read.stdout, "graphique.png")) == 1, read.stdout
