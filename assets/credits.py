"""``staging/credits`` and ``core/credits``: AE and CP by destination and nature, per exercice."""

from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.metadata import column_schema, markdown
from assets.partitions import exercice_partitions
from assets.resources import WarehousePaths
from schemas.credits import BUSINESS_KEY, CreditLinesModel, CreditsModel
from warehouse.credits import stage_exercice_to
from warehouse.credits_load import load_exercice
from warehouse.releases import pause_for_tests
from warehouse.sources import InventoryItem
from warehouse.store import writer

DUCKDB_WRITER_POOL = "duckdb_writer"


@dg.asset(
    key=["staging", "credits"],
    partitions_def=exercice_partitions,
    group_name="credits",
    kinds={"polars", "parquet"},
    ins={"sources": dg.AssetIn(key=["raw", "sources"])},
    description=(
        "Every line of every credit file of the exercice, authoritative and witness, read "
        "through the column map of its family: codes normalised, amounts exact in euros "
        "(DECIMAL(18,2)), one row per source line and phase (PLF, AMD, LFI for the T2/HT2 "
        "files). `role` says whether the line is loaded (A, authoritative for its exercice, "
        "phase and budget type) or a witness (W). A file that cannot be read keeps the lines "
        "of its last good read (`repris`). Written to "
        "`<out>/staging/credits/exercice=<YYYY>/`."
    ),
)
def staging_credits(
    context: dg.AssetExecutionContext, paths: WarehousePaths, sources: list[InventoryItem]
) -> dg.MaterializeResult:
    exercice = int(context.partition_key)
    items = [i for i in sources if i.holds("credits") and i.exercice == exercice]
    context.log.info(f"exercice {exercice}: {len(items)} credit file(s): {[i.source.fichier for i in items]}")
    rows, reports = stage_exercice_to(paths.staging_credits, exercice, items)  # streamed, bounded memory
    for report in reports:
        if report.statut == "erreur":
            context.log.error(f"not loaded: {report.message}")
    summary = pl.DataFrame(
        {
            "fichier": [r.fichier for r in reports],
            "statut": [r.statut for r in reports],
            "lignes": [r.lignes for r in reports],
            "retenues": [r.lignes_retenues for r in reports],
            "ecartees": [str(r.lignes_ecartees_par_motif) for r in reports],
            "roles": [" ".join(f"{k}:{v}" for k, v in sorted(r.roles.items())) for r in reports],
        },
        schema={
            "fichier": pl.String,
            "statut": pl.String,
            "lignes": pl.Int64,
            "retenues": pl.Int64,
            "ecartees": pl.String,
            "roles": pl.String,
        },
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "dagster/column_schema": column_schema(CreditLinesModel),
            "fichiers": markdown(summary),
            "erreurs": "\n".join(r.message or "" for r in reports if r.statut == "erreur") or "none",
            "chemin": str(paths.staging_credits / f"exercice={exercice}"),
        }
    )


@dg.asset(
    key=["core", "credits"],
    partitions_def=exercice_partitions,
    group_name="credits",
    kinds={"duckdb"},
    deps=[staging_credits],
    pool=DUCKDB_WRITER_POOL,
    description=(
        "The `credits` table of `budget.duckdb` (CONTRACT.md): AE and CP in euros "
        "(DECIMAL(18,2)) by exercice, phase (PLF, AMD, LFI, LFR, EXEC), budget type, "
        "programme, action, sous-action, catégorie and titre; one row per business key, "
        "from the authoritative source only; lines repeating a key are summed "
        "(`nb_lignes_source`). Each row names its source (`source_id`, `source_ligne`). "
        "A run replaces the exercice in one transaction."
    ),
)
def credits(context: dg.AssetExecutionContext, paths: WarehousePaths, duckdb: DuckDBResource) -> dg.MaterializeResult:
    exercice = int(context.partition_key)
    with writer(Path(duckdb.database)) as connection:
        try:
            inserted = load_exercice(connection, paths.staging_credits, exercice)
        except FileNotFoundError as exc:
            raise dg.Failure(f"exercice {exercice} is not staged: materialise staging/credits first") from exc
        totals = connection.sql(
            "SELECT phase, type_budget, count(*) AS lignes, sum(ae) AS ae, sum(cp) AS cp FROM credits "
            "WHERE exercice = ? GROUP BY ALL ORDER BY phase, type_budget NULLS LAST",
            params=[exercice],
        ).pl()
        preview = connection.sql(
            f"SELECT * FROM credits WHERE exercice = ? ORDER BY {', '.join(BUSINESS_KEY)} LIMIT 10", params=[exercice]
        ).pl()
    pause_for_tests("load", paths.out)  # test hook (warehouse/releases.py): a kill during the load
    context.log.info(f"exercice {exercice}: {inserted} rows in credits")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": inserted,
            "dagster/table_name": "budget.main.credits",
            "dagster/column_schema": column_schema(CreditsModel),
            "totaux_par_phase": markdown(totals),
            "apercu": markdown(preview),
        }
    )
