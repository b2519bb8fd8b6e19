"""Reading the staged credit lines in bounded memory: lazily (Polars) or in SQL (DuckDB).

The staging area (``<out>/staging/credits/exercice=<YYYY>/*.parquet``, written by
``warehouse/credits/staging.py``) can hold tens of millions of lines. Nothing downstream of
it reads them whole into Python: :func:`scan_staged_lines` gives a Polars
``LazyFrame`` (collected with ``engine="streaming"`` after the filters and
aggregations that make it small), and :func:`staged_relation` a DuckDB
``read_parquet(...)`` over the same files, for queries DuckDB runs out of core
within ``warehouse.store.MEMORY_LIMIT`` (:func:`scratch`).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from warehouse.digests import sha256_of
from warehouse.store import MEMORY_LIMIT, quote_literal

__all__ = [
    "scan_staged_lines",
    "scratch",
    "staged_files",
    "staged_fichiers",
    "staged_relation",
]

PARTITION_KEY = "exercice"


def staged_files(root: Path, exercice: int | None = None) -> list[Path]:
    """The Parquet files of the staged lines of ``exercice`` (or of every exercice), sorted."""
    folder = f"{PARTITION_KEY}={exercice if exercice is not None else '*'}"
    return sorted(root.glob(f"{folder}/*.parquet"))


#: sha256 of a file already hashed by this process, by (path, inode, size, modification time in ns): the
#: staged lines are hashed for ``staging/credits`` and again, unchanged, for ``core/credits`` in the same run.
_HASHED: dict[tuple[str, int, int, int], str] = {}


def _sha256(path: Path) -> str:
    status = path.stat()
    key = (str(path), status.st_ino, status.st_size, status.st_mtime_ns)
    if key not in _HASHED:
        _HASHED[key] = sha256_of(path, follow_symlinks=True)  # in blocks: a staged file of 10 M lines is never whole
    return _HASHED[key]


def files_version(files: list[Path]) -> str:
    """The sha256 of ``files``: of each one's exercice folder, name and sha256, in the order given. A data
    version that changes with their bytes and comes back when they do (unlike a time or a run's range).
    A file unchanged since this process hashed it (same inode, size and modification time) is not read again."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.parent.name}/{path.name}\0{_sha256(path)}\n".encode())
    return digest.hexdigest()


def staged_version(root: Path) -> str:
    """The sha256 of the staged lines of every exercice (:func:`files_version` of the lines' Parquet and each
    exercice's ``rapport.json``). The data version of ``staging/credits`` and ``core/credits``: it changes
    with the content staged, whatever the exercices a run wrote, and comes back to what it was when the
    content does (a change, then its revert)."""
    return files_version(sorted(p for p in root.glob(f"{PARTITION_KEY}=*/*") if p.is_file()))


def scan_staged_lines(root: Path, exercice: int | None = None) -> pl.LazyFrame | None:
    """The staged lines of ``exercice`` (or of every exercice) as a ``LazyFrame``, or None if none is staged.

    Nothing is read until collected; collect after filtering or aggregating, with
    ``engine="streaming"``. Files of several exercices staged by different versions
    are concatenated by column name (a column missing from one file is null there).
    """
    files = staged_files(root, exercice)
    if not files:
        return None
    scans = [pl.scan_parquet(f) for f in files]
    return scans[0] if len(scans) == 1 else pl.concat(scans, how="diagonal_relaxed")


def staged_relation(files: list[Path]) -> str:
    """The SQL of a DuckDB relation over ``files`` (staged lines): ``read_parquet([...])`` by column name,
    with ``filename`` and ``file_row_number`` (the row's place in its file, 0-based)."""
    listed = ", ".join(quote_literal(f) for f in files)
    return f"read_parquet([{listed}], union_by_name = true, filename = true, file_row_number = true)"


def staged_fichiers(root: Path, exercice: int | None = None) -> dict[str, str]:
    """source_id → file name, from the staged read reports (``rapport.json``) of ``exercice`` (or all)."""
    folder = f"{PARTITION_KEY}={exercice if exercice is not None else '*'}"
    names: dict[str, str] = {}
    for path in sorted(root.glob(f"{folder}/rapport.json")):
        for report in json.loads(path.read_text(encoding="utf-8")):
            names[report["source_id"]] = report["fichier"]
    return names


@contextmanager
def scratch() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection bounded by ``warehouse.store.MEMORY_LIMIT``, spilling to a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="budget-duckdb-") as folder:
        connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": folder})
        try:
            yield connection
        finally:
            connection.close()
