"""The jobs ``budget-warehouse build`` runs, in order; the UI shows them too."""

import dagster as dg

from assets.partitions import exercice_partitions

SOURCES_JOB = "sources_job"
CREDITS_JOB = "credits_job"
PUBLISH_JOB = "publish_job"
BUILD_JOB = "build_job"

sources_job = dg.define_asset_job(
    SOURCES_JOB,
    selection=dg.AssetSelection.keys(["raw", "sources"]),
    description="Find and recognise the source files; add a partition per exercice found.",
)

credits_job = dg.define_asset_job(
    CREDITS_JOB,
    selection=dg.AssetSelection.keys(
        ["raw", "sources"], ["staging", "credits"], ["core", "credits"], ["staging", "credit_elements"]
    ),
    partitions_def=exercice_partitions,
    description=(
        "Read, validate and load the credits of a range of exercices, in one run (single-run backfill policy); "
        "`budget-warehouse build` runs the stale exercices only, with `raw/sources` first."
    ),
)

publish_job = dg.define_asset_job(
    PUBLISH_JOB,
    selection=dg.AssetSelection.groups("nomenclature", "performance", "publication", "controles", "documents")
    | dg.AssetSelection.keys(["core", "sources"], ["raw", "sources"]),
    description=(
        "Build the nomenclature and its crosswalk, the performance indicators, the provenance table; "
        "publish the Parquet files."
    ),
)

build_job = dg.define_asset_job(
    BUILD_JOB,
    selection=credits_job.selection | publish_job.selection,
    partitions_def=exercice_partitions,
    description=(
        "The credits job and the publication job in one run (a range of exercices, the credits' steps first): "
        "`budget-warehouse build` runs it where every asset of the plan runs whatever the credits give "
        "(a first build, `--prune`, `--download`)."
    ),
)
