"""DuckDB: one writer at a time (waiting on DuckDB's own lock), idempotent loads per exercice (case B18)."""

import multiprocessing
import time

import duckdb
import polars as pl
import pytest

from tests.conftest import CASES
from warehouse.reading.tables import read_tables
from warehouse.store import DatabaseLocked, reader, replace_exercice, transaction, writer

TABLE = "cas_b18"


def _slice(year: int) -> pl.DataFrame:
    path = CASES / "B18" / f"slice_{year}.csv"
    if path.exists():
        frame = read_tables(path)[0].to_frame()
    else:  # partitions with no slice in the case: one row of their own
        frame = pl.DataFrame({"annee": [str(year)], "programme": ["150"], "cp": ["9,0"]})
    return frame.select(
        pl.col("annee").cast(pl.Int16).alias("exercice"),
        pl.col("programme").alias("code_programme"),
        pl.col("cp").str.replace(",", ".").cast(pl.Decimal(18, 2)).alias("cp"),
    )


def _load(args) -> int:
    database, year = args
    with writer(database) as connection:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (exercice SMALLINT, code_programme VARCHAR, cp DECIMAL(18,2))"
        )
        return replace_exercice(connection, TABLE, year, _slice(year))


def test_case_b18_concurrent_partitions_all_load(tmp_path):
    years = [int(y) for y in (CASES / "B18" / "partitions.txt").read_text().split()]
    database = tmp_path / "budget.duckdb"
    with multiprocessing.get_context("spawn").Pool(len(years)) as pool:
        inserted = pool.map(_load, [(database, y) for y in years])
    assert len(inserted) == len(years) == 7
    with reader(database) as connection:
        loaded = dict(connection.execute(f"SELECT exercice, count(*) FROM {TABLE} GROUP BY 1").fetchall())
    assert loaded == {y: _slice(y).height for y in years}


def test_replace_exercice_is_idempotent(tmp_path):
    database = tmp_path / "budget.duckdb"
    for _ in range(3):
        _load((database, 2019))
        _load((database, 2020))
    with reader(database) as connection:
        assert connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == 4
        assert connection.execute(f"SELECT sum(cp) FROM {TABLE} WHERE exercice = 2019").fetchone()[0] == 3


def test_a_transaction_commits_its_block_or_rolls_it_back_and_keeps_the_blocks_error(tmp_path):
    connection = duckdb.connect(str(tmp_path / "budget.duckdb"))
    connection.execute("CREATE TABLE t (x INTEGER)")
    with transaction(connection):
        connection.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ValueError, match="the block's"), transaction(connection):
        connection.execute("INSERT INTO t VALUES (2)")
        raise ValueError("the block's")
    # A block whose error already ended the transaction (a COMMIT that failed on a full disk does): DuckDB's `cannot
    # rollback - no transaction is active` does not replace that error.
    with pytest.raises(ValueError, match="ended it"), transaction(connection):
        connection.execute("INSERT INTO t VALUES (3)")
        connection.execute("ROLLBACK")
        raise ValueError("ended it")
    assert connection.execute("SELECT list(x) FROM t").fetchall()[0][0] == [1]
    connection.execute("INSERT INTO t VALUES (4)")  # no transaction left open
    connection.close()


def _hold(database: str, seconds: float, ready) -> None:
    connection = duckdb.connect(database)  # a read-write connection of another process
    connection.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    ready.set()
    time.sleep(seconds)
    connection.close()


def test_a_connection_waits_for_another_process_lock_then_proceeds(tmp_path):
    database = tmp_path / "budget.duckdb"
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_hold, args=(str(database), 3.0, ready))
    holder.start()
    assert ready.wait(60)
    started = time.monotonic()
    with writer(database) as connection:  # DuckDB refuses at once; writer waits for its lock
        connection.execute("INSERT INTO t VALUES (1)")
    assert time.monotonic() - started > 1.0
    holder.join()
    with reader(database) as connection:
        assert connection.execute("SELECT count(*) FROM t").fetchone()[0] == 1


def test_a_lock_held_too_long_names_the_file_and_the_holder(tmp_path):
    database = tmp_path / "budget.duckdb"
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_hold, args=(str(database), 10.0, ready))
    holder.start()
    assert ready.wait(60)
    with pytest.raises(DatabaseLocked) as raised, reader(database, timeout=1.0):
        pass
    holder.kill()
    holder.join()
    message = str(raised.value)
    assert str(database) in message and "\n" not in message
    assert f"PID {holder.pid}" in message


def test_kept_opens_the_file_once_for_the_writers_and_readers_of_the_block(tmp_path, monkeypatch):
    """Case B18's slices loaded by three writers and read by a reader inside ``kept``: DuckDB opens the
    file once; after the block it is closed, with what was written, for any process to open."""
    from warehouse.store import kept

    database = tmp_path / "w.duckdb"
    opened = []
    real = duckdb.connect

    def counting(*args, **kwargs):
        opened.append(args[0] if args else kwargs.get("database"))
        return real(*args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", counting)
    with kept(database):
        for year in (2019, 2020, 2021):
            assert _load((database, year)) == _slice(year).height
        with reader(database) as connection:
            inside = connection.execute(f"SELECT exercice, count(*) FROM {TABLE} GROUP BY 1 ORDER BY 1").fetchall()
    assert opened == [str(database)]
    assert inside == [(year, _slice(year).height) for year in (2019, 2020, 2021)]
    monkeypatch.undo()
    with duckdb.connect(str(database), read_only=True) as connection:  # closed: another connection opens it
        after = connection.execute(f"SELECT exercice, count(*) FROM {TABLE} GROUP BY 1 ORDER BY 1").fetchall()
    assert after == inside
