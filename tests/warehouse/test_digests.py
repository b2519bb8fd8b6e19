"""The one file hash (``warehouse/digests.py``): each of its users gets the sha256 of the file's bytes, its own
symbolic-link rule kept (a review's find of wave 17: three hand-written loops over 1 MiB blocks)."""

import hashlib
import os

import pytest

from warehouse.credits import staged_lines
from warehouse.digests import sha256_of
from warehouse.publication import releases
from warehouse.sources import sha256_of as source_sha256


def _big(tmp_path):
    data = os.urandom(1 << 16) * 41 + b"tail"  # above 2.5 MiB: several blocks, the last one partial
    path = tmp_path / "part-0.parquet"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_every_user_gets_the_sha256_of_the_bytes(tmp_path):
    path, expected = _big(tmp_path)
    assert sha256_of(path) == source_sha256(path) == releases._sha256(path) == staged_lines._sha256(path) == expected
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert sha256_of(empty) == hashlib.sha256(b"").hexdigest()


def test_a_source_never_follows_a_symbolic_link_a_release_file_does(tmp_path):
    path, expected = _big(tmp_path)
    link = tmp_path / "link.csv"
    link.symlink_to(path)
    with pytest.raises(OSError):
        source_sha256(link)
    assert releases._sha256(link) == sha256_of(link, follow_symlinks=True) == expected


def test_a_staged_file_is_hashed_again_only_when_its_stat_changes(tmp_path, monkeypatch):
    path, expected = _big(tmp_path)
    calls = []
    monkeypatch.setattr(staged_lines, "sha256_of", lambda p, **k: calls.append(p) or sha256_of(p, **k))
    assert staged_lines._sha256(path) == staged_lines._sha256(path) == expected
    assert calls == [path]
    path.write_bytes(b"changed")
    assert staged_lines._sha256(path) == hashlib.sha256(b"changed").hexdigest() and len(calls) == 2
