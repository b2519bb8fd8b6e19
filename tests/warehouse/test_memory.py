"""Memory given back between steps (warehouse/memory.py), and what Polars' allocator does by itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from tests.conftest import ROOT, build_env
from warehouse.memory import LEFT_UNDER, give_back, release_duckdb_buffers, trim_malloc


def _cached_mib(connection: duckdb.DuckDBPyConnection) -> float:
    return connection.execute("SELECT sum(memory_usage_bytes) / 2 ** 20 FROM duckdb_memory()").fetchone()[0]


def _limit_mib(connection: duckdb.DuckDBPyConnection) -> float:
    value, unit = connection.execute("SELECT current_setting('memory_limit')").fetchone()[0].split()
    assert unit == "MiB"
    return float(value)


def test_release_drops_the_blocks_of_tables_read_and_keeps_the_limit(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("CREATE TABLE t AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(3000000)")
    with duckdb.connect(str(database), config={"memory_limit": "512MB"}) as connection:
        before = connection.execute("SELECT count(*), sum(i), max(s) FROM t").fetchone()
        assert _cached_mib(connection) > 20  # the table's blocks, kept once read
        release_duckdb_buffers(connection)
        assert _cached_mib(connection) < 2
        assert _limit_mib(connection) == 488.2  # 512 MB as DuckDB shows it, before as after
        for _ in range(5):  # the same at every call (set back as shown, it lost 0.1 MiB at each)
            release_duckdb_buffers(connection)
        assert _limit_mib(connection) == 488.2
        assert connection.execute("SELECT count(*), sum(i), max(s) FROM t").fetchone() == before  # read again


def test_release_leaves_a_few_mib_held(tmp_path: Path) -> None:
    # below LEFT_UNDER (the snapshot's warehouse: 8 MiB) the blocks stay: dropping them cost statements and reads
    database = tmp_path / "w.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("CREATE TABLE t AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(200000)")
    with duckdb.connect(str(database), config={"memory_limit": "512MB"}) as connection:
        before = connection.execute("SELECT count(*), sum(i), max(s) FROM t").fetchone()
        cached = _cached_mib(connection)
        assert 1 < cached < LEFT_UNDER / 2**20
        release_duckdb_buffers(connection)
        assert _cached_mib(connection) == cached
        assert _limit_mib(connection) == 488.2
        assert connection.execute("SELECT count(*), sum(i), max(s) FROM t").fetchone() == before


def test_release_where_nothing_can_be_evicted_keeps_the_data_and_the_limit() -> None:
    # an in-memory table with no temporary folder: DuckDB refuses the lower limit; nothing is lost, nothing raised
    with duckdb.connect(":memory:", config={"memory_limit": "512MB", "temp_directory": ""}) as connection:
        connection.execute("CREATE TABLE t AS SELECT range AS i FROM range(3000000)")
        give_back(connection)
        assert _limit_mib(connection) == 488.2
        assert connection.execute("SELECT count(*), sum(i) FROM t").fetchone() == (3000000, 4499998500000)


def test_trim_malloc_is_glibc_s() -> None:
    assert trim_malloc() is True  # the machines this runs on are glibc Linux


_CHILD = """
import os
os.environ["_RJEM_MALLOC_CONF"] = ",".join(filter(None, [os.environ.get("_RJEM_MALLOC_CONF"), "stats_print:true"]))
import polars as pl
print(pl.DataFrame({"a": range(100000)}).sum().item())
"""


def _jemalloc_options(env: dict[str, str]) -> dict[str, str]:
    """The options Polars' jemalloc reports in force (``stats_print`` at a child's exit), by name."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "4999950000"
    options = {}
    for line in done.stderr.splitlines():
        name, _, value = line.strip().partition(": ")
        if name.startswith("opt."):
            options[name] = value.split(" ")[0]
    return options


def test_polars_gives_freed_pages_back_by_itself() -> None:
    # What the build relies on (no setting of ours: a shorter decay cost CPU and lowered no peak, README): this
    # Polars build's jemalloc purges freed pages within 1.5 s, from a background thread, even while idle.
    env = {k: v for k, v in build_env().items() if k != "_RJEM_MALLOC_CONF"}
    options = _jemalloc_options(env)
    assert options["opt.background_thread"] == "true"
    assert (options["opt.dirty_decay_ms"], options["opt.muzzy_decay_ms"]) == ("500", "1000")
    # and it reads its settings from the environment, as a deployment that wants others would set them
    assert _jemalloc_options({**env, "_RJEM_MALLOC_CONF": "dirty_decay_ms:250"})["opt.dirty_decay_ms"] == "250"
