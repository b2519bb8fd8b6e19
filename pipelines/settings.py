"""Settings of a build, from the command line or the environment (README, "Set up and build")."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

SOURCES_ENV = "BUDGET_SOURCES_DIR"
OUT_ENV = "BUDGET_OUT_DIR"
#: The working folder of the build in progress (set by ``budget-warehouse build``; runs launched from
#: the UI work in ``<out>/releases/.building-dagster`` and publish no release).
WORK_ENV = "BUDGET_WORK_DIR"
#: ``1``: remove the data of the sources no longer given (``--prune``).
PRUNE_ENV = "BUDGET_PRUNE"
PORTAL_ENV = "BUDGET_PORTAL_URL"
DEFAULT_OUT = "output"
#: The snapshot of the official source files the repository ships (``data/README.md``): what a build
#: reads with neither ``--sources`` nor ``--download`` (README, "Set up and build"). The package is
#: installed editable from the repository, so the folder is found beside ``pipelines/``.
SNAPSHOT_DIR = Path(__file__).resolve().parents[1] / "data" / "sources"

#: The Dagster instance settings written to ``<out>/dagster/dagster.yaml`` (``prepare_dagster_home``): one
#: DuckDB writer at a time (``shared/cases/B18``), no telemetry, and Dagster's SQLite storage with its
#: connections kept open (``pipelines/instance.py``), in Dagster's own files under ``history/`` (absolute
#: paths: Dagster gives a storage class no other way to know the instance folder; each build rewrites
#: them, so a moved output folder is right again after its next build).
INSTANCE_YAML = """\
# Written by budget-warehouse build (pipelines/settings.py); remove this line to keep your own settings.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
run_storage:
  module: pipelines.instance
  class: KeptSqliteRunStorage
  config:
    base_dir: {runs}
event_log_storage:
  module: pipelines.instance
  class: KeptSqliteEventLogStorage
  config:
    base_dir: {events}
compute_logs:
  module: pipelines.instance
  class: ComputeLogsDeafToCtrlC
  config:
    base_dir: {storage}
"""
_EARLIER_INSTANCE_YAML = ("concurrency:\n  pools:\n    default_limit: 1\ntelemetry:\n  enabled: false\n",)


def instance_yaml(home: Path) -> str:
    """The settings ``prepare_dagster_home`` writes for the instance folder ``home``."""
    history = home.resolve() / "history"
    return INSTANCE_YAML.format(
        runs=json.dumps(str(history)),
        events=json.dumps(str(history / "runs")),
        storage=json.dumps(str(home.resolve() / "storage")),
    )


def postgres_instance_yaml(postgres_db: dict, home: Path) -> str:
    """The settings of a Dagster instance shared by several machines (README "Beyond one machine"): runs, event
    log and schedules in the PostgreSQL database ``postgres_db`` (dagster-postgres's ``postgres_db`` settings:
    ``hostname``, ``port``, ``username``, ``password``, ``db_name``...), the pools' slots claimed and released
    atomically (``pipelines/postgres_storage.py``), one DuckDB writer at a time and no telemetry, and the steps'
    captured stdout/stderr in ``<home>/storage`` with mirrors deaf to Ctrl-C, as :data:`INSTANCE_YAML` (``home``:
    the instance folder, ``DAGSTER_HOME``, on the machine that reads these settings; Dagster gives the class no
    other way to know it)."""
    config = {"postgres_db": postgres_db}
    settings = {
        "concurrency": {"pools": {"default_limit": 1}},
        "telemetry": {"enabled": False},
        "run_storage": {"module": "dagster_postgres", "class": "PostgresRunStorage", "config": config},
        "event_log_storage": {
            "module": "pipelines.postgres_storage",
            "class": "SerialSlotsPostgresEventLogStorage",
            "config": config,
        },
        "schedule_storage": {"module": "dagster_postgres", "class": "PostgresScheduleStorage", "config": config},
        "compute_logs": {
            "module": "pipelines.instance",
            "class": "ComputeLogsDeafToCtrlC",
            "config": {"base_dir": str(home.resolve() / "storage")},
        },
    }
    return json.dumps(settings, indent=2)  # JSON is YAML


@dataclass(frozen=True)
class Settings:
    """Where the sources are (None: download them), where the outputs go, where this build works
    (``work_dir``, see ``warehouse/publication/releases.py``), whether sources no longer given are pruned, and
    the portal to download from (None: the official addresses of the catalogue)."""

    sources_dir: Path | None
    out_dir: Path
    work_dir: Path | None = None
    prune: bool = False
    portal: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        sources = os.environ.get(SOURCES_ENV)
        work = os.environ.get(WORK_ENV)
        return cls(
            sources_dir=Path(sources).resolve() if sources else None,
            out_dir=Path(os.environ.get(OUT_ENV) or DEFAULT_OUT).resolve(),
            work_dir=Path(work).resolve() if work else None,
            prune=os.environ.get(PRUNE_ENV) == "1",
            portal=os.environ.get(PORTAL_ENV) or None,
        )

    @property
    def work(self) -> Path:
        """The working folder: ``work_dir``, else ``<out>/releases/.building-dagster`` (runs of the UI)."""
        return self.work_dir or self.out_dir / "releases" / ".building-dagster"

    @property
    def database(self) -> Path:
        """The database the assets write: the working copy, never a published file."""
        return self.work / "budget.duckdb"

    @property
    def published_database(self) -> Path:
        """``<out>/budget.duckdb``: the latest release's database (what users read)."""
        return self.out_dir / "budget.duckdb"

    @property
    def dagster_home(self) -> Path:
        """``DAGSTER_HOME`` when set, else ``<out>/dagster``."""
        home = os.environ.get("DAGSTER_HOME")
        return Path(home).resolve() if home else self.out_dir / "dagster"

    def prepare_dagster_home(self) -> Path:
        """Create the Dagster instance folder and return it, with its settings (``INSTANCE_YAML``) when it
        has none, or has settings this command wrote (now or in an earlier version); settings of the
        user's own are kept."""
        home = self.dagster_home
        home.mkdir(parents=True, exist_ok=True)
        config = home / "dagster.yaml"
        text = config.read_text(encoding="utf-8") if config.exists() else None
        ours = text is None or text in _EARLIER_INSTANCE_YAML or text.startswith(INSTANCE_YAML.splitlines()[0])
        if ours and text != (wanted := instance_yaml(home)):
            config.write_text(wanted, encoding="utf-8")
        return home
