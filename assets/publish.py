"""``parquet/<table>``: the Parquet files of the release being built, written atomically.

They go to the build's working folder (``<out>/releases/.building-<pid>/parquet/``);
``budget-warehouse build`` makes that folder a release once every file is checked
(``warehouse/publication/releases.py``), and ``<out>/parquet`` shows the latest release's."""

import logging
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.documents import MODELS as DOCUMENT_MODELS
from assets.metadata import column_schema
from assets.nomenclature import CREDIT_MISSIONS
from assets.nomenclature import TABLES as NOMENCLATURE_TABLES
from assets.performance import MODELS as PERFORMANCE_MODELS
from assets.resources import WarehousePaths
from assets.versions import code_version
from schemas.couverture import CouvertureModel
from schemas.credits import BUSINESS_KEY, CreditsModel
from schemas.ecarts import EcartsModel
from schemas.sources import SourcesModel
from warehouse.credits.order import PACKED_BUSINESS_KEY, UNPACKABLE
from warehouse.disagreements import ECARTS_ORDER
from warehouse.publication.parquet import publish_table
from warehouse.publication.releases import pause_for_tests
from warehouse.store import reader

log = logging.getLogger(__name__)

#: Published tables, with the order their rows are written in.
PUBLISHED = {
    "credits": ", ".join(BUSINESS_KEY),
    "sources": "source_id",
    "missions": "exercice, code_mission",
    "programmes": "exercice, code_programme",
    "actions": "exercice, code_programme, code_action",
    "sous_actions": "exercice, code_programme, code_action, code_sous_action",
    "ministeres": "exercice, code_ministere",
    "categories": "code_categorie",
    "titres": "code_titre",
    "nomenclature_evenements": "ALL",
    "indicateurs": "document, niveau, code_mission, code_programme, code_sous_indicateur",
    "indicateur_valeurs": "document, niveau, code_mission, code_programme, code_sous_indicateur, annee, type_valeur",
    "indicateur_atteintes_publiees": "document, niveau, code_mission, code_programme, code_sous_indicateur, annee",
    "indicateur_correspondances": "document_a, document_b, code_sous_indicateur_a, code_sous_indicateur_b",
    "unites": "unite",
    "indicateur_fichiers": "source_id",
    "documents": "document, code_programme, source_id",
    "declarations": "document, code_programme, source_id, debut, grandeur",
    "rapprochements": "document, code_programme, source_id, debut, grandeur",
    "ecarts_sources": ECARTS_ORDER,
    "couverture": "domaine, document, phase, type_budget, exercice",
}
#: A cheaper expression ordering a table's rows as its ``PUBLISHED`` order does (``publish_table``'s ``sort_key``).
SORT_KEYS = {"credits": (PACKED_BUSINESS_KEY, UNPACKABLE)}
_MODELS = (
    {"credits": CreditsModel, "sources": SourcesModel, "ecarts_sources": EcartsModel, "couverture": CouvertureModel}
    | {t: m for t, (m, _) in NOMENCLATURE_TABLES.items()}
    | {t: PERFORMANCE_MODELS[t] for t in PUBLISHED if t in PERFORMANCE_MODELS}
    | DOCUMENT_MODELS
)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["parquet", table],
            deps=[["core", table], *([CREDIT_MISSIONS] if table == "credits" else [])],
            code_version=code_version(__file__),
            group_name="publication",
            kinds={"parquet"},
            description=(
                f"`<out>/parquet/{table}.parquet`: the `{table}` table of the warehouse "
                "(README, 'The tables'), zstd-compressed. Written in the build's working folder under a "
                "temporary name, read back and checked (footer, rows, columns), then renamed; "
                "the folder becomes a release and `latest` switches only when every file "
                "checks: readers never see a partial release."
            ),
        )
        for table in PUBLISHED
    ],
    can_subset=True,
)
def parquet_files(
    context: dg.AssetExecutionContext, paths: WarehousePaths, duckdb: DuckDBResource
) -> Iterator[dg.MaterializeResult]:
    with reader(Path(duckdb.database)) as connection:
        for key in context.selected_asset_keys:
            table = key.path[-1]
            published = publish_table(connection, table, paths.parquet, PUBLISHED[table], SORT_KEYS.get(table))
            log.info("published %s (%d rows)", published.path, published.rows)  # in the materialisation too
            pause_for_tests("parquet", paths.out)
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "dagster/row_count": published.rows,
                    "dagster/column_schema": column_schema(_MODELS[table]),
                    "chemin": dg.MetadataValue.path(str(published.path)),
                    "octets": published.octets,
                },
            )
