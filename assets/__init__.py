"""Dagster assets and asset checks of the warehouse, one module per source family.

Asset keys mirror the warehouse: ``raw/sources`` (the files found),
``staging/credits`` (every line read, per exercice), ``core/credits`` and
``core/sources`` (the DuckDB tables), ``parquet/<table>`` (the published files).
"""
