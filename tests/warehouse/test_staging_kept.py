"""The staging of the latest release kept aside, and what a build that published nothing changed put back
(``warehouse/publication/staging.py``), on real files: writers that rename a new file over the old one, as the
staging's writers do."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from warehouse.publication.staging import (
    KEPT,
    MARK,
    SNAPSHOT,
    UnknownStaging,
    keep_staging,
    mark_staging,
    restore_staging,
)


def _write(path: Path, text: str) -> None:
    """``text`` in ``path`` as the staging's writers write: a new file renamed over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _staged(out: Path) -> dict[str, str]:
    root = out / "staging"
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def _published(out: Path) -> dict[str, str]:
    """A staging as a release was built from: two exercices, a nomenclature, kept as release ``v1``."""
    _write(out / "staging" / "credits" / "exercice=2020" / "part-0.parquet", "2020: LFI + PLF")
    _write(out / "staging" / "credits" / "exercice=2020" / "rapport.json", "2020 reports")
    _write(out / "staging" / "credits" / "exercice=2021" / "part-0.parquet", "2021: LFI")
    _write(out / "staging" / "nomenclature" / "part-0.parquet", "elements")
    mark_staging(out)
    keep_staging(out, "v1")
    assert not (out / MARK).exists()
    return _staged(out)


def test_what_a_build_that_published_nothing_changed_is_put_back(tmp_path):
    out = tmp_path / "out"
    released = _published(out)
    mark_staging(out)  # a --prune build that fails: 2020 without the absent file, 2021 gone, 2023 staged
    _write(out / "staging" / "credits" / "exercice=2020" / "part-0.parquet", "2020: LFI")
    (out / "staging" / "credits" / "exercice=2021" / "part-0.parquet").unlink()
    _write(out / "staging" / "credits" / "exercice=2023" / "part-0.parquet", "2023: mojibake")
    _write(out / "staging" / "credits" / ".lecture-1" / "part.parquet", "a killed build's temporary")

    restored = restore_staging(out, "v1")
    assert restored == [
        "credits/.lecture-1/part.parquet",
        "credits/exercice=2020/part-0.parquet",
        "credits/exercice=2021/part-0.parquet",
        "credits/exercice=2023/part-0.parquet",
    ]
    assert _staged(out) == released
    assert not (out / "staging" / "credits" / "exercice=2023").exists()  # no empty exercice left
    assert os.path.samefile(
        out / "staging" / "credits" / "exercice=2020" / "part-0.parquet",
        out / SNAPSHOT / "credits" / "exercice=2020" / "part-0.parquet",
    )
    mark_staging(out)  # the next build, then nothing more to put back
    assert restore_staging(out, "v1") == []


def test_nothing_is_put_back_after_a_build_that_published_or_without_links_of_the_latest(tmp_path):
    out = tmp_path / "out"
    _published(out)
    _write(out / "staging" / "credits" / "exercice=2020" / "part-0.parquet", "changed by hand, no build")
    assert restore_staging(out, "v1") == []  # no note: no build changed it
    mark_staging(out)
    _write(out / "staging" / "credits" / "exercice=2021" / "part-0.parquet", "2021: LFI + PLF")
    assert restore_staging(out, "v2") == []  # a build stopped after `latest` switched to v2: its staging is v2's
    keep_staging(out, "v2")
    assert (out / SNAPSHOT / ".version").read_text().strip() == "v2"
    assert (out / SNAPSHOT / "credits" / "exercice=2021" / "part-0.parquet").read_text() == "2021: LFI + PLF"


def test_a_file_the_failed_build_did_not_touch_stays_as_it_was(tmp_path):
    # A folder of the staging replaced by a file by hand makes a build fail; the next build meets it again.
    out = tmp_path / "out"
    _published(out)
    for path in (out / "staging" / "credits" / "exercice=2020").iterdir():
        path.unlink()
    (out / "staging" / "credits" / "exercice=2020").rmdir()
    (out / "staging" / "credits" / "exercice=2020").write_text("in the way")
    mark_staging(out)
    _write(out / "staging" / "credits" / "exercice=2021" / "part-0.parquet", "2021: new lines")  # then it failed
    assert restore_staging(out, "v1") == ["credits/exercice=2021/part-0.parquet"]
    assert (out / "staging" / "credits" / "exercice=2020").read_text() == "in the way"
    assert (out / "staging" / "credits" / "exercice=2021" / "part-0.parquet").read_text() == "2021: LFI"


def test_the_first_failed_build_after_an_upgrade_is_put_back(tmp_path):
    # A warehouse from a version without the links: its staging is the latest release's, nothing is kept aside.
    # Before: the first build noted the staging, failed, and the next one found no links of the latest release:
    # nothing was put back. Now the first build keeps the staging aside as the latest release's before it notes it.
    out = tmp_path / "out"
    _write(out / "staging" / "credits" / "exercice=2020" / "part-0.parquet", "2020: LFI + PLF")
    _write(out / "staging" / "credits" / "exercice=2021" / "part-0.parquet", "2021: LFI")
    released = _staged(out)

    assert restore_staging(out, "v1") == []  # the first build after the upgrade: nothing to put back
    assert (out / SNAPSHOT / ".version").read_text().strip() == "v1"
    mark_staging(out, "v1")
    _write(out / "staging" / "credits" / "exercice=2020" / "part-0.parquet", "2020: LFI")  # then it fails

    assert restore_staging(out, "v1") == ["credits/exercice=2020/part-0.parquet"]
    assert _staged(out) == released


def test_a_failed_build_after_one_stopped_before_keeping_its_staging_is_put_back(tmp_path):
    # A build that switched `latest` to v2 and was stopped before it kept its staging aside left its note (it
    # started from v1) and the links of v1. Before: the next build found no links of v2 and put nothing back, noted
    # the staging anew, failed, and the one after it found no links of v2 either. Now the staging of the build that
    # published v2 is kept aside as v2's.
    out = tmp_path / "out"
    _published(out)
    mark_staging(out, "v1")
    _write(out / "staging" / "credits" / "exercice=2021" / "part-0.parquet", "2021: LFI + PLF")  # v2's
    released = _staged(out)

    assert restore_staging(out, "v2") == []
    assert (out / SNAPSHOT / ".version").read_text().strip() == "v2"
    mark_staging(out, "v2")
    (out / "staging" / "credits" / "exercice=2021" / "part-0.parquet").unlink()  # a --prune build that fails

    assert restore_staging(out, "v2") == ["credits/exercice=2021/part-0.parquet"]
    assert _staged(out) == released


def test_a_note_of_an_earlier_version_still_puts_back(tmp_path):
    # The note of a build of the version before (the staged files alone, no release named) reads as before.
    out = tmp_path / "out"
    released = _published(out)
    mark_staging(out)
    note = json.loads((out / MARK).read_text())
    (out / MARK).write_text(json.dumps(note["files"]))
    _write(out / "staging" / "nomenclature" / "part-0.parquet", "elements, changed")

    assert restore_staging(out, "v1") == ["nomenclature/part-0.parquet"]
    assert _staged(out) == released
    assert restore_staging(out, "v2") == [], "no release named, no links of v2: nothing known"


def test_a_first_build_stopped_before_keeping_its_staging_leaves_it_kept_as_its_release(tmp_path):
    out = tmp_path / "out"
    mark_staging(out, None)  # the first build: no release yet
    _write(out / "staging" / "credits" / "exercice=2020" / "part-0.parquet", "2020: LFI")  # then it published v1
    released = _staged(out)

    assert restore_staging(out, "v1") == []
    assert (out / SNAPSHOT / ".version").read_text().strip() == "v1"
    mark_staging(out, "v1")
    _write(out / "staging" / "credits" / "exercice=2020" / "part-0.parquet", "2020: nothing")  # then it fails
    assert restore_staging(out, "v1") == ["credits/exercice=2020/part-0.parquet"]
    assert _staged(out) == released


def _release(out: Path, version: str) -> None:
    """A release folder, as ``_released`` knows one: its manifest."""
    (out / "releases" / version).mkdir(parents=True, exist_ok=True)
    (out / "releases" / version / "manifest.json").write_text("{}", encoding="utf-8")


def test_the_staging_of_a_release_pointed_back_at_is_put_back_whole(tmp_path):
    # The fresh user's find (wave 17): release v1 kept an absent file's lines, v2 (--prune) dropped them, `latest`
    # pointed back at v1 by hand: the next build took v2's pruned staging as v1's (keep_staging(out, "v1")) and
    # published without the absent file's lines, saying they were kept.
    out = tmp_path / "out"
    _release(out, "v1")
    released = _published(out)
    _release(out, "v2")
    mark_staging(out, "v1")  # the --prune build of v2: 2021 pruned, 2022 staged
    _write(out / "staging" / "credits" / "exercice=2021" / "part-0.parquet", "2021: PLF")
    _write(out / "staging" / "credits" / "exercice=2022" / "part-0.parquet", "2022: LFI")
    keep_staging(out, "v2")
    pruned = _staged(out)
    assert (out / KEPT / "v1" / ".version").read_text().strip() == "v1", "v1's links kept aside"

    assert restore_staging(out, "v1") == [
        "credits/exercice=2021/part-0.parquet",
        "credits/exercice=2022/part-0.parquet",
    ]
    assert _staged(out) == released
    assert not (out / "staging" / "credits" / "exercice=2022").exists()
    assert (out / SNAPSHOT / ".version").read_text().strip() == "v1"
    assert not (out / KEPT / "v1").exists() and (out / KEPT / "v2" / ".version").read_text().strip() == "v2"
    mark_staging(out, "v1")
    assert restore_staging(out, "v1") == []  # nothing more to put back
    keep_staging(out, "v1")  # the build after it: v1's content, no new release

    assert restore_staging(out, "v2") == [
        "credits/exercice=2021/part-0.parquet",
        "credits/exercice=2022/part-0.parquet",
    ]
    assert _staged(out) == pruned, "pointed forward again: v2's staging"


def test_the_staging_of_a_removed_release_goes_with_it(tmp_path):
    out = tmp_path / "out"
    _release(out, "v1")
    released = _published(out)
    _release(out, "v2")
    mark_staging(out, "v1")
    (out / "staging" / "credits" / "exercice=2021" / "part-0.parquet").unlink()
    keep_staging(out, "v2")
    shutil.rmtree(out / "releases" / "v2")  # `rm -rf releases/v2`: the next build points `latest` at v1

    assert restore_staging(out, "v1") == ["credits/exercice=2021/part-0.parquet"]
    assert _staged(out) == released
    assert not (out / KEPT / "v2").exists(), "the links of a release removed are removed"
    shutil.rmtree(out / "releases" / "v1")
    _release(out, "v3")
    keep_staging(out, "v3")
    assert not (out / KEPT).exists() or not any((out / KEPT).iterdir())


@pytest.mark.parametrize("failed", [False, True], ids=["published", "failed-after"])
def test_a_release_pointed_back_at_whose_staging_is_not_kept_is_refused(tmp_path, failed):
    # v1 published by a version that kept no staging of the releases before the latest: its staging cannot be had
    # back. Refused (nothing changed), unless --prune, which takes nothing of an absent source from the staging.
    out = tmp_path / "out"
    _release(out, "v1")
    _published(out)
    _release(out, "v2")
    mark_staging(out, "v1")
    (out / "staging" / "credits" / "exercice=2021" / "part-0.parquet").unlink()
    keep_staging(out, "v2")
    shutil.rmtree(out / KEPT / "v1")
    if failed:  # a build from v2 that failed, then `latest` pointed back at v1
        mark_staging(out, "v2")
    staged = _staged(out)

    with pytest.raises(UnknownStaging, match=r"the staging is release v2's, not v1's .* point .*latest back at "):
        restore_staging(out, "v1")
    assert _staged(out) == staged and (out / SNAPSHOT / ".version").read_text().strip() == "v2"
    assert restore_staging(out, "v1", prune=True) == []
