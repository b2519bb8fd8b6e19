"""``raw/sources``: the source files, found in a local folder or downloaded, and recognised."""

import dagster as dg
import polars as pl

from assets.metadata import markdown
from assets.partitions import EXERCICE_PARTITIONS_NAME
from assets.resources import WarehousePaths
from warehouse.downloads import DownloadPolicy, download_sources
from warehouse.expected import expect_release_sources, is_absent, previous_sources
from warehouse.sources import (
    InventoryItem,
    SourceFile,
    discover_sources,
    skipped_links,
    take_inventory,
)


@dg.asset(
    key=["raw", "sources"],
    group_name="sources",
    kinds={"python"},
    description=(
        "Every source file of the build, with its sha256 and what it was recognised as. "
        "Files come from the `--sources` folder (any depth, recognised by their header, "
        "not their name) or, without one, are downloaded from the official portals "
        "(data.economie.gouv.fr) as listed in the source catalogue. Adds a partition for "
        "each exercice the credit files hold. Files of no covered family are listed as "
        "not loaded, with their header."
    ),
)
def source_files(context: dg.AssetExecutionContext, paths: WarehousePaths) -> dg.Output:
    failures: list[InventoryItem] = []
    links: list[str] = []
    changed: list[str] = []
    if paths.sources is not None:
        context.log.info(f"reading sources from {paths.sources}")
        files = discover_sources(paths.sources)
        links = [str(link) for link in skipped_links(paths.sources)]
        for link in links:
            context.log.warning(f"symbolic link not followed: {link}")
    else:
        policy = DownloadPolicy.from_rules(portal=paths.portal_url)
        context.log.info(f"downloading sources from {policy.portal or 'the official portals'} into {paths.downloads}")
        downloads = download_sources(paths.downloads, policy=policy)
        files, failed = downloads.files, downloads.failures
        changed = [str(change) for change in downloads.changed]
        for change in changed:
            context.log.warning(f"changed on the portal, loaded as a new version: {change}")
        for entry, message in failed:
            source = SourceFile(entry.id, entry.fichier, paths.downloads / entry.fichier, "", 0, entry.url, entry)
            failures.append(
                InventoryItem(source, entry.famille, entry.exercice, (), error=f"download failed: {message}")
            )
    items = take_inventory(files) + failures
    # Sources of the latest release not got or not readable keep their data (warehouse/expected.py).
    items = expect_release_sources(items, previous_sources(paths.database), paths.sources, paths.prune)
    for item in items:
        if is_absent(item):
            context.log.warning(f"{item.source.fichier}: {item.error}")
    exercices = sorted({str(i.exercice) for i in items if i.holds("credits") and i.exercice})
    known = set(context.instance.get_dynamic_partitions(EXERCICE_PARTITIONS_NAME))
    missing = [e for e in exercices if e not in known]
    if missing:
        context.instance.add_dynamic_partitions(EXERCICE_PARTITIONS_NAME, missing)
    table = pl.DataFrame(
        {
            "fichier": [i.source.fichier for i in items],
            "source_id": [i.source.source_id for i in items],
            "famille": [i.famille for i in items],
            "exercice": [i.exercice for i in items],
        },
        schema={"fichier": pl.String, "source_id": pl.String, "famille": pl.String, "exercice": pl.Int32},
    )
    unknown = [i for i in items if i.famille is None]
    for item in unknown:
        context.log.info(f"not loaded (no covered family): {item.source.fichier} header={list(item.entete)[:12]}")
    return dg.Output(
        items,
        metadata={
            "dagster/row_count": len(items),
            "fichiers_credits": sum(1 for i in items if i.famille),
            "fichiers_non_reconnus": len(unknown),
            "exercices": ", ".join(exercices),
            "liens_ignores": dg.MetadataValue.json(links),
            "telechargements_modifies": dg.MetadataValue.json(changed),
            "fichiers": markdown(table.filter(pl.col("famille").is_not_null()).sort("exercice", "fichier"), 60),
            "non_reconnus": markdown(
                pl.DataFrame(
                    {
                        "fichier": [i.source.fichier for i in unknown],
                        "entete": [" | ".join(i.entete)[:160] for i in unknown],
                    },
                    schema={"fichier": pl.String, "entete": pl.String},
                ),
                80,
            ),
        },
    )
