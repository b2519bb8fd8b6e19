"""Parquet is never half-written and one partition never touches another (cases B20, B21)."""

import json
import shutil

import duckdb
import polars as pl
import pytest

from tests.conftest import CASES
from warehouse.publication import parquet as publish
from warehouse.publication.parquet import InvalidParquet, publish_partition, publish_table, verify_parquet
from warehouse.reading.tables import read_tables


def _slice(year: int) -> pl.DataFrame:
    return read_tables(CASES / "B20" / f"slice_{year}.csv")[0].to_frame()


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_case_b20_each_year_written_once_and_alone(tmp_path):
    expected = json.loads((CASES / "B20" / "expected.json").read_text())
    root = tmp_path / "credits"
    publish_partition(_slice(2023), root, "annee", 2023)
    publish_partition(_slice(2024), root, "annee", 2024)
    before = {p: (root / p).stat().st_mtime_ns for p in _files(root)}
    counts = {f"annee={y}": pl.read_parquet(root / f"annee={y}").height for y in (2023, 2024)}
    assert counts == expected["after_writing_2023_then_2024"]
    publish_partition(_slice(2024), root, "annee", 2024)
    counts = {f"annee={y}": pl.read_parquet(root / f"annee={y}").height for y in (2023, 2024)}
    assert counts == expected["rewrite_2024_again"]
    assert _files(root) == ["annee=2023/part-0.parquet", "annee=2024/part-0.parquet"]  # no stale file
    assert (root / "annee=2023/part-0.parquet").stat().st_mtime_ns == before["annee=2023/part-0.parquet"]


def test_case_b21_truncated_parquet_is_rejected(tmp_path):
    with pytest.raises(InvalidParquet, match="truncated"):
        verify_parquet(CASES / "B21" / "truncated.parquet")
    good = tmp_path / "good.parquet"
    _slice(2023).write_parquet(good)
    assert verify_parquet(good, 2) == 2
    with pytest.raises(InvalidParquet, match="rows"):
        verify_parquet(good, 3)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(InvalidParquet):
        verify_parquet(cut)


def test_case_b21_a_failed_publication_leaves_the_previous_file(tmp_path, monkeypatch):
    connection = duckdb.connect()
    connection.execute("CREATE TABLE credits AS SELECT 1 AS x UNION ALL SELECT 2")
    first = publish_table(connection, "credits", tmp_path)
    previous = first.path.read_bytes()
    connection.execute("INSERT INTO credits VALUES (3)")

    def broken(path, *args, **kwargs):
        shutil.copy(CASES / "B21" / "truncated.parquet", path)  # as if the write was cut short
        return verify_parquet(path, *args, **kwargs)

    monkeypatch.setattr(publish, "verify_parquet", broken)
    with pytest.raises(InvalidParquet):
        publish_table(connection, "credits", tmp_path)
    assert first.path.read_bytes() == previous
    assert _files(tmp_path) == ["credits.parquet"]  # no temporary file left behind
    monkeypatch.undo()
    assert publish_table(connection, "credits", tmp_path).rows == 3
