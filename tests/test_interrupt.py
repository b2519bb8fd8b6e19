"""Ctrl-C (SIGINT) and SIGTERM stop a build with nothing published, against real ``budget-warehouse build``
processes (``pipelines/interrupts.py``).

The signal is sent when the build shows it is at a given moment: a line it prints (the inventory), or the
file the documented test hook ``BUDGET_TEST_PAUSE=<phase>:<seconds>`` touches (``warehouse/publication/releases.py``:
``load`` in the credits run's step, ``parquet`` in the publication run's step, ``switch`` after the runs,
just before ``latest`` switches), never after a sleep.
"""

from __future__ import annotations

import signal
import subprocess

import pytest
from dagster._utils.interrupts import capture_interrupts, check_captured_interrupt

from pipelines.interrupts import signals_stop_the_build, stop_if_interrupted
from tests.conftest import run_build
from tests.test_releases import (
    CREDITS_2020,
    LFI_2020,
    _count,
    _releases,
    _snapshot,
    _start,
    _start_paused,
    assert_absent_source_kept,
    baseline,
    warehouse,
)

__all__ = ["baseline", "warehouse"]  # the fixtures of tests/test_releases.py: a small warehouse built once

#: An interrupted build ends within this many seconds of the signal (a step's native call finishes first).
PROMPT_S = 60


def _interrupted(build: subprocess.Popen, signum: int) -> tuple[int, str]:
    """Send ``signum`` to ``build``; its exit code and stderr, once it ended."""
    build.send_signal(signum)
    try:
        _, stderr = build.communicate(timeout=PROMPT_S)
    except subprocess.TimeoutExpired:
        build.kill()
        pytest.fail(f"the build went on {PROMPT_S} s after {signal.Signals(signum).name}")
    return build.returncode, stderr


def _assert_nothing_published_and_the_next_build_completes(sources, out, before, version, code, stderr, name):
    assert code == 128 + signal.Signals[name]
    message = f"budget-warehouse: interrupted ({name}): no release published; latest stays {version}"
    assert stderr.strip().splitlines()[-1] == message, stderr
    assert _snapshot(out) == before  # latest, budget.duckdb and parquet/ as they were, byte for byte
    assert _releases(out) == [version]
    assert not [p for p in (out / "releases").iterdir() if p.name.startswith(".building-")]
    assert _count(out / "budget.duckdb", "SELECT count(*) FROM credits") == CREDITS_2020

    following = run_build(sources, out, "--prune")  # no cleanup by hand
    assert following.returncode == 0, following.stdout + following.stderr
    assert "release: " in following.stdout and " published; latest -> releases/" in following.stdout
    assert _count(out / "budget.duckdb", "SELECT count(*) FROM credits") == LFI_2020
    assert len(_releases(out)) == 2


@pytest.mark.parametrize("phase", ["load", "parquet", "switch"])
def test_ctrl_c_stops_the_build_publishes_nothing_and_the_next_build_completes(warehouse, phase):
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()  # the interrupted build would have made a new release
    before, (version,) = _snapshot(out), _releases(out)
    build = _start_paused(sources, out, phase)
    code, stderr = _interrupted(build, signal.SIGINT)
    _assert_nothing_published_and_the_next_build_completes(sources, out, before, version, code, stderr, "SIGINT")


@pytest.mark.parametrize("phase", ["load", "switch"])
def test_an_interrupted_prune_build_changes_nothing_a_later_build_keeps(warehouse, phase):
    # The adversarial tester's find: a --prune build stopped by Ctrl-C kept its pruned staging; the next build without
    # --prune, the file still absent, said its data was kept but published `credits +0 -2213`.
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()
    before, (version,) = _snapshot(out), _releases(out)
    code, _ = _interrupted(_start_paused(sources, out, phase), signal.SIGINT)
    assert code == 128 + signal.SIGINT and _snapshot(out) == before and _releases(out) == [version]
    assert_absent_source_kept(run_build(sources, out), out)


def test_sigterm_during_the_inventory_stops_the_build_and_publishes_nothing(warehouse):
    sources, out = warehouse
    (sources / "PLF_2020_Credits.csv").unlink()
    before, (version,) = _snapshot(out), _releases(out)
    build = _start(sources, out, "--prune")
    for line in build.stdout:  # the inventory follows this line
        if line.startswith("budget-warehouse: Dagster instance"):
            break
    else:
        pytest.fail(f"the build ended without its instance line: {build.communicate()}")
    code, stderr = _interrupted(build, signal.SIGTERM)
    _assert_nothing_published_and_the_next_build_completes(sources, out, before, version, code, stderr, "SIGTERM")


def test_a_signal_a_dagster_run_captured_and_dropped_still_stops_the_build(tmp_path, capsys):
    """Between two steps, Dagster's run only notes a signal (``capture_interrupts``) and forgets it when the run
    ends: the build still learns of it (the wakeup pipe) at its next check, before a run or publishing."""
    handler = signal.getsignal(signal.SIGINT)
    went_on = False
    with signals_stop_the_build(tmp_path) as stopped:
        with capture_interrupts():
            signal.raise_signal(signal.SIGINT)  # handled here, by Dagster's handler: no exception
        assert not check_captured_interrupt()  # Dagster forgot it once the run's context ended
        stop_if_interrupted()
        went_on = True
    assert not went_on
    assert stopped.code == 130
    assert capsys.readouterr().err == (
        "budget-warehouse: interrupted (SIGINT): no release published; there is no release yet\n"
    )
    assert signal.getsignal(signal.SIGINT) is handler  # the handler before the build, given back
