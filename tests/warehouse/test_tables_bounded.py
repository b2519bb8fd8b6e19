"""The rules of ``ecarts_sources`` that skip work on the staged lines (issue 11, wave 5) give what the whole
lines give: ``t2_plus_ht2`` reads the rows only when a line breaks it, ``temoin`` groups only the scopes a
witness covers. On the real build's staged lines (LFI 2021 publishes T2, HT2 and their total)."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from warehouse.credit_rules import t2_ht2_mismatches, witness_differences
from warehouse.staged_lines import scan_staged_lines


def test_a_line_whose_t2_and_ht2_do_not_sum_to_its_total_is_found_on_a_scan(built, tmp_path):
    lines = scan_staged_lines(built.out / "staging" / "credits")
    assert t2_ht2_mismatches(lines).is_empty()  # the real files agree
    published = lines.filter(pl.col("ae_publie").is_not_null() & ~pl.col("calcule")).collect()
    target = published.row(100, named=True)
    broken = published.with_columns(
        ae_t2=pl.when(pl.int_range(pl.len()) == 100).then(pl.col("ae_t2") + Decimal("1.50")).otherwise("ae_t2")
    )
    path = tmp_path / "broken.parquet"
    broken.write_parquet(path)
    found = t2_ht2_mismatches(pl.scan_parquet(path))
    assert found.height == 1
    row = found.row(0, named=True)
    assert (row["source_id"], row["source_ligne"], row["grandeur"]) == (
        target["source_id"],
        target["source_ligne"],
        "ae",
    )
    assert row["somme"] - row["total"] == Decimal("1.50")
    assert found.equals(t2_ht2_mismatches(broken))  # a scan and a frame alike


def test_without_a_witness_nothing_is_grouped_and_nothing_differs(built):
    lines = scan_staged_lines(built.out / "staging" / "credits")
    with_witnesses = witness_differences(lines)
    assert with_witnesses.height > 0  # the real files: witnesses that differ (test_build lists them)
    authoritative = lines.filter(pl.col("role") == "A")
    alone = witness_differences(authoritative)
    assert alone.is_empty() and alone.columns == with_witnesses.columns
    assert alone.schema == with_witnesses.schema
