"""The escaping every CSV, Excel or HTML export must use (``warehouse/reading/escaping.py``)."""

from __future__ import annotations

import csv
from decimal import Decimal

import polars as pl
import pytest

from warehouse.reading.escaping import escape_formula, escape_formulas, escape_html


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ('=HYPERLINK("http://x","clic")', '\'=HYPERLINK("http://x","clic")'),
        ("+33 1 40 04 04 04", "'+33 1 40 04 04 04"),
        ("-", "'-"),  # the placeholder of indicator values: text, not a number
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-1234.50", "-1234.50"),  # a plain number stays a number
        ("-12,5", "-12,5"),
        ("+7", "+7"),
        ("Éducation nationale", "Éducation nationale"),
        ("352 - Innovation", "352 - Innovation"),
        ("", ""),
        (None, None),
    ],
)
def test_escape_formula(text: str | None, escaped: str | None) -> None:
    assert escape_formula(text) == escaped


def test_numbers_stay_numbers_in_a_written_csv(tmp_path) -> None:
    frame = pl.DataFrame(
        {
            "code_programme": ["352", "129"],
            "libelle_programme": ["=1+1 Innovation", "@Coordination"],
            "ae": [Decimal("-1234.50"), Decimal("10600000.00")],
            "exercice": [2021, -1],
            "valeur": [-12.5, 3.0],
        },
        schema={
            "code_programme": pl.String,
            "libelle_programme": pl.String,
            "ae": pl.Decimal(18, 2),
            "exercice": pl.Int16,
            "valeur": pl.Float64,
        },
    )

    escaped = escape_formulas(frame)

    assert escaped.schema == frame.schema
    assert escaped["libelle_programme"].to_list() == ["'=1+1 Innovation", "'@Coordination"]
    assert escaped.drop("libelle_programme").equals(frame.drop("libelle_programme"))
    path = tmp_path / "export.csv"
    escaped.write_csv(path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[1] == ["352", "'=1+1 Innovation", "-1234.50", "2021", "-12.5"]
    assert rows[2] == ["129", "'@Coordination", "10600000.00", "-1", "3.0"]


def test_escape_html() -> None:
    assert escape_html('<script>alert("x")</script> & l\'état') == (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; l&#x27;état"
    )
    assert escape_html(None) == ""
    assert escape_html(Decimal("-1.50")) == "-1.50"
