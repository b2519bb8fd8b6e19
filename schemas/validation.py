"""Validating frames with Pandera (polars backend), the one way the project does it.

Pandera only checks the schema of a ``LazyFrame`` (value checks are skipped), so
bad rows would pass (``shared/cases/B16``): :func:`validate` always collects
first, validates every check lazily (all failures at once), and returns the
validated frame.

Pandera runs each of a model's checks (nullability, uniqueness, every column and dataframe check) as its
own Polars queries (two or more per check), each of which gives up and takes back the GIL.
:func:`validate` first asks all of them in one query (:func:`_passes`): the model's own check functions,
reduced as Pandera reduces them, so the two cannot drift apart; only where that query finds a failure (or
the model uses a feature it does not follow) does Pandera validate, so the failures and messages are
Pandera's.
"""

from __future__ import annotations

import pandera.backends.polars.builtin_checks  # noqa: F401 - the built-in checks' Polars functions, as Pandera's
import pandera.polars as pa
import polars as pl
from pandera.api.checks import Check
from pandera.api.function_dispatch import Dispatcher
from pandera.api.polars.types import PolarsData
from pandera.backends.polars.base import is_float_dtype
from pandera.config import CONFIG
from pandera.constants import CHECK_OUTPUT_KEY
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
    if _passes(model, collected):
        return collected
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


def _plain(schema) -> bool:
    """Whether ``schema`` uses only what :func:`_passes` follows: no parsing, coercion, defaults, regex
    columns, dropped rows, element-wise or grouped checks; else Pandera alone decides."""
    if CONFIG.use_narwhals_backend or schema.ordered:
        return False
    if schema.coerce or schema.dtype is not None or schema.add_missing_columns or schema.drop_invalid_rows:
        return False
    if schema.strict not in (True, False) or getattr(schema, "parsers", None):
        return False
    for column in schema.columns.values():
        if column.coerce or column.regex or column.default is not None or column.drop_invalid_rows:
            return False
        if getattr(column, "parsers", None) or column.dtype is None:
            return False
    checks = [*schema.checks, *(c for column in schema.columns.values() for c in column.checks)]
    return all(not c.element_wise and c.groupby is None and not c.raise_warning for c in checks)


def _check_output(check, data: PolarsData) -> pl.LazyFrame | bool:
    """One boolean per row (or one for the frame) of ``check`` on ``data``, with Pandera's reduction
    (``PolarsCheckBackend.apply`` and ``postprocess``): several columns folded with ``&``; a null output
    a pass where the check ignores nulls (``ignore_na``), else a failure."""
    function = check._check_fn
    if isinstance(function, Dispatcher) and Check.is_builtin_check(check.name):
        # The registry's function: a built-in check made before Pandera registered its Polars function (a model
        # built while the definitions load) holds a dispatcher that knows only the other backends.
        function = Check.get_builtin_check_fn(check.name)
    out = function(data, **check._check_kwargs)
    if isinstance(out, bool):
        return out
    names = out.collect_schema().names()
    passed = pl.all_horizontal(pl.col(names)) if len(names) > 1 else pl.col(names[0])
    passed = passed | passed.is_null() if check.ignore_na else passed.fill_null(False)
    return out.select(passed.all().alias(CHECK_OUTPUT_KEY))


def _passes(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> bool:
    """Whether ``frame`` passes every check of ``model`` as Pandera validates it, asked in one Polars query:
    its columns are the model's (no other when it is strict), each of its type; no null in a non-nullable
    column (nor NaN in a float one); no duplicate in a unique column or key; every column and dataframe
    check true (or null where it ignores nulls) on every row. False when any of these fails, or the model
    uses what Pandera does that this does not follow (:func:`_plain`): then Pandera decides."""
    schema = model.to_schema()
    if not _plain(schema) or not set(schema.columns) <= set(frame.columns):
        return False
    if schema.strict and len(frame.columns) != len(schema.columns):
        return False
    lazy = frame.lazy()
    for name, column in schema.columns.items():
        if not column.dtype.check(frame.schema[name], PolarsData(lazy.select(name), name)):
            return False
    rows: list[pl.Expr] = []
    for name, column in schema.columns.items():
        if not column.nullable:
            present = pl.col(name).is_not_null()
            rows.append((present & pl.col(name).is_not_nan() if is_float_dtype(lazy, name) else present).all())
        if column.unique:
            rows.append(pl.col(name).is_duplicated().any().not_())
    keys = schema.unique or []
    for key in [keys] if all(isinstance(k, str) for k in keys) else keys:
        if key:
            rows.append(pl.struct(key).is_duplicated().any().not_())
    outputs: list[pl.LazyFrame] = [lazy.select(pl.all_horizontal(rows).alias(CHECK_OUTPUT_KEY))] if rows else []
    targets = [(c, name) for name, column in schema.columns.items() for c in column.checks]
    for check, key in [*targets, *((c, "*") for c in schema.checks)]:
        try:
            out = _check_output(check, PolarsData(lazy, key))
        except KeyError:  # a built-in check made before Pandera registered its Polars function: Pandera decides
            return False
        if out is False:
            return False
        if out is not True:
            outputs.append(out)
    if not outputs:
        return True
    return all(result.item() for result in pl.collect_all(outputs))
