"""Several checks in one step: each keeps its key, name, severity and blocking; one that raises stops no other."""

import dagster as dg

from assets.check_groups import check, grouped_checks
from assets.metadata import check_result
from pipelines.definitions import defs


class Rows(dg.ConfigurableResource):
    count: int


@dg.asset
def table() -> None:
    return None


@dg.asset(deps=[table])
def downstream() -> None:
    return None


@check(table, "The table has rows.", blocking=True)
def has_rows(rows: Rows) -> dg.AssetCheckResult:
    import polars as pl

    return check_result(
        pl.DataFrame({"lignes": [rows.count]}).filter(pl.col("lignes") == 0), dg.AssetCheckSeverity.ERROR
    )


@check(table, "Never true.")
def raises(rows: Rows) -> dg.AssetCheckResult:
    raise ValueError(f"no rule for {rows.count} rows")


@check(table, "A warning.")
def warns() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)


def _run(count: int) -> dg.ExecuteInProcessResult:
    checks = grouped_checks("table_checks", [has_rows, raises, warns])
    with dg.instance_for_test() as instance:
        return dg.materialize(
            [table, downstream, checks], resources={"rows": Rows(count=count)}, instance=instance, raise_on_error=False
        )


def test_each_check_keeps_its_key_and_severity_and_a_raising_check_fails_the_step_after_the_others():
    result = _run(3)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"has_rows", "warns"}
    assert evaluations["has_rows"].passed and evaluations["has_rows"].asset_key == dg.AssetKey("table")
    assert (evaluations["warns"].passed, evaluations["warns"].severity) == (False, dg.AssetCheckSeverity.WARN)
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "table_checks"
    assert "no rule for 3 rows" in failure.event_specific_data.error.cause.message


def test_a_blocking_check_that_fails_stops_the_assets_downstream():
    result = _run(0)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["has_rows"].passed is False and evaluations["has_rows"].blocking
    materialised = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialised == {dg.AssetKey("table")}


def test_the_project_checks_run_in_few_steps():
    """51 checks in 8 steps (issue 11): one per family of checks, and the rules of `ecarts_sources`
    evaluated with their table."""
    graph = defs.resolve_asset_graph()
    steps = {c.node_def.name: set(c.check_keys) for c in defs.asset_checks}
    assert set(steps) == {
        "staging_credit_checks",
        "credit_checks",
        "label_checks",
        "parquet_matches_warehouse",
        "nomenclature_checks",
        "performance_checks",
        "document_checks",
    }
    with_their_table = set(graph.get_check_keys_for_assets({dg.AssetKey(["core", "ecarts_sources"])}))
    with_their_table -= steps["label_checks"]
    assert len(with_their_table) == 8
    assert set().union(*steps.values()) | with_their_table == set(graph.asset_check_keys)
    assert len(graph.asset_check_keys) == 51
