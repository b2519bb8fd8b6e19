"""``warehouse/releases.py`` on real DuckDB and Parquet files: checks before the switch, hard links."""

import os
import shutil

import duckdb
import pytest

from tests.conftest import CASES
from warehouse.publish import InvalidParquet, publish_table
from warehouse.releases import latest_release, publish_release, remove_stale_work, start_work

TABLES = ["credits", "sources", "titres"]


def _work(out, credits_rows):
    work = start_work(out)
    with duckdb.connect(str(work / "budget.duckdb")) as connection:
        connection.execute("CREATE OR REPLACE TABLE credits AS SELECT range AS x FROM range(?)", [credits_rows])
        connection.execute("CREATE OR REPLACE TABLE sources AS SELECT 'lfi-2020' AS source_id, now() AS vu_le")
        connection.execute("CREATE OR REPLACE TABLE titres AS SELECT '2' AS code_titre")
        for table in TABLES:
            publish_table(connection, table, work / "parquet")
    return work


def test_a_file_that_does_not_check_publishes_nothing_and_unchanged_files_are_links(tmp_path):
    out = tmp_path / "out"
    first, new = publish_release(out, _work(out, 3), TABLES, [])
    assert new and latest_release(out).version == first.version
    work = _work(out, 3)
    # same rows (the time in `sources` aside): no new release, the working folder goes
    assert publish_release(out, work, TABLES, []) == (latest_release(out), False) and not work.exists()

    work = _work(out, 4)
    shutil.copy(CASES / "B21" / "truncated.parquet", work / "parquet" / "credits.parquet")
    with pytest.raises(InvalidParquet):
        publish_release(out, work, TABLES, [])
    assert latest_release(out).version == first.version  # latest did not move
    assert remove_stale_work(out) == [work.name] and not work.exists()

    second, new = publish_release(out, _work(out, 4), TABLES, [])
    assert new and os.readlink(out / "latest") == f"releases/{second.version}"
    assert {f["path"]: f["rows"] for f in second.manifest["files"]}["parquet/credits.parquet"] == 4
    before, after = first.folder / "parquet", second.folder / "parquet"
    assert (before / "credits.parquet").stat().st_ino != (after / "credits.parquet").stat().st_ino
    assert (before / "titres.parquet").stat().st_ino == (after / "titres.parquet").stat().st_ino  # unchanged
    assert second.manifest["files_linked_to_previous"] == 1  # titres; sources holds a new time
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM credits").fetchone()[0] == 4
