"""The DuckDB warehouse file: schema, one writer at a time, idempotent loads.

DuckDB lets one process write a database file at a time, and refuses at once a
connection the file's lock does not allow. Concurrent Dagster runs (a backfill
launched as several runs, ``shared/cases/B18``) would fail on that lock, so
:func:`writer` and :func:`reader` wait for it: they retry while DuckDB reports the
file locked by another process, up to :data:`LOCK_TIMEOUT` seconds, then raise
:class:`DatabaseLocked` naming the file and the process holding it. The lock is
DuckDB's own (no lock file of ours); the build works on a private copy of the
latest release (``warehouse/publication/releases.py``), so an analyst's connection to
``<out>/budget.duckdb`` never holds it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from importlib import resources
from pathlib import Path

import duckdb
import polars as pl

from warehouse.memory import give_back

__all__ = [
    "LAST_GOOD_KEPT",
    "LOCK_TIMEOUT",
    "MEMORY_LIMIT",
    "DatabaseLocked",
    "create_views",
    "duplicate_keys",
    "prune_sources",
    "fill_credit_missions",
    "kept",
    "quote_identifier",
    "quote_literal",
    "reader",
    "replace_exercice",
    "replace_tables",
    "memory_limit",
    "sharing_hashes",
    "transaction",
    "upsert_sources",
    "with_last_good_kept",
    "writer",
]


#: The words that end the message of every source in error whose data from an earlier build stays (its ``sources``
#: row keeps a ``charge_le``): in the ``sources`` table (:func:`upsert_sources`) and in the summary of the build.
LAST_GOOD_KEPT = "its last good data is kept"


def with_last_good_kept(message: str | None) -> str:
    """``message`` ending with :data:`LAST_GOOD_KEPT` (in parentheses, unless it already says it)."""
    message = message or "not read"
    return message if LAST_GOOD_KEPT in message else f"{message} ({LAST_GOOD_KEPT})"


def schema_sql() -> str:
    """The DDL of the warehouse tables (``warehouse/sql/schema.sql``)."""
    return resources.files("warehouse").joinpath("sql/schema.sql").read_text(encoding="utf-8")


def quote_identifier(name: str) -> str:
    """``name`` as a SQL identifier: in double quotes, its double quotes doubled (SQL standard)."""
    return '"' + str(name).replace('"', '""') + '"'


def quote_literal(text: str | Path) -> str:
    """``text`` as a SQL string literal: in single quotes, its single quotes doubled (SQL standard;
    DuckDB reads no backslash escape in such a literal). For the few places DuckDB takes no
    parameter, such as the target of ``COPY … TO``."""
    return "'" + str(text).replace("'", "''") + "'"


#: How long a connection waits for another process's lock on the file, in seconds.
LOCK_TIMEOUT = 600.0
#: A file this recent (seconds) that is not yet a valid database is being created by another process.
CREATION_GRACE = 5.0


class DatabaseLocked(RuntimeError):
    """The database file stayed locked by another process for :data:`LOCK_TIMEOUT` seconds."""


#: DuckDB's memory limit on every connection (beyond it, DuckDB spills to disk): the warehouse's queries run in
#: bounded memory whatever the size of the tables (issue 11). ``BUDGET_DUCKDB_MEMORY`` overrides it (``2GB``).
MEMORY_LIMIT = os.environ.get("BUDGET_DUCKDB_MEMORY", "320MB")


#: The databases :func:`kept` open in this process, by resolved path.
_KEPT: dict[Path, duckdb.DuckDBPyConnection] = {}


@contextmanager
def kept(database: Path) -> Iterator[None]:
    """Keep one read-write connection to ``database`` open in this process for the block: the
    :func:`writer` and :func:`reader` connections opened meanwhile are cursors on it, so DuckDB opens the
    file (its WAL replayed, its catalogue loaded) once, not once per connection (about 14 ms each, 41 in a
    full build). For a process that is the file's only user for the block (the command's in-process runs
    on its private working copy): no other process can open the file meanwhile, and a reader's cursor is
    not read-only. Closed (and checkpointed) at the end of the block."""
    database.parent.mkdir(parents=True, exist_ok=True)
    key = database.resolve()
    connection = _connect(database, read_only=False)
    _KEPT[key] = connection
    try:
        yield
    finally:
        del _KEPT[key]
        connection.close()


def _connect(database: Path, read_only: bool, timeout: float | None = None) -> duckdb.DuckDBPyConnection:
    """Connect, waiting while another process holds DuckDB's lock on ``database``; memory bounded by
    :data:`MEMORY_LIMIT`. A cursor on the connection :func:`kept` holds, if any."""
    if _KEPT and (held := _KEPT.get(database.resolve())) is not None:
        return held.cursor()
    deadline = time.monotonic() + (LOCK_TIMEOUT if timeout is None else timeout)
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(database), read_only=read_only, config={"memory_limit": MEMORY_LIMIT})
        except duckdb.IOException as exc:
            if not _held_by_another(database, str(exc)):
                raise
            if time.monotonic() >= deadline:
                holder = " ".join(str(exc).split())
                raise DatabaseLocked(f"{database}: still locked by another process after waiting: {holder}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _held_by_another(database: Path, message: str) -> bool:
    """Whether DuckDB refused ``database`` because another process holds it: its lock, or the
    file is being created by that process (not yet a valid database, and a few seconds old)."""
    if "lock" in message.lower():
        return True
    try:
        age = time.time() - database.stat().st_mtime
    except OSError:
        return False
    return "not a valid DuckDB database" in message and age < CREATION_GRACE


@contextmanager
def writer(database: Path, timeout: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to ``database``, held by one process at a time.

    Creates the file and its tables if needed. Waits (up to ``timeout``, default
    :data:`LOCK_TIMEOUT` s) while another process holds the file; raises
    :class:`DatabaseLocked` after that.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    connection = _connect(database, read_only=False, timeout=timeout)
    try:
        connection.execute(schema_sql())
        yield connection
    finally:
        _give_back_if_kept(database, connection)
        connection.close()


@contextmanager
def reader(database: Path, timeout: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to ``database`` (waits while a writer of another process holds it)."""
    connection = _connect(database, read_only=True, timeout=timeout)
    try:
        yield connection
    finally:
        _give_back_if_kept(database, connection)
        connection.close()


def _give_back_if_kept(database: Path, connection: duckdb.DuckDBPyConnection) -> None:
    """A cursor on the connection :func:`kept` for the build: the blocks its step read are dropped from the
    buffer pool and glibc's free pages trimmed (:func:`warehouse.memory.give_back`) as the step closes it,
    so that they are not held under the next step's peak (issue 11: the 10 M-line build peaked at 1.25 GiB
    with them, 0.9 GiB without)."""
    if _KEPT and database.resolve() in _KEPT:
        give_back(connection)


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The block in one transaction of ``connection``: ``COMMIT`` at its end, ``ROLLBACK`` if it (or the ``COMMIT``)
    raises an ``Exception``, which is raised again.

    The ``ROLLBACK`` is skipped when the error ended the transaction: a ``COMMIT`` that failed (a full disk: DuckDB
    could not write its WAL) rolled it back already, and a second ``ROLLBACK`` raised ``cannot rollback - no
    transaction is active`` in place of the real cause (an adversarial tester's find)."""
    connection.execute("BEGIN TRANSACTION")
    try:
        yield
        connection.execute("COMMIT")
    except Exception:
        try:
            connection.execute("ROLLBACK")
        except duckdb.TransactionException as exc:
            if "no transaction is active" not in str(exc):
                raise
        raise


def replace_exercice(connection: duckdb.DuckDBPyConnection, table: str, exercice: int, rows: pl.DataFrame) -> int:
    """Replace every row of ``exercice`` in ``table`` by ``rows``, in one transaction.

    Re-running with the same ``rows`` gives the same table: nothing is duplicated,
    and a failure leaves the table as it was. Returns the number of rows inserted.
    """
    connection.register("nouvelles_lignes", rows.to_arrow())
    try:
        with transaction(connection):
            connection.execute(f"DELETE FROM {quote_identifier(table)} WHERE exercice = ?", [exercice])
            columns = ", ".join(quote_identifier(c) for c in rows.columns)
            connection.execute(
                f"INSERT INTO {quote_identifier(table)} ({columns}) SELECT {columns} FROM nouvelles_lignes"
            )
    finally:
        connection.unregister("nouvelles_lignes")
    return rows.height


def upsert_sources(connection: duckdb.DuckDBPyConnection, records: list[dict]) -> None:
    """Insert or update rows of the ``sources`` table, keyed by ``source_id``.

    A source that failed this time (``statut = 'erreur'``) or was not given
    (``'absent'``, ``warehouse/expected.py``) keeps the description of the file its
    loaded rows came from (hash, size, lines, load time): only its ``statut``,
    ``message`` and ``vu_le`` change, so the row says its data is the last good one.
    A file read again with the same sha256 keeps its first ``charge_le``.
    """
    if not records:
        return
    columns = [r[0] for r in connection.execute("DESCRIBE sources").fetchall()]
    frame = pl.DataFrame(
        [{c: _jsonable(r.get(c)) for c in columns} for r in records],
        schema_overrides={"charge_le": pl.Datetime("us"), "vu_le": pl.Datetime("us")},
        infer_schema_length=None,
    )
    before = connection.sql("SELECT source_id, sha256, charge_le FROM sources WHERE charge_le IS NOT NULL").pl()
    frame = (
        frame.join(before.rename({"sha256": "_sha256_avant", "charge_le": "_charge_avant"}), on="source_id", how="left")
        .with_columns(
            charge_le=pl.when(pl.col("charge_le").is_not_null() & (pl.col("sha256") == pl.col("_sha256_avant")))
            .then(pl.col("_charge_avant").cast(pl.Datetime("us")))
            .otherwise(pl.col("charge_le"))
        )
        .drop("_sha256_avant", "_charge_avant")
    )
    connection.register("sources_vues", frame.to_arrow())
    try:
        with transaction(connection):
            connection.execute(
                """
                UPDATE sources SET statut = v.statut, vu_le = v.vu_le, message = CASE
                    WHEN v.statut = 'erreur' AND sources.charge_le IS NOT NULL AND NOT contains(v.message, $kept)
                    THEN v.message || ' (' || $kept || ')' ELSE v.message END
                FROM sources_vues v
                WHERE sources.source_id = v.source_id AND v.statut IN ('erreur', 'absent')
                """,
                {"kept": LAST_GOOD_KEPT},
            )
            connection.execute(
                """
                DELETE FROM sources WHERE source_id IN (
                    SELECT source_id FROM sources_vues WHERE statut NOT IN ('erreur', 'absent'))
                """
            )
            assignments = ", ".join(quote_identifier(c) for c in columns)
            connection.execute(
                f"""
                INSERT INTO sources ({assignments})
                SELECT {assignments} FROM sources_vues v
                WHERE v.statut NOT IN ('erreur', 'absent') OR v.source_id NOT IN (SELECT source_id FROM sources)
                """
            )
    finally:
        connection.unregister("sources_vues")


def prune_sources(connection: duckdb.DuckDBPyConnection, given: list[str]) -> int:
    """``--prune``: delete the ``sources`` rows and the ``credits`` rows of every source not in
    ``given`` (the source ids of this build). Returns the number of ``sources`` rows deleted."""
    with transaction(connection):
        gone = connection.execute(
            "DELETE FROM sources WHERE NOT list_contains(?, source_id) RETURNING source_id", [given]
        ).fetchall()
        connection.execute("DELETE FROM credits WHERE NOT list_contains(?, source_id)", [given])
    return len(gone)


def drop_moved_sources(connection: duckdb.DuckDBPyConnection, given: list[str]) -> list[str]:
    """Delete the ``sources`` rows of files moved or renamed since the latest release: a row whose
    id is not in ``given`` (the source ids of this build) and whose sha256 a ``lu`` row of ``given``
    has (``warehouse/expected.py``: such a file is read under its new id, not kept as absent).
    Returns their source ids, sorted."""
    rows = connection.execute(
        "DELETE FROM sources WHERE NOT list_contains($given, source_id) AND sha256 IN "
        "(SELECT sha256 FROM sources WHERE list_contains($given, source_id) AND statut = 'lu') "
        "RETURNING source_id",
        {"given": given},
    ).fetchall()
    return sorted(s for (s,) in rows)


def drop_gone_sources(connection: duckdb.DuckDBPyConnection, given: list[str]) -> list[str]:
    """Delete the ``sources`` rows of files no longer given that hold no data: not in ``given`` (the source ids
    of this build), and never read as a covered family (``format`` null: ``non_reconnu``, or ``erreur`` for a file
    that could not be read at all), never loaded (``charge_le`` null: a failed download of a catalogue entry that
    names its family) or outside the exercices built (``hors_selection``). Such a row describes
    nothing of the warehouse; a source whose data is kept stays (``absent``, ``warehouse/expected.py``) until
    ``--prune``. Returns their source ids, sorted."""
    rows = connection.execute(
        "DELETE FROM sources WHERE NOT list_contains($given, source_id) "
        "AND (format IS NULL OR charge_le IS NULL OR statut IN ('non_reconnu', 'hors_selection', 'doublon')) "
        "RETURNING source_id",
        {"given": given},
    ).fetchall()
    return sorted(s for (s,) in rows)


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return value


def replace_tables(
    connection: duckdb.DuckDBPyConnection, tables: dict[str, pl.DataFrame], files: dict[str, Path] | None = None
) -> None:
    """Replace whole tables by frames (their columns and types) and by Parquet ``files`` (read by DuckDB,
    never into Python: tables of millions of rows), all in one transaction."""
    with transaction(connection):
        for name, frame in tables.items():
            connection.register("nouvelle_table", frame.to_arrow())
            connection.execute(f"CREATE OR REPLACE TABLE {quote_identifier(name)} AS SELECT * FROM nouvelle_table")
            connection.unregister("nouvelle_table")
        for name, path in (files or {}).items():
            connection.execute(
                f"CREATE OR REPLACE TABLE {quote_identifier(name)} AS SELECT * FROM read_parquet({quote_literal(path)})"
            )


@contextmanager
def memory_limit(connection: duckdb.DuckDBPyConnection, limit: str) -> Iterator[None]:
    """DuckDB's ``memory_limit`` of ``connection`` set to ``limit`` (``"256MB"``) for the block, then what
    it was before."""
    before = connection.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    connection.execute(f"SET memory_limit = {quote_literal(limit)}")
    reset = f"SET memory_limit = {quote_literal(before)}"
    try:
        yield
    except BaseException:
        # The block's error is the cause: a reset refused (a result of the block still open, "connection has an
        # open result") must not replace it (the summary named DuckDB's ResourceInUseException, not the
        # NotADirectoryError of a staging folder replaced by a file).
        with suppress(duckdb.Error):
            connection.execute(reset)
        raise
    connection.execute(reset)


def sharing_hashes(relation: str, key: list[str]) -> str:
    """SQL of the rows of ``relation`` (SQL) whose 64-bit hash of ``key`` another row has: every row whose key
    another row holds (nulls equal), and the rare row whose key merely hashes alike. Two scans of ``relation``,
    but the grouping is of one ``BIGINT`` column (it never spills, on tens of millions of rows, where grouping
    by the key's columns of text did); an exact ``GROUP BY`` of what this leaves is small."""
    columns = ", ".join(quote_identifier(c) for c in key)
    return (
        f"(SELECT * FROM {relation} WHERE hash({columns}) IN "
        f"(SELECT hash({columns}) AS _cle FROM {relation} GROUP BY _cle HAVING count(*) > 1))"
    )


def duplicate_keys(connection: duckdb.DuckDBPyConnection, table: str, key: list[str]) -> pl.DataFrame:
    """The values of ``key`` that more than one row of ``table`` holds, with their count ``n``.

    First counts the distinct 64-bit hashes of the key: as many as rows, no two rows share a key (a third
    cheaper than grouping by the hashes: 2.5 s of CPU against 3.8 on 21 M rows), and the answer is empty
    without a second scan. Else the rows sharing a hash (:func:`sharing_hashes`) are grouped exactly."""
    columns = ", ".join(quote_identifier(c) for c in key)
    name = quote_identifier(table)
    rows, distinct = connection.execute(f"SELECT count(*), count(DISTINCT hash({columns})) FROM {name}").fetchall()[0]
    relation = f"(SELECT * FROM {name} LIMIT 0)" if rows == distinct else sharing_hashes(name, key)
    return connection.sql(
        f"SELECT {columns}, count(*) AS n FROM {relation} GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL"
    ).pl()


def fill_credit_missions(connection: duckdb.DuckDBPyConnection) -> int:
    """Give ``credits`` rows whose source states no mission code (PLF 2019 budgets annexes) the
    mission of their programme that year in ``programmes`` (README, ``code_mission``).

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
