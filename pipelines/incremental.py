"""What a build recomputes: the assets and credit partitions Dagster says are stale or missing, or
whose latest materialisation is not the one the latest release holds; and everything downstream.

1. The sources' data versions (``assets/sources.py``: sha256 per group of files, per exercice for
   credits) are reported to the instance as observations of the observable source assets, only
   where they differ from the versions it holds.
2. Dagster's ``CachingStaleStatusResolver`` gives each asset (and credit partition) its status:
   MISSING, STALE (a new code version, or an input with a new data version) or FRESH.
3. A FRESH asset is skipped only when its latest materialisation (event id) is the one the latest
   release holds (``materialisations`` of the release state, ``warehouse/releases.py``): a failed
   build's materialisations are in the instance but were never published, so they are recomputed.
4. The targets are then closed downstream (an asset recomputed makes its children stale).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import DATA_VERSION_TAG, CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime

from assets.partitions import EXERCICE_PARTITIONS_NAME
from assets.sources import source_versions

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

    @property
    def empty(self) -> bool:
        return not self.partitions and not self.assets


def _resolver(instance, asset_graph) -> CachingStaleStatusResolver:
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=asset_graph,
    )
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


def code_versions(asset_graph) -> dict[str, str]:
    """The code version of every materialisable asset (``assets/versions.py``)."""
    return {k.to_user_string(): asset_graph.get(k).code_version or "" for k in asset_graph.materializable_asset_keys}


def source_state(items: list) -> dict[str, str]:
    """The sources' data versions (``assets/sources.py``) by ``state_key``."""
    return {state_key(key, partition): version for (key, partition), version in source_versions(items).items()}


def unchanged_since_release(instance, asset_graph, items: list, state: dict) -> bool:
    """Whether nothing can be stale: the release state says its build left nothing stale
    (``complete``), the sources have the data versions it was built from, every asset the code
    version, and every latest materialisation is the release's. The same data and code versions
    Dagster compares, read in three queries rather than one or two per dependency edge (the
    resolver's ~800 SQLite queries on this graph take seconds); any difference goes to the resolver."""
    return (
        bool(state.get("complete"))
        and state.get("source_versions") == source_state(items)
        and state.get("code_versions") == code_versions(asset_graph)
        and state.get("materialisations") == {k: v for k, v in latest_materialisations(instance, asset_graph).items()}
    )


def plan_build(instance, asset_graph, exercices: list[str], held: dict[str, int], force: bool = False) -> Plan:
    """The partitions of ``exercices`` and the assets to recompute (module docstring); every asset
    and every exercice when ``force``. ``held``: the release's materialisations."""
    resolver = _resolver(instance, asset_graph)
    latest = latest_materialisations(instance, asset_graph)
    keys = [k for k in asset_graph.materializable_asset_keys if k != SOURCES]
    order = instance.get_dynamic_partitions(EXERCICE_PARTITIONS_NAME)
    plan = Plan()
    targets: set[tuple[dg.AssetKey, str | None]] = set()
    for key in keys:
        for partition in exercices if asset_graph.get(key).is_partitioned else [None]:
            name = state_key(key, partition)
            if force:
                why = "forced"
            elif (status := resolver.get_status(key, partition)) != StaleStatus.FRESH:
                causes = resolver.get_stale_root_causes(key, partition) if status == StaleStatus.STALE else []
                why = status.value.lower() + "".join(f"; {c.asset_key.to_user_string()} {c.reason}" for c in causes[:2])
            elif latest.get(name) != held.get(name):
                why = "its latest materialisation is not the latest release's"
            else:
                continue
            targets.add((key, partition))
            plan.reasons.append(f"{name}: {why}")
    todo = list(targets)
    while todo:  # downstream closure: a partition feeds the same partition, or an unpartitioned child
        key, partition = todo.pop()
        for child in asset_graph.get(key).child_keys:
            if child == key or not asset_graph.has(child) or not asset_graph.get(child).is_materializable:
                continue
            target = (child, partition if asset_graph.get(child).is_partitioned else None)
            if target not in targets:
                targets.add(target)
                todo.append(target)
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
