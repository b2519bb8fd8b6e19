"""The project's side of the benchmark, measured through its command line only.

- :func:`ingest`: ``budget-warehouse build --sources <folder holding only the synthetic file>
  --out <fresh folder>``, then the number of rows of ``credits`` in the built DuckDB, compared with
  what the generator meant: a build that fails, is killed by the memory guard or loads another
  number of rows is reported as such, never as a time.
- :func:`builds`: on a copy of a sources folder, a full build into a fresh output folder, the same
  build again right after (nothing changed), then a rebuild after one amount of
  ``PLF_2020_Credits.csv`` changed in the copy.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from benchmarks.measure import Measurement, run_measured

__all__ = [
    "ROOT",
    "BuildFigure",
    "IngestFigure",
    "build_command",
    "builds",
    "change_one_amount",
    "ingest",
    "step_seconds",
]

ROOT = Path(__file__).resolve().parents[1]
#: The file whose one amount changes between the second and the third build.
CHANGED_FILE = "PLF_2020_Credits.csv"
CHANGED_COLUMN = "aePlfNp1"
_ENV_CLEARED = ("DAGSTER_HOME", "BUDGET_SOURCES_DIR", "BUDGET_OUT_DIR", "BUDGET_PORTAL_URL", "BUDGET_TEST_PAUSE")


def build_command(sources: Path, out: Path) -> list[str]:
    """The real command line: the installed ``budget-warehouse`` beside this Python, else the module."""
    script = Path(sys.executable).with_name("budget-warehouse")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "pipelines.cli"]
    return [*head, "build", "--sources", str(sources), "--out", str(out)]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _ENV_CLEARED}


def _run_build(sources: Path, out: Path, log: Path, max_rss_bytes: int) -> Measurement:
    return run_measured(build_command(sources, out), log, max_rss_bytes=max_rss_bytes, cwd=ROOT, env=_env())


def credits_rows(out: Path) -> tuple[int, int | None]:
    """Rows of ``credits`` in ``out/budget.duckdb`` (opened read-only), and in ``out/parquet/credits.parquet``
    (None when that file is missing)."""
    parquet = out / "parquet" / "credits.parquet"
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        table = connection.execute("SELECT count(*) FROM credits").fetchone()[0]
        if not parquet.exists():
            return table, None
        return table, connection.execute("SELECT count(*) FROM read_parquet(?)", [str(parquet)]).fetchone()[0]


def step_seconds(out: Path) -> dict[str, float]:
    """Seconds of wall time per Dagster step of the build into ``out``, from its instance
    (``out/dagster``): a step run in several runs (one per exercice) is summed. Longest first."""
    from dagster import DagsterInstance

    totals: dict[str, float] = {}
    with DagsterInstance.from_config(str(out / "dagster")) as instance:
        for run in instance.get_runs():
            for stats in instance.get_run_step_stats(run.run_id):
                if stats.start_time is not None and stats.end_time is not None:
                    totals[stats.step_key] = totals.get(stats.step_key, 0.0) + stats.end_time - stats.start_time
    return {k: round(v, 2) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


@dataclass(frozen=True)
class IngestFigure:
    """The project's build of one synthetic file. ``status``: ``ok``, ``killed at …``,
    ``failed (exit N)``, ``credits has N rows, expected M`` or a Parquet file that disagrees; ``wall_s``
    is a figure only when ok."""

    measurement: Measurement
    status: str
    credits_rows: int | None
    steps_s: dict[str, float] | None = None

    @property
    def wall_s(self) -> float | None:
        return round(self.measurement.wall_s, 2) if self.status == "ok" else None


def ingest(folder: Path, expected_rows: int, out: Path, log: Path, max_rss_bytes: int) -> IngestFigure:
    """Build the warehouse from ``folder`` into ``out`` (fresh) and check ``credits`` holds ``expected_rows``."""
    shutil.rmtree(out, ignore_errors=True)
    measured = _run_build(folder, out, log, max_rss_bytes)
    if not measured.ok:
        return IngestFigure(measured, measured.status(), None)
    rows, parquet_rows = credits_rows(out)
    if rows != expected_rows:
        status = f"credits has {rows} rows, expected {expected_rows}"
    elif parquet_rows != rows:
        status = f"parquet/credits.parquet has {parquet_rows} rows, credits {rows}"
    else:
        status = "ok"
    return IngestFigure(measured, status, rows, step_seconds(out))


@dataclass(frozen=True)
class BuildFigure:
    """One build of the sources folder: ``status`` (``ok``, ``failed (exit N)``, ``killed …``,
    ``skipped: …``) and, when it ran, its measurement."""

    name: str
    status: str
    measurement: Measurement | None = None

    @property
    def wall_s(self) -> float | None:
        return round(self.measurement.wall_s, 2) if self.status == "ok" and self.measurement else None

    def as_json(self) -> dict:
        m = self.measurement
        return {
            "status": self.status,
            "s": self.wall_s,
            "elapsed_s": round(m.wall_s, 2) if m else None,
            "peak_rss_mib": m.peak_rss_mib if m else None,
        }


def _euros(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def change_one_amount(path: Path) -> tuple[str, str]:
    """Add 1 000 € to the ``aePlfNp1`` amount of the first data line of a ``PLF_2020_Credits.csv``,
    written as the file writes it (spaces between thousands), in place; its other bytes unchanged.
    Returns the cell before and after. Raises ``ValueError`` if the file has no such column or line.
    """
    data = path.read_bytes()
    lines = data.split(b"\n")
    header = lines[0].rstrip(b"\r").decode("ascii").split(";")
    if CHANGED_COLUMN not in header:
        raise ValueError(f"{path}: no column {CHANGED_COLUMN}")
    column = header.index(CHANGED_COLUMN)
    for number, line in enumerate(lines[1:], start=1):
        cells = line.split(b";")
        cell = cells[column].decode("ascii") if len(cells) > column else ""
        if re.fullmatch(r"-?\d{1,3}( \d{3})*", cell):
            new = _euros(int(cell.replace(" ", "")) + 1000)
            cells[column] = new.encode("ascii")
            lines[number] = b";".join(cells)
            path.write_bytes(b"\n".join(lines))
            return cell, new
    raise ValueError(f"{path}: no amount in column {CHANGED_COLUMN}")


def builds(sources: Path, work: Path, max_rss_bytes: int) -> list[BuildFigure]:
    """``real_build``, ``noop_rebuild``, ``one_file_changed`` on a copy of ``sources`` in ``work``."""
    copy, out = work / "sources", work / "out"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(sources, copy, symlinks=True)
    figures = []
    for name in ("real_build", "noop_rebuild"):
        measured = _run_build(copy, out, work / f"{name}.log", max_rss_bytes)
        figures.append(BuildFigure(name, measured.status(), measured))
    changed = sorted(copy.rglob(CHANGED_FILE))
    if not changed:
        figures.append(BuildFigure("one_file_changed", f"skipped: no {CHANGED_FILE} in {sources}"))
        return figures
    change_one_amount(changed[0])
    measured = _run_build(copy, out, work / "one_file_changed.log", max_rss_bytes)
    figures.append(BuildFigure("one_file_changed", measured.status(), measured))
    return figures
