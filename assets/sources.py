"""``raw/sources``: the source files, found in a local folder or downloaded, and recognised; and the
observable source assets whose data versions say which of them changed (``raw/credit_files`` per
exercice, ``raw/nomenclature_files``, ``raw/other_files``).

The data version of each observable source asset is the sha256 of what it covers: for every file
of the group, its name, its sha256, what it was recognised as (family, exercice, header, format,
encoding, sheet) and its error, if any: all the readers get from ``raw/sources`` about it.
The assets that read a group depend on it: a changed file makes stale only the assets, and for
credits only the exercice, that read it (Dagster's staleness, see ``pipelines/incremental.py``).
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import dagster as dg
import polars as pl

from assets.partitions import EXERCICE_PARTITIONS_NAME, exercice_partitions
from assets.resources import WarehousePaths
from assets.versions import ROOT, code_version
from warehouse.expected import expect_release_sources, is_absent, previous_sources
from warehouse.sources import (
    InventoryItem,
    SourceFile,
    discover_sources,
    inventory_record,
    not_read,
    take_inventory,
)

CREDIT_FILES = dg.AssetKey(["raw", "credit_files"])
NOMENCLATURE_FILES = dg.AssetKey(["raw", "nomenclature_files"])
OTHER_FILES = dg.AssetKey(["raw", "other_files"])


def _paths_key(paths: WarehousePaths) -> tuple:
    return (paths.sources_dir, paths.out_dir, paths.work_dir, paths.prune, paths.portal_url)


#: The modules whose code makes an inventory item: recognition, and the exercice of a credit file
#: (``warehouse/sources.py`` and what it imports, ``assets/versions.py``).
RECOGNITION_MODULE = ROOT / "warehouse" / "sources.py"


def recognition_version() -> str:
    """The code version of recognition: of :data:`RECOGNITION_MODULE` (``assets/versions.py``), and of
    every ``schemas/families/*.toml``, which ``schemas.families.file_name_kind`` reads by a glob (a
    file no module names: ``performance.toml`` gives the kind of an unreadable file by its name)."""
    digest = hashlib.sha256(code_version(str(RECOGNITION_MODULE)).encode())
    for path in sorted((ROOT / "schemas" / "families").glob("*.toml")):
        digest.update(f"{path.name}\0".encode() + path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class BuildInventory:
    """What ``take_build_inventory`` found: ``items`` (every source of the build, recognised, with
    the sources of the latest release not got kept in error), ``links`` (symbolic links not
    followed), ``changed`` (downloads changed on the portal) and ``recognised``: the items of the
    files as recognition made them (before the release's sources are added), which a release records
    (:func:`recognition_state`)."""

    items: list[InventoryItem]
    links: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    recognised: list[InventoryItem] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # files not read: their name is not valid UTF-8


def recognition_state(inventory: BuildInventory) -> dict:
    """What a release records of its inventory (``recognitions`` of the release state): the code
    version of recognition and each file's item (:func:`warehouse.sources.inventory_record`)."""
    return {
        "code_version": recognition_version(),
        "items": [inventory_record(i) for i in inventory.recognised if i.source.sha256],
    }


def recorded_items(state: dict) -> list[dict]:
    """The items the latest release recorded (``state["recognitions"]``) when recognition's code
    version is the same today; else none (every file is recognised again)."""
    recorded = state.get("recognitions") or {}
    if recorded.get("code_version") != recognition_version():
        return []
    return list(recorded.get("items") or [])


#: The inventory the command already took for these paths (``preset_inventory``): ``raw/sources``
#: takes it instead of reading the folder twice in one build. Never kept across builds.
_PRESET: dict[tuple, BuildInventory] = {}


def preset_inventory(paths: WarehousePaths, taken: BuildInventory) -> None:
    """Give ``raw/sources`` the inventory ``take_build_inventory`` returned for ``paths`` (once)."""
    _PRESET[_paths_key(paths)] = taken


def take_build_inventory(
    paths: WarehousePaths,
    log: Callable[[str], None] = lambda _: None,
    warn: Callable[[str], None] = lambda _: None,
    recorded: list[dict] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    years: tuple[int, int] | None = None,
) -> BuildInventory:
    """Every source file of the build, recognised: the items, the symbolic links not followed and the
    downloads changed on the portal. Downloads first when ``paths.sources`` is None. ``recorded``:
    the latest release's items (:func:`recorded_items`): a file of the same path and sha256 takes its
    item without being read (:func:`warehouse.sources.take_inventory`). ``progress(n, total, fichier)``: called
    as each download starts. ``years``: the build's ``--years`` (with ``--prune``, a credit source of an exercice
    outside them absent from the folder is said absent, not pruned: :func:`expect_release_sources`)."""
    failures: list[InventoryItem] = []
    links: list[str] = []
    names: list[str] = []
    changed: list[str] = []
    previous = previous_sources(paths.database)
    if paths.sources is not None:
        log(f"reading sources from {paths.sources}")
        ids = {r["fichier"]: source_id for source_id, r in previous.items()}  # a file already read keeps its id
        files = discover_sources(paths.sources, paths.out, ids)  # an output folder inside it is not a source
        skipped, names = not_read(paths.sources, paths.out)
        links = [str(link) for link in skipped]
        for link in links:
            warn(f"symbolic link not followed: {link}")
        for name in names:
            warn(f"{name}: not read, its name is not valid UTF-8 (rename it)")
    else:
        from warehouse.downloads import DownloadPolicy, download_sources  # requests: 0.1 s to import, only here

        policy = DownloadPolicy.from_rules(portal=paths.portal_url)
        log(f"downloading sources from {policy.portal or 'the official portals'} into {paths.downloads}")
        downloads = download_sources(paths.downloads, policy=policy, progress=progress)
        files, failed = downloads.files, downloads.failures
        changed = [str(change) for change in downloads.changed]
        for change in changed:
            warn(f"changed on the portal, loaded as a new version: {change}")
        for entry, message in failed:
            source = SourceFile(entry.id, entry.fichier, paths.downloads / entry.fichier, "", 0, entry.url, entry)
            failures.append(
                InventoryItem(source, entry.famille, entry.exercice, (), error=f"download failed: {message}")
            )
    recognised = take_inventory(files, recorded)
    # Sources of the latest release not got or not readable keep their data (warehouse/expected.py).
    # On a download build, a source of the latest release that no catalogue address gives (a local file) is
    # absent from the downloads: kept with a warning unless --prune, never dropped in silence.
    items = expect_release_sources(
        recognised + failures,
        previous,
        paths.sources if paths.sources is not None else paths.downloads,
        paths.prune,
        downloaded=paths.sources is None,
        years=years,
    )
    # The files the latest release read (same path and bytes): of copies, the one kept (set_aside_copies).
    read_before = {(r["fichier"], r["sha256"]) for r in previous.values()}
    items = [
        replace(i, lu_avant=True) if (i.source.fichier, i.source.sha256) in read_before and not i.error else i
        for i in items
    ]
    for item in items:
        if is_absent(item):
            warn(item.error_message)
    return BuildInventory(items, links, changed, recognised, names)


def _digest(items: list[InventoryItem]) -> str:
    digest = hashlib.sha256()
    for item in sorted(items, key=lambda i: (i.source.fichier, i.source.source_id)):
        fields = (
            *(item.source.fichier, item.source.sha256, item.famille, item.exercice, item.error, item.kind),
            *(item.entete, item.type_fichier, item.encodage, item.feuille),  # what the readers are told
        )
        digest.update("\0".join(str(f) for f in fields).encode() + b"\n")
    return digest.hexdigest()


def _group(item: InventoryItem) -> tuple[dg.AssetKey, str | None]:
    if item.holds("credits") and item.exercice:
        return CREDIT_FILES, str(item.exercice)
    if item.holds("nomenclature"):
        return NOMENCLATURE_FILES, None
    return OTHER_FILES, None  # performance files, RAP/PAP documents, files of no covered family


def source_versions(items: list[InventoryItem]) -> dict[tuple[dg.AssetKey, str | None], str]:
    """The data version of each observable source asset (and credit partition) for this inventory:
    ``{(key, exercice or None): sha256}``; ``raw/nomenclature_files`` and ``raw/other_files`` are
    always there (the digest of nothing when no file)."""
    grouped: dict[tuple[dg.AssetKey, str | None], list[InventoryItem]] = {
        (NOMENCLATURE_FILES, None): [],
        (OTHER_FILES, None): [],
    }
    for item in items:
        if not item.unreadable:  # read by no step: a picture dropped in the folder changes nothing
            grouped.setdefault(_group(item), []).append(item)
    return {key: _digest(group) for key, group in grouped.items()}


def _observed(paths: WarehousePaths) -> dict[tuple[dg.AssetKey, str | None], str]:
    return source_versions(take_build_inventory(paths).items)


@dg.observable_source_asset(
    key=CREDIT_FILES,
    partitions_def=exercice_partitions,
    group_name="sources",
    required_resource_keys={"paths"},
    description=(
        "The credit files of each exercice (observed, never materialised). Data version: the sha256 of "
        "the names, sha256, family and error of the exercice's credit files."
    ),
)
def credit_files(context) -> dg.DataVersionsByPartition:
    versions = _observed(context.resources.paths)
    return dg.DataVersionsByPartition({p: v for (k, p), v in versions.items() if k == CREDIT_FILES and p})


@dg.observable_source_asset(
    key=NOMENCLATURE_FILES,
    group_name="sources",
    required_resource_keys={"paths"},
    description="The nomenclature files (observed). Data version: the sha256 of their names, sha256 and family.",
)
def nomenclature_files(context) -> dg.DataVersion:
    return dg.DataVersion(_observed(context.resources.paths)[(NOMENCLATURE_FILES, None)])


@dg.observable_source_asset(
    key=OTHER_FILES,
    group_name="sources",
    required_resource_keys={"paths"},
    description=(
        "The other files (observed): performance files (PAP, RAP), RAP/PAP documents, files of no "
        "covered family. Data version: the sha256 of their names, sha256 and family."
    ),
)
def other_files(context) -> dg.DataVersion:
    return dg.DataVersion(_observed(context.resources.paths)[(OTHER_FILES, None)])


SOURCE_OBSERVATIONS = [credit_files, nomenclature_files, other_files]


@dg.asset(
    key=["raw", "sources"],
    group_name="sources",
    kinds={"python"},
    code_version=code_version(__file__),
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
    from assets.metadata import markdown  # Pandera: not needed to take the inventory

    taken = _PRESET.pop(_paths_key(paths), None)
    if taken is None:
        taken = take_build_inventory(paths, context.log.info, context.log.warning)
    items, links, changed = taken.items, taken.links, taken.changed
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
    if unknown:  # one event (each is a write to the run's database); their headers are in `non_reconnus`
        names = [i.source.fichier for i in unknown]
        context.log.info(
            f"{len(unknown)} file(s) matching no family by their head (performance tables and documents among "
            f"them are read by their own assets; the summary lists the files not loaded): {names}"
        )
    return dg.Output(
        items,
        metadata={
            "dagster/row_count": len(items),
            "fichiers_credits": sum(1 for i in items if i.famille),
            "fichiers_non_reconnus": len(unknown),
            "exercices": ", ".join(exercices),
            "liens_ignores": dg.MetadataValue.json(links),
            "noms_illisibles": dg.MetadataValue.json(taken.names),
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
