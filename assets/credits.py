"""``staging/credits`` and ``core/credits``: AE and CP by destination and nature, per exercice."""

from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.metadata import column_schema, markdown
from assets.partitions import exercice_partitions
from assets.resources import WarehousePaths
from assets.sources import CREDIT_FILES
from assets.versions import code_version
from schemas.credits import BUSINESS_KEY, CreditLinesModel, CreditsModel
from warehouse.credits.load import load_exercice
from warehouse.credits.roles import stage_exercice_to
from warehouse.credits.staged_lines import staged_version
from warehouse.publication.releases import pause_for_tests
from warehouse.sources import InventoryItem
from warehouse.store import writer

DUCKDB_WRITER_POOL = "duckdb_writer"
#: The credits' steps first among the steps ready to run (Dagster's in-process executor takes the highest
#: ``dagster/priority`` first): in a build's one run, the publication's reads of small files are done beside them
#: (``warehouse/ahead.py``), as they were during the credits run of a build in two runs.
CREDITS_FIRST = {"dagster/priority": "1"}


@dg.asset(
    key=["staging", "credits"],
    partitions_def=exercice_partitions,
    group_name="credits",
    kinds={"polars", "parquet"},
    ins={"sources": dg.AssetIn(key=["raw", "sources"])},
    deps=[CREDIT_FILES],
    code_version=code_version(__file__),
    backfill_policy=dg.BackfillPolicy.single_run(),
    op_tags=CREDITS_FIRST,
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
    # One run stages every exercice of its partition range (single-run backfill policy).
    results = [_stage_exercice(context, paths, sources, int(key)) for key in context.partition_keys]
    return _per_exercice(results, staged_version(paths.staging_credits))


def _per_exercice(results: list[dg.MaterializeResult], version: str) -> dg.MaterializeResult:
    """One exercice's result as is; for several (a run over a range of exercices), the row counts
    summed and each other entry prefixed by its exercice. ``version``: the data version of every
    partition of the run, the content staged for every exercice (``staged_version``): Dagster's own
    version of a run over a range is derived from the range, not from the lines, so a change then its
    revert would leave what reads the credits "fresh"."""
    if len(results) == 1:
        return dg.MaterializeResult(metadata=results[0].metadata, data_version=dg.DataVersion(version))
    metadata: dict = {"dagster/row_count": sum(r.metadata["dagster/row_count"] for r in results)}
    for result in results:
        exercice = result.metadata["exercice"]
        for name, value in result.metadata.items():
            if name.startswith("dagster/") and name != "dagster/row_count":
                metadata[name] = value
            elif name not in ("dagster/row_count", "exercice"):
                metadata[f"{exercice}_{name}"] = value
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(version))


def _stage_exercice(
    context: dg.AssetExecutionContext, paths: WarehousePaths, sources: list[InventoryItem], exercice: int
) -> dg.MaterializeResult:
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
            "exercice": exercice,
        }
    )


@dg.asset(
    key=["core", "credits"],
    partitions_def=exercice_partitions,
    group_name="credits",
    kinds={"duckdb"},
    deps=[staging_credits],
    pool=DUCKDB_WRITER_POOL,
    code_version=code_version(__file__),
    backfill_policy=dg.BackfillPolicy.single_run(),
    op_tags=CREDITS_FIRST,
    description=(
        "The `credits` table of `budget.duckdb` (README, 'The tables'): AE and CP in euros "
        "(DECIMAL(18,2)) by exercice, phase (PLF, AMD, LFI, LFR, EXEC), budget type, "
        "programme, action, sous-action, catégorie and titre; one row per business key, "
        "from the authoritative source only; lines repeating a key are summed "
        "(`nb_lignes_source`). Each row names its source (`source_id`, `source_ligne`). "
        "A run replaces the exercice in one transaction."
    ),
)
def credits(context: dg.AssetExecutionContext, paths: WarehousePaths, duckdb: DuckDBResource) -> dg.MaterializeResult:
    results = [_load_exercice(context, paths, duckdb, int(key)) for key in context.partition_keys]
    return _per_exercice(results, staged_version(paths.staging_credits))  # the table is the staged lines, loaded


def _load_exercice(
    context: dg.AssetExecutionContext, paths: WarehousePaths, duckdb: DuckDBResource, exercice: int
) -> dg.MaterializeResult:
    with writer(Path(duckdb.database)) as connection:
        try:
            inserted = load_exercice(connection, paths.staging_credits, exercice)
        except FileNotFoundError as exc:
            raise dg.Failure(f"{exc}: materialise staging/credits first") from exc
        totals = connection.sql(
            "SELECT phase, type_budget, count(*) AS lignes, sum(ae) AS ae, sum(cp) AS cp FROM credits "
            "WHERE exercice = ? GROUP BY ALL ORDER BY phase, type_budget NULLS LAST",
            params=[exercice],
        ).pl()
        preview = connection.sql(
            f"SELECT * FROM credits WHERE exercice = ? ORDER BY {', '.join(BUSINESS_KEY)} LIMIT 10", params=[exercice]
        ).pl()
    pause_for_tests("load", paths.out)  # test hook (warehouse/publication/releases.py): a kill during the load
    context.log.info(f"exercice {exercice}: {inserted} rows in credits")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": inserted,
            "dagster/table_name": "budget.main.credits",
            "dagster/column_schema": column_schema(CreditsModel),
            "totaux_par_phase": markdown(totals),
            "apercu": markdown(preview),
            "exercice": exercice,
        }
    )
