"""Helpers that turn frames and Pandera models into Dagster metadata."""

import warnings

import dagster as dg
import pandera.polars as pa
import polars as pl
from dagster_pandera import pandera_schema_to_dagster_type


def column_schema(model: type[pa.DataFrameModel]) -> dg.TableSchema:
    """The ``dagster/column_schema`` of a Pandera model (names, types, descriptions, checks), by dagster-pandera."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return pandera_schema_to_dagster_type(model).metadata["schema"].schema


def markdown(frame: pl.DataFrame, limit: int = 30) -> dg.MarkdownMetadataValue:
    """A frame as a Markdown table (first ``limit`` rows), for the Dagster UI."""
    shown = frame.head(limit)
    if shown.is_empty():
        return dg.MetadataValue.md("_none_")
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "| " + " | ".join("---" for _ in shown.columns) + " |"
    rows = [
        "| " + " | ".join("" if v is None else str(v).replace("|", "\\|") for v in row) + " |"
        for row in shown.iter_rows()
    ]
    more = [f"\n_… {frame.height - limit} more rows_"] if frame.height > limit else []
    return dg.MetadataValue.md("\n".join([header, rule, *rows, *more]))


def check_result(offending: pl.DataFrame, severity: dg.AssetCheckSeverity, **metadata) -> dg.AssetCheckResult:
    """A check's result from the rows that break its rule: passed when there are none, else listed."""
    return dg.AssetCheckResult(
        passed=offending.is_empty(),
        severity=severity,
        metadata={"lignes_en_defaut": offending.height, "detail": markdown(offending, 50), **metadata},
    )
