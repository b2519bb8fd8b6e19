"""The nomenclature per exercice (missions, programmes, actions, sous-actions, and the
label tables) and the crosswalk of what changed between exercices."""

from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.check_groups import check, grouped_checks
from assets.credits import DUCKDB_WRITER_POOL, credits, staging_credits
from assets.metadata import check_result, column_schema, markdown
from assets.resources import WarehousePaths
from assets.sources import NOMENCLATURE_FILES
from assets.versions import code_version
from schemas import nomenclature as models
from schemas.validation import validate
from warehouse.nomenclature import (
    derive_events,
    known_events,
    resolve_nomenclature,
    stage_nomenclature,
    staged_credit_elements,
)
from warehouse.sources import InventoryItem
from warehouse.staging import (
    read_reports,
    read_unpartitioned_staging,
    write_unpartitioned_staging,
)
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
    "(EXEC, LFI, PLF) that gives one. Table of `budget.duckdb`, published as Parquet. Also gives the `credits` "
    "rows whose source states no mission code (PLF 2019 budgets annexes) their programme's mission."
)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["core", table],
            description=text + _COMMON,
            deps=[["raw", "sources"], NOMENCLATURE_FILES, staging_credits, credits],
            code_version=code_version(__file__),
            group_name="nomenclature",
            kinds={"polars", "duckdb"},
        )
        for table, (_, text) in TABLES.items()
    ],
    ins={"sources": dg.AssetIn(key=["raw", "sources"])},
    pool=DUCKDB_WRITER_POOL,
)
def nomenclature(
    context: dg.AssetExecutionContext, paths: WarehousePaths, duckdb: DuckDBResource, sources: list[InventoryItem]
):
    items = [i for i in sources if i.holds("nomenclature")]
    context.log.info(f"{len(items)} nomenclature file(s): {[i.source.fichier for i in items]}")
    previous = read_unpartitioned_staging(paths.staging_nomenclature)
    elements, reports = stage_nomenclature(items, previous)
    for report in reports:
        if report.statut == "erreur":
            context.log.error(f"not loaded: {report.message}")
    write_unpartitioned_staging(paths.staging_nomenclature, elements, reports)
    everything = _all_elements(paths)
    tables = resolve_nomenclature(everything, {i.source.source_id for i in items})
    tables["nomenclature_evenements"] = derive_events(tables, known_events())
    tables = {name: validate(TABLES[name][0], frame) for name, frame in tables.items()}
    with writer(Path(duckdb.database)) as connection:
        replace_tables(connection, tables)
        filled = fill_credit_missions(connection)
        create_views(connection)
    context.log.info(f"{filled} credits row(s) given their mission from the nomenclature")
    for name, frame in tables.items():
        yield dg.MaterializeResult(
            asset_key=["core", name],
            metadata={
                "dagster/row_count": frame.height,
                "dagster/table_name": f"budget.main.{name}",
                "dagster/column_schema": column_schema(TABLES[name][0]),
                "apercu": markdown(frame.head(10)),
            },
        )


def _all_elements(paths: WarehousePaths) -> pl.DataFrame:
    """Every element staged: from the nomenclature files and from the credit files."""
    elements = read_unpartitioned_staging(paths.staging_nomenclature)
    staged = staged_credit_elements(paths.staging_credits)
    return pl.concat([elements, staged]) if staged is not None else elements


@check(
    ["core", "programmes"],
    description="Every programme belongs to exactly one mission per exercice, in every file that says which.",
)
def programme_in_one_mission(paths: WarehousePaths) -> dg.AssetCheckResult:
    elements = _all_elements(paths)
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
NOMENCLATURE_CHECKS = [
    grouped_checks(
        "nomenclature_checks",
        [programme_in_one_mission, every_nomenclature_file_readable],
    )
]
