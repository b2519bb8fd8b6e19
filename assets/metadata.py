"""Helpers that turn frames and Pandera models into Dagster metadata."""

import dagster as dg
import pandera.polars as pa
import polars as pl


def column_schema(model: type[pa.DataFrameModel]) -> dg.TableSchema:
    """The ``dagster/column_schema`` of a Pandera model: names, types and descriptions."""
    schema = model.to_schema()
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=str(column.dtype),
                description=column.description,
                constraints=dg.TableColumnConstraints(nullable=column.nullable),
            )
            for name, column in schema.columns.items()
        ]
    )


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
