"""Reads done ahead in the background thread (warehouse/ahead.py): the step gets what it would have read itself."""

import shutil
import threading

import polars as pl
import pytest

from tests.conftest import SOURCES
from warehouse import ahead as ahead_module
from warehouse.ahead import ahead, forget, taken
from warehouse.nomenclature.resolution import nomenclature_read_key, read_nomenclature_file, stage_nomenclature
from warehouse.sources import discover_sources, take_inventory


@pytest.fixture(autouse=True)
def _nothing_left():
    yield
    forget()


def _nomenclature_items(folder):
    return [i for i in take_inventory(discover_sources(folder)) if i.holds("nomenclature")]


def _but_time(report) -> dict:
    return {k: v for k, v in vars(report).items() if k != "lu_le"}  # when the step made the report


def _queue(items) -> list:
    """Queue the reads of ``items`` ahead and wait until they are done there; return their exceptions."""
    for item in items:
        ahead(nomenclature_read_key(item), lambda item=item: read_nomenclature_file(item))
    return [ahead_module._pending[nomenclature_read_key(i)].exception(60) for i in items]


def test_nomenclature_read_ahead_is_the_read_in_place():
    items = _nomenclature_items(SOURCES)
    assert len(items) == 12
    in_place, in_place_reports = stage_nomenclature(items)
    assert _queue(items) == [None] * 12
    done_ahead, reports = stage_nomenclature(items)
    assert not ahead_module._pending  # every read queued was taken by the step
    assert done_ahead.height == in_place.height == 31_014
    assert done_ahead.equals(in_place)
    assert [_but_time(r) for r in reports] == [_but_time(r) for r in in_place_reports]


def test_a_read_that_failed_ahead_fails_again_in_place_with_its_message(tmp_path):
    shutil.copy(SOURCES / "PLF_2019_Nomenclature_destination.csv", tmp_path)
    (item,) = _nomenclature_items(tmp_path)
    (tmp_path / "PLF_2019_Nomenclature_destination.csv").write_bytes(b"not a nomenclature\n")
    _, (in_place,) = stage_nomenclature([item])
    (raised,) = _queue([item])
    assert str(raised) == in_place.message  # failed ahead, the same way
    elements, (report,) = stage_nomenclature([item])
    assert (report.statut, report.message) == (in_place.statut, in_place.message) == ("erreur", in_place.message)
    assert "PLF_2019_Nomenclature_destination.csv" in report.message
    assert elements.height == 0


def test_a_work_not_started_is_done_where_it_is_asked_and_never_ahead():
    started, release = threading.Event(), threading.Event()
    calls = []

    def blocking():
        started.set()
        release.wait(10)
        return "first"

    ahead("first", blocking)
    ahead("second", lambda: calls.append("ahead") or "ahead")
    assert started.wait(10)
    assert taken("second", lambda: calls.append("in place") or "in place") == "in place"
    release.set()
    assert taken("first", lambda: "again") == "first"  # running when asked: its result awaited
    assert taken("first", lambda: "again") == "again"  # each result is taken once
    assert calls == ["in place"]


def test_a_work_that_raised_ahead_is_done_again_in_place():
    attempts = []

    def flaky():
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise ValueError("ahead")
        return pl.DataFrame({"a": [1]})

    ahead("flaky", flaky)
    assert str(ahead_module._pending["flaky"].exception(10)) == "ahead"  # raised ahead
    assert taken("flaky", flaky).to_dict(as_series=False) == {"a": [1]}
    assert attempts == [0, 1]


def test_forget_waits_for_the_running_work_and_drops_every_result():
    started, release, ended = threading.Event(), threading.Event(), []

    def running():
        started.set()
        release.wait(10)
        ended.append("running")
        return "running"

    ahead("running", running)
    ahead("queued", lambda: ended.append("queued") or "queued")
    assert started.wait(10)
    threading.Timer(0.2, release.set).start()
    forget()
    assert ended == ["running"]  # ended before forget returned; the queued one never ran
    assert not ahead_module._pending and ahead_module._executor is None
    assert taken("running", lambda: "again") == "again"


def test_performance_tables_assembled_ahead_are_those_assembled_in_the_step():
    """``assets.performance``: the reads and the tables made ahead (no file failed: nothing carried from the
    warehouse) equal those the step makes in place; with a performance file in error nothing is assembled
    ahead (the step needs its last good rows)."""
    import dataclasses

    from assets import performance
    from warehouse.performance.tables import assemble_checked

    items = take_inventory(discover_sources(SOURCES))
    in_place = performance._read_step(items, assemble=False)
    done_ahead = performance._read_step(items, assemble=True)
    assert in_place.tables is None and done_ahead.tables is not None
    assert in_place.files.keys() == done_ahead.files.keys()
    reads = [d.read for d in in_place.files.values() if d is not None and d.read is not None]
    assert [r.fichier for r in reads] == ["PLF_2019_PAP.csv", "Performance_Depense.csv"]
    tables, failures = assemble_checked(reads, [], lambda ids: None)
    assert failures == []
    for name, frame in tables.frames().items():
        assert done_ahead.tables.frames()[name].equals(frame), name
    assert tables.indicateur_valeurs.group_by("document").len().sort("document").rows() == [
        ("PAP 2019", 11_580),
        ("RAP 2024", 10_885),
    ]  # the values of the snapshot's two performance files (the build's table also has 7 of RAP 2021)
    (pap,) = [i for i in items if i.source.fichier == "PLF_2019_PAP.csv"]
    failed = [dataclasses.replace(pap, error="not readable", kind="performance") if i is pap else i for i in items]
    assert performance._read_step(failed, assemble=True).tables is None
