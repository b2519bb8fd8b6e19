"""``warehouse/publication/releases.py`` on real DuckDB and Parquet files: checks before the switch, hard links."""

import os
import shutil

import duckdb
import pytest

from assets.publish import PUBLISHED
from tests.conftest import CASES
from warehouse.publication.parquet import InvalidParquet, publish_table
from warehouse.publication.releases import latest_release, publish_release, remove_stale_work, start_work

TABLES = list(PUBLISHED)


def _work(out, built, drop: int = 0):
    """A working folder holding a copy of the real warehouse (the session's build) with its
    Parquet files; ``drop``: credit rows removed first (a change of content)."""
    work = start_work(out)
    shutil.copyfile(built.out / "latest" / "budget.duckdb", work / "budget.duckdb")
    with duckdb.connect(str(work / "budget.duckdb")) as connection:
        if drop:
            connection.execute(
                "DELETE FROM credits WHERE source_ligne IN (SELECT source_ligne FROM credits "
                "WHERE source_id = 'lfi-2020' ORDER BY source_ligne LIMIT ?) AND source_id = 'lfi-2020'",
                [drop],
            )
        for table in TABLES:
            publish_table(connection, table, work / "parquet")
    return work


def test_a_file_that_does_not_check_publishes_nothing_and_unchanged_files_are_links(tmp_path, built):
    out = tmp_path / "out"
    with duckdb.connect(str(built.out / "latest" / "budget.duckdb"), read_only=True) as connection:
        rows = connection.execute("SELECT count(*) FROM credits").fetchone()[0]
    first, new = publish_release(out, _work(out, built), TABLES, [])
    assert new and latest_release(out).version == first.version
    work = _work(out, built)
    # same rows (load times aside): no new release, the working folder goes
    assert publish_release(out, work, TABLES, []) == (latest_release(out), False) and not work.exists()

    work = _work(out, built, drop=1)
    shutil.copy(CASES / "B21" / "truncated.parquet", work / "parquet" / "credits.parquet")
    with pytest.raises(InvalidParquet):
        publish_release(out, work, TABLES, [])
    assert latest_release(out).version == first.version  # latest did not move
    assert remove_stale_work(out) == [work.name] and not work.exists()

    second, new = publish_release(out, _work(out, built, drop=1), TABLES, [])
    assert new and os.readlink(out / "latest") == f"releases/{second.version}"
    assert {f["path"]: f["rows"] for f in second.manifest["files"]}["parquet/credits.parquet"] == rows - 1
    before, after = first.folder / "parquet", second.folder / "parquet"
    assert (before / "credits.parquet").stat().st_ino != (after / "credits.parquet").stat().st_ino
    assert (before / "titres.parquet").stat().st_ino == (after / "titres.parquet").stat().st_ino  # unchanged
    assert second.manifest["files_linked_to_previous"] >= 1  # titres at least: unchanged files are links
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM credits").fetchone()[0] == rows - 1
