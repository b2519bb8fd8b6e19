"""``core/couverture``: what the warehouse holds per exercice, phase and type_budget, and per
performance document, with the authoritative source, the witnesses, or ``absent``."""

from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.credits import DUCKDB_WRITER_POOL, credits, staging_credits
from assets.disagreements import GROUP, ecarts_sources
from assets.metadata import column_schema, markdown
from assets.performance import performance_tables
from assets.resources import WarehousePaths
from assets.versions import code_version
from schemas.couverture import CouvertureModel
from schemas.validation import validate
from warehouse.coverage import COUVERTURE_SCHEMA, credit_coverage, performance_coverage, performance_files
from warehouse.credits.staged_lines import scan_staged_lines
from warehouse.memory import give_back
from warehouse.store import reader, replace_tables, writer


def _query(connection, sql: str, schema: dict) -> pl.DataFrame:
    return pl.DataFrame(connection.execute(sql).fetchall(), schema=schema, orient="row")


@dg.asset(
    key=["core", "couverture"],
    group_name=GROUP,
    kinds={"polars", "duckdb"},
    deps=[staging_credits, credits, *performance_tables.keys],
    code_version=code_version(__file__),
    pool=DUCKDB_WRITER_POOL,
    description=(
        "The `couverture` table of `budget.duckdb` (README, 'The tables'): for credits, one row per (exercice, "
        "phase, type_budget) where the phase and the type_budget each appear in the warehouse, for every "
        "exercice from the first to the last of that phase; for performance, one row per document and one "
        "`absent` row per year missing inside a document type's series. Each row names the authoritative "
        "source, the witnesses, the rows held and the `statut`: present, absent (nothing is filled in), "
        "en_erreur (its source failed this build: its last good rows stay)."
    ),
)
def couverture(context: dg.AssetExecutionContext, paths: WarehousePaths, duckdb: DuckDBResource):
    lines = scan_staged_lines(paths.staging_credits)
    database = Path(duckdb.database)
    with reader(database) as connection:
        give_back(connection)  # the blocks earlier steps read are not held under the lines' grouping in Polars
        loaded = _query(
            connection,
            "SELECT exercice, phase, type_budget, count(*) FROM credits GROUP BY ALL",
            {"exercice": pl.Int16, "phase": pl.String, "type_budget": pl.String, "lignes": pl.Int64},
        )
        files = performance_files(connection)
    parts = [performance_coverage(files)]
    if lines is not None:
        parts.insert(0, credit_coverage(lines, loaded))
    rows = validate(CouvertureModel, pl.concat(parts).cast(COUVERTURE_SCHEMA))
    with writer(database) as connection:
        replace_tables(connection, {"couverture": rows})
        give_back(connection)
    counts = rows.group_by("domaine", "statut").len("lignes").sort("domaine", "statut")
    context.log.info(f"couverture: {dict(((d, s), n) for d, s, n in counts.iter_rows())}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows.height,
            "dagster/table_name": "budget.main.couverture",
            "dagster/column_schema": column_schema(CouvertureModel),
            "par_statut": markdown(counts),
            "absents": markdown(rows.filter(pl.col("statut") != "present"), 60),
        }
    )


#: The assets about the warehouse itself: its disagreements between sources and its coverage.
CONTROL_ASSETS = [ecarts_sources, couverture]
