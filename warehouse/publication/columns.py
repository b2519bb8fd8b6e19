"""The columns of a published table as it is in the release's database: name, type, unit, description."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from warehouse.store import quote_identifier

__all__ = ["Column", "frictionless_type", "parquet_key_values", "table_columns"]


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # DuckDB's, e.g. DECIMAL(18,2)
    unit: str | None
    description: str | None

    @property
    def type(self) -> str:
        return frictionless_type(self.sql_type)


def frictionless_type(sql_type: str) -> str:
    """The Table Schema type of a DuckDB type (``DECIMAL(18,2)`` → ``number``, ``VARCHAR[]`` → ``array``)."""
    upper = sql_type.upper()
    if upper.endswith("[]") or upper.startswith(("LIST", "STRUCT", "MAP")):
        return "array" if not upper.startswith(("STRUCT", "MAP")) else "object"
    if upper in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER"):
        return "integer"
    if upper.startswith("DECIMAL") or upper in ("DOUBLE", "FLOAT", "REAL"):
        return "number"
    if upper == "BOOLEAN":
        return "boolean"
    if upper.startswith("TIMESTAMP"):
        return "datetime"
    if upper == "DATE":
        return "date"
    if upper == "JSON":
        return "object"
    return "string"


def table_columns(connection: duckdb.DuckDBPyConnection, table: str) -> list[Column]:
    """The columns of ``table`` in order, with the metadata of ``warehouse/publication/tables.py``."""
    from warehouse.publication.tables import column_description, column_unit  # the Pandera models: only here

    described = connection.execute(f"DESCRIBE {quote_identifier(table)}").fetchall()
    return [
        Column(name, sql_type, column_unit(table, name), column_description(table, name))
        for name, sql_type, *_ in described
    ]


def parquet_key_values(connection: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """The key-value metadata of ``table``'s Parquet file: ``description:<column>`` and ``unit:<column>``
    for every column that has one (none for a table unknown to ``warehouse/publication/tables.py``)."""
    from warehouse.publication.tables import TABLES

    if table not in TABLES:
        return {}
    values = {"table": table, "titre": TABLES[table].title}
    for column in table_columns(connection, table):
        if column.description:
            values[f"description:{column.name}"] = column.description
        if column.unit:
            values[f"unit:{column.name}"] = column.unit
    return values
