"""``warehouse/publication/releases.py`` on real DuckDB and Parquet files: checks before the switch, hard links."""

import json
import os
import shutil

import duckdb
import pytest

from assets.publish import PUBLISHED
from tests.conftest import CASES
from warehouse.publication.parquet import InvalidParquet, publish_table
from warehouse.publication.releases import (
    MANIFEST,
    STATE,
    latest_release,
    publish_release,
    release_state,
    remove_stale_work,
    start_work,
    write_state,
)

TABLES = list(PUBLISHED)


def _work(out, built, drop: int = 0):
    """A working folder holding a copy of the real warehouse (the session's build) with its
    Parquet files; ``drop``: credit rows removed first (a change of content)."""
    work = start_work(out)
    shutil.copyfile(built.out / "latest" / "budget.duckdb", work / "budget.duckdb")
    with duckdb.connect(str(work / "budget.duckdb")) as connection:
        if drop:
            connection.execute(
                "DELETE FROM credits WHERE source_ligne IN (SELECT source_ligne FROM credits "
                "WHERE source_id = 'lfi-2020' ORDER BY source_ligne LIMIT ?) AND source_id = 'lfi-2020'",
                [drop],
            )
        for table in TABLES:
            publish_table(connection, table, work / "parquet")
    return work


def test_a_file_that_does_not_check_publishes_nothing_and_unchanged_files_are_links(tmp_path, built):
    out = tmp_path / "out"
    with duckdb.connect(str(built.out / "latest" / "budget.duckdb"), read_only=True) as connection:
        rows = connection.execute("SELECT count(*) FROM credits").fetchone()[0]
    first, new = publish_release(out, _work(out, built), TABLES, [])
    assert new and latest_release(out).version == first.version
    work = _work(out, built)
    # same rows (load times aside): no new release, the working folder goes
    assert publish_release(out, work, TABLES, []) == (latest_release(out), False) and not work.exists()

    work = _work(out, built, drop=1)
    shutil.copy(CASES / "B21" / "truncated.parquet", work / "parquet" / "credits.parquet")
    with pytest.raises(InvalidParquet):
        publish_release(out, work, TABLES, [])
    assert latest_release(out).version == first.version  # latest did not move
    assert remove_stale_work(out) == [work.name] and not work.exists()

    second, new = publish_release(out, _work(out, built, drop=1), TABLES, [])
    assert new and os.readlink(out / "latest") == f"releases/{second.version}"
    assert {f["path"]: f["rows"] for f in second.manifest["files"]}["parquet/credits.parquet"] == rows - 1
    before, after = first.folder / "parquet", second.folder / "parquet"
    assert (before / "credits.parquet").stat().st_ino != (after / "credits.parquet").stat().st_ino
    assert (before / "titres.parquet").stat().st_ino == (after / "titres.parquet").stat().st_ino  # unchanged
    assert second.manifest["files_linked_to_previous"] >= 1  # titres at least: unchanged files are links
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM credits").fetchone()[0] == rows - 1


def test_the_state_of_a_release_read_from_its_manifest_holds_its_reading_limits(tmp_path):
    # A fresh user's find: after `rm -r` of the latest release, the release before it (whose state the manifest
    # alone holds) was said read under other limits, "(None)": every file read again and everything recomputed.
    out = tmp_path / "out"
    folder = out / "releases" / "2026-12-01T000000Z-abcdef"
    folder.mkdir(parents=True)
    limits = {"BUDGET_MAX_FILE_MB": "", "BUDGET_MAX_UNZIPPED_MB": "", "BUDGET_MAX_ZIP_RATIO": ""}
    manifest = {"version": folder.name, "reading_limits": limits, "complete": True, "code_versions": {"a": "1"}}
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    (out / "latest").symlink_to(folder)
    removed = {"version": "2026-12-02T000000Z-012345", "reading_limits": limits}  # the state of the release removed
    (out / "releases" / STATE).write_text(json.dumps(removed), encoding="utf-8")
    latest, state = release_state(out)
    assert latest.version == folder.name and state["reading_limits"] == limits and state["complete"] is True


def test_the_temporary_files_of_a_killed_build_are_named_beside_its_folder(tmp_path):
    # A fresh user's find (wave 17): the clean-up named only `.building-999999`, not the temporary files it removed
    # beside it (the state, the record of the files verified, a staged report).
    out = tmp_path / "out"
    releases = out / "releases"
    report = out / "staging" / "credits" / "exercice=2020"
    (releases / ".building-999999").mkdir(parents=True)
    report.mkdir(parents=True)
    left = [
        releases / ".verified.json.tmp-999999",
        releases / ".state.json.tmp-999999",
        report / ".rapport.json.tmp-999999",
    ]
    for path in left:
        path.write_text("{}")
    assert remove_stale_work(out) == [
        ".building-999999",
        "releases/.state.json.tmp-999999",
        "releases/.verified.json.tmp-999999",
        "staging/credits/exercice=2020/.rapport.json.tmp-999999",
    ]
    assert not any(path.exists() for path in left) and not (releases / ".building-999999").exists()


def _release(out, version: str):
    folder = out / "releases" / version
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text(json.dumps({"version": version, "complete": True}), encoding="utf-8")
    return folder


def _point_latest(out, folder):
    (out / "latest.new").symlink_to(folder)
    os.replace(out / "latest.new", out / "latest")


def test_a_rollback_whose_build_changes_nothing_keeps_the_newer_releases_and_a_users_folder(tmp_path):
    # An adversarial tester's find (wave 17): `latest` pointed back at R1, a build whose content equalled R1 wrote
    # R1's state, and the next build removed R2 (published) as a killed build's leftover; a `backup-copy` folder
    # sorting after the newest release was removed too.
    out = tmp_path / "out"
    r1 = _release(out, "2026-12-02T005615Z-bbe1c5")
    r2 = _release(out, "2026-12-02T005626Z-171571")
    _point_latest(out, r2)
    write_state(out, r2.name, {})  # R2 published
    _point_latest(out, r1)  # the user's rollback
    write_state(out, r1.name, {})  # a build whose content equalled R1: no new release
    backup = out / "releases" / "backup-copy"
    shutil.copytree(r2, backup)
    killed = _release(out, "2026-12-02T010000Z-abcdef")  # complete, never made latest: a killed build's
    assert remove_stale_work(out, say=lambda _: None) == [killed.name]
    assert r2.is_dir() and backup.is_dir() and latest_release(out).version == r1.name
    assert release_state(out)[1]["version"] == r1.name
