"""The storage of the local Dagster instance: Dagster's SQLite storages, with their connections kept.

Dagster's SQLite run and event-log storages open a new SQLite connection (a new SQLAlchemy engine,
``NullPool``) for every read and write, and SQLite in WAL mode syncs the disk at every commit: a
build stores about a thousand events, each one to three connections and commits (issue 11). These
subclasses keep one engine per database file for the life of the instance, and commit with
``PRAGMA synchronous = NORMAL``: in WAL mode the databases stay consistent and a commit survives a
crash of the process; a power cut may lose the last events (https://sqlite.org/pragma.html#pragma_synchronous).
Every SQLite database under the instance's folder is opened so, also by Dagster's own engines (creating the
databases of a new instance, the schedule storage).
After a write to a run's events, the run's file is touched: Dagster's watchers (the UI following a run's
logs live) wait for it to change, and with the connection kept open new events stay in the WAL file
until a checkpoint. The files and their layout are Dagster's own (``<DAGSTER_HOME>/history/runs.db``,
``history/runs/<run_id>.db``, ``history/runs/index.db``): ``dagster dev`` and the UI read them as usual,
and an instance made with Dagster's default storage keeps its history.

The capture of each step's stdout/stderr (the step's logs in the UI) is Dagster's ``LocalComputeLogManager``, with
its mirroring processes (a ``tail -F`` and a Python watcher per stream and step, which copy the captured output
back to the console) started with SIGINT blocked: a Ctrl-C on a terminal, sent to the whole foreground process
group, reaches the build alone, which stops and ends them, instead of printing a ``KeyboardInterrupt`` traceback
from each watcher (``ComputeLogsDeafToCtrlC``).

``pipelines.settings.INSTANCE_YAML`` names these classes in ``dagster.yaml``. They use Dagster's
internal modules: ``pyproject.toml`` pins the Dagster version they were written for.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import alembic.command
import dagster._core.storage.sql as dagster_sql
from alembic.config import Config
from alembic.script import ScriptDirectory
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


def _wal_normal_sync(dbapi_connection, _record=None) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _kept_engine(conn_string: str) -> Engine:
    """An engine that keeps its SQLite connection open (SQLAlchemy's default pool) and commits
    without a disk sync per transaction: WAL mode (Dagster sets it too, but only after creating the
    tables of a new database, a hundred statements each synced to disk) and synchronous NORMAL."""
    engine = create_engine(conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
    event.listen(engine, "connect", _wal_normal_sync)
    return engine


#: The Dagster home folders of the instances made with these storages (``history/`` is in them).
_HOMES: set[str] = set()


def _serve_home(history: str) -> None:
    """Open every SQLite database under the Dagster home of ``history`` in WAL mode with synchronous NORMAL,
    also those Dagster opens with engines of its own: the creation of a new instance's databases (``runs.db``,
    ``runs/index.db``, ``schedules/schedules.db``: ~200 statements of tables, indexes and Alembic stamps,
    each its own transaction) then no longer syncs the disk at every statement (1-2 s on a fresh output folder)."""
    _HOMES.add(os.path.dirname(os.path.abspath(history)) + os.sep)


@event.listens_for(Engine, "connect")
def _wal_under_home(dbapi_connection, record) -> None:
    if not _HOMES or not isinstance(dbapi_connection, sqlite3.Connection):
        return
    files = [row[2] for row in dbapi_connection.execute("PRAGMA database_list") if row[1] == "main"]
    if files and files[0] and any(files[0].startswith(home) for home in _HOMES):
        _wal_normal_sync(dbapi_connection, record)


class _ScriptsReadOnce(ScriptDirectory):
    """Alembic's ``ScriptDirectory`` read once per process for each folder of migration scripts: Dagster makes
    a new one, reading its ~150 scripts again (30-40 ms), for every check and stamp of a database's revision,
    two per run (each run's events are a new database). The scripts do not change while the process runs;
    the configuration of each command (its connection) is Alembic's ``EnvironmentContext``, not the folder's."""

    _read: dict[tuple, ScriptDirectory] = {}
    _lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config) -> ScriptDirectory:
        key = (config.get_main_option("script_location"), config.get_main_option("version_locations"))
        with cls._lock:
            if key not in cls._read:
                cls._read[key] = ScriptDirectory.from_config(config)
            return cls._read[key]


# Where Dagster checks and stamps revisions (``check_alembic_revision``, ``stamp_alembic_rev``).
dagster_sql.ScriptDirectory = _ScriptsReadOnce
alembic.command.ScriptDirectory = _ScriptsReadOnce


class KeptSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's ``SqliteEventLogStorage`` (one database per run and an index), with one engine per
    database kept open instead of one per event."""

    def __init__(self, base_dir: str, inst_data=None):
        _serve_home(os.path.dirname(os.path.abspath(base_dir)))  # <home>/history/runs
        self._engines: dict[str, Engine] = {}
        self._engines_lock = threading.Lock()
        self._present: set[str] = set()  # tables and columns of the index known to exist
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> KeptSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            if shard not in self._engines:
                self._engines[shard] = _kept_engine(self.conn_string_for_shard(shard))
            return self._engines[shard]

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as connection:
                sqlite = connection.connection.dbapi_connection
                changes = sqlite.total_changes
                with connection.begin():
                    yield connection
                if sqlite.total_changes != changes and shard != INDEX_SHARD_NAME:
                    # Dagster's watchers (the UI following a run's logs) wait for the run's file to change;
                    # with the connection kept open, new events go to the WAL file until a checkpoint.
                    os.utime(self.path_for_shard(shard))

    def has_table(self, table_name: str) -> bool:
        """Whether the index has the table, asked once per table found: Dagster asks before every asset
        and check event (``asset_event_tags``, ``asset_check_executions``), each time with a new engine
        and connection. Tables are only added (migrations) or all removed at once (``wipe``)."""
        if table_name not in self._present:
            engine = self._engine(INDEX_SHARD_NAME)  # not _connect: called with its lock held
            with engine.connect() as connection:
                if not engine.dialect.has_table(connection, table_name):
                    return False
            self._present.add(table_name)
        return True

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        """Whether the index's ``asset_keys`` table has the column, inspected once when it has (Dagster
        inspects the table's columns at every asset event)."""
        key = f"asset_keys.{column_name}"
        if key not in self._present:
            if not super()._has_asset_key_col_on_connection(conn, column_name):
                return False
            self._present.add(key)
        return True

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # the files are deleted
        self._present.clear()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._dispose_engines()


class KeptSqliteRunStorage(SqliteRunStorage):
    """Dagster's ``SqliteRunStorage`` (``history/runs.db``), with its engine kept open."""

    def __init__(self, conn_string: str, inst_data=None):
        self._engine = _kept_engine(conn_string)
        super().__init__(conn_string, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> KeptSqliteRunStorage:
        _serve_home(config_value["base_dir"])  # <home>/history
        return cls.from_local(inst_data=inst_data, **config_value)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._engine.connect() as connection, connection.begin():
            yield connection

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()


class ComputeLogsDeafToCtrlC(LocalComputeLogManager):
    """Dagster's ``LocalComputeLogManager`` (files ``<DAGSTER_HOME>/storage/<run_id>/compute_logs/<key>.out|err``,
    what the UI shows as a step's stdout/stderr), its mirroring processes started with SIGINT blocked.

    A terminal sends Ctrl-C's SIGINT to its whole foreground process group: with Dagster's manager, the
    ``tail -F`` stopped (output of the step after it no longer mirrored) and each ``watch_orphans.py`` watcher,
    a Python process, printed a ``KeyboardInterrupt`` traceback over the build's own lines. A signal mask is
    inherited by a child and kept across ``exec``: these children never take SIGINT (it stays pending in them);
    the build takes it, stops, and Dagster ends them (SIGTERM) as after any step. Only the calling thread's mask
    changes, for the time the processes start: a SIGINT that comes then is handled once it is unblocked (or at
    once by another thread of the build, which Python hands to the main thread), never lost."""

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> ComputeLogsDeafToCtrlC:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def capture_logs(self, log_key):
        with ExitStack() as captured:
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                context = captured.enter_context(super().capture_logs(log_key))  # the mirrors start here
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            yield context
