"""The Dagster instance of a build: its settings, and its SQLite storage with the connections kept open."""

import threading

import dagster as dg

from pipelines.instance import ComputeLogsDeafToCtrlC, KeptSqliteEventLogStorage, KeptSqliteRunStorage
from pipelines.settings import Settings, instance_yaml


@dg.asset
def one() -> int:
    return 1


def _home(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = Settings(sources_dir=None, out_dir=tmp_path).prepare_dagster_home()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_settings_written_for_a_new_instance_and_for_one_of_the_earlier_settings(tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch)
    assert (home / "dagster.yaml").read_text() == instance_yaml(home)
    assert f'base_dir: "{home.resolve()}/history"' in instance_yaml(home)
    earlier = "concurrency:\n  pools:\n    default_limit: 1\ntelemetry:\n  enabled: false\n"
    (home / "dagster.yaml").write_text(earlier)
    assert (_home(tmp_path, monkeypatch) / "dagster.yaml").read_text() == instance_yaml(home)
    moved = instance_yaml(home).replace(str(home.resolve()), "/elsewhere/dagster")
    (home / "dagster.yaml").write_text(moved)  # the output folder was moved: our settings follow it
    assert (_home(tmp_path, monkeypatch) / "dagster.yaml").read_text() == instance_yaml(home)
    # Written by a version before the capture's mirrors were deaf to Ctrl-C: rewritten, the capture now ours.
    before_ctrl_c = instance_yaml(home).split("compute_logs:")[0]
    (home / "dagster.yaml").write_text(before_ctrl_c)
    assert (_home(tmp_path, monkeypatch) / "dagster.yaml").read_text() == instance_yaml(home)
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.compute_log_manager, ComputeLogsDeafToCtrlC)
        assert instance.compute_log_manager.inst_data.config_dict["base_dir"] == str(home.resolve() / "storage")
    own = earlier + "python_logs:\n  python_log_level: INFO\n"
    (home / "dagster.yaml").write_text(own)
    assert (_home(tmp_path, monkeypatch) / "dagster.yaml").read_text() == own  # the user's own: kept


def test_runs_are_stored_in_dagsters_files_and_read_by_a_default_instance(tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, KeptSqliteEventLogStorage)
        assert isinstance(instance.run_storage, KeptSqliteRunStorage)
        result = dg.materialize([one], instance=instance)
        assert result.success
    assert (home / "history" / "runs.db").is_file()
    assert (home / "history" / "runs" / f"{result.run_id}.db").is_file()
    monkeypatch.delenv("DAGSTER_HOME")
    with dg.DagsterInstance.from_config(str(home)) as by_folder:  # no DAGSTER_HOME: the folder is enough
        assert by_folder.get_run_by_id(result.run_id).is_success
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # Dagster's own storage (what an instance without these settings uses) reads the same history.
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.get() as default:
        assert type(default.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert default.get_run_by_id(result.run_id).is_success
        record = default.get_latest_materialization_event(dg.AssetKey("one"))
        assert record is not None and record.run_id == result.run_id


def test_a_watcher_sees_the_new_events_of_a_run_while_the_connection_stays_open(tmp_path, monkeypatch):
    _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.get() as writer, dg.DagsterInstance.get() as ui:
        result = dg.materialize([one], instance=writer)
        run = writer.get_run_by_id(result.run_id)
        cursor = writer.get_records_for_run(run.run_id).cursor
        seen = threading.Event()

        def on_event(entry, _cursor):
            if entry.message == "after the run":
                seen.set()

        ui.watch_event_logs(run.run_id, cursor, on_event)
        writer.report_engine_event("after the run", run)
        assert seen.wait(10), "the watcher was not told of the new event"


def test_every_database_of_the_instance_is_opened_in_wal_mode_without_a_disk_sync_per_commit(tmp_path, monkeypatch):
    """Also those Dagster opens with engines of its own (creating a new instance's databases: ~200 statements,
    each its own transaction); a SQLite database elsewhere keeps SQLite's defaults."""
    from dagster._core.storage.sql import create_engine
    from sqlalchemy import text
    from sqlalchemy.pool import NullPool

    home = _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.get() as instance:
        assert dg.materialize([one], instance=instance).success
    databases = [home / "history" / "runs.db", home / "history" / "runs" / "index.db"]
    databases.append(home / "schedules" / "schedules.db")  # Dagster's own storage class
    elsewhere = tmp_path / "elsewhere.db"
    for path in [*databases, elsewhere]:
        engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
        with engine.connect() as connection:
            modes = (
                connection.execute(text("PRAGMA journal_mode")).scalar(),
                connection.execute(text("PRAGMA synchronous")).scalar(),
            )
        assert modes == (("wal", 1) if path != elsewhere else ("delete", 2)), path  # 1: NORMAL, 2: FULL


def test_alembic_reads_dagsters_migration_scripts_once_and_every_new_database_is_at_their_head(tmp_path, monkeypatch):
    """Dagster checks and stamps the revision of every new database (one per run) with a new Alembic
    ``ScriptDirectory``; ours is read once per process, and stamps the same head as a fresh reading."""
    import sqlite3

    import dagster._core.storage.event_log.sqlite.sqlite_event_log as sqlite_event_log
    from alembic.script import ScriptDirectory
    from dagster._core.storage.sql import get_alembic_config

    from pipelines.instance import _ScriptsReadOnce

    home = _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.get() as instance:
        runs = [dg.materialize([one], instance=instance).run_id for _ in range(2)]
    assert len(_ScriptsReadOnce._read) == 1
    head = ScriptDirectory.from_config(get_alembic_config(sqlite_event_log.__file__)).get_current_head()
    files = [home / "history" / "runs" / f"{run}.db" for run in runs]
    files += [home / "history" / "runs" / "index.db", home / "history" / "runs.db", home / "schedules" / "schedules.db"]
    for path in files:
        with sqlite3.connect(path) as connection:
            assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)], path
