"""Several asset checks evaluated in one Dagster step (issue 11, "a lean graph").

Each check is a plain function of resources (and of ``exercices``, the run's, if it has that parameter) declared
with ``check`` (its ``AssetCheckSpec``: asset, name, description, blocking); ``grouped_checks`` makes one
``multi_asset_check`` of several. A step
costs Dagster its own events and bookkeeping (about 0.1 s here), and each check opened its own
connections: grouped, the checks of an asset family run in one step, each with its own key, name,
severity and result in the UI, and can still be run one at a time (``can_subset``).
"""

import inspect
from collections.abc import Callable, Iterator, Sequence

import dagster as dg

#: A check: a function of resources (``paths``, ``duckdb``…, by parameter name) returning its result, its
#: ``AssetCheckSpec`` in ``spec`` (declared with ``check``); ``grouped_checks`` evaluates several in one step.
CheckFunction = Callable[..., dg.AssetCheckResult]


def check(asset, description: str, *, blocking: bool = False) -> Callable[[CheckFunction], CheckFunction]:
    """Declare a check of ``asset``, named after the function; the function stays callable as it is
    (its resources as keyword arguments) and gives the check's result without its key."""

    def declare(function: CheckFunction) -> CheckFunction:
        function.spec = dg.AssetCheckSpec(function.__name__, asset=asset, description=description, blocking=blocking)
        return function

    return declare


def _run_exercices(context: dg.AssetCheckExecutionContext) -> list[int] | None:
    """The exercices of the run (its partition, or its range of partitions in the stored order of the dynamic
    partitions), for a check function with an ``exercices`` parameter; None (every exercice) in a run of none."""
    from assets.partitions import EXERCICE_PARTITIONS_NAME

    tags = context.run.tags
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    if start and end:
        order = context.instance.get_dynamic_partitions(EXERCICE_PARTITIONS_NAME)
        if start in order and end in order:
            return [int(key) for key in order[order.index(start) : order.index(end) + 1]]
        return None
    if key := tags.get("dagster/partition"):
        return [int(key)]
    return None


def grouped_checks(name: str, functions: Sequence[CheckFunction]) -> dg.AssetChecksDefinition:
    """One Dagster step (``name``) that evaluates the checks ``functions`` declared with ``check``, in
    order; each keeps its own asset key, name, severity and blocking. A check that raises does not stop
    the others: the step fails with its exception once they have all run (as its own step would have)."""
    specs = [function.spec for function in functions]
    resource_keys = {p for function in functions for p in inspect.signature(function).parameters} - {"exercices"}

    @dg.multi_asset_check(
        name=name,
        specs=specs,
        can_subset=True,
        required_resource_keys=resource_keys,
        description=f"Evaluates in one step: {', '.join(spec.name for spec in specs)}.",
    )
    def evaluate(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        error = None
        for function, spec in zip(functions, specs, strict=True):
            if spec.key not in context.selected_asset_check_keys:
                continue
            arguments = {
                p: _run_exercices(context) if p == "exercices" else getattr(context.resources, p)
                for p in inspect.signature(function).parameters
            }
            try:
                result = function(**arguments)
            except Exception as exc:  # noqa: BLE001 - re-raised below, after the other checks
                context.log.error(f"{spec.key.to_user_string()}: {type(exc).__name__}: {exc}")
                error = error or exc
                continue
            yield result._replace(asset_key=spec.asset_key, check_name=spec.name)
        if error is not None:
            raise error

    return evaluate
