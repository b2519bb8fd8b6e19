"""Mojibake in the warehouse's labels: UTF-8 text decoded as Windows-1252 (issue 7, item 6).

``Ã©`` is ``é`` read byte by byte with the wrong codec. The reading code decodes
each file as UTF-8 and only bytes that are not UTF-8 as Windows-1252, so a label
holding one of these sequences is a fault of the warehouse, not a difference
between sources: the check over it is ERROR.
"""

from __future__ import annotations

import duckdb
import polars as pl

__all__ = ["MOJIBAKE", "label_columns", "mojibake_labels"]

#: Sequences that French text decoded with the wrong codec shows (é, è, É, ’, no-break space).
MOJIBAKE = ("Ã©", "Ã¨", "Ã‰", "â€™", "Â ", "Â\u00a0")


def label_columns(connection: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Every (table, column) of the warehouse that holds a label: text columns named
    ``libelle*``, and ``unite``, ``responsable``, in base tables."""
    return connection.execute(
        """
        SELECT table_name, column_name FROM duckdb_columns()
        WHERE NOT internal AND data_type = 'VARCHAR'
          AND table_name IN (SELECT table_name FROM duckdb_tables())
          AND (column_name LIKE 'libelle%' OR column_name LIKE 'ancien_libelle%' OR column_name LIKE 'nouveau_libelle%'
               OR column_name IN ('unite', 'responsable'))
        ORDER BY table_name, column_name
        """
    ).fetchall()


def mojibake_labels(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The distinct labels holding mojibake, with where they are and how many rows hold them.

    Columns: table, colonne, libelle, lignes. Empty when every label is clean.
    """
    rows = []
    for table, column in label_columns(connection):
        # Each sequence looked for as text (``contains``), not as a regular expression: the same rows, a third of
        # the CPU over the labels (one per element: 175,000 rows at 100,000 synthetic credit lines).
        found = " OR ".join(f'contains("{column}", ?)' for _ in MOJIBAKE)
        rows += connection.execute(
            f'SELECT ?, ?, "{column}", count(*) FROM "{table}" WHERE {found} GROUP BY ALL',
            [table, column, *MOJIBAKE],
        ).fetchall()
    schema = {"table": pl.String, "colonne": pl.String, "libelle": pl.String, "lignes": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row").sort("table", "colonne", "libelle")
