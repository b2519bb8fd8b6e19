"""Parquet publication: readers never see a partial file (``shared/cases/B20``, ``B21``).

Every file is written under a temporary name in its final folder, read back and
checked (footer, row count, columns), then renamed into place with an atomic
``os.replace``. A failed write leaves the previous file untouched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from warehouse.atomic import temporary_for
from warehouse.publication.columns import parquet_key_values
from warehouse.store import quote_identifier, quote_literal

__all__ = [
    "InvalidParquet",
    "PublishedFile",
    "publish_partition",
    "publish_table",
    "verify_parquet",
    "write_frame",
]


class InvalidParquet(ValueError):
    """A Parquet file that is truncated, unreadable, or not what was written."""


@dataclass(frozen=True)
class PublishedFile:
    path: Path
    rows: int
    octets: int


def verify_parquet(path: Path, expected_rows: int | None = None, expected_columns: list[str] | None = None) -> int:
    """Check that ``path`` is a complete Parquet file; return its row count.

    Raises :class:`InvalidParquet` when the magic bytes or the footer are missing
    (a truncated file), or the row count or the columns differ from the expected.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
            handle.seek(-4, os.SEEK_END)
            tail = handle.read(4)
        if head != b"PAR1" or tail != b"PAR1":
            raise InvalidParquet(f"{path}: no Parquet magic bytes at both ends (truncated?)")
        import pyarrow.parquet as pq  # 0.2 s to import: not for a build that writes no Parquet file

        metadata = pq.ParquetFile(path).metadata
    except InvalidParquet:
        raise
    except Exception as exc:
        raise InvalidParquet(f"{path}: unreadable Parquet file: {exc}") from exc
    if expected_rows is not None and metadata.num_rows != expected_rows:
        raise InvalidParquet(f"{path}: {metadata.num_rows} rows, expected {expected_rows}")
    if expected_columns is not None:
        columns = metadata.schema.to_arrow_schema().names
        if columns != expected_columns:
            raise InvalidParquet(f"{path}: columns {columns}, expected {expected_columns}")
    return metadata.num_rows


#: DuckDB's defaults for an ``ORDER BY`` that says neither: what a ``sort_key`` of :func:`publish_table` assumes.
_DEFAULT_ORDER = [("NULLS_LAST", "ASCENDING", "")]


def publish_table(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    folder: Path,
    order_by: str | None = None,
    sort_key: tuple[str, str] | None = None,
) -> PublishedFile:
    """Write DuckDB table ``table`` to ``folder/<table>.parquet`` (zstd), atomically.

    ``order_by``: a SQL ordering written in the code (never user input); the table name
    and the path are quoted (``folder`` may hold ``'``, ``;``, ``--``). The file's key-value
    metadata holds the column descriptions and units (``description:<column>``, ``unit:<column>``).
    ``sort_key``: ``(expression, message)``, a cheaper expression to sort by that orders the rows as
    ``order_by`` does (with DuckDB's default order: ascending, nulls last, no collation) or raises an
    error holding ``message`` on a row it cannot rank; the rows are then sorted by ``order_by``
    (``warehouse/credits/order.py``)."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{table}.parquet"
    temporary = temporary_for(final)
    name = quote_identifier(table)
    rows = connection.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    columns = [r[0] for r in connection.execute(f"DESCRIBE {name}").fetchall()]
    try:
        metadata = ", ".join(
            f"{quote_literal(k)}: {quote_literal(v)}" for k, v in parquet_key_values(connection, table).items()
        )
        options = "FORMAT parquet, COMPRESSION zstd" + (f", KV_METADATA {{{metadata}}}" if metadata else "")

        def copy(order: str | None) -> None:
            query = f"SELECT * FROM {name}" + (f" ORDER BY {order}" if order else "")
            connection.execute(f"COPY ({query}) TO {quote_literal(temporary)} ({options})")

        if order_by and sort_key and _default_order(connection):
            expression, message = sort_key
            try:
                copy(expression)
            except duckdb.Error as exc:
                if message not in str(exc):
                    raise
                copy(order_by)  # a row the key cannot rank: by the columns themselves, over the same file
        else:
            copy(order_by)
        verify_parquet(temporary, rows, columns)
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    return PublishedFile(final, rows, final.stat().st_size)


def _default_order(connection: duckdb.DuckDBPyConnection) -> bool:
    """Whether an ``ORDER BY`` of ``connection`` that says nothing sorts ascending, nulls last, without collation."""
    found = connection.execute(
        "SELECT current_setting('default_null_order'), current_setting('default_order'), "
        "current_setting('default_collation')"
    ).fetchall()
    return [tuple(str(v).upper() for v in found[0])] == _DEFAULT_ORDER


def write_frame(frame: pl.DataFrame, final: Path) -> PublishedFile:
    """Write ``frame`` to ``final`` (Parquet, zstd) under a temporary name, check it, rename it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_for(final)
    try:
        frame.write_parquet(temporary, compression="zstd")
        verify_parquet(temporary, frame.height, frame.columns)
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    return PublishedFile(final, frame.height, final.stat().st_size)


def publish_partition(frame: pl.DataFrame, root: Path, key: str, value: object) -> PublishedFile:
    """Write ``frame`` as the one file of partition ``key=value`` under ``root``, atomically.

    Only ``root/<key>=<value>/`` is touched: other partitions stay as they are, and
    rewriting a partition replaces its file, never adds a second one.
    """
    folder = root / f"{key}={value}"
    published = write_frame(frame, folder / "part-0.parquet")
    for stale in folder.glob("*.parquet"):
        if stale != published.path:
            stale.unlink()
    return published
