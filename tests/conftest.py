"""Shared fixtures: the real files of the repository's snapshot and a warehouse built from them.

The real source files are read from the snapshot ``data/sources/`` (data/README.md), the fault
cases from ``tests/fixtures/cases/`` (copies of the project's cases): nothing outside the
repository. The tests fail, never skip, when the snapshot is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "data" / "sources"
CASES = ROOT / "tests" / "fixtures" / "cases"

#: The tables the warehouse publishes (CONTRACT.md), one Parquet file each.
TABLES = [
    "credits", "sources", "missions", "programmes", "actions", "sous_actions", "ministeres", "categories", "titres",
    "nomenclature_evenements", "indicateurs", "indicateur_valeurs", "indicateur_atteintes_publiees",
    "indicateur_correspondances", "unites", "indicateur_fichiers", "ecarts_sources", "couverture",
    "documents", "declarations", "rapprochements",
]  # fmt: skip

if not SOURCES.is_dir():  # pragma: no cover - the environment is broken
    raise RuntimeError(f"the real source files are missing: {SOURCES} (see README, 'Tests')")


@dataclass
class Build:
    """One run of ``budget-warehouse build``: its exit status, output and folder."""

    returncode: int
    stdout: str
    stderr: str
    out: Path

    @property
    def database(self) -> Path:
        return self.out / "budget.duckdb"

    @property
    def parquet(self) -> Path:
        return self.out / "parquet"


def build_env() -> dict[str, str]:
    """The environment of a child build: this one without the project's and Dagster's variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "BUDGET_"))}


def sources_with(folder: Path, *names: str) -> Path:
    """``folder`` (made) holding copies of the real files ``names`` of the snapshot; returned."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(SOURCES / name, folder / name)
    return folder


def changed_copy(folder: Path, name: str, change, extra: bytes = b"") -> Path:
    """``folder`` (made) holding a copy of the real file ``name`` (cp1252, ``;``) whose data lines ``change``
    (number, fields) rewrote, ``extra`` appended; returned."""
    path = sources_with(folder, name) / name
    lines = path.read_bytes().decode("cp1252").split("\n")
    for number in range(1, len(lines)):
        fields = lines[number].split(";")
        if len(fields) > 1:
            change(number, fields)
            lines[number] = ";".join(fields)
    path.write_bytes("\n".join(lines).encode("cp1252") + extra)
    return folder


def run_child(
    command: list[str], *, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    """``command`` in a child process started in the repository, its output captured as text (``env`` None: this
    process's environment)."""
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)


def run_python(
    script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    """``python -c script args…`` in a child process (:func:`run_child`)."""
    return run_child([sys.executable, "-c", script, *args], env=env, timeout=timeout)


def run_build(sources: Path | None, out: Path, *extra: str) -> Build:
    """Run the real command in a child process, as a user would (``sources`` None: no ``--sources``,
    the build reads the repository's snapshot)."""
    origin = ["--sources", str(sources)] if sources is not None else []
    command = [sys.executable, "-m", "pipelines.cli", "build", *origin, "--out", str(out), *extra]
    completed = run_child(command, env=build_env())
    return Build(completed.returncode, completed.stdout, completed.stderr, out)


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Build:
    """The warehouse built once from the real files, for the whole session: the command with neither
    ``--sources`` nor ``--download``, which reads the snapshot ``data/sources/``."""
    build = run_build(None, tmp_path_factory.mktemp("build"))
    assert build.returncode == 0, build.stdout + build.stderr
    return build


@pytest.fixture(scope="session")
def sources_copy(tmp_path_factory) -> Path:
    """A writable copy of the real sources folder (the tests never change the snapshot)."""
    target = tmp_path_factory.mktemp("sources") / "sources"
    shutil.copytree(SOURCES, target)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


@pytest.fixture
def default_field_limit():
    """Python csv's field limit at its default (131,072 characters) for the test: it is process-wide, and a
    library imported earlier in the suite may have raised it."""
    import csv

    before = csv.field_size_limit(131_072)
    yield
    csv.field_size_limit(before)
