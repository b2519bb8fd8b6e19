"""The nomenclature per exercice (missions, programmes, actions, sous-actions, and the
label tables) and the crosswalk of what changed between exercices."""

import tempfile
from functools import partial
from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.check_groups import check, grouped_checks
from assets.credits import CREDITS_FIRST, DUCKDB_WRITER_POOL, credits, staging_credits
from assets.metadata import check_result, column_schema, markdown
from assets.partitions import exercice_partitions
from assets.resources import WarehousePaths
from assets.sources import NOMENCLATURE_FILES
from assets.versions import code_version
from schemas import nomenclature as models
from schemas.validation import validate
from warehouse.ahead import ahead
from warehouse.credits.staging import (
    read_reports,
    read_unpartitioned_staging,
    write_unpartitioned_staging,
)
from warehouse.nomenclature.resolution import (
    credit_elements_version,
    derive_events,
    known_events,
    nomenclature_read_key,
    read_nomenclature_file,
    resolve_staged_nomenclature_files,
    scan_elements,
    stage_nomenclature,
    validate_file,
    write_credit_elements,
)
from warehouse.sources import InventoryItem
from warehouse.store import create_views, fill_credit_missions, replace_tables, writer

#: The tables of the nomenclature, their Pandera model and what they hold, for users.
TABLES = {
    "missions": (
        models.MissionsModel,
        "One row per mission and exercice: `code_mission` (2 letters), its label that year and its budget type.",
    ),
    "programmes": (
        models.ProgrammesModel,
        "One row per programme and exercice: its label that year (cleaned: no "
        "`352 - ` prefix, single spaces), its mission and its ministère.",
    ),
    "actions": (models.ActionsModel, "One row per action and exercice, with its label that year."),
    "sous_actions": (models.SousActionsModel, "One row per sous-action and exercice, with its label that year."),
    "ministeres": (models.MinisteresModel, "One row per ministère and exercice, with its label that year."),
    "categories": (
        models.CategoriesModel,
        "The catégories of the nature nomenclature, with their latest label and their titre.",
    ),
    "titres": (models.TitresModel, "The titres 1 to 7, with their latest label (2 = dépenses de personnel, T2)."),
    "nomenclature_evenements": (
        models.EvenementsModel,
        "What changed between consecutive exercices, for "
        "missions, programmes and actions: creation, suppression, renommage (same code, "
        "new label), changement_code (same label, new code; `score` is the label "
        "similarity), changement_mission, found by comparing years (`origine = "
        "'derive'`); and the transfers, mergers and splits of "
        "`schemas/nomenclature_evenements.toml`, with their official source.",
    ),
}
_COMMON = (
    " Built from every nomenclature file (PLF 2014 to PLF 2025, the `.xls` MiS_PGM_ACT_SSA) and the labels the "
    "credit files carry: a year's codes are the union of its files, its label the one of the latest phase "
    "(EXEC, LFI, PLF) that gives one. Table of `budget.duckdb`, published as Parquet. Reads `staging/nomenclature` "
    "and `staging/credit_elements`, not the credit lines: a change of amounts leaves it as it was."
)


STAGING_NOMENCLATURE = dg.AssetKey(["staging", "nomenclature"])
CREDIT_ELEMENTS = dg.AssetKey(["staging", "credit_elements"])
CREDIT_MISSIONS = dg.AssetKey(["core", "credits_code_mission"])


def credit_elements_root(paths: WarehousePaths) -> Path:
    """``<out>/staging/credit_elements``: the nomenclature elements the credit lines state, per exercice."""
    return paths.out / "staging" / "credit_elements"


def read_ahead(sources: list[InventoryItem]) -> None:
    """Queue the reads of the nomenclature files of ``sources`` that ``staging/nomenclature`` makes
    (:mod:`warehouse.ahead`, :func:`warehouse.nomenclature.resolution.read_nomenclature_file`): the step takes them."""
    for item in sources:
        if item.holds("nomenclature"):
            ahead(nomenclature_read_key(item), partial(read_nomenclature_file, item))


@dg.asset(
    key=STAGING_NOMENCLATURE,
    group_name="nomenclature",
    kinds={"polars", "parquet"},
    deps=[NOMENCLATURE_FILES],
    ins={"sources": dg.AssetIn(key=["raw", "sources"])},
    code_version=code_version(__file__),
    description=(
        "The elements (mission, programme, action, sous-action, ministère, catégorie, titre, with their codes "
        "and labels) every nomenclature file states (PLF 2014 to PLF 2025, the `.xls` MiS_PGM_ACT_SSA), one "
        "read report per file. A file that cannot be read keeps the elements of its last good read. Written "
        "to `<out>/staging/nomenclature/`; reads only the nomenclature files."
    ),
)
def staging_nomenclature(
    context: dg.AssetExecutionContext, paths: WarehousePaths, sources: list[InventoryItem]
) -> dg.MaterializeResult:
    items = [i for i in sources if i.holds("nomenclature")]
    context.log.info(f"{len(items)} nomenclature file(s): {[i.source.fichier for i in items]}")
    previous = read_unpartitioned_staging(paths.staging_nomenclature)
    elements, reports = stage_nomenclature(items, previous)
    for report in reports:
        if report.statut == "erreur":
            context.log.error(f"not loaded: {report.message}")
    write_unpartitioned_staging(paths.staging_nomenclature, elements, reports)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": elements.height,
            "fichiers": len(reports),
            "chemin": str(paths.staging_nomenclature),
        }
    )


@dg.asset(
    key=CREDIT_ELEMENTS,
    partitions_def=exercice_partitions,
    group_name="credits",
    kinds={"duckdb", "parquet"},
    deps=[staging_credits],
    code_version=code_version(__file__),
    backfill_policy=dg.BackfillPolicy.single_run(),
    op_tags=CREDITS_FIRST,
    description=(
        "The nomenclature elements the credit lines of the exercice state: one row per (source, phase, "
        "level, codes), with its first line, budget type and label; grouped by DuckDB in bounded memory. "
        "Written to `<out>/staging/credit_elements/exercice=<YYYY>/elements.parquet`. Its data version is the "
        "sha256 of every exercice's elements: lines whose amounts changed, not their codes or labels, leave it "
        "as it was, so the nomenclature is not recomputed."
    ),
)
def credit_elements(context: dg.AssetExecutionContext, paths: WarehousePaths) -> dg.MaterializeResult:
    # One run writes every exercice of its partition range (single-run backfill policy).
    root = credit_elements_root(paths)
    counts = write_credit_elements(paths.staging_credits, root, [int(k) for k in context.partition_keys])
    context.log.info(f"credit elements per exercice: {counts}")
    return dg.MaterializeResult(
        metadata={"dagster/row_count": sum(counts.values()), "chemin": str(root)},
        data_version=dg.DataVersion(credit_elements_version(root, paths.staging_credits)),
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["core", table],
            description=text + _COMMON,
            deps=[STAGING_NOMENCLATURE, CREDIT_ELEMENTS],
            code_version=code_version(__file__),
            group_name="nomenclature",
            kinds={"polars", "duckdb"},
        )
        for table, (_, text) in TABLES.items()
    ],
    pool=DUCKDB_WRITER_POOL,
)
def nomenclature(context: dg.AssetExecutionContext, paths: WarehousePaths, duckdb: DuckDBResource):
    with tempfile.TemporaryDirectory(prefix="budget-nomenclature-") as folder:
        # Bounded memory: actions and sous-actions resolved by DuckDB to Parquet files; sous-actions (millions
        # at 10 M credit lines) validated in batches and loaded by DuckDB, never whole in Python.
        tables, files = resolve_staged_nomenclature_files(
            paths.staging_nomenclature / "part-0.parquet",
            credit_elements_root(paths),
            paths.staging_credits,
            {r.source_id for r in read_reports(paths.staging_nomenclature)},
            Path(folder),
        )
        tables["actions"] = pl.read_parquet(files.pop("actions"))  # the events compare them year by year
        tables["nomenclature_evenements"] = derive_events(tables, known_events())
        tables = {name: validate(TABLES[name][0], frame) for name, frame in tables.items()}
        counts = {name: validate_file(TABLES[name][0], path) for name, path in files.items()}
        previews = {name: pl.read_parquet(path, n_rows=10) for name, path in files.items()}
        with writer(Path(duckdb.database)) as connection:
            replace_tables(connection, tables, files)
            create_views(connection)
    counts |= {name: frame.height for name, frame in tables.items()}
    previews |= {name: frame.head(10) for name, frame in tables.items()}
    for name in TABLES:
        yield dg.MaterializeResult(
            asset_key=["core", name],
            metadata={
                "dagster/row_count": counts[name],
                "dagster/table_name": f"budget.main.{name}",
                "dagster/column_schema": column_schema(TABLES[name][0]),
                "apercu": markdown(previews[name]),
            },
        )


@dg.asset(
    key=CREDIT_MISSIONS,
    group_name="nomenclature",
    kinds={"duckdb"},
    deps=[credits, ["core", "programmes"]],
    code_version=code_version(__file__),
    pool=DUCKDB_WRITER_POOL,
    description=(
        "Gives the `credits` rows whose source states no mission code (PLF 2019 budgets annexes) the mission "
        "of their programme that year in `programmes` (README, `code_mission`), after each load of "
        "credits or change of the nomenclature. Writes no table of its own."
    ),
)
def credits_code_mission(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    with writer(Path(duckdb.database)) as connection:
        filled = fill_credit_missions(connection)
        missing = connection.execute("SELECT count(*) FROM credits WHERE code_mission IS NULL").fetchone()[0]
    context.log.info(f"{filled} credits row(s) given their mission from the nomenclature")
    return dg.MaterializeResult(metadata={"lignes_completees": filled, "lignes_sans_mission": missing})


def _all_elements(paths: WarehousePaths, levels: list[str]) -> pl.DataFrame:
    """The elements of ``levels`` staged: from the nomenclature files and from the credit files."""
    return scan_elements(
        paths.staging_nomenclature / "part-0.parquet", credit_elements_root(paths), paths.staging_credits, levels
    )


@check(
    ["core", "programmes"],
    description="Every programme belongs to exactly one mission per exercice, in every file that says which.",
)
def programme_in_one_mission(paths: WarehousePaths) -> dg.AssetCheckResult:
    elements = _all_elements(paths, ["programme"])
    several = (
        elements.filter((pl.col("niveau") == "programme") & pl.col("code_mission").is_not_null())
        .group_by("exercice", "code_programme")
        .agg(pl.col("code_mission").unique().sort().alias("missions"), pl.col("source_id").unique().sort())
        .filter(pl.col("missions").list.len() > 1)
        .sort("exercice", "code_programme")
    )
    return check_result(several, dg.AssetCheckSeverity.ERROR)


@check(
    ["core", "programmes"],
    description="Every nomenclature file of a covered family was read; else the error names the file, row and column.",
)
def every_nomenclature_file_readable(paths: WarehousePaths) -> dg.AssetCheckResult:
    failed = [r for r in read_reports(paths.staging_nomenclature) if r.statut == "erreur"]
    frame = pl.DataFrame(
        {"fichier": [r.fichier for r in failed], "erreur": [r.message for r in failed]},
        schema={"fichier": pl.String, "erreur": pl.String},
    )
    return check_result(frame, dg.AssetCheckSeverity.ERROR)


#: Codes of `credits` unknown to the nomenclature, and labels the files disagree on, are rules of
#: ``warehouse.disagreements.RULES`` (`code_inconnu`, `libelle`): WARN checks of `core/ecarts_sources`.
NOMENCLATURE_ASSETS = [staging_nomenclature, credit_elements, nomenclature, credits_code_mission]
NOMENCLATURE_CHECKS = [
    grouped_checks(
        "nomenclature_checks",
        [programme_in_one_mission, every_nomenclature_file_readable],
    )
]
