"""The staging area the latest release was built from, kept aside, so that a build that publishes nothing changes
nothing a later build relies on.

A build writes what it read to ``<out>/staging`` (the credit lines, the nomenclature elements, the read reports),
and a later build takes from there the last good data of a source absent from the sources folder or in error
(``warehouse/credits/roles.py``, ``warehouse/nomenclature/resolution.py``). A build that fails or is interrupted
publishes nothing, but it may have changed the staging: ``--prune`` dropped the lines of a file absent, a file's
new lines were staged, an exercice staged whose file went since. The next build would have kept (and published)
that instead of the lines of the latest release. So:

- before it writes the staging, a build notes every staged file as it finds it (name, inode, size, time) in
  ``<out>/releases/.staging-unpublished``, beside the build lock (:func:`mark_staging`);
- when a build leaves a release as the latest (published, its content unchanged, or nothing to do),
  :func:`keep_staging` links every staged file into ``<out>/.staging-latest/`` with the release's version, and
  removes the note;
- a build that finds no links of the latest release where no build changed the staging since (the first build
  after an upgrade from a version without them) keeps the staging aside as that release's first;
- a build that finds the note (the build before it published nothing) first undoes what that build changed
  (:func:`restore_staging`): each staged file it wrote, replaced or removed is the latest release's again (a link),
  each one it added and the latest release has not is removed. What it did not touch stays as it was (a file put
  in the staging's way by hand, which made it fail, is left for the next build to meet).

- the links of a release that is no longer the latest move to ``<out>/.staging-releases/<version>/`` and stay
  while the release does (removed with it: ``rm -rf``, ``--keep-releases``): a build that finds ``latest`` pointed
  back at an older release (by hand, or the newest removed) first makes the staging that release's again, whole
  (:func:`restore_staging`), so that an absent source's data is kept as *that* release published it, not as the
  newer one's staging holds it (a ``--prune`` build emptied it of the absent file's lines: wave 17). Where that
  release's links are not kept (published by a version before them), the build is refused
  (:class:`UnknownStaging`), unless ``--prune``.

Hard links, not copies: the staging's writers never write into a file, they rename a new one over it
(``warehouse/credits/staging.py``, ``warehouse/publication/parquet.py``, ``warehouse/nomenclature/resolution.py``),
so the links keep the bytes the release was built from, at no cost in time or disk while nothing changes. The
staging of a build stopped after ``latest`` switched but before :func:`keep_staging` is that release's: the links'
version is then not the latest's, and nothing is restored.

Knows nothing of Dagster.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

__all__ = [
    "KEPT",
    "MARK",
    "SNAPSHOT",
    "UnknownStaging",
    "forget_removed",
    "keep_staging",
    "kept_for",
    "mark_staging",
    "restore_staging",
]

#: The links to the staged files of the latest release, under ``<out>``.
SNAPSHOT = ".staging-latest"
#: The links to the staged files of each other release still in ``<out>/releases``, by version, under ``<out>``.
KEPT = ".staging-releases"
#: Present while a build may have changed the staging since the latest release, under ``<out>``.
MARK = "releases/.staging-unpublished"
#: The version of the release the links are of, in the snapshot folder.
VERSION = ".version"


def _files(root: Path) -> dict[str, Path]:
    """Every file below ``root`` (a folder's entries that are not folders: a file, or a link) by its path relative to
    it; ``{"": root}`` when ``root`` is not a folder but there."""
    if not root.is_dir() or root.is_symlink():
        return {"": root} if root.exists() or root.is_symlink() else {}
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            found[path.relative_to(root).as_posix()] = path
    return found


def _identity(path: Path) -> list[int]:
    """What tells a file from the one a writer renamed over it: its inode, size and modification time."""
    status = path.lstat()
    return [status.st_ino, status.st_size, status.st_mtime_ns]


def _version(snapshot: Path) -> str | None:
    try:
        return (snapshot / VERSION).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def kept_for(out: Path) -> str | None:
    """The version of the release whose staged files ``<out>/.staging-latest`` links, None without links."""
    return _version(out / SNAPSHOT)


def _linked(snapshot: Path) -> dict[str, Path]:
    return {k: p for k, p in _files(snapshot).items() if k not in (VERSION, "")}


def _same_files(staging: dict[str, Path], linked: dict[str, Path]) -> bool:
    """Whether the staged files are the linked ones: the same names, each the same file (inode)."""
    return staging.keys() == linked.keys() and all(os.path.samefile(p, linked[k]) for k, p in staging.items())


def _link(path: Path, destination: Path) -> None:
    """``destination`` a hard link to ``path`` (a copy where links fail: another file system, links refused)."""
    try:
        os.link(path, destination)
    except OSError:
        shutil.copy2(path, destination)


class UnknownStaging(ValueError):
    """The latest release is not the one the staging was last kept for (``latest`` pointed back by hand, or the
    newest release removed) and the staged files of the latest release are not kept: a build would take the last
    good data of an absent source from another release's staging. Named, never guessed around."""


def _released(out: Path, version: str) -> bool:
    """Whether release ``version`` is still in ``<out>/releases`` (its folder and manifest)."""
    return (out / "releases" / version / "manifest.json").is_file()


def forget_removed(out: Path) -> None:
    """The kept staging of each release no longer in ``<out>/releases`` removed (``rm -rf``, ``--keep-releases``)."""
    kept = out / KEPT
    if kept.is_dir():
        for path in kept.iterdir():
            if not _released(out, path.name):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def _set_aside(out: Path) -> None:
    """The links of ``<out>/.staging-latest`` moved to ``<out>/.staging-releases/<their version>`` (removed where
    that release is gone or they name none): the staging of a release stays while the release does."""
    snapshot, version = out / SNAPSHOT, _version(out / SNAPSHOT)
    if not snapshot.exists():
        return
    if version and "/" not in version and not version.startswith(".") and _released(out, version):
        aside = out / KEPT / version
        aside.parent.mkdir(exist_ok=True)
        if aside.exists():
            shutil.rmtree(aside, ignore_errors=True)
        os.replace(snapshot, aside)
    else:
        old = out / f"{SNAPSHOT}.old-{os.getpid()}"
        os.replace(snapshot, old)
        shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(out: Path) -> None:
    """The folders and files a build stopped in :func:`keep_staging` or :func:`restore_staging` left (the build lock
    held: none is another build's)."""
    for pattern in (f"{SNAPSHOT}.new-*", f"{SNAPSHOT}.old-*"):
        for path in out.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)
    staging = out / "staging"
    if staging.is_dir():
        for path in staging.rglob(".*.restoring-*"):
            path.unlink(missing_ok=True)


def mark_staging(out: Path, latest: str | None = None) -> None:
    """Note the staged files as this build finds them, before it writes any (:func:`restore_staging` undoes what it
    changes if it publishes nothing), and ``latest``, the version of the latest release it starts from."""
    found = {k: _identity(p) for k, p in _files(out / "staging").items()}
    mark = out / MARK
    mark.parent.mkdir(parents=True, exist_ok=True)
    temporary = mark.with_name(f"{mark.name}.{os.getpid()}")
    temporary.write_text(json.dumps({"latest": latest, "files": found}), encoding="utf-8")
    os.replace(temporary, mark)


#: The latest release a note does not name (a note of an earlier version, the files alone; a note cut short).
_UNKNOWN = object()


def _note(mark: Path) -> tuple[dict, object] | None:
    """The note of :func:`mark_staging`: the staged files as the build found them and the latest release it started
    from (None: none yet; :data:`_UNKNOWN` where the note does not say); None without a note, and no files noted
    where it does not read (cut short: everything counts as changed)."""
    try:
        raw = json.loads(mark.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}, _UNKNOWN
    if isinstance(raw, dict) and isinstance(raw.get("files"), dict):
        return raw["files"], raw.get("latest")
    return (raw if isinstance(raw, dict) else {}), _UNKNOWN


def keep_staging(out: Path, version: str) -> None:
    """Link the staged files into ``<out>/.staging-latest`` as the staging of release ``version`` (the latest), and
    remove the note of :func:`mark_staging`. Nothing is linked again where every staged file is already there (a
    build that changed nothing). The links of another release there move to ``<out>/.staging-releases/<its
    version>`` while that release is in ``<out>/releases``; those of a release gone are removed."""
    staging, snapshot = _files(out / "staging"), out / SNAPSHOT
    staging.pop("", None)  # a file in the place of the staging folder: nothing staged
    if _version(snapshot) != version or not _same_files(staging, _linked(snapshot)):
        _remove_leftovers(out)
        new = out / f"{SNAPSHOT}.new-{os.getpid()}"
        new.mkdir()
        for relative, path in staging.items():
            (new / relative).parent.mkdir(parents=True, exist_ok=True)
            _link(path, new / relative)
        (new / VERSION).write_text(version + "\n", encoding="utf-8")
        if _version(snapshot) == version or not snapshot.exists():
            old = out / f"{SNAPSHOT}.old-{os.getpid()}"
            if snapshot.exists():
                os.replace(snapshot, old)
            os.replace(new, snapshot)
            shutil.rmtree(old, ignore_errors=True)
        else:  # another release's: kept aside while that release is there (a rollback to it finds its staging)
            _set_aside(out)
            os.replace(new, snapshot)
        shutil.rmtree(out / KEPT / version, ignore_errors=True)  # the release's own, kept aside before: replaced
    forget_removed(out)
    (out / MARK).unlink(missing_ok=True)


def _put_back(out: Path, version: str) -> list[str]:
    """The staging made release ``version``'s again from its links kept aside (``<out>/.staging-releases/<version>``):
    each of its files linked back where the staged one is another, each staged file it has not removed; then its
    links become ``<out>/.staging-latest`` and those there are kept aside as their release's. Returns the paths
    changed, relative to the staging. A build stopped in between does it again (the links stay aside until the
    staging is the release's)."""
    staging, kept = out / "staging", out / KEPT / version
    _remove_leftovers(out)
    linked, now = _linked(kept), _files(staging)
    changed = []
    if "" in now:  # a file in the place of the staging folder: left for the build to name (exit 2)
        return []
    for relative in sorted(linked.keys() | now.keys()):
        path = staging / relative
        if relative in linked and relative in now and os.path.samefile(now[relative], linked[relative]):
            continue
        _put_back_file(staging, path, linked.get(relative))
        changed.append(relative)
    _set_aside(out)
    os.replace(kept, out / SNAPSHOT)
    forget_removed(out)
    return changed


def restore_staging(out: Path, latest: str | None, prune: bool = False) -> list[str]:
    """Undo what the build before this one changed in ``<out>/staging`` where it published nothing (the note of
    :func:`mark_staging` is there): each file it wrote, replaced or removed is release ``latest``'s again (a link to
    ``<out>/.staging-latest``), each one it added that the release has not is removed. Returns the paths restored or
    removed, relative to the staging. Nothing is done without the note, without links of that release (none yet, or
    a build stopped after ``latest`` switched: its staging is that release's).

    Where there are no links of ``latest`` and no build changed the staging since ``latest`` was published, the
    staging is ``latest``'s: it is kept aside as such (:func:`keep_staging`), so that the failure of the build that
    follows is undone. So it is with no note (the first build after an upgrade from a version without these links:
    the staging is as the last build left it), and with the note of a build that started from another release
    (stopped after ``latest`` switched to its own release, before it kept its staging).

    Where the links are another release's (``latest`` pointed back at an older release by hand, or the newest
    release removed, ``rm -rf``), the staging is made ``latest``'s again, whole, from its links kept aside
    (:func:`_put_back`); where they are not kept (a release published before they were, or removed by hand), raises
    :class:`UnknownStaging` (nothing changed), unless ``prune``: an absent source's data is then removed, not taken
    from the staging of another release."""
    mark, snapshot, staging = out / MARK, out / SNAPSHOT, out / "staging"
    if latest is None:
        return []
    note = _note(mark)
    current = _version(snapshot)
    if current != latest:
        if (out / KEPT / latest).is_dir():
            return _put_back(out, latest)
        if note is not None and note[1] in (_UNKNOWN, latest):
            return []  # a note cut short, or of an earlier version; a build from `latest` without its links
        if note is None and not snapshot.exists():  # no links yet (an upgrade): the staging is the latest's
            keep_staging(out, latest)
            return []
        if note is not None and note[1] in (None, current) and (current is None or current < latest):
            keep_staging(out, latest)  # the build from `current` was stopped after `latest` switched to its own
            return []
        if prune:
            return []
        kept = f"release {current}'s" if current else "another build's"
        back = f"point {out / 'latest'} back at releases/{current}, or " if current and _released(out, current) else ""
        raise UnknownStaging(
            f"{staging}: the staging is {kept}, not {latest}'s (the latest release), and the staged files of "
            f"{latest} are not kept ({out / KEPT / latest}: published before each release kept them, or removed): a "
            f"build would take the data of a source absent from the folder from another release's staging. To build: "
            f"{back}build with --prune (the data of the sources absent from the folder removed)"
        )
    if note is None:
        return []
    before = note[0]
    _remove_leftovers(out)
    linked, now = _linked(snapshot), _files(staging)
    changed = []
    for relative in sorted(linked.keys() | now.keys()):
        path = staging / relative if relative else staging
        if relative in now and before.get(relative) == _identity(now[relative]):
            continue  # as the build found it
        if relative not in now and relative not in before and relative in linked:
            continue  # missing before the build too: not its doing
        if relative in linked and relative in now and os.path.samefile(now[relative], linked[relative]):
            continue
        _put_back_file(staging, path, linked.get(relative))
        changed.append(relative)
    return changed


def _put_back_file(staging: Path, path: Path, linked: Path | None) -> None:
    """Make ``path`` (in ``staging``) the kept file ``linked`` (a hard link, put in place by a rename), or remove it
    with the folders it leaves empty (an exercice staged since) where nothing is kept for it."""
    if linked is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.restoring-{os.getpid()}")
        temporary.unlink(missing_ok=True)
        _link(linked, temporary)
        os.replace(temporary, path)
        return
    path.unlink()
    for folder in path.parents:
        if folder == staging or not folder.is_relative_to(staging) or any(folder.iterdir()):
            break
        folder.rmdir()
