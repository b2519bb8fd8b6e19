"""``core/documents``, ``core/declarations``, ``core/rapprochements`` and the view ``execution_credits``.

Reading the documents (``document_tables``: the texts, their figures, the indicator declarations and their
rapprochements) reads no credit; comparing the credit declarations with ``credits`` (``reconciliation``)
does, and is all a change of credits recomputes here.

What the reports say (RAP/PAP texts, budget.gouv.fr programme pages, the ``commentFP`` narratives
of the nomenclature workbooks), against what the data says (``credits``, the performance files).
Rules: ``warehouse/documents/`` and README, "Documents and reconciliation". A ``discorde`` is a
warning, never a failure.
"""

from functools import partial
from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.check_groups import check, grouped_checks
from assets.credits import DUCKDB_WRITER_POOL, credits
from assets.metadata import check_result, column_schema, markdown
from assets.nomenclature import STAGING_NOMENCLATURE, nomenclature
from assets.performance import performance_tables
from assets.resources import WarehousePaths
from assets.sources import NOMENCLATURE_FILES, OTHER_FILES
from assets.versions import code_version
from schemas.documents.models import DeclarationsModel, DocumentsModel, RapprochementsModel
from schemas.validation import validate
from warehouse.ahead import ahead, taken
from warehouse.documents.reconciliation import RAPPROCHEMENT_SCHEMA
from warehouse.documents.store import (
    build_from_warehouse,
    keep_expected_documents,
    one_per_text,
    read_documents,
    reconcile_from_warehouse,
    write_document_tables,
    write_rapprochements,
)
from warehouse.publication.parquet import write_frame
from warehouse.sources import InventoryItem
from warehouse.store import reader, writer

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
GROUP = "documents"
VIEW = "execution_credits"
#: Execution above the vote by more than this ratio is flagged (1.10: more than 10 % above).
EXECUTION_RATIO = 1.10

MODELS = {"documents": DocumentsModel, "declarations": DeclarationsModel, "rapprochements": RapprochementsModel}
_DESCRIPTIONS = {
    "documents": (
        "The `documents` table (README, 'The tables'): one row per document read — a RAP/PAP text or budget.gouv.fr "
        "programme page dropped in the sources (`RAP 2021`), or the `commentFP` narrative of a programme in a "
        "nomenclature workbook (`RAP 2024 commentFP`) — with its programme, its responsable and its text."
    ),
    "declarations": (
        "The `declarations` table (README, 'The tables'): each figure a text states — `credits` (AE, CP, titre 2 of an "
        "exercice and phase), `indicateur` (a result linked to an indicator by label similarity and the "
        "equivalences of `schemas/documents/equivalences.toml`, with its score) or `autre` — with its value, "
        "the precision it was stated with and the exact span of text (`debut`, `fin`)."
    ),
    "rapprochements": (
        "The `rapprochements` table (README, 'The tables'): each credit or indicator declaration against the "
        "warehouse, "
        "at the precision stated: `concorde`, `discorde` (with `ecart` = declared − data) or `sans_donnee` "
        "(the nearest phase held shown for information)."
    ),
}


def _indicator_rapprochements(paths: WarehousePaths) -> Path:
    """Where ``document_tables`` leaves the indicator declarations' rapprochements for ``reconciliation``."""
    return paths.out / "staging" / "documents" / "rapprochements_indicateurs.parquet"


def _read_key(sources: list[InventoryItem]) -> tuple:
    return ("documents", repr(sources))  # every file, its bytes (sha256), its recognition


def read_ahead(sources: list[InventoryItem]) -> None:
    """Queue the read of the documents of ``sources`` that ``document_tables`` makes (:mod:`warehouse.ahead`,
    :func:`warehouse.documents.store.read_documents`: it logs and writes nothing): the step takes it."""
    ahead(_read_key(sources), partial(read_documents, sources))


@dg.multi_asset(
    name="document_tables",
    specs=[
        dg.AssetSpec(
            ["core", table],
            deps=[["raw", "sources"], OTHER_FILES, NOMENCLATURE_FILES, STAGING_NOMENCLATURE]
            + [*nomenclature.keys, *performance_tables.keys],
            code_version=code_version(__file__),
            group_name=GROUP,
            kinds={"polars", "duckdb"},
            description=_DESCRIPTIONS[table],
        )
        for table in ("documents", "declarations")
    ],
    ins={"sources": dg.AssetIn(key=["raw", "sources"])},
    pool=DUCKDB_WRITER_POOL,
)
def document_tables(
    context: dg.AssetExecutionContext, paths: WarehousePaths, duckdb: DuckDBResource, sources: list[InventoryItem]
):
    """Read every document, extract its figures, link the indicator ones and write the tables in one go;
    the credit declarations are reconciled by ``reconciliation`` (this reads no credit)."""
    read = taken(_read_key(sources), partial(read_documents, sources))
    for report in read.fichiers.filter(pl.col("statut") == "erreur").iter_rows(named=True):
        context.log.error(f"not loaded: {report['message']}")
    with writer(Path(duckdb.database)) as connection:
        read = one_per_text(keep_expected_documents(connection, sources, read))
        tables = build_from_warehouse(connection, read, with_credits=False)
        for name in ("documents", "declarations"):
            validate(MODELS[name], getattr(tables, name))
        write_document_tables(connection, tables, read.fichiers)
    write_frame(tables.rapprochements.cast(RAPPROCHEMENT_SCHEMA), _indicator_rapprochements(paths))
    for name in ("documents", "declarations"):
        frame = getattr(tables, name)
        metadata = {
            "dagster/row_count": frame.height,
            "dagster/table_name": f"budget.main.{name}",
            "dagster/column_schema": column_schema(MODELS[name]),
            "apercu": markdown(frame.drop("texte", strict=False).head(10)),
        }
        if name == "declarations":
            metadata["types"] = markdown(frame.group_by("type_declaration").len("lignes").sort("type_declaration"))
        yield dg.MaterializeResult(asset_key=["core", name], metadata=metadata)


@dg.multi_asset(
    name="reconciliation",
    specs=[
        dg.AssetSpec(
            ["core", "rapprochements"],
            deps=[credits, *document_tables.keys, *performance_tables.keys],
            code_version=code_version(__file__),
            group_name=GROUP,
            kinds={"polars", "duckdb"},
            description=_DESCRIPTIONS["rapprochements"],
        ),
        dg.AssetSpec(
            ["core", VIEW],
            deps=[credits],
            code_version=code_version(__file__),
            group_name=GROUP,
            kinds={"duckdb"},
            description=(
                "The view `execution_credits`: per exercice, programme and action, AE and CP voted (LFI where "
                "the warehouse holds it, else PLF: `phase_reference`), executed (EXEC), and the execution rates."
            ),
        ),
    ],
    pool=DUCKDB_WRITER_POOL,
)
def reconciliation(context: dg.AssetExecutionContext, paths: WarehousePaths, duckdb: DuckDBResource):
    """Compare the credit declarations with ``credits``; with the indicator ones' rapprochements made when
    the documents were read, write ``rapprochements`` and the view ``execution_credits``."""
    path = _indicator_rapprochements(paths)
    others = pl.read_parquet(path) if path.exists() else pl.DataFrame(schema=RAPPROCHEMENT_SCHEMA)
    with writer(Path(duckdb.database)) as connection:
        rows = reconcile_from_warehouse(connection, others)
        validate(RapprochementsModel, rows)
        write_rapprochements(connection, rows)
        view_rows = connection.execute(f"SELECT count(*) FROM {VIEW}").fetchall()[0][0]
    statuts = rows.group_by("statut").len("lignes").sort("statut")
    context.log.info(f"rapprochements: {dict(statuts.iter_rows())}")
    yield dg.MaterializeResult(
        asset_key=["core", "rapprochements"],
        metadata={
            "dagster/row_count": rows.height,
            "dagster/table_name": "budget.main.rapprochements",
            "dagster/column_schema": column_schema(RapprochementsModel),
            "apercu": markdown(rows.head(10)),
            "statuts": markdown(statuts),
        },
    )
    yield dg.MaterializeResult(
        asset_key=["core", VIEW], metadata={"dagster/row_count": view_rows, "dagster/table_name": f"budget.main.{VIEW}"}
    )


def _query(duckdb: DuckDBResource, sql: str) -> pl.DataFrame:
    with reader(Path(duckdb.database)) as connection:
        return connection.sql(sql).pl()


@check(
    ["core", "rapprochements"],
    description="Each declaration's `texte` is exactly the span `debut`..`fin` of its document's text, and each "
    "credit or indicator declaration has its row in `rapprochements`.",
)
def declarations_are_spans_of_their_text(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    broken = _query(
        duckdb,
        """
        SELECT d.document, d.code_programme, d.debut, d.texte, 'span differs' AS probleme
        FROM declarations d JOIN documents t USING (document, code_programme, source_id)
        WHERE substring(t.texte, d.debut + 1, d.fin - d.debut) <> d.texte
        UNION ALL
        SELECT d.document, d.code_programme, d.debut, d.texte, 'not reconciled'
        FROM declarations d
        WHERE d.type_declaration <> 'autre' AND NOT EXISTS (
            SELECT 1 FROM rapprochements r
            WHERE r.document = d.document AND r.code_programme = d.code_programme AND r.debut = d.debut
              AND r.grandeur = d.grandeur AND r.source_id = d.source_id)
        ORDER BY ALL
        """,
    )
    return check_result(broken, ERROR)


@check(
    ["core", "documents"],
    description="Every RAP/PAP text or page in the sources was read (its kind and year known); else the "
    "message names the file.",
)
def every_document_readable(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    failed = _query(duckdb, "SELECT fichier, message FROM document_fichiers WHERE statut = 'erreur' ORDER BY 1")
    return check_result(failed, ERROR)


@check(
    ["core", VIEW],
    description=f"Execution does not exceed the vote by more than {EXECUTION_RATIO:.0%} of it (AE or CP, per "
    "programme and action), nor exceed a vote of zero (its rate undefined: `vote_nul` says which). A warning: "
    "fonds de concours, attributions de produits, transfers and carry-overs "
    "add credits after the vote and are possible causes.",
)
def execution_within_vote(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    over = _query(
        duckdb,
        f"""
        SELECT exercice, code_programme, code_action, phase_reference, ae_vote, ae_execute, cp_vote, cp_execute,
               round(taux_execution_ae, 3) AS taux_ae, round(taux_execution_cp, 3) AS taux_cp,
               nullif(concat_ws(', ', CASE WHEN ae_vote = 0 AND ae_execute > 0 THEN 'AE: vote nul' END,
                                CASE WHEN cp_vote = 0 AND cp_execute > 0 THEN 'CP: vote nul' END), '') AS vote_nul,
               'fonds de concours, attributions de produits ou transferts possibles' AS causes_possibles
        FROM {VIEW}
        WHERE taux_execution_ae > {EXECUTION_RATIO} OR taux_execution_cp > {EXECUTION_RATIO}
           OR (ae_vote = 0 AND ae_execute > 0) OR (cp_vote = 0 AND cp_execute > 0)
        ORDER BY exercice, code_programme, code_action
        """,
    )
    return check_result(over, WARN, ratio=EXECUTION_RATIO)


DOCUMENT_ASSETS = [document_tables, reconciliation]
DOCUMENT_CHECKS = [
    grouped_checks(
        "document_checks",
        [declarations_are_spans_of_their_text, every_document_readable, execution_within_vote],
    )
]
