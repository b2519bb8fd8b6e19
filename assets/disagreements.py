"""``core/ecarts_sources``: where the official sources disagree, one row per disagreement, and
one WARN check per rule (``warehouse.disagreements.RULES``), computed with the table."""

from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.credits import DUCKDB_WRITER_POOL, credits, staging_credits
from assets.documents import document_tables, reconciliation
from assets.metadata import column_schema, markdown
from assets.nomenclature import (
    CREDIT_ELEMENTS,
    CREDIT_MISSIONS,
    STAGING_NOMENCLATURE,
    credit_elements_root,
    nomenclature,
)
from assets.performance import performance_tables
from assets.resources import WarehousePaths
from assets.versions import code_version
from schemas.ecarts import EcartsModel
from schemas.validation import validate
from warehouse.credits.staged_lines import scan_staged_lines
from warehouse.credits.staging import read_reports
from warehouse.disagreements import RULES, Evidence, collect
from warehouse.memory import give_back
from warehouse.nomenclature.resolution import element_files
from warehouse.store import reader, replace_tables, writer

KEY = ["core", "ecarts_sources"]
#: The group of the tables about the warehouse itself (coverage, disagreements).
GROUP = "controles"


def _rule_text(regle: str) -> str:
    """The first sentence of the rule's docstring, for the UI."""
    doc = " ".join((RULES[regle].__doc__ or regle).split())
    return doc.split(". ")[0].rstrip(".") + "."


def _elements(paths: WarehousePaths) -> list[Path]:
    """The files of every element staged: the rule ``libelle`` reads the labelled ones, one level at a time."""
    return element_files(
        paths.staging_nomenclature / "part-0.parquet", credit_elements_root(paths), paths.staging_credits
    )


@dg.asset(
    key=KEY,
    group_name=GROUP,
    kinds={"polars", "duckdb"},
    deps=[
        staging_credits,
        credits,
        STAGING_NOMENCLATURE,
        CREDIT_ELEMENTS,
        CREDIT_MISSIONS,
        *nomenclature.keys,
        *performance_tables.keys,
        *document_tables.keys,
        *reconciliation.keys,
    ],
    code_version=code_version(__file__),
    pool=DUCKDB_WRITER_POOL,
    check_specs=[
        dg.AssetCheckSpec(regle, asset=KEY, description=f"WARN. {_rule_text(regle)} Lists the rows.") for regle in RULES
    ],
    description=(
        "The `ecarts_sources` table of `budget.duckdb` (README, 'The tables'): every disagreement between the "
        "official sources that a rule finds, one row each — `regle` (t2_plus_ht2, lfi_egale_plf_plus_amd, "
        "temoin, total_publie, atteinte_publiee, libelle, code_inconnu, declaration), where it applies "
        "(exercice, phase, type_budget, `cle`), the two values as compared, their difference (`ecart` in euros, "
        "`ecart_valeur` for other numbers) and the two sources. The warehouse stays faithful to each "
        "source; these are findings, reported as WARN checks (one per rule), never a failed build."
    ),
)
def ecarts_sources(context: dg.AssetExecutionContext, paths: WarehousePaths, duckdb: DuckDBResource):
    lines = scan_staged_lines(paths.staging_credits)
    with reader(Path(duckdb.database)) as connection:
        give_back(connection)  # the blocks earlier steps read are not held under the rules' Polars joins
        evidence = Evidence(
            connection=connection,
            lines=lines,
            reports=read_reports(paths.staging_credits),
            element_files=_elements(paths),
        )
        rows = validate(EcartsModel, collect(evidence))
    with writer(Path(duckdb.database)) as connection:
        replace_tables(connection, {"ecarts_sources": rows})
        give_back(connection)  # nor those of the rules under the next step's peak
    counts = rows.group_by("regle").len("lignes").sort("regle")
    context.log.info(f"{rows.height} disagreement(s) between sources: {dict(counts.iter_rows())}")
    yield dg.MaterializeResult(
        asset_key=KEY,
        metadata={
            "dagster/row_count": rows.height,
            "dagster/table_name": "budget.main.ecarts_sources",
            "dagster/column_schema": column_schema(EcartsModel),
            "par_regle": markdown(counts),
        },
    )
    for regle in RULES:
        found = rows.filter(pl.col("regle") == regle)
        yield dg.AssetCheckResult(
            check_name=regle,
            asset_key=KEY,
            passed=found.is_empty(),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"lignes_en_defaut": found.height, "detail": markdown(found.drop("regle"), 50)},
        )
