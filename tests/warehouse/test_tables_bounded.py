"""The rules of ``ecarts_sources`` that skip work on the staged lines (issue 11, wave 5) give what the whole
lines give: ``t2_plus_ht2`` reads the rows only when a line breaks it, ``temoin`` groups only the scopes a
witness covers. On the real build's staged lines (LFI 2021 publishes T2, HT2 and their total)."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from warehouse.credits.rules import t2_ht2_mismatches, witness_differences
from warehouse.credits.staged_lines import scan_staged_lines


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


def test_lfi_mismatches_are_found_range_by_range_wherever_their_rows_lie(built, tmp_path, monkeypatch):
    """``lfi_egale_plf_plus_amd`` reads each range of source lines from the stretch of rows that holds it
    (issue 11, wave 9): on the real LFI 2021 lines, two LFI amounts moved, ranges of 150 lines, the rows staged
    in line order after every other file's then shuffled (a range's stretch then spans the file), the same two
    lines are found."""
    from warehouse.credits import rules as credit_rules

    lines = scan_staged_lines(built.out / "staging" / "credits")
    assert credit_rules.lfi_plf_amd_mismatches(lines).is_empty()  # the real file agrees
    lfi_2021 = lines.filter(pl.col("source_id") == "lfi-2021").collect().sort("source_ligne", "phase")
    others = lines.filter(pl.col("source_id") != "lfi-2021").collect()
    published = (pl.col("phase") == "LFI") & ~pl.col("calcule")
    targets = lfi_2021.filter(published)["source_ligne"].gather([40, 700]).to_list()
    moved = pl.concat(
        [
            others,
            lfi_2021.with_columns(
                ae=pl.when(published & pl.col("source_ligne").is_in(targets))
                .then(pl.col("ae") + Decimal("2"))
                .otherwise("ae")
            ),
        ]
    )
    monkeypatch.setattr(credit_rules, "_LINES_PER_JOIN", 150)
    for order, frame in (("line", moved), ("shuffled", moved.sample(fraction=1.0, shuffle=True, seed=11))):
        path = tmp_path / f"{order}.parquet"
        frame.write_parquet(path, row_group_size=1000)
        found = credit_rules.lfi_plf_amd_mismatches(pl.scan_parquet(path))
        assert found["source_ligne"].to_list() == sorted(targets), order
        assert found["grandeur"].to_list() == ["ae", "ae"] and (found["lfi"] - found["attendu"]).to_list() == [
            Decimal("2.00"),
            Decimal("2.00"),
        ]
