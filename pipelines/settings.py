"""Settings of a build, from the command line or the environment (CONTRACT.md, "The command")."""

from __future__ import annotations

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
#: reads with neither ``--sources`` nor ``--download`` (CONTRACT.md, "The command"). The package is
#: installed editable from the repository, so the folder is found beside ``pipelines/``.
SNAPSHOT_DIR = Path(__file__).resolve().parents[1] / "data" / "sources"

#: The Dagster instance settings written to ``<out>/dagster/dagster.yaml`` when it has none (or has the
#: settings an earlier version wrote, ``_EARLIER_INSTANCE_YAML``): one DuckDB writer at a time
#: (``shared/cases/B18``), no telemetry, and Dagster's SQLite storage with its connections kept open
#: (``pipelines/instance.py``; same files, so the history stays).
INSTANCE_YAML = """\
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
run_storage:
  module: pipelines.instance
  class: KeptSqliteRunStorage
event_log_storage:
  module: pipelines.instance
  class: KeptSqliteEventLogStorage
"""
_EARLIER_INSTANCE_YAML = ("concurrency:\n  pools:\n    default_limit: 1\ntelemetry:\n  enabled: false\n",)


@dataclass(frozen=True)
class Settings:
    """Where the sources are (None: download them), where the outputs go, where this build works
    (``work_dir``, see ``warehouse/releases.py``), whether sources no longer given are pruned, and
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
        """Create the Dagster instance folder (with its settings if it has none, or has those of an
        earlier version) and return it; settings of the user's own are kept."""
        home = self.dagster_home
        home.mkdir(parents=True, exist_ok=True)
        config = home / "dagster.yaml"
        if not config.exists() or config.read_text(encoding="utf-8") in _EARLIER_INSTANCE_YAML:
            config.write_text(INSTANCE_YAML, encoding="utf-8")
        return home
