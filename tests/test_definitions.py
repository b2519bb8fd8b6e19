"""The Dagster definitions load, and say what users need in the UI."""

import subprocess
import sys

import dagster as dg
import yaml

from assets.credits import DUCKDB_WRITER_POOL
from pipelines.definitions import defs
from tests.conftest import ROOT, TABLES


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    for name in ("sources_job", "credits_job", "publish_job", "build_job"):
        assert defs.resolve_job_def(name) is not None


def test_workspace_points_at_the_definitions():
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    assert entry["python_module"] == {"module_name": "pipelines.definitions", "attribute": "defs"}


def test_every_asset_is_described_and_keyed_like_the_warehouse():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    views = {"core/indicateur_atteinte", "core/execution_credits"}
    observed = {"raw/credit_files", "raw/nomenclature_files", "raw/other_files"}  # observable source assets
    staging = {"staging/credits", "staging/nomenclature", "staging/credit_elements"}
    steps = {"core/credits_code_mission"}  # fills credits.code_mission: no table of its own
    assert keys == {"raw/sources"} | staging | steps | observed | views | {
        f"{layer}/{t}" for t in TABLES for layer in ("core", "parquet")
    }
    for key in graph.get_all_asset_keys():
        assert len(graph.get(key).description or "") > 80, key


def test_checks_are_attached():
    graph = defs.resolve_asset_graph()
    names = {key.name for key in graph.asset_check_keys}
    assert {
        "every_credit_file_readable",
        "line_accounting_balances",
        "t2_plus_ht2",
        "lfi_egale_plf_plus_amd",
        "temoin",
        "total_publie",
        "atteinte_publiee",
        "libelle",
        "code_inconnu",
        "credits_sum_to_kept_lines",
        "no_mojibake_in_labels",
        "business_key_unique",
        "repeated_keys_are_summed",
        "credits_match_model",
        "parquet_matches_warehouse",
        "programme_in_one_mission",
        "every_nomenclature_file_readable",
    } <= names
    # The rules of `ecarts_sources` are not repeated by checks of their own (issue 7, item 10).
    assert not names & {
        "credit_actions_known_in_nomenclature",
        "credit_natures_labelled",
        "nomenclature_labels_agree",
        "published_attainment_agrees",
        "declarations_agree_with_data",
    }


def test_every_check_is_in_the_readme():
    """Each check the UI shows is explained in README "The checks": in a table row (`| `name` |`) or, for
    the WARN checks listing known facts of the files, in the paragraph that names them."""
    graph = defs.resolve_asset_graph()
    names = {key.name for key in graph.asset_check_keys}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    checks = readme[readme.index("## The checks") :]
    checks = checks[: checks.index("\n## ", 1)]
    missing = sorted(name for name in names if f"`{name}`" not in checks)
    assert not missing, f"checks not explained in README's 'The checks': {missing}"


def test_duckdb_writers_share_one_pool():
    graph = defs.resolve_asset_graph()
    for key in (dg.AssetKey(["core", "credits"]), dg.AssetKey(["core", "sources"])):
        assert graph.get(key).pools == {DUCKDB_WRITER_POOL}


def test_a_process_forked_after_loading_the_definitions_can_read_with_polars():
    """Dagster's multiprocess executor forks processes that have imported the definitions: a Polars query
    run while importing them starts Polars' thread pool, and a child forked after it hangs on its first
    read (``warehouse.nomenclature.resolution`` once built an Arrow schema through Polars at import). A child reads a
    CSV with Polars within the timeout, or the test fails."""
    child = (
        "import os, io, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "import pipelines.definitions\n"
        "import polars as pl\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    frame = pl.read_csv(io.BytesIO(b'a;b\\n1;2\\n'), separator=';')\n"
        "    os._exit(0 if frame.shape == (1, 2) else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "raise SystemExit(os.waitstatus_to_exitcode(status))\n"
    )
    done = subprocess.run([sys.executable, "-c", child], cwd=ROOT, timeout=60, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
