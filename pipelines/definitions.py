"""The one ``Definitions`` of the project (``workspace.yaml`` loads ``defs`` from here).

Resources come from the environment (``BUDGET_SOURCES_DIR``, ``BUDGET_OUT_DIR``):
``budget-warehouse build`` sets them from its options, and ``dagster dev`` run with
the same variables shows the same warehouse.
"""

import dagster as dg

from assets.checks import CHECKS
from assets.coverage import CONTROL_ASSETS
from assets.credits import credits, staging_credits
from assets.documents import DOCUMENT_ASSETS, DOCUMENT_CHECKS
from assets.nomenclature import NOMENCLATURE_ASSETS, NOMENCLATURE_CHECKS
from assets.performance import PERFORMANCE_ASSETS, PERFORMANCE_CHECKS
from assets.provenance import sources_table
from assets.publish import parquet_files
from assets.sources import SOURCE_OBSERVATIONS, source_files
from pipelines.jobs import build_job, credits_job, publish_job, sources_job
from pipelines.resources import build_resources
from pipelines.settings import Settings

defs = dg.Definitions(
    assets=[source_files, staging_credits, credits, *PERFORMANCE_ASSETS, sources_table, parquet_files]
    + NOMENCLATURE_ASSETS
    + DOCUMENT_ASSETS
    + CONTROL_ASSETS
    + SOURCE_OBSERVATIONS,
    asset_checks=[*CHECKS, *NOMENCLATURE_CHECKS, *PERFORMANCE_CHECKS, *DOCUMENT_CHECKS],
    jobs=[sources_job, credits_job, publish_job, build_job],
    resources=build_resources(Settings.from_env()),
)
