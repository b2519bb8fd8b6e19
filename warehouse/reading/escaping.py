"""Escaping for the CSV, Excel and HTML files the project writes (issue 8, "Security").

The project writes none today (only DuckDB and Parquet); whatever writes them later (the
publication's page and exports) goes through here, in one place.

- Spreadsheet formulas ("CSV injection", OWASP: https://owasp.org/www-community/attacks/CSV_Injection):
  a *text* cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
  prefixed with ``'`` so that a spreadsheet shows it as text instead of running it. Numbers
  stay numbers: numeric columns (integers, floats, ``Decimal`` amounts, negative ones
  included) are never touched, nor is a text cell that is a plain number (``-1234.50``,
  ``-12,5``), which a spreadsheet reads as that number and nothing else. When writing Excel
  with xlsxwriter, also pass ``{"strings_to_formulas": False}``.
- HTML: ``escape_html`` (the standard library's ``html.escape``, quotes included); a template
  engine with autoescaping (Jinja2 ``autoescape=True``) does the same.
"""

from __future__ import annotations

import html

import polars as pl

__all__ = ["FORMULA_START", "escape_formula", "escape_formulas", "escape_html"]

#: The first characters that make a spreadsheet read a text cell as a formula.
FORMULA_START = r"^[=+\-@\t\r]"
_PLAIN_NUMBER = r"^[+-]?\d+(?:[.,]\d+)?$"


def escape_formula(text: str | None) -> str | None:
    """``text`` prefixed with ``'`` if a spreadsheet would read it as a formula; else unchanged.

    ``None`` stays ``None``; a plain number written as text (``-1234.50``) stays as it is.
    """
    return escape_formulas(pl.DataFrame({"v": [text]}, schema={"v": pl.String}))["v"][0]


def escape_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text (``String``) cell escaped as ``escape_formula`` says.

    Columns of other types (numbers, decimals, dates, booleans) come back unchanged.
    """
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START) & ~pl.col(name).str.contains(_PLAIN_NUMBER))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text
    )


def escape_html(value: object) -> str:
    """``value`` as HTML text: ``&``, ``<``, ``>``, ``"`` and ``'`` escaped; ``None`` is ``""``."""
    return "" if value is None else html.escape(str(value), quote=True)
