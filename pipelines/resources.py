"""The resources of the definitions, built from the settings."""

from __future__ import annotations

from dagster_duckdb import DuckDBResource

from assets.resources import WarehousePaths
from pipelines.settings import Settings


def build_resources(settings: Settings) -> dict:
    """``paths`` (sources, output and working folders) and ``duckdb`` (the working copy of the warehouse)."""
    return {
        "paths": WarehousePaths(
            sources_dir=str(settings.sources_dir) if settings.sources_dir else None,
            out_dir=str(settings.out_dir),
            work_dir=str(settings.work),
            prune=settings.prune,
            portal_url=settings.portal,
        ),
        "duckdb": DuckDBResource(database=str(settings.database)),
    }
