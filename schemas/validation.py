"""Validating frames with Pandera (polars backend), the one way the project does it.

Pandera only checks the schema of a ``LazyFrame`` (value checks are skipped), so
bad rows would pass (``shared/cases/B16``): :func:`validate` always collects
first, validates every check lazily (all failures at once), and returns the
validated frame.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

__all__ = ["ValidationFailed", "validate"]


class ValidationFailed(ValueError):
    """A frame that breaks its model. ``failures``: one row per failed check and row.

    Columns of ``failures``: ``column``, ``check``, ``index`` (0-based row of the
    frame, null for a column-level failure), ``failure_case`` (the value).
    """

    def __init__(self, model_name: str, failures: pl.DataFrame) -> None:
        self.failures = failures
        lines = [
            f"row {r['index']}, column {r['column']!r}: {r['check']} failed on {r['failure_case']!r}"
            for r in failures.head(20).iter_rows(named=True)
        ]
        more = f"\n… and {failures.height - 20} more" if failures.height > 20 else ""
        super().__init__(f"{model_name}: {failures.height} failure(s)\n" + "\n".join(lines) + more)


def validate(model: type[pa.DataFrameModel], frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Validate ``frame`` against ``model`` and return it, collected.

    Raises :class:`ValidationFailed` naming every failing row and check.
    """
    collected = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    try:
        return model.validate(collected, lazy=True)
    except SchemaErrors as exc:
        failures = exc.failure_cases.select(
            pl.col("column").cast(pl.String),
            pl.col("check").cast(pl.String),
            pl.col("index").cast(pl.Int64),
            pl.col("failure_case").cast(pl.String),
        )
        raise ValidationFailed(model.__name__, failures) from exc
