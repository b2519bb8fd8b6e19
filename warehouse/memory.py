"""Memory given back between the steps of a build: DuckDB's buffer pool and glibc's ``malloc``.

A build runs every step in one process (``pipelines/cli.py``) and keeps one DuckDB connection to the
warehouse for all of them (``warehouse.store.kept``). Each of its allocators keeps memory a step is done
with: DuckDB's buffer pool keeps the blocks of the tables it read, up to its ``memory_limit`` (~280 MiB
once a 10 M-line ``credits`` table was read), and glibc's ``malloc`` (Python's larger objects, the C
libraries' buffers) keeps freed pages inside its heaps. What one step keeps adds to the peak of the next
one, above all of a step that works in Polars or in another DuckDB database (issue 11: the build of a
10 M-line file peaked at 1.33 GiB while holding 0.6-0.9 GiB between steps). Polars' allocator (its own
jemalloc) needs nothing: it gives freed pages back by itself within 1.5 s, from a background thread
(``dirty_decay_ms`` 500, ``muzzy_decay_ms`` 1000 in this build; shorter, through ``_RJEM_MALLOC_CONF``,
cost CPU and lowered no peak). Nothing here changes a result.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import duckdb

__all__ = ["give_back", "release_duckdb_buffers", "trim_malloc"]


LEFT_UNDER = 32 * 2**20
"""Bytes held by a DuckDB database (``duckdb_memory()``) under which :func:`release_duckdb_buffers` leaves them."""


def release_duckdb_buffers(connection: duckdb.DuckDBPyConnection) -> None:
    """The DuckDB database of ``connection`` drops the blocks its buffer pool keeps unpinned (the tables'
    blocks read so far), then has its ``memory_limit`` back. DuckDB has no setting for it: lowering
    ``memory_limit`` evicts what it can (a table's blocks are dropped, being in the file; temporary ones
    are written to its temporary folder), and a limit it cannot reach is refused once it has evicted what
    it could (blocks pinned by a query still open). The blocks are read from the file again when a later
    query needs them. ~20-50 ms for 300 MiB of blocks.

    Below :data:`LEFT_UNDER` bytes held (the snapshot's warehouse is 8 MiB), nothing is done: evicting a few MiB
    cost each step ~5-8 ms of statements and read the same blocks again (a quarter of the page faults of the
    snapshot's full build, issue 11 wave 16), for no peak worth lowering."""
    shown, held = connection.execute(
        "SELECT current_setting('memory_limit'), (SELECT sum(memory_usage_bytes) FROM duckdb_memory())"
    ).fetchall()[0]
    if held is not None and held < LEFT_UNDER:
        return
    limit = _settable(shown)
    try:
        connection.execute("SET memory_limit = '1MB'")
    except duckdb.Error:
        pass  # what could be evicted was
    finally:
        connection.execute(f"SET memory_limit = '{limit}'")


def _settable(shown: str) -> str:
    """A ``memory_limit`` as DuckDB shows it (``488.2 MiB``: cut to a tenth of its unit, not rounded) in a
    form that sets it back: the middle of that tenth (``488.25 MiB``, within 0.05 MiB of what it was).
    Set back as shown, it would lose 0.1 MiB at each call (``488.1 MiB``, then ``488.0 MiB``...)."""
    value, _, unit = shown.partition(" ")
    return shown if unit == "bytes" else f"{float(value) + 0.05:.2f} {unit}"


_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))


def trim_malloc() -> bool:
    """glibc's ``malloc_trim(0)``: the free pages inside every ``malloc`` arena given back to the system.
    False (nothing done) where the C library has no ``malloc_trim`` (not glibc)."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is None:
        return False
    trim(0)
    return True


def give_back(connection: duckdb.DuckDBPyConnection) -> None:
    """:func:`release_duckdb_buffers` of ``connection``, then :func:`trim_malloc`: before a step's own work
    (what the steps before it kept is not held under its peak), and after it (nor under the next one's)."""
    release_duckdb_buffers(connection)
    trim_malloc()
