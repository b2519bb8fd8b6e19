"""The DuckDB warehouse file: schema, one writer at a time, idempotent loads.

DuckDB lets one process write a database file at a time; concurrent Dagster runs
(a backfill launched as several runs) would fail on its lock
(``shared/cases/B18``). :func:`writer` therefore takes an exclusive lock on
``<database>.lock`` before it opens the file: writers queue, none fails.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb
import polars as pl

__all__ = [
    "create_views",
    "duplicate_keys",
    "fill_credit_missions",
    "reader",
    "replace_exercice",
    "replace_tables",
    "upsert_sources",
    "writer",
]


def schema_sql() -> str:
    """The DDL of the warehouse tables (``warehouse/sql/schema.sql``)."""
    return resources.files("warehouse").joinpath("sql/schema.sql").read_text(encoding="utf-8")


@contextmanager
def writer(database: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to ``database``, held by one process at a time.

    Creates the file and its tables if needed. Other writers wait on the lock
    file ``<database>.lock`` until this one is closed.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            connection = duckdb.connect(str(database))
            try:
                connection.execute(schema_sql())
                yield connection
            finally:
                connection.close()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def reader(database: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to ``database`` (waits for a writer to finish)."""
    with open(database.with_name(database.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            connection = duckdb.connect(str(database), read_only=True)
            try:
                yield connection
            finally:
                connection.close()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def replace_exercice(connection: duckdb.DuckDBPyConnection, table: str, exercice: int, rows: pl.DataFrame) -> int:
    """Replace every row of ``exercice`` in ``table`` by ``rows``, in one transaction.

    Re-running with the same ``rows`` gives the same table: nothing is duplicated,
    and a failure leaves the table as it was. Returns the number of rows inserted.
    """
    connection.register("nouvelles_lignes", rows.to_arrow())
    try:
        connection.execute("BEGIN TRANSACTION")
        connection.execute(f"DELETE FROM {table} WHERE exercice = ?", [exercice])
        columns = ", ".join(rows.columns)
        connection.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM nouvelles_lignes")
        connection.execute("COMMIT")
    except Exception:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.unregister("nouvelles_lignes")
    return rows.height


def upsert_sources(connection: duckdb.DuckDBPyConnection, records: list[dict]) -> None:
    """Insert or update rows of the ``sources`` table, keyed by ``source_id``.

    A source that failed this time (``statut = 'erreur'``) keeps the description
    of the file its loaded rows came from (hash, size, lines, load time): only its
    ``statut``, ``message`` and ``vu_le`` change.
    """
    if not records:
        return
    columns = [r[0] for r in connection.execute("DESCRIBE sources").fetchall()]
    frame = pl.DataFrame(
        [{c: _jsonable(r.get(c)) for c in columns} for r in records],
        schema_overrides={"charge_le": pl.Datetime("us"), "vu_le": pl.Datetime("us")},
        infer_schema_length=None,
    )
    connection.register("sources_vues", frame.to_arrow())
    try:
        connection.execute("BEGIN TRANSACTION")
        connection.execute(
            """
            UPDATE sources SET statut = v.statut, message = v.message, vu_le = v.vu_le
            FROM sources_vues v
            WHERE sources.source_id = v.source_id AND v.statut = 'erreur'
            """
        )
        connection.execute(
            """
            DELETE FROM sources WHERE source_id IN (
                SELECT source_id FROM sources_vues WHERE statut <> 'erreur')
            """
        )
        assignments = ", ".join(columns)
        connection.execute(
            f"""
            INSERT INTO sources ({assignments})
            SELECT {assignments} FROM sources_vues v
            WHERE v.statut <> 'erreur' OR v.source_id NOT IN (SELECT source_id FROM sources)
            """
        )
        connection.execute("COMMIT")
    except Exception:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.unregister("sources_vues")


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return value


def replace_tables(connection: duckdb.DuckDBPyConnection, tables: dict[str, pl.DataFrame]) -> None:
    """Replace whole tables by frames (their columns and types), all in one transaction."""
    try:
        connection.execute("BEGIN TRANSACTION")
        for name, frame in tables.items():
            connection.register("nouvelle_table", frame.to_arrow())
            connection.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM nouvelle_table")
            connection.unregister("nouvelle_table")
        connection.execute("COMMIT")
    except Exception:
        connection.execute("ROLLBACK")
        raise


def duplicate_keys(connection: duckdb.DuckDBPyConnection, table: str, key: list[str]) -> pl.DataFrame:
    """The values of ``key`` that more than one row of ``table`` holds, with their count ``n``."""
    columns = ", ".join(key)
    return connection.sql(
        f"SELECT {columns}, count(*) AS n FROM {table} GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL"
    ).pl()


def fill_credit_missions(connection: duckdb.DuckDBPyConnection) -> int:
    """Give ``credits`` rows whose source states no mission code (PLF 2019 budgets annexes) the
    mission of their programme that year in ``programmes`` (CONTRACT.md, ``code_mission``).

    Returns the number of rows filled.
    """
    return connection.execute(
        """
        UPDATE credits SET code_mission = p.code_mission
        FROM programmes p
        WHERE credits.code_mission IS NULL AND p.code_mission IS NOT NULL
          AND p.exercice = credits.exercice AND p.code_programme = credits.code_programme
        """
    ).fetchall()[0][0]


def create_views(connection: duckdb.DuckDBPyConnection) -> None:
    """Create or replace the analysts' views of ``warehouse/sql/views.sql``."""
    connection.execute(resources.files("warehouse").joinpath("sql/views.sql").read_text(encoding="utf-8"))
