"""What a build recomputes: the assets and credit partitions Dagster says are stale or missing, or
whose latest materialisation is not the one the latest release holds; and everything downstream.

1. The sources' data versions (``assets/sources.py``: sha256 per group of files, per exercice for
   credits) are reported to the instance as observations of the observable source assets, only
   where they differ from the versions it holds.
2. Dagster's ``CachingStaleStatusResolver`` gives each asset (and credit partition) its status:
   MISSING, STALE (a new code version, or an input with a new data version) or FRESH.
3. A FRESH asset is skipped only when its latest materialisation (event id) is the one the latest
   release holds (``materialisations`` of the release state, ``warehouse/publication/releases.py``): a failed
   build's materialisations are in the instance but were never published, so they are recomputed.
4. The targets are then closed downstream (an asset recomputed makes its children stale).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import DATA_VERSION_TAG, CachingStaleStatusResolver, StaleStatus
from dagster._core.storage.event_log.base import AssetRecord
from dagster._time import get_current_datetime

from assets.partitions import EXERCICE_PARTITIONS_NAME
from assets.sources import source_versions
from assets.versions import ROOT, code_version
from warehouse.reading.workbooks import MAX_FILE_MB_ENV, MAX_UNZIPPED_MB_ENV, MAX_ZIP_RATIO_ENV

SOURCES = dg.AssetKey(["raw", "sources"])


def state_key(key: dg.AssetKey, partition: str | None) -> str:
    """``staging/credits|2020``, ``core/programmes``: the key of a materialisation in the release state."""
    return key.to_user_string() + (f"|{partition}" if partition else "")


@dataclass
class Plan:
    """The credit partitions and the unpartitioned assets to materialise, and why (one line each)."""

    partitions: list[str] = field(default_factory=list)  # exercices, in the partitions' stored order
    assets: list[dg.AssetKey] = field(default_factory=list)  # unpartitioned, raw/sources excluded
    reasons: list[str] = field(default_factory=list)
    direct: set[str] = field(default_factory=set)  # state keys stale, missing or not the release's themselves

    @property
    def empty(self) -> bool:
        return not self.partitions and not self.assets


def _resolver(instance, asset_graph) -> CachingStaleStatusResolver:
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=asset_graph,
    )
    # The asset records of every asset in one query, at the resolver's first: it asks for them one asset at a
    # time as it walks the graph (one query each, ~40 per plan; 0.05-0.1 s of a rebuild's plan). The same records,
    # cached by the view's loader for this resolver, as each one asked alone would be.
    AssetRecord.prepare(view, list(asset_graph.get_all_asset_keys()))
    return CachingStaleStatusResolver(instance=instance, asset_graph=asset_graph, loading_context=view)


def observe_sources(instance, asset_graph, items: list) -> int:
    """Report the data version of each observable source asset (and credit partition) for ``items``
    where it differs from the instance's; returns how many were reported."""
    resolver = _resolver(instance, asset_graph)
    reported = 0
    for (key, partition), version in source_versions(items).items():
        if resolver.get_current_data_version(key, partition) != dg.DataVersion(version):
            instance.report_runless_asset_event(
                dg.AssetObservation(asset_key=key, partition=partition, tags={DATA_VERSION_TAG: version})
            )
            reported += 1
    return reported


def latest_materialisations(instance, asset_graph) -> dict[str, int]:
    """The event id of the latest materialisation of every materialisable asset (and partition)."""
    keys = [k for k in asset_graph.materializable_asset_keys if k != SOURCES]
    found: dict[str, int] = {}
    for key in keys:
        if asset_graph.get(key).is_partitioned:
            by_partition = instance.event_log_storage.get_latest_storage_id_by_partition(
                key, dg.DagsterEventType.ASSET_MATERIALIZATION
            )
            found.update({state_key(key, p): i for p, i in by_partition.items()})
    for record in instance.get_asset_records([k for k in keys if not asset_graph.get(k).is_partitioned]):
        last = record.asset_entry.last_materialization_record
        if last is not None:
            found[state_key(record.asset_entry.asset_key, None)] = last.storage_id
    return found


def code_versions() -> dict[str, str]:
    """The code version of the assets of each module of ``assets/`` (``assets/versions.py``): every
    asset of a module has its module's; computed from the source text, nothing imported."""
    return {path.name: code_version(str(path)) for path in sorted((ROOT / "assets").glob("*.py"))}


def source_state(items: list) -> dict[str, str]:
    """The sources' data versions (``assets/sources.py``) by ``state_key``."""
    return {state_key(key, partition): version for (key, partition), version in source_versions(items).items()}


def _latest_of(instance, names: list[str]) -> dict[str, int]:
    """The event id of the latest materialisation of each ``state_key`` in ``names``."""
    partitioned: dict[str, set[str]] = {}
    plain = []
    for name in names:
        asset, _, partition = name.partition("|")
        if partition:
            partitioned.setdefault(asset, set()).add(partition)
        else:
            plain.append(dg.AssetKey.from_user_string(asset))
    found: dict[str, int] = {}
    for asset, partitions in partitioned.items():
        by_partition = instance.event_log_storage.get_latest_storage_id_by_partition(
            dg.AssetKey.from_user_string(asset), dg.DagsterEventType.ASSET_MATERIALIZATION, partitions
        )
        found.update({f"{asset}|{p}": i for p, i in by_partition.items()})
    for record in instance.get_asset_records(plain):
        last = record.asset_entry.last_materialization_record
        if last is not None:
            found[state_key(record.asset_entry.asset_key, None)] = last.storage_id
    return found


#: The environment variables that bound what a build reads (``warehouse/reading/workbooks.py``,
#: ``warehouse/reading/csv_files.py``):
#: a file over a limit is a source in error, so the same files under other limits are another build.
READING_LIMIT_VARIABLES = (MAX_FILE_MB_ENV, MAX_UNZIPPED_MB_ENV, MAX_ZIP_RATIO_ENV)


def reading_limits() -> dict[str, str]:
    """This build's reading limits as the environment sets them, by variable name (``""``: the default).
    A release records them; a build under other values takes nothing recorded and recomputes everything."""
    return {name: os.environ.get(name, "").strip() for name in READING_LIMIT_VARIABLES}


def unchanged_since_release(instance, items: list, state: dict) -> bool:
    """Whether nothing can be stale, without loading the definitions: the release state says its
    build left nothing stale (``complete``), the sources have the data versions it was built from,
    the assets the code versions, and every latest materialisation is the release's. These are the
    data and code versions Dagster compares, read in a few queries (the resolver makes one or two
    per dependency edge, ~800 SQLite queries on this graph, seconds); any difference goes to it."""
    held = state.get("materialisations") or {}
    return (
        bool(state.get("complete"))
        and bool(held)
        and state.get("source_versions") == source_state(items)
        and state.get("code_versions") == code_versions()
        and _latest_of(instance, list(held)) == held
    )


def plan_build(instance, asset_graph, exercices: list[str], held: dict[str, int], force: bool = False) -> Plan:
    """The partitions of ``exercices`` and the assets to recompute (module docstring); every asset
    and every exercice when ``force``. ``held``: the release's materialisations. In an instance where no
    asset was ever materialised, every one is missing: no status is asked (the resolver's queries, one or
    two per dependency edge, took ~0.3 s of a first build)."""
    resolver = _resolver(instance, asset_graph)
    latest = latest_materialisations(instance, asset_graph)
    new = not latest  # raw/sources aside, which runs in every build
    keys = list(asset_graph.materializable_asset_keys)
    order = instance.get_dynamic_partitions(EXERCICE_PARTITIONS_NAME)
    plan = Plan()
    targets: set[tuple[dg.AssetKey, str | None]] = set()
    for key in keys:
        for partition in exercices if asset_graph.get(key).is_partitioned else [None]:
            name = state_key(key, partition)
            if force:
                why = "forced"
            elif new:
                why = StaleStatus.MISSING.value.lower()
            elif (status := resolver.get_status(key, partition)) != StaleStatus.FRESH:
                causes = resolver.get_stale_root_causes(key, partition) if status == StaleStatus.STALE else []
                why = status.value.lower() + "".join(f"; {c.asset_key.to_user_string()} {c.reason}" for c in causes[:2])
            elif key != SOURCES and latest.get(name) != held.get(name):  # raw/sources runs in every build
                why = "its latest materialisation is not the latest release's"
            else:
                continue
            targets.add((key, partition))
            plan.reasons.append(f"{name}: {why}")
            plan.direct.add(name)
    for key, partition in list(targets):  # a multi-asset that cannot be subset runs whole
        if partition is None:
            targets.update((k, None) for k in asset_graph.get(key).execution_set_asset_keys)
    todo = list(targets)
    while todo:  # downstream closure: a partition feeds the same partition, or an unpartitioned child
        key, partition = todo.pop()
        for child in asset_graph.get(key).child_keys:
            if child == key or not asset_graph.has(child) or not asset_graph.get(child).is_materializable:
                continue
            if not asset_graph.get(child).is_partitioned:  # with the assets it must run with (a multi-asset)
                children = [(k, None) for k in sorted(asset_graph.get(child).execution_set_asset_keys | {child})]
            else:  # the same exercice; every exercice of the build below an unpartitioned parent
                children = [(child, p) for p in ([partition] if partition else exercices)]
            for target in children:
                if target not in targets:
                    targets.add(target)
                    todo.append(target)
    targets.discard((SOURCES, None))  # the first run materialises it anyway
    wanted = {p for _, p in targets if p is not None}
    plan.partitions = [p for p in order if p in wanted]
    plan.assets = sorted((k for k, p in targets if p is None), key=lambda k: k.to_user_string())
    return plan


def contiguous_ranges(partitions: list[str], order: list[str]) -> list[tuple[str, str]]:
    """The runs of consecutive keys (in ``order``, the dynamic partitions' stored order) that cover
    ``partitions``: a run over a range materialises every key between its ends, so a set with a gap
    (2019 and 2023 stale, not 2020-2022) takes one run per range."""
    wanted = set(partitions)
    ranges: list[tuple[str, str]] = []
    start = previous = None
    for key in order:
        if key in wanted:
            start = start or key
            previous = key
        elif start is not None:
            ranges.append((start, previous))
            start = None
    if start is not None:
        ranges.append((start, previous))
    return ranges


def run_label(start: str, end: str, order: list[str]) -> str:
    """The exercices of the run over ``start`` to ``end`` (a range of :func:`contiguous_ranges` in ``order``) as a
    reader expects them: ascending, consecutive years as one range (``2019-2021``), the others listed
    (``2017, 2022``). The stored order is that of the exercices' first build: with 2019 first built after 2020, a
    run over both was said ``2020-2019`` (a tester's find, after ``--prune``), a range printed backwards."""
    keys = order[order.index(start) : order.index(end) + 1] if start in order and end in order else [start, end]
    years = sorted({int(key) for key in keys})
    groups: list[list[int]] = []
    for year in years:
        if groups and year == groups[-1][-1] + 1:
            groups[-1].append(year)
        else:
            groups.append([year])
    return ", ".join(str(g[0]) if len(g) == 1 else f"{g[0]}-{g[-1]}" for g in groups)


def replan_after_credits(instance, asset_graph, plan: Plan) -> Plan:
    """The unpartitioned assets still to run once the credit runs materialised ``plan.partitions``.

    ``plan_build`` closes the targets downstream before any run, so every unpartitioned asset below a
    credit partition is in ``plan.assets``. Once the partitions ran, Dagster's resolver knows their new
    data versions: an asset that ``plan_build`` chose for itself stays; one it added only as a
    descendant, and has a credit partition among its inputs, runs if the resolver now calls it stale or
    missing (an input has a new data version:
    ``staging/credit_elements`` keeps its data version when a file's amounts changed but not its codes
    and labels, so the nomenclature and what reads only it are not recomputed). Then the downstream
    closure again, among the unpartitioned assets (they run together in one run)."""
    resolver = _resolver(instance, asset_graph)
    kept = Plan(partitions=plan.partitions, reasons=list(plan.reasons), direct=set(plan.direct))
    targets: set[dg.AssetKey] = set()
    fresh: set[tuple[frozenset, frozenset]] = set()  # (execution set, inputs) found fresh
    for key in plan.assets:
        node = asset_graph.get(key)
        together = (frozenset(node.execution_set_asset_keys), frozenset(node.parent_keys))
        if state_key(key, None) in plan.direct:
            targets.add(key)
        elif key in targets or not any(asset_graph.get(parent).is_partitioned for parent in node.parent_keys):
            continue  # not below a credit partition itself: runs only if the closure below reaches it
        elif together in fresh:
            continue  # materialised with a sibling of the same inputs, found fresh: fresh too
        elif (status := resolver.get_status(key, None)) == StaleStatus.FRESH:
            fresh.add(together)
        else:
            causes = resolver.get_stale_root_causes(key, None) if status == StaleStatus.STALE else []
            why = status.value.lower() + "".join(f"; {c.asset_key.to_user_string()} {c.reason}" for c in causes[:2])
            kept.reasons.append(f"{state_key(key, None)}: after the credits, {why}")
            targets.update(node.execution_set_asset_keys | {key})
    for key in list(targets):
        targets.update(asset_graph.get(key).execution_set_asset_keys)
    todo = list(targets)
    while todo:
        for child in asset_graph.get(todo.pop()).child_keys:
            if not asset_graph.has(child) or not asset_graph.get(child).is_materializable:
                continue
            if asset_graph.get(child).is_partitioned:
                continue
            for target in asset_graph.get(child).execution_set_asset_keys | {child}:
                if target not in targets:
                    targets.add(target)
                    todo.append(target)
    kept.assets = [k for k in plan.assets if k in targets]
    return kept
