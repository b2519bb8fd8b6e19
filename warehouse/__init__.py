"""Reading the budget files and writing the warehouse (DuckDB, Parquet).

Plain Python on Polars and DuckDB: nothing here knows about Dagster.
"""
