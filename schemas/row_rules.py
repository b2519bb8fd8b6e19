"""The row rules of a Pandera model as Polars expressions: one pass over a frame, no Pandera run.

Pandera (polars backend) runs each check of a model as its own query and collects the failing
rows of each; on a large frame read in batches that is most of the cost of validation. The same
rules, taken from the model's schema itself (so the two never drift apart), are evaluated here in
one ``select`` per frame: for each rule the number of failing rows and the first of them.
:func:`first_failure` reports what :func:`schemas.validation.validate` reports first (the same
column, check name, row and failing value, in Pandera's order: the columns in the model's order,
each one's nullability then its checks, then the dataframe checks), and the number of failures
in all. A check this module cannot translate raises ``NotImplementedError``, never passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

__all__ = ["Failure", "RowRule", "first_failure", "row_rules"]


@dataclass(frozen=True)
class RowRule:
    """One rule: ``failing`` is true on a row that breaks it; ``case`` the failing value as text."""

    column: str  # the column as Pandera names it (the model's name for a dataframe check)
    check: str  # the check as Pandera names it: ``not_nullable``, ``str_matches('^\\d{3}$')``…
    failing: pl.Expr
    case: pl.Expr
    per_value: bool = False  # ``failing`` is a function of the value of ``column`` alone, row by row


@dataclass(frozen=True)
class Failure:
    """The first failure of a frame: ``row`` (0-based), ``column``, ``check``, ``case`` (text or None),
    ``total`` (failing (row, rule) pairs in all)."""

    row: int
    column: str
    check: str
    case: str | None
    total: int


def _check_expr(column: str, check: pa.Check) -> pl.Expr:
    name, stats, col = check.name, check.statistics, pl.col(column)
    if name == "isin":
        return ~col.is_in(list(stats["allowed_values"]))
    if name == "str_matches":
        return ~col.str.contains(stats["pattern"])
    if name == "greater_than_or_equal_to":
        return col < stats["min_value"]
    if name == "less_than_or_equal_to":
        return col > stats["max_value"]
    if name == "greater_than":
        return col <= stats["min_value"]
    if name == "less_than":
        return col >= stats["max_value"]
    raise NotImplementedError(f"no Polars expression for check {check.name} of column {column}")


def row_rules(model: type[pa.DataFrameModel]) -> list[RowRule]:
    """The rules of ``model`` in Pandera's order; a null value fails only its column's nullability.

    ``str_matches`` is a search from the start of the text, as Pandera runs it (``str.contains`` of a
    pattern that Pandera anchors with ``^``); the model's patterns carry their own ``^…$``.
    Raises ``NotImplementedError`` for a column check or a dataframe check with no translation.
    """
    schema = model.to_schema()
    rules = []
    for name, column in schema.columns.items():
        value = pl.col(name).cast(pl.String)
        if not column.nullable:
            rules.append(RowRule(name, "not_nullable", pl.col(name).is_null(), pl.lit(None, pl.String), True))
        for check in column.checks:
            rules.append(RowRule(name, str(check.error), _check_expr(name, check).fill_null(False), value, True))
    for check in schema.checks:
        if check.name != "titre_is_first_digit_of_categorie":
            raise NotImplementedError(f"{model.__name__}: no Polars expression for dataframe check {check.name}")
        titre = pl.col("code_categorie").str.slice(0, 1) == pl.col("code_titre")
        failing = ~(pl.col("code_categorie").is_null() | titre).fill_null(False)
        rules.append(RowRule(model.__name__, check.name, failing, pl.struct(pl.all()).struct.json_encode()))
    return rules


def first_failure(frame: pl.DataFrame, rules: list[RowRule]) -> Failure | None:
    """The first failure of ``frame`` under ``rules`` (see the module), or None when every row passes.

    First whether any row fails (:func:`_any_failing`: a text column's rules on its distinct values); where one
    does, one ``select`` over the frame for the counts and first rows; the failing value is then read
    from that one row.
    """
    if not rules or not frame.height or not _any_failing(frame, rules):
        return None
    flags = frame.lazy().select(r.failing.alias(f"f{i}") for i, r in enumerate(rules))
    found = flags.select(pl.all().sum().name.prefix("n"), pl.all().arg_max().name.prefix("r")).collect().row(0)
    counts, rows = found[: len(rules)], found[len(rules) :]
    total = sum(counts)
    if not total:
        return None
    index = next(i for i, n in enumerate(counts) if n)
    rule, row = rules[index], rows[index]
    case = frame.slice(row, 1).select(rule.case).item()
    return Failure(row, rule.column, rule.check, case, total)


def _any_failing(frame: pl.DataFrame, rules: list[RowRule]) -> bool:
    """Whether some row of ``frame`` breaks some rule, in one query. A rule of a text column's value alone (a
    pattern, a set of values, its nullability) is tried on the column's distinct values: codes repeat on most
    rows (a batch of 25,000 credit lines holds a few hundred programmes), and a pattern over every row was most
    of the validation's cost. The other rules are tried on every row."""
    on_values: dict[str, list[pl.Expr]] = {}
    on_rows: list[pl.Expr] = []
    for rule in rules:
        if rule.per_value and frame.schema.get(rule.column) == pl.String:
            on_values.setdefault(rule.column, []).append(rule.failing)
        else:
            on_rows.append(rule.failing)
    lazy = frame.lazy()
    found = [
        lazy.select(pl.col(column).unique()).select(pl.any_horizontal(f.any() for f in failing).alias(f"v{i}"))
        for i, (column, failing) in enumerate(on_values.items())
    ]
    if on_rows:
        found.append(lazy.select(pl.any_horizontal(f.any() for f in on_rows).alias("rows")))
    return any(pl.concat(found, how="horizontal").collect().row(0))
