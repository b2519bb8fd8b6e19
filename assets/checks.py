"""Asset checks that the warehouse is faithful to its sources, each naming the rows that break it.

Two kinds of checks (issue 7, item 10). *The warehouse is faithful to its
sources* — every file read, line accounting, loaded rows summing to the kept
lines to the cent, unique keys, clean labels — here, severity ERROR: it fails the
build (``budget-warehouse build`` exits non-zero). *The sources agree with each
other* — T2 + HT2, LFI = PLF + AMD, witnesses, published totals… — are WARN
checks computed with the table ``ecarts_sources`` (``assets/disagreements.py``).
They read the whole staging area and warehouse (every exercice built so far), so
each run reports on the warehouse as it stands; except the two that compare the staged lines with
``credits`` (``repeated_keys_are_summed``, ``credits_sum_to_kept_lines``), which compare the exercices of
their run (``exercices``, from the run's partitions; every exercice in a run of none): an exercice whose
own run failed earlier in a build (its staging new, its ``credits`` rows not) is that run's failure.
Rules: ``shared/data/README.md`` ("Credits") and README, "The checks".
"""

from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.check_groups import check, grouped_checks
from assets.credits import credits, staging_credits
from assets.disagreements import KEY as ECARTS_KEY
from assets.metadata import check_result, markdown
from assets.publish import PUBLISHED
from assets.resources import WarehousePaths
from schemas.credits import BUSINESS_KEY
from warehouse.credits.load import credits_model_failures, credits_not_summing_to_kept_lines, repeated_keys_not_summed
from warehouse.credits.staging import read_reports
from warehouse.publication.parquet import InvalidParquet, verify_parquet
from warehouse.reading.mojibake import mojibake_labels
from warehouse.store import duplicate_keys, reader

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def _count_per_file(paths: WarehousePaths, counter: str) -> pl.DataFrame:
    """The files whose read report has a non-zero ``counter``, with its value."""
    reports = [r for r in read_reports(paths.staging_credits) if getattr(r, counter)]
    return pl.DataFrame(
        {"fichier": [r.fichier for r in reports], counter: [getattr(r, counter) for r in reports]},
        schema={"fichier": pl.String, counter: pl.Int64},
    )


@check(
    staging_credits,
    description="Every credit file of a covered family was read; else the error names the file, row and column.",
)
def every_credit_file_readable(paths: WarehousePaths) -> dg.AssetCheckResult:
    failed = [r for r in read_reports(paths.staging_credits) if r.statut == "erreur"]
    frame = pl.DataFrame(
        {"fichier": [r.fichier for r in failed], "erreur": [r.message for r in failed]},
        schema={"fichier": pl.String, "erreur": pl.String},
    )
    return check_result(frame, ERROR)


@check(
    staging_credits,
    description=(
        "Line accounting of every file read: data rows = rows kept + rows set aside (blank, total, note, no amount)."
    ),
)
def line_accounting_balances(paths: WarehousePaths) -> dg.AssetCheckResult:
    rows = [
        {
            "fichier": r.fichier,
            "lignes": r.lignes,
            "retenues": r.lignes_retenues,
            "ecartees": r.lignes_ecartees,
            "motifs": str(r.lignes_ecartees_par_motif),
        }
        for r in read_reports(paths.staging_credits)
        if r.statut == "lu"
    ]
    frame = pl.DataFrame(
        rows,
        schema={
            "fichier": pl.String,
            "lignes": pl.Int64,
            "retenues": pl.Int64,
            "ecartees": pl.Int64,
            "motifs": pl.String,
        },
    )
    broken = frame.filter(pl.col("lignes") != pl.col("retenues") + pl.col("ecartees"))
    return check_result(broken, ERROR, comptes=markdown(frame, 40))


@check(
    staging_credits,
    description="No amount cell is empty on a line that has the other amount (an empty cell counts as 0).",
)
def no_empty_amount_cells(paths: WarehousePaths) -> dg.AssetCheckResult:
    return check_result(_count_per_file(paths, "montants_vides"), WARN)


@check(
    staging_credits,
    description=(
        "The published titre is the first digit of the catégorie. Where it is not (LFI 2023 "
        "and PLF 2025 `pluriannuelles`: `4.0` on every line), the titre is taken from the "
        "catégorie."
    ),
)
def published_titre_matches_categorie(paths: WarehousePaths) -> dg.AssetCheckResult:
    return check_result(_count_per_file(paths, "titres_corriges"), WARN)


@check(
    credits,
    blocking=True,
    description="The business key (exercice, phase, type_budget, programme, action, sous-action, "
    "catégorie, titre) is unique in `credits`.",
)
def business_key_unique(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with reader(Path(duckdb.database)) as connection:
        return check_result(duplicate_keys(connection, "credits", BUSINESS_KEY), ERROR)


@check(
    credits,
    description="Lines that repeat a business key in an authoritative file are summed into one row "
    "whose `nb_lignes_source` counts them (PLF 2021: 12 keys over 48 lines; PLF 2022: 13 over 51).",
)
def repeated_keys_are_summed(
    paths: WarehousePaths, duckdb: DuckDBResource, exercices: list[int] | None
) -> dg.AssetCheckResult:
    with reader(Path(duckdb.database)) as connection:
        try:
            wrong, summary = repeated_keys_not_summed(connection, paths.staging_credits, exercices)
        except FileNotFoundError as exc:
            raise dg.Failure(f"nothing staged yet: {exc}") from exc
    return check_result(wrong, ERROR, cles_repetees=markdown(summary))


@check(
    credits,
    description="For every authoritative source and (exercice, phase, type_budget), the `credits` rows sum to "
    "its kept lines to the cent, in AE and CP, and count them (`nb_lignes_source`).",
)
def credits_sum_to_kept_lines(
    paths: WarehousePaths, duckdb: DuckDBResource, exercices: list[int] | None
) -> dg.AssetCheckResult:
    with reader(Path(duckdb.database)) as connection:
        try:
            wrong, scopes = credits_not_summing_to_kept_lines(connection, paths.staging_credits, exercices)
        except FileNotFoundError as exc:
            raise dg.Failure(f"nothing staged yet: {exc}") from exc
    return check_result(wrong, ERROR, perimetres=scopes)


@check(
    ECARTS_KEY,
    description="No label of the warehouse (libelle_* columns, units) holds mojibake (`Ã©`, `Ã¨`, `Ã‰`, `â€™`, "
    "`Â `): UTF-8 decoded as Windows-1252 is a reading fault, not a difference between sources.",
)
def no_mojibake_in_labels(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with reader(Path(duckdb.database)) as connection:
        return check_result(mojibake_labels(connection), ERROR)


@check(
    credits,
    "The whole `credits` table passes its Pandera model: its column rules and types; the uniqueness of its key "
    "is `business_key_unique`'s (blocking, run in the same step), not looked for twice.",
)
def credits_match_model(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with reader(Path(duckdb.database)) as connection:
        failures = credits_model_failures(connection, unique=False)
        rows = connection.execute("SELECT count(*) FROM credits").fetchone()[0]
    return check_result(failures, ERROR, lignes=rows)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "parquet_matches_warehouse",
            asset=["parquet", table],
            description=f"`{table}.parquet` is complete and holds as many rows as the `{table}` table.",
        )
        for table in PUBLISHED
    ],
    can_subset=True,
)
def parquet_matches_warehouse(context: dg.AssetCheckExecutionContext, paths: WarehousePaths, duckdb: DuckDBResource):
    with reader(Path(duckdb.database)) as connection:
        for check_key in context.selected_asset_check_keys:
            table = check_key.asset_key.path[-1]
            expected = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            path = paths.parquet / f"{table}.parquet"
            try:
                rows = verify_parquet(path, expected)
                yield dg.AssetCheckResult(
                    check_name=check_key.name, asset_key=check_key.asset_key, passed=True, metadata={"lignes": rows}
                )
            except (InvalidParquet, FileNotFoundError) as exc:
                yield dg.AssetCheckResult(
                    check_name=check_key.name,
                    asset_key=check_key.asset_key,
                    passed=False,
                    severity=ERROR,
                    metadata={"erreur": str(exc)},
                )


#: The checks of ``credits_job``: of the staging, then of the table (one step each, after their asset).
STAGING_CREDIT_CHECKS = grouped_checks(
    "staging_credit_checks",
    [every_credit_file_readable, line_accounting_balances, no_empty_amount_cells, published_titre_matches_categorie],
)
CREDIT_CHECKS = grouped_checks(
    "credit_checks",
    [business_key_unique, repeated_keys_are_summed, credits_sum_to_kept_lines, credits_match_model],
)
MOJIBAKE_CHECKS = grouped_checks("label_checks", [no_mojibake_in_labels])

CHECKS = [STAGING_CREDIT_CHECKS, CREDIT_CHECKS, MOJIBAKE_CHECKS, parquet_matches_warehouse]
