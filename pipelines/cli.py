"""``budget-warehouse build``: build the warehouse from the sources (CONTRACT.md, "The command").

Runs the jobs of the Dagster definitions in-process, in a persistent Dagster
instance (``DAGSTER_HOME``, else ``<out>/dagster``) so that the runs show in the
UI afterwards: the sources job, then the credits job once per exercice, then the
publication job. Prints progress and a summary; exits 1 if any asset or any
check of severity ERROR failed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from pipelines.settings import OUT_ENV, PORTAL_ENV, SOURCES_ENV, Settings

log = logging.getLogger("budget_warehouse")

_QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _years(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected YEAR or FROM-TO (e.g. 2019-2024), got {text!r}")
    start = int(match.group(1))
    end = int(match.group(2) or start)
    if end < start:
        raise argparse.ArgumentTypeError(f"{text!r}: the range ends before it starts")
    return start, end


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="budget-warehouse",
        description="Open-data warehouse of the French State budget (credits AE/CP).",
    )
    commands = main.add_subparsers(dest="command", required=True)
    build = commands.add_parser(
        "build",
        help="build the warehouse: DuckDB file and Parquet files",
        description="Materialise every asset of the Dagster definitions, in-process.",
    )
    origin = build.add_mutually_exclusive_group()
    origin.add_argument(
        "--sources",
        metavar="DIR",
        help=f"read the source files from DIR instead of downloading them (env {SOURCES_ENV})",
    )
    origin.add_argument(
        "--download",
        action="store_true",
        help="download the catalogue's files from the official portals (the default for now)",
    )
    build.add_argument(
        "--portal",
        metavar="URL",
        help=f"download from this portal (a mirror; http:// only on 127.0.0.1) instead (env {PORTAL_ENV})",
    )
    build.add_argument("--out", metavar="DIR", help=f"where the outputs go (env {OUT_ENV}; default ./output)")
    build.add_argument(
        "--years",
        metavar="FROM-TO",
        type=_years,
        help="limit the build to these exercices (default: every exercice the sources hold)",
    )
    return main


@dataclass
class Outcome:
    failed_steps: list[str] = field(default_factory=list)
    checks: dict[str, tuple[bool, str, str]] = field(default_factory=dict)  # key -> passed, severity, text
    notes: dict[str, list[str]] = field(default_factory=dict)  # raw/sources metadata: skipped links, changes

    def record(self, result) -> None:
        for event in result.get_asset_materialization_events():
            if event.asset_key.to_user_string() == "raw/sources":
                for key in ("liens_ignores", "telechargements_modifies"):
                    value = event.materialization.metadata.get(key)
                    self.notes[key] = list(value.value) if value is not None else []
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                self.failed_steps.append(f"{event.step_key}: {event.event_specific_data.error.message.strip()}")
        for evaluation in result.get_asset_check_evaluations():
            key = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            count = evaluation.metadata.get("lignes_en_defaut")
            detail = f"{count.value} row(s)" if count is not None else ""
            self.checks[key] = (evaluation.passed, evaluation.severity.value, detail)

    @property
    def blocking_failures(self) -> list[str]:
        return [k for k, (ok, severity, _) in self.checks.items() if not ok and severity == "ERROR"]


def build(args: argparse.Namespace) -> int:
    if args.out:
        os.environ[OUT_ENV] = str(Path(args.out).resolve())
    if args.sources:
        os.environ[SOURCES_ENV] = str(Path(args.sources).resolve())
    if args.download or args.portal:
        if args.sources:
            print("budget-warehouse: --portal goes with --download, not --sources", file=sys.stderr)
            return 2
        os.environ.pop(SOURCES_ENV, None)
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
    if settings.sources_dir is not None and not settings.sources_dir.is_dir():
        what = "not a folder" if settings.sources_dir.exists() else "no such folder"
        given = f"--sources {args.sources}" if args.sources else f"{SOURCES_ENV}={settings.sources_dir}"
        print(f"budget-warehouse: {given}: {what}", file=sys.stderr)
        return 2
    os.environ["DAGSTER_HOME"] = str(settings.prepare_dagster_home())

    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.jobs import CREDITS_JOB, PUBLISH_JOB, SOURCES_JOB

    started = time.monotonic()
    outcome = Outcome()
    origin = f"folder {settings.sources_dir}" if settings.sources_dir else settings.portal or "the official portals"
    print(f"budget-warehouse: sources from {origin}; outputs in {settings.out_dir}")
    print(f"budget-warehouse: Dagster instance {os.environ['DAGSTER_HOME']}")
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def(SOURCES_JOB).execute_in_process(
            instance=instance, raise_on_error=False, run_config=_QUIET_RUN
        )
        outcome.record(result)
        if not result.success:
            return _summary(settings, outcome, [], started)
        items = result.output_for_node("raw__sources")
        found = sorted({i.exercice for i in items if i.holds("credits") and i.exercice})
        exercices = [e for e in found if not args.years or args.years[0] <= e <= args.years[1]]
        if not exercices:
            where = f"in {settings.sources_dir}" if settings.sources_dir else "downloaded"
            asked = f" for {args.years[0]}-{args.years[1]}" if args.years else ""
            held = f" (the sources hold {found[0]}-{found[-1]})" if found else ""
            print(f"budget-warehouse: no credit file {where}{asked}{held}: nothing to build", file=sys.stderr)
            return 1
        credits_job = defs.resolve_job_def(CREDITS_JOB)
        with tqdm(exercices, desc="credits", unit="exercice", file=sys.stdout) as progress:
            for exercice in progress:
                progress.set_postfix_str(str(exercice))
                result = credits_job.execute_in_process(
                    instance=instance,
                    partition_key=str(exercice),
                    raise_on_error=False,
                    run_config=_QUIET_RUN,
                )
                outcome.record(result)
        blocking = [k for k in outcome.blocking_failures if k.endswith(":business_key_unique")]
        if blocking or outcome.failed_steps:
            print("budget-warehouse: not publishing: a step or a blocking check failed", file=sys.stderr)
        else:
            result = defs.resolve_job_def(PUBLISH_JOB).execute_in_process(
                instance=instance, raise_on_error=False, run_config=_QUIET_RUN
            )
            outcome.record(result)
    return _summary(settings, outcome, items, started)


def _summary(settings: Settings, outcome: Outcome, items: list, started: float) -> int:
    from warehouse.performance import is_performance_header
    from warehouse.staging import read_reports
    from warehouse.store import reader

    print("\n== summary ==")
    if settings.database.exists():
        with reader(settings.database) as connection:
            tables = [t for (t,) in connection.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
            for table in tables:
                rows = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                print(f"table {table:<24} {rows:>7} rows")
            per_year = connection.execute(
                "SELECT exercice, string_agg(DISTINCT phase, ',' ORDER BY phase), count(*) "
                "FROM credits GROUP BY exercice ORDER BY exercice"
            ).fetchall()
            for exercice, phases, rows in per_year:
                print(f"  credits {exercice}: {rows:>5} rows ({phases})")
    parquet = settings.out_dir / "parquet"
    for path in sorted(parquet.glob("*.parquet")):
        print(f"parquet {path}")
    not_loaded = [
        i
        for i in items
        if i.famille is None and not is_performance_header(i.entete) and "download failed" not in (i.error or "")
    ]  # a failed download is a source in error, listed below
    if not_loaded:
        print(f"\n{len(not_loaded)} file(s) not loaded (no covered family):")
        for item in not_loaded:
            header = " ".join(" | ".join(item.entete).split())[:100] or item.error or "(empty)"
            print(f"  - {item.source.fichier}: {header}")
    if links := outcome.notes.get("liens_ignores"):
        print(f"\n{len(links)} symbolic link(s) in the sources folder not followed:")
        print("\n".join(f"  - {link}" for link in links))
    if changed := outcome.notes.get("telechargements_modifies"):
        print(f"\n{len(changed)} downloaded file(s) changed on the portal, loaded as a new version:")
        print("\n".join(f"  - {change}" for change in changed))
    errors = [r.message for r in read_reports(settings.out_dir / "staging") if r.statut == "erreur"]
    errors += _performance_errors(settings.database)
    if errors:
        print(f"\n{len(errors)} source(s) not loaded (error; their last good data stays):")
        for message in errors:
            print(f"  - {message}")
    passed = sum(1 for ok, _, _ in outcome.checks.values() if ok)
    warned = [k for k, (ok, sev, _) in outcome.checks.items() if not ok and sev == "WARN"]
    failed = outcome.blocking_failures
    print(f"\nchecks: {passed} passed, {len(warned)} warned, {len(failed)} failed")
    for key in warned:
        print(f"  warn: {key} ({outcome.checks[key][2]})")
    for key in failed:
        print(f"  FAIL: {key} ({outcome.checks[key][2]})")
    for step in outcome.failed_steps:
        print(f"  step failed: {step}")
    print(f"done in {time.monotonic() - started:.1f} s")
    return 1 if failed or outcome.failed_steps or errors else 0


def _performance_errors(database: Path) -> list[str]:
    """The errors of the performance files (table ``indicateur_fichiers``), if any."""
    from warehouse.store import reader

    if not database.exists():
        return []
    with reader(database) as connection:
        if not connection.sql(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'indicateur_fichiers'"
        ).fetchall()[0][0]:
            return []
        return [
            m for (m,) in connection.sql("SELECT message FROM indicateur_fichiers WHERE statut = 'erreur'").fetchall()
        ]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    if args.command == "build":
        return build(args)
    return 2  # pragma: no cover - argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
