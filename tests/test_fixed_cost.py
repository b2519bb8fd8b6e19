"""The fixed cost of every build (README, "Performance: the fixed cost of every build"): what the command
does around the runs, checked on a real build of real files in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, build_env, run_python, sources_with

#: The command in a child process, every collection of Python's cyclic garbage collector recorded with
#: the number of objects frozen at that moment (0: before the first run), and the collector's state after.
WATCHED_BUILD = """
import gc, json, sys
from pathlib import Path
from pipelines.cli import main
sources, out, report = (Path(a) for a in sys.argv[1:4])
collections = []
gc.callbacks.append(lambda phase, info: phase == "stop" and collections.append(gc.get_freeze_count()))
code = main(["build", "--sources", str(sources), "--out", str(out)])
report.write_text(json.dumps({
    "before_the_runs": sum(1 for frozen in collections if frozen == 0),
    "during_the_runs": sum(1 for frozen in collections if frozen > 0),
    "frozen": max(collections, default=0),
    "enabled_after": gc.isenabled(),
    "frozen_after": gc.get_freeze_count(),
}))
sys.exit(code)
"""


def _build_by(script: str, tmp_path: Path, report: Path) -> subprocess.CompletedProcess:
    """A build of LFI 2020's credits and PLF 2020's nomenclature into ``tmp_path / "out"`` by ``script`` in a
    child process (its arguments: the sources, the output folder, ``report``); it must succeed."""
    sources = sources_with(tmp_path / "sources", "LFI_2020_Credits.csv", "PLF_2020_Nomenclature.csv")
    done = run_python(script, str(sources), str(tmp_path / "out"), str(report), env=build_env())
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_no_garbage_collection_while_loading_then_the_collector_as_it_was(tmp_path):
    report = tmp_path / "collections.json"
    done = _build_by(WATCHED_BUILD, tmp_path, report)
    assert "release: " in done.stdout and " published" in done.stdout
    seen = json.loads(report.read_text())
    assert seen["before_the_runs"] == 0  # imports, definitions, instance, inventory: no pass over them
    assert seen["during_the_runs"] > 0  # the runs' garbage is collected
    assert seen["frozen"] > 100_000  # Dagster's, Pandera's, Polars' modules... left out of those passes
    assert seen["enabled_after"] is True and seen["frozen_after"] == 0  # an in-process caller's collector as it was
    assert Path(tmp_path / "out" / "latest").is_symlink()


def test_a_new_instance_plans_every_asset_and_exercice_as_missing_without_asking_their_status(tmp_path):
    import dagster as dg
    from dagster._core.definitions.data_version import StaleStatus

    from assets.partitions import EXERCICE_PARTITIONS_NAME
    from pipelines.definitions import defs
    from pipelines.incremental import SOURCES, _resolver, plan_build

    graph = defs.resolve_asset_graph()
    exercices = ["2019", "2020", "2021"]
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions(EXERCICE_PARTITIONS_NAME, exercices)
        plan = plan_build(instance, graph, exercices, held={})
        resolver = _resolver(instance, graph)  # what Dagster says of each: what the plan says without asking
        keys = [k for k in graph.materializable_asset_keys]
        statuses = {
            (k, p): resolver.get_status(k, p)
            for k in keys
            for p in (exercices if graph.get(k).is_partitioned else [None])
        }
    assert set(statuses.values()) == {StaleStatus.MISSING}
    assert plan.partitions == exercices
    unpartitioned = sorted((k for k in keys if not graph.get(k).is_partitioned and k != SOURCES), key=str)
    assert sorted(plan.assets, key=str) == unpartitioned and len(unpartitioned) > 30
    assert len(plan.reasons) == len(statuses) and all(r.endswith(": missing") for r in plan.reasons)
    assert "staging/credits|2020: missing" in plan.reasons


def test_the_collector_is_left_as_the_caller_had_it():
    import gc

    from pipelines.cli import _collector_paused, _freeze_long_lived

    enabled = gc.isenabled()
    try:
        for before in (True, False):
            (gc.enable if before else gc.disable)()
            with _collector_paused():
                assert not gc.isenabled()  # loading: no collection
                _freeze_long_lived()
                assert gc.isenabled() and gc.get_freeze_count() > 0  # the runs: collected, the loaded frozen
            assert gc.isenabled() is before and gc.get_freeze_count() == 0
    finally:
        (gc.enable if enabled else gc.disable)()


def test_a_reader_that_leaves_early_neither_stops_the_build_nor_changes_its_exit_code(tmp_path):
    """``budget-warehouse build … | head -1``: the reader closes the pipe after the first line; the build
    goes on to its release, and exits 0 (it stopped with a BrokenPipeError traceback and exit 1, before
    publishing)."""
    sources = sources_with(tmp_path / "sources", "LFI_2020_Credits.csv")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "pipelines.cli", "build", "--sources", str(sources), "--out", str(out)]
    build = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=build_env(), cwd=ROOT)
    first = build.stdout.readline()
    build.stdout.close()  # as `head -1` does
    errors = build.stderr.read().decode()
    assert build.wait(timeout=900) == 0, errors
    assert first.startswith(b"budget-warehouse: sources from")
    assert "BrokenPipeError" not in errors
    (release,) = (out / "releases").glob("20*")
    assert (out / "latest").resolve() == release.resolve()


def test_modules_imported_behind_the_inventory_are_whole_and_one_that_fails_fails_again_where_imported(
    tmp_path, monkeypatch
):
    """``_import_behind``: the modules the runs need, imported in a thread while the inventory is taken. One
    that raises is not left half-made in ``sys.modules`` (nor are those after it imported): the build's own
    ``import`` raises its error where it needs it."""
    import importlib

    import pytest

    from pipelines.cli import _import_behind

    (tmp_path / "behind_whole.py").write_text("import time\ntime.sleep(0.2)\nVALUE = 42\n", encoding="utf-8")
    (tmp_path / "behind_broken.py").write_text("FIRST = 1\nraise ValueError('broken on purpose')\n", encoding="utf-8")
    (tmp_path / "behind_after.py").write_text("VALUE = 7\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    names = ("behind_whole", "behind_broken", "behind_after")
    try:
        thread = _import_behind(*names)
        assert thread.daemon  # never holds the process's exit
        thread.join(timeout=60)
        assert sys.modules["behind_whole"].VALUE == 42
        assert "behind_broken" not in sys.modules and "behind_after" not in sys.modules
        with pytest.raises(ValueError, match="broken on purpose"):
            importlib.import_module("behind_broken")
    finally:
        for name in names:
            sys.modules.pop(name, None)


def test_release_modules_warmed_behind_the_publication_run_only_for_a_small_build(tmp_path):
    """``_warm_release_behind``: the release's modules imported, Frictionless's profile checked once and
    Plotly's template built in a daemon thread for a build of up to 256 MiB of credit files; none for a
    bigger one (they would add to its peak)."""
    import dataclasses

    from pipelines.cli import _WARM_RELEASE_UP_TO, _warm_release_behind
    from warehouse.sources import discover_sources, take_inventory

    sources = sources_with(tmp_path / "sources", "LFI_2020_Credits.csv", "PLF_2020_Nomenclature.csv")
    items = take_inventory(discover_sources(sources))
    (credits,) = [i for i in items if i.holds("credits")]
    big = dataclasses.replace(credits, source=dataclasses.replace(credits.source, octets=_WARM_RELEASE_UP_TO + 1))
    assert _warm_release_behind([big if i is credits else i for i in items]) is None
    from warehouse.publication.site import _white_template

    _white_template.cache_clear()
    thread = _warm_release_behind(items)
    assert thread is not None and thread.daemon
    thread.join(timeout=120)
    assert "frictionless" in sys.modules
    assert _white_template.cache_info().currsize == 1  # built in the thread, taken by the page
    assert _white_template()["layout"]["paper_bgcolor"] == "white"


def test_frictionless_warmed_behind_only_for_a_first_release(tmp_path, monkeypatch):
    """``_warm_release_behind`` warms Frictionless only when the latest release holds no data package (a first
    release): after one, the data package is the previous one with its new values unless the tables changed,
    and the release imports Frictionless itself where it needs it. Plotly's page is warmed in both."""
    import pipelines.cli as cli
    from warehouse.publication.datapackage import DATAPACKAGE
    from warehouse.sources import discover_sources, take_inventory

    items = take_inventory(discover_sources(sources_with(tmp_path / "sources", "LFI_2020_Credits.csv")))
    warmed: list[str] = []
    monkeypatch.setattr(cli, "_warm_datapackage", lambda: warmed.append("datapackage"))
    monkeypatch.setattr(cli, "_warm_page", lambda: warmed.append("page"))
    previous = tmp_path / "releases" / "2026-01-01T000000Z-abcdef"
    previous.mkdir(parents=True)
    for given, expected in (
        (None, ["datapackage", "page"]),
        (previous, ["datapackage", "page"]),  # a release folder without its data package
        ("with", ["page"]),
    ):
        if given == "with":
            (previous / DATAPACKAGE).write_text("{}\n", encoding="utf-8")
            given = previous
        warmed.clear()
        thread = cli._warm_release_behind(items, given)
        assert thread is not None
        thread.join(timeout=60)
        assert warmed == expected


#: A first build in a child process, each call of ``_warm_release_behind`` recorded.
ONE_RUN_BUILD = """
import json, sys
from pathlib import Path
import pipelines.cli as cli
sources, out, report = (Path(a) for a in sys.argv[1:4])
calls = []
warm = cli._warm_release_behind
cli._warm_release_behind = lambda *args: calls.append(1) or warm(*args)
code = cli.main(["build", "--sources", str(sources), "--out", str(out)])
report.write_text(json.dumps({"warmed": len(calls)}))
sys.exit(code)
"""


def test_a_first_build_is_one_run_the_credits_steps_first_and_the_release_warmed_once(tmp_path):
    """A build where every asset runs (here a first one) runs the credits and the publication in one run of
    ``build_job`` (wave 14): the credits' steps before any other past ``raw/sources``, the release's modules
    warmed once, at the first step past the credits."""
    import dagster as dg

    report, out = tmp_path / "report.json", tmp_path / "out"
    done = _build_by(ONE_RUN_BUILD, tmp_path, report)
    assert "credits: run 1/1, exercice(s) 2020, with " in done.stdout, done.stdout
    assert json.loads(report.read_text()) == {"warmed": 1}
    with dg.DagsterInstance.from_config(str(out / "dagster")) as instance:
        (run,) = instance.get_runs()
        assert run.job_name == "build_job" and run.is_success
        started = [e.step_key for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)]
    credits = ["raw__sources", "staging__credits", "core__credits", "staging__credit_elements"]
    assert started[:4] == credits and len(started) > 4, started


#: The command in a child process, then which of the modules a rebuild that reads nothing needs not it imported.
IMPORTS_OF_A_BUILD = """
import json, sys
from pathlib import Path
from pipelines.cli import main
sources, out, report = (Path(a) for a in sys.argv[1:4])
code = main(["build", "--sources", str(sources), "--out", str(out)])
report.write_text(json.dumps(sorted(m for m in ("pandera", "pandas") if m in sys.modules)))
sys.exit(code)
"""


def test_a_rebuild_with_nothing_changed_imports_neither_pandera_nor_pandas(tmp_path):
    # about 1 s of the no-op rebuild's 3 s (README, "the fixed cost"): the inventory imports the credit reader's
    # module, which imported the Pandera models for a constant (issue 11, wave 16)
    report = tmp_path / "imported.json"
    _build_by(IMPORTS_OF_A_BUILD, tmp_path, report)
    assert json.loads(report.read_text()) == ["pandas", "pandera"]  # a first build validates with them
    _build_by(IMPORTS_OF_A_BUILD, tmp_path, report)
    assert json.loads(report.read_text()) == []
