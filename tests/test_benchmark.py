"""The benchmark's parts (issue 11, item 1), fast and real; the test suite never runs the benchmark itself.

A synthetic file of 2,000 lines is read back through the project's real reading code
(``discover_sources``, ``recognise``, ``read_credit_table``): recognised as the LFI 2021 family, the
amounts exactly what the generator meant, the keys unique, the rules the project checks holding.
The floor gives the same total on the same file; the change the benchmark makes to
``PLF_2020_Credits.csv`` moves exactly one amount by 1,000 €; the memory guard kills a child that
grows past its limit.
"""

from __future__ import annotations

import shutil
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from benchmarks.__main__ import per_line
from benchmarks.floor import floor
from benchmarks.measure import MIB, run_measured
from benchmarks.project import change_one_amount, ingest
from benchmarks.synthetic import FILE_NAME, TEMPLATE, generate
from schemas.credits import BUSINESS_KEY
from warehouse.credits.files import read_credit_table
from warehouse.credits.rules import lfi_plf_amd_mismatches, t2_ht2_mismatches
from warehouse.sources import discover_sources, recognise

ROOT = Path(__file__).resolve().parents[1]
ROWS = 2000


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return generate(ROWS, tmp_path_factory.mktemp("lfi-2021") / "sources")


@pytest.fixture(scope="module")
def read_back(synthetic):
    (source,) = discover_sources(synthetic.path.parent)
    found = recognise(source)
    assert found.match is not None, found.error
    return found, read_credit_table(found.table, found.match, source.source_id, found.exercice_hint)


def test_the_file_has_the_template_header_and_exactly_the_lines_asked(synthetic):
    data = synthetic.path.read_bytes()
    assert synthetic.path.name == FILE_NAME
    assert data.split(b"\n", 1)[0] == TEMPLATE.read_bytes().split(b"\n", 1)[0].rstrip(b"\r")
    assert data.count(b"\n") == ROWS + 1 and data.endswith(b"\n")
    assert {line.count(b";") for line in data.splitlines()} == {26}  # 27 columns on every line


def test_the_file_is_windows_1252_with_spaces_between_thousands(synthetic):
    data = synthetic.path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = data.decode("cp1252")
    assert "é" in text and "Libellé Programme" in text
    amounts = pl.read_csv(data.decode("cp1252").encode(), separator=";", infer_schema=False)["AE ( T2 + HT2) LFI"]
    assert amounts.str.contains(r"^-?\d{1,3}( \d{3})+$").sum() > ROWS // 2  # most amounts ≥ 1 000 €
    assert amounts.str.contains(r"^-?\d{1,3}( \d{3})*$").all()


def test_the_project_recognises_the_lfi_2021_family_and_reads_back_the_generators_amounts(synthetic, read_back):
    found, read = read_back
    assert found.famille == "credits_t2_ht2"
    assert read.exercice == 2021 and read.phases == ("AMD", "LFI", "PLF")
    assert read.kept == ROWS and read.data_rows == ROWS and read.set_aside == {}
    assert read.lines.height == synthetic.credit_rows
    by_phase = {phase: frame for (phase,), frame in read.lines.group_by("phase")}
    assert by_phase["LFI"]["ae"].sum() == synthetic.ae_lfi_total
    assert by_phase["LFI"]["cp"].sum() == synthetic.cp_lfi_total
    assert by_phase["PLF"]["ae"].sum() == synthetic.ae_plf_total
    assert synthetic.ae_lfi_total > Decimal(10**9)  # not a file of zeros


def test_keys_are_unique_and_the_files_own_rules_hold(read_back):
    _, read = read_back
    lines = read.lines
    assert lines.select(BUSINESS_KEY).is_duplicated().sum() == 0
    assert lines.filter(pl.col("phase") == "LFI").select(pl.col("code_programme").n_unique()).item() > 100
    assert lines["code_programme"].str.contains(r"^\d{3}$").all()
    assert lines["code_action"].str.contains(r"^\d{2}$").all()
    assert lines["libelle_programme"].str.contains("[éèàÉ]").any()
    assert lines["ae_publie"].is_not_null().sum() == ROWS  # the LFI lines publish T2 + HT2: the rule applies
    assert t2_ht2_mismatches(lines).is_empty()
    assert lfi_plf_amd_mismatches(lines).is_empty()
    assert lines.filter(pl.col("phase") == "AMD")["ae"].lt(0).any()  # amendments that cut, as in the real file


def test_the_floor_gives_the_same_total(synthetic, tmp_path):
    parquet = floor(synthetic.path, tmp_path / "floor")
    frame = pl.read_parquet(parquet)
    assert frame.height == ROWS
    assert frame.schema["AE ( T2 + HT2) LFI"] == pl.Decimal(18, 2)
    assert frame["AE ( T2 + HT2) LFI"].sum() == synthetic.ae_lfi_total
    assert frame["CP ( T2 + HT2) LFI"].sum() == synthetic.cp_lfi_total
    assert not (tmp_path / "floor" / "credits.utf8.csv").exists()


def test_the_changed_plf_2020_file_moves_one_amount_by_1000_euros(tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    original = ROOT / "data" / "sources" / "PLF_2020_Credits.csv"
    changed = folder / original.name
    shutil.copyfile(original, changed)
    before, after = change_one_amount(changed)
    assert (before, after) == ("460 459", "461 459")  # the first line of the real file, written alike
    old, new = original.read_bytes().split(b"\n"), changed.read_bytes().split(b"\n")
    assert len(old) == len(new) and [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b] == [1]

    def total(path: Path) -> Decimal:
        (source,) = [s for s in discover_sources(path.parent) if s.chemin == path]
        found = recognise(source)
        return read_credit_table(found.table, found.match, source.source_id, found.exercice_hint).lines["ae"].sum()

    assert total(changed) - total(original) == Decimal("1000.00")


def test_the_memory_guard_kills_a_child_past_its_limit(tmp_path):
    grow = "import time\nx = bytearray(400 * 2**20)\nx[::4096] = b'1' * len(x[::4096])\ntime.sleep(30)"
    killed = run_measured([sys.executable, "-c", grow], tmp_path / "grow.log", max_rss_bytes=200 * MIB)
    assert killed.killed_at_bytes is not None and killed.killed_at_bytes > 200 * MIB
    assert killed.status().startswith("killed at ") and killed.wall_s < 20 and not killed.ok
    failed = run_measured([sys.executable, "-c", "import sys; print('x'); sys.exit(3)"], tmp_path / "f.log",
                          max_rss_bytes=200 * MIB)  # fmt: skip
    assert (failed.exit_code, failed.status(), failed.tail()) == (3, "failed (exit 3)", "x")


def test_the_peak_is_the_childs_own_memory(tmp_path):
    """A child that touches 300 MiB and exits: its peak, neither the parent's memory nor zero."""
    touch = "import time\nx = bytearray(300 * 2**20)\nx[::4096] = b'1' * len(x[::4096])\ntime.sleep(0.5)"
    small = run_measured([sys.executable, "-c", touch], tmp_path / "touch.log", max_rss_bytes=2048 * MIB)
    assert small.ok and 300 <= small.peak_rss_mib < 400, small


def test_cpu_seconds_are_the_childs_own(tmp_path):
    """A child that computes for a while then sleeps: user seconds for the computing, none for the sleep."""
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\ntime.sleep(1)"
    measured = run_measured([sys.executable, "-c", busy], tmp_path / "busy.log", max_rss_bytes=2048 * MIB)
    assert measured.ok and 0.5 <= measured.user_s + measured.system_s < 1.5 < measured.wall_s, measured


def test_a_failed_build_is_reported_not_timed(tmp_path):
    """The real CLI on a folder with no credit file exits 1: the figure says so and gives no time."""
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "notes.txt").write_text("pas un fichier de crédits\n")
    figure = ingest(folder, 10, tmp_path / "out", tmp_path / "build.log", 2048 * MIB)
    assert (figure.status, figure.wall_s, figure.credits_rows) == ("failed (exit 1)", None, None)
    assert figure.measurement.wall_s > 0 and "nothing to build" in figure.measurement.log.read_text()


def test_the_time_per_line_beyond_the_fixed_cost_and_its_spread():
    """The latest run's figures (README, Benchmark) with a fixed cost of 8 s: per line, 17.7, 27.5 and 21.5 µs
    beyond it; a spread of 56 %, not flat within 20 %. A failed size has no figure and no part in the spread."""
    rows = [
        {"rows": 100_000, "project_s": 9.77},
        {"rows": 1_000_000, "project_s": 35.54},
        {"rows": 10_000_000, "project_s": 223.41},
        {"rows": 20_000_000, "project_s": None},
    ]
    assert per_line(rows, 8.0) == 0.556
    assert [r["us_per_line_beyond_fixed"] for r in rows] == [17.7, 27.54, 21.54, None]
    assert [r["project_us_per_line"] for r in rows] == [97.7, 35.54, 22.34, None]
    assert per_line(rows, None) is None and rows[0]["us_per_line_beyond_fixed"] is None


def test_a_builds_step_durations_are_read_from_its_dagster_instance(synthetic, tmp_path):
    """The real CLI builds the 2,000-line file; its steps' wall seconds come from the build's own Dagster
    instance: the credit steps and the publication are there, each timed, longest first, within the build."""
    figure = ingest(synthetic.path.parent, synthetic.credit_rows, tmp_path / "out", tmp_path / "build.log", 2048 * MIB)
    assert figure.status == "ok", figure.measurement.tail()
    steps = figure.steps_s
    assert {"staging__credits", "core__credits", "staging__credit_elements", "parquet_files"} <= set(steps)
    assert all(v >= 0 for v in steps.values()) and list(steps.values()) == sorted(steps.values(), reverse=True)
    assert 0 < sum(steps.values()) < figure.measurement.wall_s


def test_repeated_runs_report_the_run_of_median_wall_time_and_a_failed_run_first():
    from benchmarks.__main__ import median_run

    runs = [("a", 9.1), ("b", 7.2), ("c", 8.4)]
    assert median_run(runs, lambda r: r[1]) == (("c", 8.4), [9.1, 7.2, 8.4])
    assert median_run(runs[:2], lambda r: r[1])[0] == ("b", 7.2)  # even count: the lower median
    failed = [("a", 9.1), ("x", None), ("c", 8.4)]
    assert median_run(failed, lambda r: r[1]) == (("x", None), [9.1, None, 8.4])
