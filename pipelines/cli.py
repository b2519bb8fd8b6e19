"""``budget-warehouse build``: build the warehouse from the sources (README, "Set up and build").

The sources: ``--sources DIR``, else ``--download`` (the official portals), else the snapshot the
repository ships (``data/sources/``, ``pipelines.settings.SNAPSHOT_DIR``; exit 2 when it is missing).

Takes the inventory of the sources, then runs in-process, in a persistent Dagster instance
(``DAGSTER_HOME``, else ``<out>/dagster``) so that the runs show in the UI afterwards, only what is
stale (``pipelines/incremental.py``): the credits job over the stale exercices in one run (one per
contiguous range), with ``raw/sources`` first, then the publication job over the stale assets; no
run at all when nothing changed. They work on a private copy of the latest release
(``<out>/releases/.building-<pid>/``); when every step and every ERROR check
passed, that copy becomes a release and ``latest`` switches to it
(``warehouse/publication/releases.py``). One build at a time per output folder: a second one
waits, saying so. On start, runs of killed builds left ``STARTED`` are marked
failed. Prints progress and a summary; exits 1 if any asset or any check of
severity ERROR failed or any source is in error, 2 on bad arguments (and a refused ``--prune``). Ctrl-C
(SIGINT) or SIGTERM stops the build and publishes nothing (``pipelines/interrupts.py``): exit 130 (143 for SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tqdm import tqdm

from pipelines.interrupts import signals_stop_the_build, stop_if_interrupted
from pipelines.settings import OUT_ENV, PORTAL_ENV, PRUNE_ENV, SNAPSHOT_DIR, SOURCES_ENV, WORK_ENV, Settings
from warehouse.display import one_line

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import polars as pl

log = logging.getLogger("budget_warehouse")

#: Dagster's console logger prints nothing of ours: the summary names each source in error and each failed step in
#: one line, and the tracebacks go to the run's log file (:meth:`Outcome.keep_failures`); every event stays in the
#: instance's event log (the run's logs in the UI) whatever this level.
_QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _years(text: str) -> tuple[int, int]:
    # ASCII digits only: ``\d`` and int() also take other scripts' digits (a tester's fullwidth ``２０２０``)
    match = re.fullmatch(r"\s*([0-9]{4})\s*(?:-\s*([0-9]{4})\s*)?", text, re.ASCII)
    if not match:
        raise argparse.ArgumentTypeError(f"expected YEAR or FROM-TO in digits 0-9 (e.g. 2019-2024), got {text!r}")
    start = int(match.group(1))
    end = int(match.group(2) or start)
    if end < start:
        raise argparse.ArgumentTypeError(f"{text!r}: the range ends before it starts")
    return start, end


def _whole_number(text: str) -> int:
    """``--keep-releases N``: a whole number in ASCII digits (int() alone takes ``３``, ``1_0``)."""
    if not re.fullmatch(r"\s*[+-]?[0-9]+\s*", text, re.ASCII):
        raise argparse.ArgumentTypeError(f"expected a whole number in digits 0-9, got {text!r}")
    return int(text)


class _Version(argparse.Action):
    """``--version``: the version of the installed package (its metadata), read only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):  # noqa: A002
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version

        try:
            said = version("budget-warehouse")
        except PackageNotFoundError:  # run from a clone never installed (python -m pipelines.cli)
            said = "(not installed: no package metadata)"
        print(f"{parser.prog} {said}")
        parser.exit()


#: The synopsis of ``budget-warehouse build --help``, as the README's "Set up and build" shows it (a test compares
#: them): written out, since argparse's own puts ``--portal`` beside ``--sources`` (it goes with ``--download``).
BUILD_USAGE = """\
%(prog)s [-h] [--sources DIR | --download [--portal URL]] [--out DIR]
                              [--years FROM-TO] [--prune] [--keep-releases N]"""


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="budget-warehouse",
        description="Open-data warehouse of the French State budget: credits (AE, CP), nomenclature, performance.",
    )
    main.add_argument("--version", action=_Version, help="print the version of the installed package and exit")
    commands = main.add_subparsers(dest="command", required=True)
    build = commands.add_parser(
        "build",
        help="build the warehouse: DuckDB file and Parquet files",
        description="Build the warehouse in-process: recompute what changed since the latest release, then publish.",
        usage=BUILD_USAGE,
        epilog="exit status: 0 done; 1 a source in error, a failed step or check, nothing to build, or the machine "
        "stopped the build; 2 bad arguments or a refused build (nothing built); 130 Ctrl-C, 143 SIGTERM",
    )
    origin = build.add_mutually_exclusive_group()
    origin.add_argument(
        "--sources",
        metavar="DIR",
        help=f"read the source files from DIR instead of the repository's snapshot data/sources/ (env {SOURCES_ENV})",
    )
    origin.add_argument(
        "--download",
        action="store_true",
        help="download the catalogue's files from the official portals instead of reading the snapshot",
    )
    build.add_argument(
        "--portal",
        metavar="URL",
        help=(
            f"download from this portal (a mirror; http:// only on 127.0.0.1) instead; implies --download "
            f"(env {PORTAL_ENV}: the portal of --download builds)"
        ),
    )
    build.add_argument("--out", metavar="DIR", help=f"where the outputs go (env {OUT_ENV}; default ./output)")
    build.add_argument(
        "--years",
        metavar="FROM-TO",
        type=_years,
        help="limit the build to these exercices (default: every exercice the sources hold)",
    )
    build.add_argument(
        "--prune",
        action="store_true",
        help="remove the data of sources of the latest release that are no longer given "
        "(default: their data is kept, with a warning)",
    )
    build.add_argument(
        "--keep-releases",
        metavar="N",
        type=_whole_number,
        help="after publishing, remove all but the N newest releases (default: keep them all)",
    )
    return main


def root_cause(error) -> str:
    """The cause of a Dagster step failure (a ``SerializableErrorInfo``) in one line, its class and message: the
    first exception under Dagster's own (``Error occurred while executing op``), the one the step's code raised
    (the lock, the file, the row); not what that exception was raised from (``raise … from``: Pandera's
    ``SchemaErrors`` as JSON under :class:`schemas.validation.ValidationFailed`, Polars' error under a
    ``TableReadError`` naming the file)."""
    while getattr(error, "cause", None) is not None and (getattr(error, "cls_name", None) or "").startswith("Dagster"):
        error = error.cause
    text = " ".join((error.message or "").split())
    name = getattr(error, "cls_name", None)
    if name:  # `schemas.validation.ValidationFailed: …` (Dagster's message) → `ValidationFailed: …`
        qualified = re.compile(r"^(?:[\w.]+\.)?" + re.escape(name) + ": ")
        text = f"{name}: {qualified.sub('', text)}"
    return text[:400]


#: Tag of the runs of a build: the process id, so that a later build knows a killed build's runs.
PID_TAG = "budget-warehouse/pid"


def fail_killed_runs(instance) -> list[str]:
    """Mark failed the runs a killed build left ``STARTING`` or ``STARTED``, and free their
    concurrency slots; call with the build lock held (no other build runs). Returns their ids."""
    import dagster as dg

    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    )
    failed = []
    for run in runs:
        pid = run.tags.get(PID_TAG)
        if pid is None or pid == str(os.getpid()):
            continue  # not a build's run (the UI's), or ours
        instance.report_run_failed(run, message=f"the build (pid {pid}) was killed before this run ended")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
    return failed


#: The folder of the Dagster instance (``DAGSTER_HOME``) where the errors of a run with a failed step are written in
#: full, tracebacks included, one file per run (``<run id>.log``): the console shows the summary's lines only.
FAILURE_LOGS = "logs"

#: What the OS says of a full disk (ENOSPC), in every library's message: DuckDB's, pyarrow's, Polars', Python's.
_NO_SPACE = "No space left on device"

#: The checks that fail when a source is in error (its last good data kept): they do not stop the release.
SOURCE_ERROR_CHECK_SUFFIX = "_readable"


@dataclass
class Outcome:
    failed_steps: list[str] = field(default_factory=list)
    checks: dict[str, tuple[bool, str, str]] = field(default_factory=dict)  # key -> passed, severity, text
    notes: dict[str, list[str]] = field(default_factory=dict)  # raw/sources metadata: skipped links, changes
    plan: object = None  # pipelines.incremental.Plan: what this build recomputed
    latest_version: str | None = None  # the latest release when the build started
    state: dict = field(default_factory=dict)  # sources, code versions: what the release is built from
    held: dict = field(default_factory=dict)  # the latest release's materialisations
    failure_logs: list[Path] = field(default_factory=list)  # the log files of the runs that had a step fail
    published: str | None = None  # the release this build published, if it published one
    refused: bool = False  # the build was refused after the inventory (--prune with names not read): exit 2

    def record(self, result) -> None:
        for event in result.get_asset_materialization_events():
            if event.asset_key.to_user_string() == "raw/sources":
                for key in ("liens_ignores", "noms_illisibles", "telechargements_modifies"):
                    value = event.materialization.metadata.get(key)
                    self.notes[key] = list(value.value) if value is not None else []
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                self.failed_steps.append(f"{event.step_key}: {root_cause(event.event_specific_data.error)}")
        for evaluation in result.get_asset_check_evaluations():
            key = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            count = evaluation.metadata.get("lignes_en_defaut")
            detail = f"{count.value} row(s)" if count is not None else ""
            self.checks[key] = (evaluation.passed, evaluation.severity.value, detail)

    def keep_failures(self, result, instance, folder: Path) -> None:
        """When a step of the run ``result`` failed: its errors with their full tracebacks, and every message of
        level ERROR the run logged, in ``folder/<run id>.log`` (the console shows only the summary's lines)."""
        if not any(event.event_type_value == "STEP_FAILURE" for event in result.all_events):
            return
        lines = []
        for entry in instance.all_logs(result.run_id):
            if entry.level < logging.ERROR:
                continue
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry.timestamp))
            lines.append(f"{when} UTC {logging.getLevelName(entry.level)} {entry.step_key or '-'}: {entry.message}")
            specific = getattr(entry.dagster_event, "event_specific_data", None)  # a step's failure: its error
            error = entry.error_info or getattr(specific, "error", None)
            if error is not None:
                lines.append(error.to_string())
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{result.run_id}.log"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.failure_logs.append(path)

    def keep_traceback(self, error: BaseException, folder: Path, what: str) -> None:
        """The traceback of ``error``, raised outside a run (``what``: the inventory, the publication), in
        ``folder/<what>-<time>-<pid>.log``, named by the summary."""
        path = _write_traceback(error, what, folder)
        if path is not None:  # else a full disk: the summary's line names the error, the traceback is lost
            self.failure_logs.append(path)

    @property
    def blocking_failures(self) -> list[str]:
        return [k for k, (ok, severity, _) in self.checks.items() if not ok and severity == "ERROR"]

    @property
    def unpublishable(self) -> list[str]:
        """The failed ERROR checks that stop the release: all but those saying a source is in error
        (``every_*_readable``): a build with sources in error still publishes, their last good
        data kept (README, "The outputs"), and exits 1."""
        return [k for k in self.blocking_failures if not k.endswith(SOURCE_ERROR_CHECK_SUFFIX)]


def _year_range(first: int, last: int) -> str:
    """``2021`` for one year, ``2019-2021`` for several (a tester read "for 2021-2021")."""
    return str(first) if first == last else f"{first}-{last}"


def build(args: argparse.Namespace) -> int:
    if args.out:
        os.environ[OUT_ENV] = str(Path(args.out).resolve())
    if args.sources:
        os.environ[SOURCES_ENV] = str(Path(args.sources).resolve())
    if args.prune:
        os.environ[PRUNE_ENV] = "1"
    if args.download or args.portal:
        if args.sources:
            print("budget-warehouse: --portal goes with --download, not --sources", file=sys.stderr)
            return 2
        os.environ.pop(SOURCES_ENV, None)
    elif not os.environ.get(SOURCES_ENV):
        if not SNAPSHOT_DIR.is_dir():
            print(
                f"budget-warehouse: the repository's snapshot of the sources is missing ({SNAPSHOT_DIR}): "
                "give --sources DIR or --download (data/README.md)",
                file=sys.stderr,
            )
            return 2
        os.environ[SOURCES_ENV] = str(SNAPSHOT_DIR)
    if args.portal:
        os.environ[PORTAL_ENV] = args.portal
    settings = Settings.from_env()
    if settings.sources_dir is None and settings.portal:
        from warehouse.downloads import DownloadRefused, portal_address

        try:
            portal_address(settings.portal)
        except DownloadRefused as exc:
            print(f"budget-warehouse: {exc}", file=sys.stderr)
            return 2
    sources = f"--sources {args.sources}" if args.sources else f"{SOURCES_ENV}={settings.sources_dir}"
    for given, path in (
        (f"--out {args.out}" if args.out else f"{OUT_ENV}={settings.out_dir}", settings.out_dir),
        (sources, settings.sources_dir),
        (f"DAGSTER_HOME={settings.dagster_home}", settings.dagster_home),
    ):
        if path is not None and (bad := _first_not_utf8(path)) is not None:  # DuckDB, SQLite, Polars: UTF-8 only
            print(
                f"budget-warehouse: {one_line(given)}: not a UTF-8 path (DuckDB, Polars and Dagster's SQLite take "
                f"UTF-8 paths only): rename {one_line(str(bad))}, or give another folder; nothing built",
                file=sys.stderr,
            )
            return 2
    if settings.sources_dir is not None and not settings.sources_dir.is_dir():
        what = "not a folder" if settings.sources_dir.exists() else "no such folder"
        given = f"--sources {args.sources}" if args.sources else f"{SOURCES_ENV}={settings.sources_dir}"
        print(f"budget-warehouse: {given}: {what}", file=sys.stderr)
        return 2
    if settings.out_dir.exists() and not settings.out_dir.is_dir():
        given = f"--out {args.out}" if args.out else f"{OUT_ENV}={settings.out_dir}"
        print(f"budget-warehouse: {given}: not a folder", file=sys.stderr)
        return 2
    if args.keep_releases is not None and args.keep_releases < 1:
        print("budget-warehouse: --keep-releases N needs N >= 1", file=sys.stderr)
        return 2
    from warehouse.publication.releases import DamagedRelease, releases_dir
    from warehouse.publication.staging import UnknownStaging

    for folder in (releases_dir(settings.out_dir), settings.out_dir / "staging"):  # the build's own folders
        if (folder.exists() or folder.is_symlink()) and not folder.is_dir():  # a file, or a link to none (a
            # tester's `releases` file, then a dangling link, ended in a traceback)
            print(f"budget-warehouse: {folder}: not a folder (the build writes its own folder there)", file=sys.stderr)
            return 2
    try:
        settings.out_dir.mkdir(parents=True, exist_ok=True)
        os.environ["DAGSTER_HOME"] = str(settings.prepare_dagster_home())
        with signals_stop_the_build(settings.out_dir) as stopped:  # and holds the build lock
            return _build_locked(args, settings)
    except (DamagedRelease, UnknownStaging) as exc:
        print(f"budget-warehouse: {exc}; nothing built", file=sys.stderr)
        return 2
    except Exception as exc:
        if not _from_the_machine(exc):
            raise
        return _stopped_by(exc, settings)
    return stopped.code


def _first_not_utf8(path: Path) -> Path | None:
    """The first folder of ``path`` (absolute) whose name is not valid UTF-8 (bytes outside UTF-8 come from ``os`` as
    surrogates), or None."""
    for part in (path, *reversed(path.parents)):
        try:
            part.name.encode("utf-8")
        except UnicodeEncodeError:
            return part
    return None


def _from_the_machine(error: BaseException) -> bool:
    """Whether ``error`` comes from the machine, not the sources nor the code: a full disk, a read-only or missing
    folder, a database that cannot be written (an ``OSError``, SQLite's or DuckDB's I/O error, wrapped or not:
    Dagster's storage raises SQLAlchemy's around SQLite's)."""
    import sqlite3

    import duckdb

    from warehouse.errors import wrapped

    machine = (OSError, sqlite3.OperationalError, duckdb.IOException)
    causes = wrapped(error, lambda e: [e.__cause__, getattr(e, "orig", None)])  # not __context__: one handled before
    return any(isinstance(current, machine) for current in causes)


def _write_traceback(error: BaseException, what: str, *folders: Path) -> Path | None:
    """The traceback of ``error`` in ``<folder>/<what>-<time>-<pid>.log``, in the first of ``folders`` that can be
    written; None where none can."""
    import traceback

    name = f"{what}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}.log"
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text("".join(traceback.format_exception(error)), encoding="utf-8")
        except OSError:  # a full disk may leave an empty file: not left to be found
            with contextlib.suppress(OSError):
                (folder / name).unlink(missing_ok=True)
            continue
        return folder / name
    return None


def _stopped_by(error: BaseException, settings: Settings) -> int:
    """A build stopped by the machine (:func:`_from_the_machine`, outside a step: the lock, the instance's
    storage, the release's files): one line naming the error, its traceback in a file (on stderr if none can be
    written), and what the latest release is; nothing published is touched. Returns the exit status, 1."""
    from warehouse.publication.releases import latest_release

    print(
        f"budget-warehouse: the build stopped: {type(error).__name__}: {' '.join(str(error).split())}", file=sys.stderr
    )
    path = _write_traceback(error, "build", settings.dagster_home / FAILURE_LOGS, Path(tempfile.gettempdir()))
    if path is not None:  # a read-only output: in the temporary folder
        print(f"budget-warehouse: its traceback: {path}", file=sys.stderr)
    try:
        latest = latest_release(settings.out_dir)
    except (OSError, ValueError):  # a manifest that does not read: no version to name
        latest = None
    kept = f"the latest release stays {latest.version}" if latest else "there is no release yet"
    print(f"budget-warehouse: nothing published; {kept}", file=sys.stderr)
    return 1


def _since_the_command_started() -> float | None:
    """Seconds of wall time since this process started (its imports, instance and lock wait included), or None where
    the system does not say: Linux's ``/proc/self/stat`` start time against ``CLOCK_BOOTTIME``, both in the kernel's
    ticks (``psutil``'s ``create_time`` adds the boot time, rounded to the second: up to 0.4 s more than the wall)."""
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(after_name[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime (fields 3.. after the name)
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _build_locked(args: argparse.Namespace, settings: Settings) -> int:
    import dagster as dg

    from warehouse.ahead import forget as forget_ahead
    from warehouse.publication.releases import remove_stale_work, start_work
    from warehouse.sources import forget_recognitions

    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:  # one instance for the whole build
        killed = fail_killed_runs(instance)
        if killed:
            print(f"budget-warehouse: {len(killed)} run(s) of a killed build marked failed: {', '.join(killed)}")
        removed = remove_stale_work(settings.out_dir)
        if removed:
            print(f"budget-warehouse: removed what a killed build left: {', '.join(removed)}")
        _restore_staging(settings.out_dir, args.prune)  # before the working copy: a refusal leaves none
        work = start_work(settings.out_dir, rewrite=_rewrite_parquet)
        os.environ[WORK_ENV] = str(work)
        settings = Settings.from_env()
        try:
            outcome, items, exercices = _run_jobs(args, settings, instance)
            if exercices == []:  # nothing to build (1), or a refused build (2, as the other usage errors)
                return 2 if outcome.refused else 1
            return _finish(args, settings, outcome, items, started, instance)
        finally:
            forget_ahead()  # the reads done ahead that no step took (the one running there ended first)
            forget_recognitions()  # the heads the inventory read for this build's readers
            shutil.rmtree(work, ignore_errors=True)  # published, or nothing to publish


def _rewrite_parquet(database: Path, table: str, folder: Path) -> Path:
    """Write ``folder/<table>.parquet`` from ``database`` as the ``parquet_files`` asset does (a changed file of the
    latest release written again: ``warehouse/publication/releases.py``, ``start_work``)."""
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)  # the assets' (imported here before the runs)
    from assets.publish import PUBLISHED, SORT_KEYS
    from warehouse.publication.parquet import publish_table
    from warehouse.store import reader

    with reader(database) as connection:
        return publish_table(connection, table, folder, PUBLISHED[table], SORT_KEYS.get(table)).path


def _restore_staging(out: Path, prune: bool) -> None:
    """What the previous build changed in the staging put back as the latest release has it, where that build
    published nothing (failed, interrupted: ``warehouse/publication/staging.py``), or the staging of the latest
    release put back where ``latest`` was pointed back at it (by hand, or the newest release removed); then the
    staging noted as this build finds it. Raises ``UnknownStaging`` where the latest release's staging is not kept
    (without ``prune``)."""
    from warehouse.publication.releases import latest_release
    from warehouse.publication.staging import kept_for, mark_staging, restore_staging

    latest = latest_release(out)
    kept = kept_for(out)
    if restored := restore_staging(out, latest.version if latest else None, prune):
        if kept is not None and kept != latest.version:
            print(
                f"budget-warehouse: latest is {latest.version}, not the release the staging was last kept for "
                f"({kept}): {len(restored)} file(s) of {out / 'staging'} put back as {latest.version} has them"
            )
        else:
            print(
                f"budget-warehouse: the previous build published nothing: {len(restored)} file(s) of "
                f"{out / 'staging'} it changed put back as the latest release ({latest.version}) has them"
            )
    mark_staging(out, latest.version if latest else None)


def _kept_staging(out: Path, version: str | None) -> str:
    """The staging kept aside as release ``version``'s (``warehouse/publication/staging.py``); a line of the summary
    where it could not be (else ``""``)."""
    from warehouse.publication.staging import keep_staging

    if version is None:
        return ""
    try:
        keep_staging(out, version)
    except OSError as exc:
        return f"\nwarning: the staging of {version} could not be kept aside ({type(exc).__name__}: {exc})"
    return ""


def _run_jobs(args: argparse.Namespace, settings: Settings, instance) -> tuple[Outcome, list, list[int] | None]:
    """Take the inventory, then run only what is stale (``pipelines/incremental.py``) in the working copy:
    the stale credit exercices in one run per contiguous range (single-run backfill policy, with
    ``raw/sources`` first), then the stale publication assets in one run. Nothing when nothing changed.
    A build that runs every planned asset whatever the credits give (:func:`_in_one_run`) runs them all in
    one run of the build job, the credits' steps first.

    Returns the outcome, the inventory and the exercices built (``[]`` when there was nothing to
    build, ``None`` when the sources could not be taken)."""
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from assets.partitions import EXERCICE_PARTITIONS_NAME
    from assets.sources import preset_inventory, recognition_state, recorded_items, take_build_inventory
    from pipelines.incremental import (
        SOURCES,
        Plan,
        code_versions,
        contiguous_ranges,
        observe_sources,
        plan_build,
        reading_limits,
        run_label,
        source_state,
        unchanged_since_release,
    )
    from pipelines.jobs import BUILD_JOB, CREDITS_JOB, PUBLISH_JOB
    from pipelines.resources import build_resources
    from warehouse.publication.releases import release_state

    outcome = Outcome()
    tags = {PID_TAG: str(os.getpid())}
    origin = f"folder {settings.sources_dir}" if settings.sources_dir else settings.portal or "the official portals"
    print(f"budget-warehouse: sources from {origin}; outputs in {settings.out_dir}")
    print(f"budget-warehouse: Dagster instance {os.environ['DAGSTER_HOME']}")
    paths = build_resources(settings)["paths"]
    latest, state = release_state(settings.out_dir)
    limits = reading_limits()
    limits_changed = bool(state) and state.get("reading_limits") != limits
    if limits_changed:
        print(
            f"budget-warehouse: reading limits {limits} (environment) are not those of the latest release "
            f"({state.get('reading_limits')}): every file is read again and everything recomputed"
        )
    # --prune, --download and other reading limits change what the release holds beyond the files' versions.
    force = settings.prune or settings.sources_dir is None or limits_changed
    if force or not state:  # every file is read, and the runs follow: their modules imported meanwhile
        _import_behind(*_RUN_MODULES)
    # A file whose bytes and recognising code are the latest release's takes its recorded item. What the
    # inventory warns of (links not followed, names not read, files absent, not downloaded or changed on the
    # portal) is said once, by the summary: not also as a WARNING line (a tester counted each twice).
    try:
        with _download_progress(settings.sources_dir is None) as progress:
            taken = take_build_inventory(
                paths, log.info, recorded=[] if force else recorded_items(state), progress=progress, years=args.years
            )
    except Exception as exc:  # noqa: BLE001 - reported as the failed sources step, as a failed run was
        outcome.failed_steps.append(f"raw__sources: {type(exc).__name__}: {' '.join(str(exc).split())[:400]}")
        outcome.keep_traceback(exc, settings.dagster_home / FAILURE_LOGS, "inventory")
        return outcome, [], None
    items, links, changed = taken.items, taken.links, taken.changed
    outcome.notes = {"liens_ignores": links, "noms_illisibles": taken.names, "telechargements_modifies": changed}
    found = sorted({i.exercice for i in items if i.holds("credits") and i.exercice})
    exercices = [e for e in found if not args.years or args.years[0] <= e <= args.years[1]]
    if settings.sources_dir is None and not taken.recognised and latest is None:
        # Not one file downloaded, and no release whose data a build would keep: every asset would run on no data
        # (13 s of runs for the catalogue) to publish nothing. Said here, as the other builds with nothing to build.
        failed = [i.error_message for i in items if i.error]
        print(
            f"budget-warehouse: no file could be downloaded ({len(failed)} tried, each failed): nothing to build, "
            "no release published (there is no release yet)",
            file=sys.stderr,
        )
        print("\n".join(f"  - {one_line(message)}" for message in failed), file=sys.stderr)
        return outcome, items, []
    if args.years:
        outcome.notes["hors_annees"] = _changed_outside(settings.database, items, args.years)
    from warehouse.expected import drop_unheld_staging

    if dropped := drop_unheld_staging(paths.staging_credits, set(found)):
        print(
            f"budget-warehouse: no source holds the credits of {dropped} any more and none of their lines was "
            "staged: their read reports are removed, and everything recomputed"
        )
        force = True  # the staged reports feed sources, the checks and the publication
    if settings.prune and taken.names:  # a file not read may be a source of the latest release: its data would go
        print(
            f"budget-warehouse: --prune refused: {len(taken.names)} file(s) or folder(s) of the sources folder not "
            f"read (a name not valid UTF-8: {', '.join(taken.names)}): rename them, or build without --prune; "
            "nothing built",
            file=sys.stderr,
        )
        outcome.refused = True
        return outcome, items, []
    if settings.prune:
        from warehouse.expected import prune_exercices

        read = {i.exercice for i in items if i.holds("credits") and i.exercice and i.error is None}
        given = [i.source.source_id for i in items]  # a source in error holds its exercice by its rows kept, if any
        gone = prune_exercices(settings.database, settings.out_dir / "staging" / "credits", read, args.years, given)
        if gone:
            print(f"budget-warehouse: --prune: no source holds the credits of {gone} any more: removed")
            # Their partitions go too: a run over a range of exercices materialises every partition between its
            # ends, so one left between those rebuilt split the build in two credit runs where the README says
            # one (a fresh user's find, after removing PLF 2022). A source of it given again adds it back.
            partitions = set(instance.get_dynamic_partitions(EXERCICE_PARTITIONS_NAME))
            for exercice in gone:
                if str(exercice) in partitions:
                    instance.delete_dynamic_partition(EXERCICE_PARTITIONS_NAME, str(exercice))
    if not exercices:
        where = f"in {settings.sources_dir}" if settings.sources_dir else "downloaded"
        asked = f" for {_year_range(args.years[0], args.years[1])}" if args.years else ""
        held = f" (the sources hold {_year_range(found[0], found[-1])})" if found else ""
        print(f"budget-warehouse: no credit file {where}{asked}{held}: nothing to build", file=sys.stderr)
        _not_read(outcome.notes, sys.stderr)  # no summary follows: the links and names not read are said here
        return outcome, items, []
    outcome.held = state.get("materialisations") or {}
    outcome.latest_version = latest.version if latest else None
    known = set(instance.get_dynamic_partitions(EXERCICE_PARTITIONS_NAME))
    missing = [str(e) for e in found if str(e) not in known]
    if missing:
        instance.add_dynamic_partitions(EXERCICE_PARTITIONS_NAME, missing)
        if again := _given_again(instance, missing):
            # Their materialisations before --prune removed them are still in the instance, with the data versions
            # of the same files: Dagster would call them fresh, and nothing would put their credits back.
            print(
                f"budget-warehouse: credits of {', '.join(again)} given again after --prune removed them: "
                "everything recomputed"
            )
            force = True
    if not force and unchanged_since_release(instance, items, state):
        plan = Plan()
    else:
        from pipelines.definitions import defs  # the assets, their Pandera models: only when needed

        graph = defs.resolve_asset_graph()
        observe_sources(instance, graph, items)
        plan = plan_build(instance, graph, [str(e) for e in exercices], state.get("materialisations", {}), force)
    outcome.state = {
        "source_versions": source_state(items),
        "code_versions": code_versions(),
        "reading_limits": limits,
        "complete": exercices == found,  # --years leaves the other exercices as they were, maybe stale
        "recognitions": recognition_state(taken),
    }
    outcome.plan = plan
    if plan.empty:
        print(f"budget-warehouse: nothing changed since {outcome.latest_version}: no run")
    else:
        if not plan.partitions:  # no credit exercice to read again: only assets outside the credits
            print(f"budget-warehouse: recomputing {len(plan.assets)} asset(s), no credits")
        elif not plan.assets:
            print(f"budget-warehouse: recomputing credits of {', '.join(plan.partitions)}")
        elif _whatever_the_credits(plan, force):
            print(
                f"budget-warehouse: recomputing credits of {', '.join(plan.partitions)} "
                f"and {len(plan.assets)} other asset(s)"
            )
        else:  # asked again after the credits (replan_after_credits)
            print(
                f"budget-warehouse: recomputing credits of {', '.join(plan.partitions)} "
                f"then up to {len(plan.assets)} other asset(s), decided after the credits"
            )
        for reason in plan.reasons:
            log.info(reason)
    if plan.empty:
        outcome.checks = {k: tuple(v) for k, v in state.get("checks", {}).items()}
        return outcome, items, exercices
    outcome.checks = {k: tuple(v) for k, v in state.get("checks", {}).items()}  # those not run again stay
    preset_inventory(paths, taken)
    from pipelines.definitions import defs
    from warehouse.store import kept

    if force or not state:  # every asset of the plan runs: its reads of small files are done during the credits
        _read_ahead(plan, items)

    _freeze_long_lived()

    with kept(settings.database):  # DuckDB opens the working copy once for the runs (all in this process)
        first = [SOURCES]  # raw/sources in the first run: the runs after it read its output
        order = instance.get_dynamic_partitions(EXERCICE_PARTITIONS_NAME)
        credits_job = defs.resolve_job_def(CREDITS_JOB)
        credit_keys = [dg.AssetKey(["staging", "credits"]), dg.AssetKey(["core", "credits"])]
        credit_keys.append(dg.AssetKey(["staging", "credit_elements"]))  # the nomenclature's share of the lines
        ranges = contiguous_ranges(plan.partitions, order)
        labels = {(start, end): run_label(start, end, order) for start, end in ranges}
        together = _in_one_run(plan, ranges, force)
        run_id = None
        if together:  # the publication's assets in the same run, after the credits' steps (their priority)
            credits_job = defs.resolve_job_def(BUILD_JOB)
            credit_keys += plan.assets
            run_id = _warm_release_at_publication(instance, items, latest.folder if latest else None)
            _parquet_progress(instance, run_id, plan.assets)
        failed_runs: list[str] = []  # the exercices of each credit run that failed (a step failed)
        with _credit_progress(ranges, failed_runs, len(plan.assets) if together else 0, labels) as progress:
            for start, end in progress:
                stop_if_interrupted()
                result = credits_job.execute_in_process(
                    instance=instance,
                    asset_selection=first + credit_keys,
                    raise_on_error=False,
                    run_config=_QUIET_RUN,
                    run_id=run_id,
                    tags={
                        **tags,
                        "dagster/asset_partition_range_start": start,
                        "dagster/asset_partition_range_end": end,
                    },
                )
                first = []
                if not result.success and (not together or _credit_step_failed(result, [SOURCES, *credit_keys[:3]])):
                    failed_runs.append(labels[(start, end)])
                outcome.record(result)
                outcome.keep_failures(result, instance, settings.dagster_home / FAILURE_LOGS)
        stop_if_interrupted()  # one Dagster captured in the last run, which may have ended well
        blocking = [k for k in outcome.blocking_failures if k.endswith(":business_key_unique")]
        if ranges and plan.assets and not _whatever_the_credits(plan, force) and not (blocking or outcome.failed_steps):
            from pipelines.incremental import replan_after_credits

            plan = outcome.plan = replan_after_credits(instance, defs.resolve_asset_graph(), plan)
            print(f"budget-warehouse: after the credits, {len(plan.assets)} other asset(s) to recompute")
        if blocking or outcome.failed_steps:
            print("budget-warehouse: not publishing: a step or a blocking check failed", file=sys.stderr)
        elif plan.assets and not together:
            _warm_release_behind(items, latest.folder if latest else None)
            from dagster._core.utils import make_new_run_id

            run_id = make_new_run_id()
            _parquet_progress(instance, run_id, plan.assets)
            result = defs.resolve_job_def(PUBLISH_JOB).execute_in_process(
                instance=instance,
                asset_selection=first + plan.assets,
                raise_on_error=False,
                run_config=_QUIET_RUN,
                run_id=run_id,
                tags=tags,
            )
            outcome.record(result)
            outcome.keep_failures(result, instance, settings.dagster_home / FAILURE_LOGS)
    return outcome, items, exercices


def _given_again(instance, exercices: list[str]) -> list[str]:
    """The exercices of ``exercices`` (partitions just added) whose credits were materialised before: removed by
    ``--prune`` (which removes their partition), then given again."""
    import dagster as dg

    staged = instance.event_log_storage.get_latest_storage_id_by_partition(
        dg.AssetKey(["staging", "credits"]), dg.DagsterEventType.ASSET_MATERIALIZATION, set(exercices)
    )
    return [e for e in exercices if e in staged]


def _changed_outside(database: Path, items: list, years: tuple[int, int]) -> list[str]:
    """The credit files of an exercice outside ``--years`` whose bytes are not those the warehouse's ``sources``
    holds (changed since, or new): this build leaves them as they were, and the summary names them (a fresh user's
    find: a changed ``LFI_2019_Credits.csv`` was skipped by ``--years 2021`` without a word). None before a first
    build (no warehouse to compare with)."""
    from warehouse.store import reader

    outside = [
        i
        for i in items
        if i.holds("credits") and i.exercice and not years[0] <= i.exercice <= years[1] and i.source.sha256
    ]
    if not outside or not database.exists():
        return []
    with reader(database) as connection:
        if not connection.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sources'").fetchall()[0][0]:
            return []
        held = dict(connection.execute("SELECT source_id, sha256 FROM sources").fetchall())
    return sorted({i.source.fichier for i in outside if held.get(i.source.source_id) != i.source.sha256})


def _not_read(notes: dict, stream: TextIO) -> None:
    """The symbolic links not followed and the names not valid UTF-8 of the sources folder (``notes``: the
    inventory's ``liens_ignores`` and ``noms_illisibles``), one list each, to ``stream``."""
    if links := notes.get("liens_ignores"):
        print(f"\n{len(links)} symbolic link(s) in the sources folder not followed:", file=stream)
        print("\n".join(f"  - {one_line(str(link))}" for link in links), file=stream)
    if names := notes.get("noms_illisibles"):
        print(
            f"\n{len(names)} file(s) or folder(s) in the sources folder not read (a name not valid UTF-8: rename):",
            file=stream,
        )
        print("\n".join(f"  - {one_line(name)}" for name in names), file=stream)


def _credit_step_failed(result, credit_keys: list) -> bool:
    """Whether a step of the credits failed in ``result``: an asset of ``credit_keys`` or the credits' checks (in one
    run with the publication's assets, a failed step of those is no failed credit run)."""
    from assets.checks import CREDIT_CHECKS, STAGING_CREDIT_CHECKS

    steps = {key.to_python_identifier() for key in credit_keys}
    steps |= {CREDIT_CHECKS.node_def.name, STAGING_CREDIT_CHECKS.node_def.name}
    return any(event.step_key in steps for event in result.all_events if event.event_type_value == "STEP_FAILURE")


def _whatever_the_credits(plan, force: bool) -> bool:
    """Whether every asset of ``plan`` outside the credits runs whatever the credits give, as
    :func:`pipelines.incremental.replan_after_credits` would keep it: every asset forced, or each stale, missing
    or not the release's itself (a first build, ``--prune``, ``--download``, other reading limits)."""
    from pipelines.incremental import state_key

    return force or all(state_key(key, None) in plan.direct for key in plan.assets)


def _in_one_run(plan, ranges: list[tuple[str, str]], force: bool) -> bool:
    """Whether the credits and the other assets of ``plan`` run in one run (issue 11, wave 14: a run's creation,
    its history file, start and end cost 0.3-0.4 s): one range of exercices, other assets to run, and each of them
    to run whatever the credits give (:func:`_whatever_the_credits`). A build where some run only if the credits'
    data versions changed (one file's amounts) asks again after the credits, in a second run."""
    return len(ranges) == 1 and bool(plan.assets) and _whatever_the_credits(plan, force)


def _warm_release_at_publication(instance, items: list, previous: Path | None) -> str:
    """A new run id whose first step outside the credits' (the publication's reads) starts
    :func:`_warm_release_behind`, as the publication run did when the build ran in two."""
    import dagster as dg
    from dagster._core.utils import make_new_run_id

    run_id = make_new_run_id()
    credits = {"raw__sources", "staging__credits", "core__credits", "staging__credit_elements"}
    started: list[bool] = []

    def listen(event) -> None:
        step = event.step_key
        if not started and step and step not in credits and event.dagster_event_type == dg.DagsterEventType.STEP_START:
            started.append(True)
            _warm_release_behind(items, previous)

    instance.add_event_listener(run_id, listen)
    return run_id


#: Where a line of progress goes while the credit runs' bar is drawn (a terminal): into the bar, after the run's name.
_BAR_NOTES: list[Callable[[str], None]] = []


def _parquet_progress(instance, run_id: str, keys: list) -> None:
    """One line as each Parquet file of the run ``run_id`` is written and checked (``publication: parquet 3/21
    credits.parquet``; on a terminal, in the credit runs' bar: ``parquet 3/21 credits``): the
    ``parquet_files`` step of a 10 M-line build takes tens of seconds, which showed nothing (a tester's find)."""
    import dagster as dg

    total = sum(1 for key in keys if key.path[0] == "parquet")
    done = [0]

    def listen(event) -> None:
        happened = event.dagster_event
        if happened is None or happened.event_type != dg.DagsterEventType.ASSET_MATERIALIZATION:
            return
        key = happened.asset_key
        if key is None or key.path[0] != "parquet":
            return
        done[0] += 1
        if _BAR_NOTES:  # on a terminal: in the credit runs' bar, not lines above it
            _BAR_NOTES[-1](f"parquet {done[0]}/{total} {key.path[-1]}")
            return
        print(f"publication: parquet {done[0]}/{total} {key.path[-1]}.parquet", flush=True)  # rows: the summary's

    if total:
        instance.add_event_listener(run_id, listen)


@contextlib.contextmanager
def _release_progress() -> Iterator[Callable[[str], None]]:
    """The stages of the release (``publish_release``'s ``progress``: the content hash, the Parquet files checked
    against the database, the documents, the page, the switch), shown as the credit runs are: a tqdm bar on a
    terminal, one line per stage in a log (``publication: checking the 21 Parquet files against the database``)
    and a last one with the time taken."""
    started = time.monotonic()
    if sys.stdout.isatty():
        with tqdm(total=5, desc="publication", unit="stage", file=sys.stdout, **_terminal_shape()) as bar:
            stages = [0]

            def said(what: str) -> None:
                if stages[0]:
                    bar.update(1)
                stages[0] += 1
                bar.set_postfix_str(what)

            yield said
            bar.n = bar.total
            bar.refresh()
        return
    yield lambda what: print(f"publication: {what}", flush=True)
    print(f"publication: done in {time.monotonic() - started:.1f} s", flush=True)


@contextlib.contextmanager
def _credit_progress(
    ranges: list[tuple[str, str]], failed: list[str], others: int = 0, labels: dict[tuple[str, str], str] | None = None
) -> Iterator[Iterator[tuple[str, str]]]:
    """The credit runs to iterate, with their progress: a tqdm bar on a terminal; in a log (stdout not a
    terminal: CI, ``nohup``, a file), one line as each run starts and a last one with the time taken, since
    a bar's carriage returns would pile up there as one garbled line. ``failed``: the exercices of the runs
    that failed, filled by the caller as they end; the last line (the bar's last state) names them, and counts
    done only the others. ``others``: the other assets the one run also materialises (:func:`_in_one_run`).
    ``labels``: the exercices of each run as said (:func:`pipelines.incremental.run_label`)."""
    with_others = f", with {others} other asset(s)" if others else ""
    if not ranges:
        yield iter(ranges)
    elif sys.stdout.isatty():
        with tqdm(ranges, desc="credits", unit="run", file=sys.stdout, **_terminal_shape()) as bar:
            shown = [""]  # the exercices of the run going on, then of the last one

            def postfix(_n: int = 0, name: str | None = None) -> None:
                shown[0] = (name + with_others) if name else shown[0]
                bar.set_postfix_str(shown[0] + (f"; {len(failed)} failed: {', '.join(failed)}" if failed else ""))

            _BAR_NOTES.append(bar.set_postfix_str)  # for a while, in the place of the run's exercices
            try:
                yield _named_runs(bar, postfix, postfix, labels)  # the bar closes as the last run ends: said before
            finally:
                _BAR_NOTES.clear()
    else:
        started = time.monotonic()
        yield _named_runs(
            ranges,
            lambda n, name: print(f"credits: run {n}/{len(ranges)}, exercice(s) {name}{with_others}", flush=True),
            labels=labels,
        )
        stop_if_interrupted()  # a run a signal stopped (or whose end it came at) is not done
        done = f"{len(ranges) - len(failed)} run(s) done"
        if failed:  # a tester's find: "2 run(s) done" where one had failed
            done += f", {len(failed)} failed (exercice(s) {', '.join(failed)})"
        print(f"credits: {done} in {time.monotonic() - started:.1f} s", flush=True)


@contextlib.contextmanager
def _download_progress(downloading: bool) -> Iterator[Callable[[int, int, str], None] | None]:
    """The downloads' progress, given to ``download_sources`` (called as each file starts): a tqdm bar on a
    terminal (``downloads: 3/7 … LFI_2019_Credits.csv``); in a log, one line as each file starts
    (``downloads: 3/7 LFI_2019_Credits.csv``) and a last one with the time taken. Each failure is said by the
    summary. None (no progress) when the build reads a folder."""
    if not downloading:
        yield None
        return
    started, shown = time.monotonic(), {"total": 0}
    if sys.stdout.isatty():
        bars: list[tqdm] = []

        def say(n: int, total: int, name: str) -> None:
            if not bars:
                bars.append(tqdm(total=total, desc="downloads", unit="file", file=sys.stdout, **_terminal_shape()))
            bars[0].n = n - 1  # the files before it are done
            bars[0].set_postfix_str(name)  # refreshes the bar

        try:
            yield say
            if bars:
                bars[0].n = bars[0].total
                bars[0].refresh()
        finally:
            for bar in bars:
                bar.close()
        return

    def line(n: int, total: int, name: str) -> None:
        shown["total"] = total
        print(f"downloads: {n}/{total} {name}", flush=True)

    yield line
    if shown["total"]:
        print(f"downloads: {shown['total']} file(s) tried in {time.monotonic() - started:.1f} s", flush=True)


def _terminal_shape() -> dict[str, int]:
    """tqdm's ``ncols`` and ``nrows`` where the terminal reports a size of zero (a pseudo-terminal nobody sized, as
    some CI runners and containers make): tqdm takes them from the terminal and then draws an empty bar, so 80 x 24
    there; nothing (tqdm's own reading) for a terminal that has a size."""
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return {}
    return {} if size.columns and size.lines else {"ncols": size.columns or 80, "nrows": size.lines or 24}


def _named_runs(runs, say, ended=None, labels: dict[tuple[str, str], str] | None = None) -> Iterator[tuple[str, str]]:
    """Each ``(start, end)`` of ``runs``, after telling ``say`` its rank (from 1) and its exercices
    (``labels[(start, end)]``: ``2020``, ``2019-2020``, ``2017, 2022``); ``ended()`` called once each run has ended
    (not interrupted)."""
    for n, (start, end) in enumerate(runs, 1):
        say(n, (labels or {}).get((start, end)) or (start if start == end else f"{start}-{end}"))
        yield start, end
        stop_if_interrupted()  # before a bar counts the run done (tqdm counts it when the next one is asked for)
        if ended is not None:
            ended()


def _read_ahead(plan, items: list) -> None:
    """Hand the publication run's reads of small files (nomenclature workbooks, performance files, documents)
    to the background thread of :mod:`warehouse.ahead`, to be done while the credits run works (Polars and
    DuckDB, which release the GIL), for the steps of ``plan`` that make them; the steps take the results."""
    import dagster as dg

    from assets import documents, nomenclature, performance

    planned = set(plan.assets)  # queued in the order the publication run's steps ask for them
    if dg.AssetKey(["core", "indicateurs"]) in planned:
        performance.read_ahead(items)
    if dg.AssetKey(["staging", "nomenclature"]) in planned:
        nomenclature.read_ahead(items)
    if dg.AssetKey(["core", "documents"]) in planned:
        documents.read_ahead(items)


#: What the runs import: the definitions (the assets, their Pandera models, ~0.9 s). Not frictionless and
#: Plotly (the release's data package and page, ~0.2 s): 130 MB imported before the runs would add to their
#: peak (a 10 M-line build's), where they come after it.
_RUN_MODULES = ("pipelines.definitions",)


def _import_behind(*modules: str) -> threading.Thread:
    """Import ``modules`` in a daemon thread while this one takes the inventory of the sources (issue 11).

    The inventory reads file heads with Polars and calamine, which release the GIL; the imports are Python
    work: on two cores they overlap. The first ``import`` of a module in the main thread waits for the
    thread's (the import lock of each module), so it finds the module whole; one that fails in the thread
    is left out of ``sys.modules`` and fails again, with its error, where the build imports it. Call it once
    ``WORK_ENV`` is set (``pipelines.definitions`` reads the settings) and the instance and the inventory's
    modules are imported: the modules the inventory imports as it reads (the CSV reader's) make no import
    cycle with the definitions, so the two threads never wait on each other's module locks."""

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - imported again where it is used, which reports the error
                return

    thread = threading.Thread(target=load, name="budget-warehouse-imports", daemon=True)
    thread.start()
    return thread


#: Up to this many bytes of credit files, the release's modules are imported during the publication run
#: (:func:`_warm_release_behind`); a bigger build imports them after its runs, where they add nothing to its peak.
_WARM_RELEASE_UP_TO = 256 * 1024 * 1024


def _warm_release_behind(items: list, previous: Path | None = None) -> threading.Thread | None:
    """Import what the release's documents use (Frictionless, Plotly, ``warehouse.publication.site``), check a
    small data package (Frictionless builds its profile's checks at the first) and build Plotly's ``plotly_white``
    template and the validators of the page's charts, in a daemon thread while the publication
    run works (issue 11): its steps spend most of their time in DuckDB and Polars, which release the GIL, so on
    two cores this Python work overlaps them rather than following them (0.4-0.6 s of the release's documents).
    Only what is cached for the process (modules, Frictionless's profile,
    :func:`warehouse.publication.site._white_template`, Plotly's validator cache): the documents are the same.
    Frictionless only for a first release (``previous``, the latest release's folder, holds no data package):
    a release after another takes the previous data package with its new values
    (``warehouse.publication.datapackage``) unless its tables or columns changed, so warming it there was 0.3-0.4 s
    of CPU for nothing in the usual rebuild (wave 11); where it is needed after all, the release imports it.
    Not for a build of more than :data:`_WARM_RELEASE_UP_TO` bytes of credit files (~130 MB more held during
    its runs). A failure here is left to happen again, with its error, where the release imports it."""
    if sum(i.source.octets for i in items if i.holds("credits")) > _WARM_RELEASE_UP_TO:
        return None
    from warehouse.publication.datapackage import DATAPACKAGE

    first = previous is None or not (previous / DATAPACKAGE).is_file()

    def warm() -> None:
        try:
            if first:
                _warm_datapackage()
            _warm_page()
        except Exception:  # noqa: BLE001 - imported again where it is used, which reports the error
            return

    thread = threading.Thread(target=warm, name="budget-warehouse-release-imports", daemon=True)
    thread.start()
    return thread


def _warm_datapackage() -> None:
    """Frictionless imported and its profile's checks built, on a small data package."""
    from frictionless import Package

    from warehouse.publication.datapackage import PROFILE

    fields = [{"name": "a", "type": "string"}, {"name": "b", "type": "integer"}]
    resource = {"name": "a", "type": "table", "path": "a.parquet", "format": "parquet"}
    descriptor = {"$schema": PROFILE, "name": "a", "resources": [{**resource, "schema": {"fields": fields}}]}
    Package.from_descriptor(descriptor).to_descriptor()  # the profile's checks, made once


def _warm_page() -> None:
    """Plotly imported, the page's template built and the validators of its charts made."""
    import plotly.graph_objects as go

    from warehouse.publication.site import _white_template

    _white_template()
    figure = go.Figure(go.Bar(x=["a"], y=[1], name="a"))
    figure.add_scatter(x=[1], y=[1], name="b", mode="lines+markers")
    figure.update_layout(title={"text": "a"}, xaxis_title="a", yaxis_title="b")


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the build imports its modules and loads its definitions, until
    :func:`_freeze_long_lived`; the collector as it was afterwards (tests call :func:`main` in-process).

    Importing Dagster, Pandera, Polars... makes ~300,000 objects that live as long as the process, and
    almost no garbage: Python's collector went through all of them again at each of its full passes, six
    before the first run in a full build of the snapshot, 0.9-1.3 s of wall time under load (issue 11)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        (gc.enable if enabled else gc.disable)()


def _freeze_long_lived() -> None:
    """Before the first run: the objects made so far (modules, definitions, instance, inventory) left out of
    every later collection (:func:`gc.freeze`), and the collector back on for what the runs make."""
    gc.freeze()
    gc.enable()


def _release_state(outcome: Outcome, instance) -> dict:
    """What the release holds in the instance's terms: the latest materialisation of every asset and
    partition (the build's, or the previous release's it carried) and the latest check results."""
    from pipelines.incremental import latest_materialisations

    if outcome.plan is not None and outcome.plan.empty and outcome.held:
        materialisations = outcome.held  # nothing ran: the release's, as the check found them
    else:
        from pipelines.definitions import defs

        materialisations = latest_materialisations(instance, defs.resolve_asset_graph())
    checks = {k: list(v) for k, v in outcome.checks.items()}
    return {**outcome.state, "materialisations": materialisations, "checks": checks}


def _finish(
    args: argparse.Namespace, settings: Settings, outcome: Outcome, items: list, started: float, instance
) -> int:
    """Publish the release when nothing blocks it, prune old releases if asked, print the summary."""
    from warehouse.publication.releases import latest_release, prune_releases, publish_release
    from warehouse.publication.staging import forget_removed

    release_line = ""
    stop_if_interrupted()  # not a release after Ctrl-C
    if outcome.plan is not None and outcome.plan.empty:
        from warehouse.publication.releases import write_state

        release_line = f"release: nothing changed since {outcome.latest_version}; no new release"
        write_state(settings.out_dir, outcome.latest_version, _release_state(outcome, instance))
        release_line += _restored_line(settings.out_dir) + _kept_staging(settings.out_dir, outcome.latest_version)
    elif outcome.failed_steps or outcome.unpublishable:
        latest = latest_release(settings.out_dir)
        kept = f"latest stays {latest.version}" if latest else "there is no release yet"
        release_line = f"release: none published (a step or an ERROR check failed); {kept}"
    elif latest_release(settings.out_dir) is None and not _any_read(settings.database):
        release_line = "release: none published (no source could be read); there is no release yet"
    else:
        from assets.publish import PUBLISHED  # the assets and their Pandera models: only to publish
        from warehouse.publication.parquet import InvalidParquet

        try:
            with _release_progress() as progress:
                release, new = publish_release(
                    settings.out_dir,
                    settings.work,
                    list(PUBLISHED),
                    _manifest_sources(settings.database),
                    state=_release_state(outcome, instance),
                    progress=progress,
                )
        except InvalidParquet as exc:
            outcome.failed_steps.append(f"publication: {' '.join(str(exc).split())}")
            release_line = "release: none published (a file did not check)"
        except OSError as exc:  # a full disk, a read-only `releases`: the release's work removed, the latest kept
            outcome.failed_steps.append(f"publication: {type(exc).__name__}: {' '.join(str(exc).split())}")
            outcome.keep_traceback(exc, settings.dagster_home / FAILURE_LOGS, "publication")
            latest = latest_release(settings.out_dir)
            kept = f"latest stays {latest.version}" if latest else "there is no release yet"
            release_line = f"release: none published (its files could not be written); {kept}"
        else:
            if new:
                outcome.published = release.version
                release_line = f"release: {release.version} published; latest -> releases/{release.version}"
                release_line += _changes_line(release.folder)
                if release.compacted:  # warehouse/publication/releases.py: compact_database
                    before, after = (f"{size / 1e6:.2f} MB" for size in release.compacted)
                    release_line += (
                        f"\ndatabase compacted (more than a fifth of its blocks were free): {before} -> {after}"
                    )
            else:
                release_line = f"release: content unchanged since {release.version}; no new release"
                release_line += _restored_line(settings.out_dir)
            release_line += _kept_staging(settings.out_dir, release.version)
            if args.keep_releases:
                gone = prune_releases(settings.out_dir, args.keep_releases)
                if gone:
                    forget_removed(settings.out_dir)  # their staging kept aside goes with them
                    release_line += f"\nreleases removed (--keep-releases {args.keep_releases}): {', '.join(gone)}"
    return _summary(settings, outcome, items, started, release_line)


def _restored_line(out: Path) -> str:
    """Where no release is switched to: ``budget.duckdb`` and ``parquet`` pointed at the latest release again
    if they no longer do (removed, or a link elsewhere), and lines saying so, or why one was left; else ``""``."""
    from warehouse.publication.releases import restore_links

    restored, left = restore_links(out)
    lines = [f"restored {' and '.join(restored)} -> latest (missing, or a link elsewhere)"] if restored else []
    return "".join(f"\n{line}" for line in lines + [f"not restored: {reason}" for reason in left])


def _changes_line(folder: Path) -> str:
    """One line of the release's changelog (``changelog.json``, ``warehouse/publication/changelog.py``)."""
    from warehouse.publication.changelog import changes_summary

    return "\n" + changes_summary(folder)


def _any_read(database: Path) -> bool:
    """Whether the build's working copy holds data from at least one source (a ``sources`` row ``lu``):
    a first build whose every download failed has nothing to publish."""
    from warehouse.store import reader

    if not database.exists():
        return False
    with reader(database) as connection:
        tables = {t for (t,) in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "sources" not in tables:
            return False
        return connection.execute("SELECT count(*) FROM sources WHERE statut = 'lu'").fetchall()[0][0] > 0


def _manifest_sources(database: Path) -> list[dict]:
    """The provenance rows a release lists in its manifest (``sources`` table)."""
    from warehouse.store import reader

    with reader(database) as connection:
        rows = connection.sql(
            "SELECT source_id, fichier, sha256, octets, lignes, format, statut FROM sources ORDER BY source_id"
        ).pl()
    return rows.to_dicts()


#: After the rows of a table of the database that is not published as a Parquet file (``document_fichiers``).
NOT_PUBLISHED = " (in budget.duckdb only: no Parquet file, not in datapackage.json)"


def _summary(settings: Settings, outcome: Outcome, items: list, started: float, release_line: str = "") -> int:
    from schemas.performance.families import is_performance_header
    from warehouse.credits.staging import read_reports
    from warehouse.documents.store import document_reports_in
    from warehouse.expected import is_absent
    from warehouse.reading.tables import named_error
    from warehouse.store import quote_identifier, reader, with_last_good_kept

    print("\n== summary ==")
    nothing_ran = outcome.plan is not None and outcome.plan.empty  # the latest release as it is: name it
    released = settings.out_dir / "latest" / settings.published_database.name  # not <out>/budget.duckdb: a user's
    database = settings.database if settings.database.exists() and not nothing_ran else released  # file may be there
    if database.exists():
        if database == settings.database:  # not published: the figures below are this build's, its copy goes
            latest = settings.published_database
            latest = f"the latest release's is {latest}" if released.exists() else "there is no release yet"
            print(f"database {database} (this build's working copy, not published: removed on exit; {latest})")
        else:  # named as users reach it, <out>/budget.duckdb, where that is the release's
            shown = settings.published_database
            print(f"database {shown if shown.exists() and shown.resolve() == database.resolve() else database}")
        with reader(database) as connection:
            tables = [t for (t,) in connection.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
            width = max(map(len, tables), default=0)  # the longest name (indicateur_atteintes_publiees, 29)
            # The tables published as Parquet files: the latest release's (not assets.publish, whose Pandera
            # models a rebuild with nothing changed does not import).
            parquet = settings.out_dir / "latest" / "parquet"
            in_parquet = {p.stem for p in parquet.glob("*.parquet")} if parquet.is_dir() else None
            for table in tables:
                rows = connection.execute(f"SELECT count(*) FROM {quote_identifier(table)}").fetchone()[0]
                only = NOT_PUBLISHED if in_parquet is not None and table not in in_parquet else ""
                print(f"table {table:<{width}} {rows:>7} rows{only}")
            per_year = (  # no credits table when a first build's credit step failed
                connection.execute(
                    "SELECT exercice, string_agg(DISTINCT phase, ',' ORDER BY phase), count(*) "
                    "FROM credits GROUP BY exercice ORDER BY exercice"
                ).fetchall()
                if "credits" in tables
                else []
            )
            for exercice, phases, rows in per_year:
                print(f"  credits {exercice}: {rows:>5} rows ({phases})")
            # The credit sources' reports only (staging/credits): a nomenclature file in error is no gap of the credits'
            # grid (it is named in the errors below).
            credit_reports = read_reports(settings.out_dir / "staging" / "credits")
            in_error = [r.exercice for r in credit_reports if r.statut == "erreur"]
            _findings(connection, tables, [e for e in in_error if e is not None])
            documents = document_reports_in(connection)  # RAP/PAP texts and pages, read as documents
            performance_errors, performance_absent = _performance_reports(connection, tables)
            kept = _kept_sources(connection, tables)
            copies = (  # set aside as copies by the steps that read their families (warehouse/credits/roles.py)
                connection.execute(
                    "SELECT fichier, message FROM sources WHERE statut = 'doublon' ORDER BY fichier"
                ).fetchall()
                if "sources" in tables
                else []
            )
            if settings.prune and outcome.latest_version and outcome.published:  # not for a release not made
                _pruned_line(connection, tables, settings.out_dir / "releases" / outcome.latest_version)
            # the documents' step ran, unless a step or a blocking check stopped the build before it
            documents_read = "document_fichiers" in tables and not (outcome.failed_steps or outcome.unpublishable)
    else:
        documents, performance_errors, performance_absent, kept, documents_read = {}, {}, [], set(), False
        copies = []
    parquet = settings.out_dir / "parquet"  # the release's files, not a user's folder put in place of the link
    if not (parquet.is_symlink() and parquet.resolve() == released.parent.joinpath("parquet").resolve()):
        parquet = released.parent / "parquet"
    for path in sorted(parquet.glob("*.parquet")):
        print(f"parquet {one_line(str(path))}")
    not_loaded = [
        i
        for i in items
        if i.famille is None
        and not i.in_error
        and "download failed" not in (i.error or "")
        and not is_performance_header(i.entete)
        and i.source.source_id not in documents
        and (documents_read or not _is_document(i))  # a build that failed before reading its documents
    ]
    _not_loaded_lines(settings.out_dir, outcome.latest_version, not_loaded)
    _not_read(outcome.notes, sys.stdout)
    if copies:  # one line each, naming the file it copies (`sources.statut = 'doublon'`)
        print()
        for fichier, message in copies:
            print(f"copy: {one_line(fichier)}: {one_line(message)}")
    if changed := outcome.notes.get("telechargements_modifies"):
        print(f"\n{len(changed)} downloaded file(s) changed on the portal, loaded as a new version:")
        print("\n".join(f"  - {change}" for change in changed))
    if outside := outcome.notes.get("hors_annees"):
        print(
            f"\n{len(outside)} credit file(s) changed or new outside --years, left as they were (build their "
            f"exercice to load them): {', '.join(one_line(name) for name in outside)}"
        )
    all_reports = read_reports(settings.out_dir / "staging")
    reports = [r for r in all_reports if r.statut == "erreur"]
    errors = [(r.source_id, r.message) for r in reports] + list(performance_errors.items())
    errors += [(source_id, r["message"]) for source_id, r in documents.items() if r["statut"] == "erreur"]
    reported = {r.source_id for r in reports} | set(performance_errors) | set(documents)
    # A covered file that cannot be read at all and that no step staged: a credit file of unknown exercice
    # (one of a known exercice is staged with it, or is outside --years).
    errors += [
        (i.source.source_id, named_error(i.source.fichier, i.error or ""))
        for i in items
        if i.in_error
        and not is_absent(i)  # absent from the folder: a warning below, its data kept
        and i.source.source_id not in reported
        and not (i.holds("credits") and i.exercice)
    ]
    if errors:
        print(f"\n{len(errors)} source(s) not loaded (error):")
        for source_id, message in errors:  # each says whether data of an earlier build stays, as `sources` does
            print(f"  - {one_line(with_last_good_kept(message) if source_id in kept else message)}")
    absent = sorted(
        {r.fichier for r in all_reports if r.statut == "absent"}
        | set(performance_absent)
        | {r["fichier"] for r in documents.values() if r["statut"] == "absent"}
        | {i.source.fichier for i in items if is_absent(i)}  # also of an exercice outside --years (not staged)
    )
    if absent:
        where = (
            "absent from the sources folder"
            if settings.sources_dir is not None
            else "not downloaded (the catalogue has no address for them)"
        )
        print(f"\nwarning: {len(absent)} source(s) of the latest release {where}")
        # A --prune build says absent only the credit sources of exercices outside --years, which it keeps.
        why = "their exercice outside --years, kept by --prune" if settings.prune else "--prune removes it"
        print(f"  (their data is kept; {why}):")
        for fichier in absent:
            print(f"  - {one_line(fichier)}")
    passed = sum(1 for ok, _, _ in outcome.checks.values() if ok)
    warned = [k for k, (ok, sev, _) in outcome.checks.items() if not ok and sev == "WARN"]
    failed = outcome.blocking_failures
    print(f"\nchecks: {passed} passed, {len(warned)} warned, {len(failed)} failed")
    for key in warned:
        print(f"  warn: {key} ({one_line(outcome.checks[key][2])})")
    for key in failed:
        print(f"  FAIL: {key} ({one_line(outcome.checks[key][2])})")
    for step in outcome.failed_steps:
        print(f"  step failed: {one_line(step)}")
    if any(_NO_SPACE in step for step in outcome.failed_steps):  # pyarrow's and Polars' say no file: the folder
        free = shutil.disk_usage(settings.out_dir).free if settings.out_dir.is_dir() else 0
        print(f"  the disk of {settings.out_dir} is full ({free / (1 << 20):.1f} MiB free): free space, build again")
    for path in outcome.failure_logs:
        print(f"  its traceback: {path}")
    if release_line:
        print(release_line)
    whole = _since_the_command_started()
    said = "" if whole is None else f" ({whole:.1f} s with the command's start-up)"
    print(f"done in {time.monotonic() - started:.1f} s{said}")
    return 1 if failed or outcome.failed_steps or errors else 0


def _not_loaded_lines(out: Path, latest_version: str | None, items: list) -> None:
    """The files of no covered family (``items``), each with its header: in full those new or changed since
    ``latest_version`` (the latest release when the build started; every one on a first build), one line for the
    others, which its ``sources`` table lists (``non_reconnu``, with their header: a tester counted 42 lines
    repeated by every build). Then the files no step can read at all (a picture, a PDF), each with its reason:
    recorded nowhere (``InventoryItem.unreadable``), so always named."""
    from warehouse.publication.releases import MANIFEST

    readable = [i for i in items if not i.unreadable]
    known: set[tuple[str, str]] = set()
    if latest_version is not None and readable:
        try:
            manifest = json.loads((out / "releases" / latest_version / MANIFEST).read_text(encoding="utf-8"))
            known = {(r["fichier"], r["sha256"]) for r in manifest["sources"] if r.get("statut") == "non_reconnu"}
        except (OSError, ValueError, KeyError, TypeError):  # a manifest that does not read: every file said
            known = set()
    shown = [i for i in readable if (i.source.fichier, i.source.sha256) not in known]
    if shown:
        since = f", new or changed since {latest_version}" if latest_version else ""
        print(f"\n{len(shown)} file(s) not loaded (no covered family{since}):")
        for item in shown:
            header = one_line(" ".join(" | ".join(item.entete).split())[:100] or item.error or "(empty)")
            print(f"  - {one_line(item.source.fichier)}: {header}")
    if same := len(readable) - len(shown):
        other = " other" if shown else ""
        print(
            f"\n{same}{other} file(s) not loaded (no covered family), unchanged since {latest_version}: listed with "
            "their header in the table sources (statut 'non_reconnu')"
        )
    if unreadable := [i for i in items if i.unreadable]:
        print(f"\n{len(unreadable)} file(s) of no covered family that cannot be read (recorded nowhere):")
        for item in unreadable:
            print(f"  - {one_line(item.source.fichier)}: {one_line(item.error)}")


def _findings(connection, tables: list[str], credit_errors: list[int]) -> None:
    """Print the disagreements between sources per rule, and the coverage grid (with a column for each exercice
    of ``credit_errors``, those of credit sources in error)."""
    from warehouse.coverage import GRID_MARKS, grid_lines
    from warehouse.disagreements import RULES

    if "ecarts_sources" in tables:
        counts = dict(connection.execute("SELECT regle, count(*) FROM ecarts_sources GROUP BY ALL").fetchall())
        print(f"\necarts_sources: {sum(counts.values())} disagreement(s) between sources, per rule (WARN):")
        regles = [*RULES, *sorted(set(counts) - set(RULES))]
        width = max(map(len, regles))
        for regle in regles:
            print(f"  {regle:<{width}} {counts.get(regle, 0):>6}")
    if "couverture" in tables:
        marks = ", ".join(f"{m} {s}" for s, m in GRID_MARKS.items())
        print(f"\ncouverture ({marks}):")
        for line in grid_lines(_coverage(connection), credit_errors):
            print(line)


def _coverage(connection) -> pl.DataFrame:
    """The columns of ``couverture`` the grid shows, read as Python rows (DuckDB's ``.pl()`` goes through
    Arrow: pyarrow, 0.3 s to import, for a rebuild that imports nothing else of it)."""
    import polars as pl

    schema = {"domaine": pl.String, "exercice": pl.Int16, "phase": pl.String, "document": pl.String}
    schema |= {"type_budget": pl.String, "statut": pl.String}
    rows = connection.execute(f"SELECT {', '.join(schema)} FROM couverture").fetchall()
    return pl.DataFrame(rows, schema=schema, orient="row")


def _credit_phases(connection) -> dict[int, set[str]]:
    rows = connection.execute("SELECT DISTINCT exercice, phase FROM credits").fetchall()
    phases: dict[int, set[str]] = {}
    for exercice, phase in rows:
        phases.setdefault(exercice, set()).add(phase)
    return phases


def _pruned_line(connection, tables: list[str], previous: Path) -> None:
    """``--prune``: every exercice whose credits this build removed, and every phase an exercice lost, against the
    latest release (``previous``, its folder): one line (a fresh user found 2018 named only in the changelog)."""
    from warehouse.store import reader

    database = previous / "budget.duckdb"
    if not database.is_file():
        return
    with reader(database) as before:
        held = {t for (t,) in before.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        before_phases = _credit_phases(before) if "credits" in held else {}
    after = _credit_phases(connection) if "credits" in tables else {}
    emptied = sorted(e for e in before_phases if e not in after)
    lost = [f"{e} {p}" for e in sorted(before_phases) if e in after for p in sorted(before_phases[e] - after[e])]
    parts = [f"{', '.join(map(str, emptied))} (every row)"] if emptied else []
    parts += [", ".join(lost)] if lost else []
    if parts:
        print(f"\n--prune: credits removed since {previous.name}: {'; '.join(parts)}")


def _is_document(item) -> bool:
    """Whether the file of ``item`` (of no covered table family) is a RAP/PAP text or page, which the documents'
    step reads (``warehouse.documents.texts.read_document``): asked only of a build that failed before it."""
    from warehouse.documents.texts import DocumentError, read_document

    if item.kind is not None or item.error:
        return False
    try:
        return read_document(item.source.chemin, item.source.fichier, item.source.source_id) is not None
    except DocumentError:  # a programme's text whose path does not say its kind or year: a document still
        return True
    except OSError:
        return False


def _kept_sources(connection, tables: list[str]) -> set[str]:
    """The sources in error whose data of an earlier build stays (a ``sources`` row ``erreur`` with a ``charge_le``),
    or whose row is that of an earlier build (this build failed before writing ``sources``)."""
    if "sources" not in tables:
        return set()
    rows = connection.execute("SELECT source_id FROM sources WHERE charge_le IS NOT NULL").fetchall()
    return {source_id for (source_id,) in rows}


def _performance_reports(connection, tables: list[str]) -> tuple[dict[str, str], list[str]]:
    """The performance files in error (table ``indicateur_fichiers``: their message by source id) and those
    of the latest release absent from the sources folder (kept), if the table is there."""
    if "indicateur_fichiers" not in tables:
        return {}, []
    rows = connection.execute("SELECT source_id, statut, fichier, message FROM indicateur_fichiers").fetchall()
    errors = {source_id: message for source_id, statut, _, message in rows if statut == "erreur"}
    return errors, [fichier for _, statut, fichier, _ in rows if statut == "absent"]


class _NotTheInterrupt(logging.Filter):
    """Drops a log record of the build's own interrupt (:class:`BuildInterrupted`) that a library caught and logged
    with its traceback: Ctrl-C landing in SQLAlchemy's pool cleanup (``Exception during reset or similar``, logged at
    ERROR) printed one above the build's ``interrupted (SIGINT)`` line. The interrupt itself is not lost: the build
    stops at the next :func:`stop_if_interrupted`."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pipelines.interrupts import BuildInterrupted

        return not (record.exc_info and isinstance(record.exc_info[1], BuildInterrupted | KeyboardInterrupt))


class _ConsoleFormat(logging.Formatter):
    """``LEVEL logger: message``, but the downloads' own messages as the README gives them, alone: a fresh user's
    find (wave 17), ``ERROR warehouse.downloads: cannot download: the name … does not resolve …`` between the
    ``downloads: n/7`` lines, where the README says ``cannot download: the name … does not resolve …``."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.name == "warehouse.downloads" and not record.exc_info:
            return record.getMessage()
        return super().format(record)


def _console_logging() -> None:
    """Warnings and errors of every logger on stderr, one line each (:class:`_ConsoleFormat`); not the build's
    interrupt (_NotTheInterrupt)."""
    console = logging.StreamHandler()  # stderr
    console.setFormatter(_ConsoleFormat())
    logging.basicConfig(level=logging.WARNING, handlers=[console])
    for handler in logging.getLogger().handlers:
        handler.addFilter(_NotTheInterrupt())


def main(argv: list[str] | None = None) -> int:
    with _collector_paused():  # from the first allocation of the command: a pass may come as early as argparse's
        _console_logging()
        args = parser().parse_args(argv)
        if args.command == "build":
            return build(args)
    return 2  # pragma: no cover - argparse requires a command


class _ReaderMayLeave:
    """An output stream (stdout, stderr) whose reader may go away before the build ends (``| head``):
    the first write or flush that meets a closed pipe sends this and every later write to ``os.devnull``,
    so the build goes on to its end, its release and its exit code; nothing else changes. Any other
    attribute is the stream's own."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def _gone(self) -> None:
        self._stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (lives as long as the process)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def run() -> None:
    """The command (``budget-warehouse``, ``python -m pipelines.cli``): :func:`main`, then exit without
    the interpreter's teardown. Once the build is done, freeing its ~400,000 objects and the modules of
    Dagster, Polars and DuckDB one by one takes 1.2-1.8 s (issue 11); every file is closed by then, so
    the output streams are flushed, the ``atexit`` functions run (logging's flush among them) and the
    process ends with :func:`os._exit` and the code :func:`main` returned (a reader of the output that went
    away does not change it, nor stop the build: :class:`_ReaderMayLeave`)."""
    sys.stdout, sys.stderr = _ReaderMayLeave(sys.stdout), _ReaderMayLeave(sys.stderr)
    code = main()
    import atexit

    threading._shutdown()  # as the interpreter would: wait for non-daemon threads
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # the reader of a pipe went away (``| head``), or the stream is closed: the build's code stands
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
