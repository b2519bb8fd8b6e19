"""Releases: the unit of publication (README, "The outputs").

Layout under ``<out>``::

    releases/<version>/budget.duckdb     a release, never changed once written
    releases/<version>/parquet/*.parquet
    releases/<version>/manifest.json     version, content_sha256, previous, files (path, sha256, rows,
                                         bytes), sources (the provenance rows)
    releases/.building-<pid>/            the working copy of a build in progress (private)
    releases/.lock                       held (flock) by the build in progress
    releases/.verified.json              the size, mtime and inode of each file of the latest release when its
                                         sha256 was last found the manifest's (not published: a cache)
    latest -> releases/<version>         switched atomically (os.replace of a new symlink)
    budget.duckdb -> latest/budget.duckdb
    parquet -> latest/parquet

A build works in ``releases/.building-<pid>/``, on a copy of the latest release's
database: readers of ``<out>/budget.duckdb`` hold released files no build ever
writes, so they neither block a build nor see a partial one. Only when every file is
written, read back and checked does the folder take its version name, and only then
does ``latest`` switch. A build killed at any point leaves ``latest`` as it was; its
working folder is removed by the next build.

A release's files are read-only (mode 0444) once published. Each build checks that every
file its manifest lists (the database and each Parquet file) still has the sha256 recorded
there, hashing only a file whose size, mtime or inode differs from the last check's
(``releases/.verified.json``). A Parquet file changed in place (it is a hard link shared by
every release that holds the same bytes) is written again from the release's database and put
back in each of those releases when it has the recorded sha256 again; else the build is refused,
naming them all (:func:`start_work`).

``<version>`` is the UTC date and time to the second plus the first 6 hex digits of
the content hash (``2026-11-29T230112Z-3f9a1c``). The content hash covers the rows of
every published table, not the times a build stamps on them (``vu_le``, ``charge_le``):
two builds of the same sources have the same hash, and the second makes no release.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.atomic import remove_dead_temporaries, temporary_for, write_text_atomically
from warehouse.digests import sha256_of
from warehouse.store import MEMORY_LIMIT, quote_identifier, quote_literal

__all__ = [
    "DATABASE",
    "PAUSE_ENV",
    "Release",
    "build_lock",
    "compact_database",
    "content_hash",
    "latest_release",
    "pause_for_tests",
    "prune_releases",
    "publish_release",
    "remove_stale_work",
    "start_work",
]

DATABASE = "budget.duckdb"
MANIFEST = "manifest.json"
#: Columns stamped with the time of a build: not part of a release's content.
VOLATILE_COLUMNS = ("vu_le", "charge_le", "lu_le")
#: Test hook: ``BUDGET_TEST_PAUSE=<phase>:<seconds>`` makes a build touch ``<out>/releases/.paused-<phase>``
#: and sleep at that phase (``load``: in the credits step, after its write to the working copy;
#: ``parquet``: after the first Parquet file; ``switch``: just before ``latest`` switches), so that a
#: test can kill it there. Never set it otherwise.
PAUSE_ENV = "BUDGET_TEST_PAUSE"


def releases_dir(out: Path) -> Path:
    return out / "releases"


@dataclass(frozen=True)
class Release:
    """A published release: its folder and its manifest."""

    folder: Path
    manifest: dict
    #: The size in bytes of its database before and after :func:`compact_database`, where the build that published
    #: it compacted it (the summary says so); None where it did not.
    compacted: tuple[int, int] | None = None

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def database(self) -> Path:
        return self.folder / DATABASE


class DamagedRelease(ValueError):
    """The latest release's manifest or database does not read (emptied, cut, edited by hand): named, never guessed
    around."""


def latest_release(out: Path) -> Release | None:
    """The release ``<out>/latest`` points at, or None before the first release. Raises :class:`DamagedRelease`
    where its ``manifest.json`` is not a JSON object."""
    link = out / "latest"
    if not link.is_symlink() or not (link / MANIFEST).is_file():  # none, or a file or folder put in its place
        return None
    folder = link.resolve()
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DamagedRelease(
            f"{folder / MANIFEST}: the latest release's manifest does not read ({exc}): restore it, or point "
            f"{link} at another release"
        ) from exc
    if not isinstance(manifest, dict):
        raise DamagedRelease(f"{folder / MANIFEST}: the latest release's manifest is not a JSON object")
    return Release(folder, manifest)


@contextmanager
def build_lock(out: Path, say=print) -> Iterator[None]:
    """Hold ``<out>/releases/.lock`` for a whole build; a second build waits, saying so.

    A build spans several Dagster runs (sources, one per exercice, publication): the
    ``duckdb_writer`` pool serialises steps, not a build from the copy of ``latest`` to
    its switch. The kernel's ``flock`` does, and the kernel drops it when the process
    dies: a killed build never leaves a stale lock.
    """
    folder = releases_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            say(f"budget-warehouse: another build is running in {out} (pid {holder}); waiting for it to finish")
            started = time.monotonic()
            fcntl.flock(handle, fcntl.LOCK_EX)
            say(f"budget-warehouse: the other build finished after {time.monotonic() - started:.0f} s; starting")
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_work(out: Path, say: Callable[[str], None] = print) -> list[str]:
    """Remove what killed builds left (call with the build lock held): working folders (not the UI's,
    ``.building-dagster``), and release folders that were complete but never became ``latest``: newer than
    it and than the last release published (``releases/.state.json``, written once ``latest`` switched: a
    user who points ``latest`` back at an older release keeps the newer ones), and the temporary files of its writes.
    Returns the names removed: the folders' names, then the temporary files' paths from ``out``.

    A ``latest`` removed, dangling or replaced while releases exist is pointed at the newest complete one
    (a file or folder in its place moved aside, :func:`_switch_link`), and ``say`` told: releases are never
    taken for a killed build's leftovers for want of a ``latest``."""
    folder = releases_dir(out)
    if not folder.is_dir():
        return []
    latest = latest_release(out)
    complete = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p / MANIFEST).is_file())
    published = _state_version(out)
    if latest is None and complete:  # the newest published (a killed build's may be newer)
        newest = max((p for p in complete if published is None or p.name <= published), default=complete[-1])
        aside = _switch_link(out / "latest", f"releases/{newest.name}")
        moved = f"; {out / 'latest'} moved to {aside} (nothing removed)" if aside else ""
        say(f"budget-warehouse: latest pointed at no release: pointed at the newest, releases/{newest.name}{moved}")
        latest = latest_release(out)
    removed = []
    for path in sorted(folder.iterdir()):
        stale_work = path.name.startswith(".paused-") or re.fullmatch(r"\.building-\d+", path.name) is not None
        unpublished = (
            latest is not None
            and _RELEASE_NAME.fullmatch(path.name) is not None
            and path.is_dir()
            and path.name > latest.folder.name
            and (published is None or path.name > published)
        )
        if stale_work or unpublished:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path.name)
    # The temporary files of a killed build's writes (warehouse/atomic.py): beside `latest`, the state and the
    # record of the files verified, a release's Parquet file put back (_repair), the staged reports and files.
    staging = out / "staging"
    places = [out, folder, *(p for r in complete if r.exists() for p in (r, r / "parquet"))]
    places += [staging, *(p for p in staging.rglob("*") if p.is_dir())] if staging.is_dir() else []
    for place in places:  # named from the output folder (`releases/.state.json.tmp-123`), after the folders
        removed += [str(p.relative_to(out)) for p in sorted(remove_dead_temporaries(place))]
    return removed


def _state_version(out: Path) -> str | None:
    """The newest release ever published that ``releases/.state.json`` names (its ``published``; in a state
    written before it was recorded, its ``version``), or None."""
    path = releases_dir(out) / STATE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state.get("published") or state.get("version")


def _check_opens(copy: Path, database: Path, out: Path) -> None:
    """Raise :class:`DamagedRelease` naming the latest release's ``database`` (not its working ``copy``, which the
    build removes) where the copy does not open (a tester's cut or overwritten file: DuckDB named the copy, or no
    file at all); the working folder is removed."""
    import duckdb

    try:
        duckdb.connect(str(copy), read_only=True).close()
    except duckdb.Error as exc:
        shutil.rmtree(copy.parent, ignore_errors=True)
        said = " ".join(str(exc).replace(str(copy), str(database)).split())
        raise DamagedRelease(
            f"{database}: the latest release's database does not open ({said}): restore it, or point "
            f"{out / 'latest'} at another release"
        ) from exc


VERIFIED = ".verified.json"
#: The mode of a published file: read-only for everyone (a guard for ordinary users; root ignores it).
READ_ONLY = 0o444


def _recorded_sha256(release: Release, relative: str) -> str | None:
    return next(
        (
            f.get("sha256")
            for f in release.manifest.get("files", [])
            if isinstance(f, dict) and f.get("path") == relative
        ),
        None,
    )


def _stat_key(path: Path) -> list[int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return [found.st_size, found.st_mtime_ns, found.st_ino, found.st_dev]


def _read_verified(out: Path, version: str) -> dict:
    """``{relative path: [sha256, size, mtime_ns, inode, device]}`` of release ``version`` when last checked."""
    try:
        record = json.loads((releases_dir(out) / VERIFIED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or record.get("version") != version or not isinstance(record.get("files"), dict):
        return {}
    return record["files"]


def _write_verified(out: Path, version: str, files: dict) -> None:
    with contextlib.suppress(OSError):  # a cache: the next build hashes again
        write_text_atomically(releases_dir(out) / VERIFIED, json.dumps({"version": version, "files": files}, indent=1))


def record_verified(out: Path, release: Release) -> None:
    """Note the size, mtime and inode of each file ``release``'s manifest lists, as published (their sha256 the
    manifest's): the next build hashes only a file whose stat differs."""
    files = {}
    for entry in release.manifest.get("files", []):
        key = _stat_key(release.folder / entry["path"])
        if key is not None:
            files[entry["path"]] = [entry["sha256"], *key]
    _write_verified(out, release.version, files)


@dataclass(frozen=True)
class ChangedFile:
    """A file of the latest release without the sha256 its manifest records."""

    relative: str
    expected: str
    actual: str | None  # None: no such file


def _changed_files(out: Path, latest: Release, copy: Path) -> list[ChangedFile]:
    """The files the latest release's manifest lists (its database, each Parquet file) whose sha256 is not the
    recorded one; the database hashed from its working ``copy``. A file whose size, mtime and inode are those
    of the last check that found it right is not hashed again (``releases/.verified.json``)."""
    verified = _read_verified(out, latest.version)
    kept, changed = {}, []
    for entry in latest.manifest.get("files", []):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or entry.get("sha256") is None:
            continue
        relative, expected = entry["path"], entry["sha256"]
        key = _stat_key(latest.folder / relative)
        if key is None:
            changed.append(ChangedFile(relative, expected, None))
            continue
        if verified.get(relative) == [expected, *key]:
            kept[relative] = verified[relative]
            continue
        actual = _sha256(copy if relative == DATABASE else latest.folder / relative)
        if actual == expected:
            kept[relative] = [expected, *key]
        else:
            changed.append(ChangedFile(relative, expected, actual))
    if kept != verified:
        _write_verified(out, latest.version, kept)
    return changed


def _sharing(out: Path, path: Path) -> list[Path]:
    """The release folders holding ``path``'s file itself (its inode: a hard link), ``path``'s own first."""
    try:
        found = path.stat()
    except OSError:
        return [path.parent.parent]
    folders = [path.parent.parent]
    relative = path.relative_to(path.parent.parent)
    for folder in sorted(releases_dir(out).iterdir()):
        if folder.name.startswith(".") or folder == path.parent.parent:
            continue
        with contextlib.suppress(OSError):
            other = (folder / relative).stat()
            if (other.st_ino, other.st_dev) == (found.st_ino, found.st_dev):
                folders.append(folder)
    return folders


def _check_unchanged(copy: Path, latest: Release, changed: list[ChangedFile]) -> None:
    """Raise :class:`DamagedRelease` naming the latest release's database where it is among the ``changed`` files
    (:func:`_changed_files`: its working ``copy`` has not the sha256 the release's manifest records): a reader's
    read-write connection wrote into it (an analyst's ``DELETE``, a table of notes), which the next release would
    publish; the working folder is removed. A manifest recording no sha256 of the database is not checked."""
    if not any(c.relative == DATABASE for c in changed):
        return
    shutil.rmtree(copy.parent, ignore_errors=True)
    raise DamagedRelease(
        f"{latest.database}: the latest release's database changed since it was published (its sha256 is not the one "
        f"{latest.folder / MANIFEST} records: written by a connection not opened read-only?): remove "
        f"{latest.folder} to build again from the release before it, or from nothing if it is the only one"
    )


def _repair(
    out: Path, work: Path, latest: Release, changed: ChangedFile, rewrite: Callable[[Path, str, Path], Path] | None
) -> str:
    """Write the changed Parquet file of the latest release again from its database (``work``'s copy, found
    unchanged) with ``rewrite(database, table, folder)``; where it has the recorded sha256 again, put it back in
    every release that shares the changed file (a hard link to it) and records that sha256, read-only, and return
    a line saying so. Else raise :class:`DamagedRelease` naming the file, both sha256 and those releases, with
    the recovery (the working folder removed)."""
    path = latest.folder / changed.relative
    sharing = _sharing(out, path)
    actual = "none (no such file)" if changed.actual is None else changed.actual
    said = (
        f"{path}: a file of the latest release changed since it was published (its sha256 is {actual}, "
        f"{latest.folder / MANIFEST} records {changed.expected})"
    )
    rewritten = None
    if rewrite is not None and changed.relative.startswith("parquet/") and changed.relative.endswith(".parquet"):
        table = changed.relative.removeprefix("parquet/").removesuffix(".parquet")
        folder = work / ".rewritten"
        with contextlib.suppress(Exception):  # a table the database no longer holds: refused below
            rewritten = rewrite(work / DATABASE, table, folder)
    if rewritten is None or _sha256(rewritten) != changed.expected:
        shutil.rmtree(work, ignore_errors=True)
        holders = ", ".join(str(f) for f in sharing)
        raise DamagedRelease(
            f"{said}; the release(s) holding the same file: {holders}: remove them all (rm -rf) to build again "
            "from the release before them, or from nothing if no other is left"
        )
    os.chmod(rewritten, READ_ONLY)
    put_back = []
    for folder in sharing:
        try:
            recorded = _recorded_sha256(
                Release(folder, json.loads((folder / MANIFEST).read_text(encoding="utf-8"))), changed.relative
            )
        except (OSError, ValueError, AttributeError):
            recorded = None
        if recorded != changed.expected:
            continue
        temporary = temporary_for(folder / changed.relative)
        os.link(rewritten, temporary)
        os.replace(temporary, folder / changed.relative)
        put_back.append(folder.name)
    shutil.rmtree(rewritten.parent, ignore_errors=True)
    return (
        f"{said}: written again from its database, with the recorded sha256, and put back in "
        f"{len(put_back)} release(s): {', '.join(put_back)}"
    )


def start_work(
    out: Path,
    rewrite: Callable[[Path, str, Path], Path] | None = None,
    say: Callable[[str], None] = print,
) -> Path:
    """Create the working folder of this build, ``releases/.building-<pid>/``, with a copy of
    the latest release's database (or, from a warehouse made before releases existed, of
    ``<out>/budget.duckdb``) and hard links to its Parquet files. Returns the folder. When the copy fails (a full
    disk: ``OSError``), the folder is removed before the error goes on, so that the disk is not left full (a killed
    build's is removed by the next, :func:`remove_stale_work`).

    Every file of the latest release must have the sha256 its manifest records (:func:`_changed_files`): a
    changed database is refused (:class:`DamagedRelease`); a changed Parquet file is written again from the
    database by ``rewrite(database, table, folder)`` (the path written) and put back in the releases sharing it,
    ``say`` told, or refused naming them where that does not give the recorded sha256 (:func:`_repair`)."""
    work = releases_dir(out) / f".building-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        (work / "parquet").mkdir(parents=True)
        latest = latest_release(out)
        if latest is not None:
            shutil.copyfile(latest.database, work / DATABASE)
            _check_opens(work / DATABASE, latest.database, out)
            changed = _changed_files(out, latest, work / DATABASE)
            _check_unchanged(work / DATABASE, latest, changed)
            for damaged in changed:
                say(f"budget-warehouse: {_repair(out, work, latest, damaged, rewrite)}")
            if changed:
                record_verified(out, latest)
            for parquet in (latest.folder / "parquet").glob("*.parquet"):
                os.link(parquet, work / "parquet" / parquet.name)  # a build replaces a file, never writes into it
        elif (out / DATABASE).is_file() and not (out / DATABASE).is_symlink():
            shutil.copyfile(out / DATABASE, work / DATABASE)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return work


def pause_for_tests(phase: str, out: Path) -> None:
    """The test hook of :data:`PAUSE_ENV` (does nothing unless it names ``phase``)."""
    wanted = os.environ.get(PAUSE_ENV, "")
    name, _, seconds = wanted.partition(":")
    if name != phase:
        return
    (releases_dir(out) / f".paused-{phase}").touch()
    time.sleep(float(seconds or 60))


def _sha256(path: Path) -> str:
    return sha256_of(path, follow_symlinks=True)


def table_digest(connection: duckdb.DuckDBPyConnection, table: str) -> str:
    """A digest of the rows of ``table`` (order-free; the :data:`VOLATILE_COLUMNS` aside)."""
    columns = [r[0] for r in connection.execute(f"DESCRIBE {quote_identifier(table)}").fetchall()]
    kept = [quote_identifier(c) for c in columns if c not in VOLATILE_COLUMNS]
    row = connection.execute(
        f"SELECT count(*), coalesce(sum(hash(struct_pack({', '.join(kept)})))::HUGEINT, 0) "
        f"FROM {quote_identifier(table)}"
    ).fetchone()
    return f"{','.join(columns)}|{row[0]}|{row[1]}"


def content_hash(database: Path, tables: list[str]) -> str:
    """The content hash of ``tables`` in ``database`` (sha256, hex)."""
    digest = hashlib.sha256()
    with duckdb.connect(str(database), read_only=True, config={"memory_limit": MEMORY_LIMIT}) as connection:
        for table in sorted(tables):
            digest.update(f"{table}:{table_digest(connection, table)}\n".encode())
    return digest.hexdigest()


#: A release's database is rewritten (:func:`compact_database`) when more than this share of its blocks is free.
COMPACT_FREE_SHARE = 0.2


def compact_database(database: Path, free_share: float = COMPACT_FREE_SHARE) -> tuple[int, int] | None:
    """Rewrite ``database`` into a fresh file when more than ``free_share`` of its blocks are free, and
    return its size in bytes before and after (``None``: left as it was). DuckDB does not give a file back
    the blocks of the row groups a build deleted or replaced (nor does ``CHECKPOINT`` or ``VACUUM``), and a
    build starts from a copy of the latest release's file: without this, the database of every release
    would grow with the history of builds. ``COPY FROM DATABASE`` into a new file copies the schema (tables,
    constraints, views) and the rows; the new file then replaces ``database`` (``os.replace``). Left as it was when
    a write-ahead log lies beside it (it would be replayed on the new file) or when the copy fails (a full disk: the
    database is whole, only bigger)."""
    if database.with_name(database.name + ".wal").exists():
        return None
    with duckdb.connect(str(database), read_only=True) as connection:
        total, free = connection.execute(
            "SELECT total_blocks, free_blocks FROM pragma_database_size() WHERE database_name = current_database()"
        ).fetchall()[0]
    if not total or free <= total * free_share:
        return None
    fresh = database.with_name(database.name + ".compact")
    fresh.unlink(missing_ok=True)
    before = database.stat().st_size
    try:
        with duckdb.connect(config={"memory_limit": MEMORY_LIMIT}) as connection:
            connection.execute(f"ATTACH {quote_literal(str(database))} AS ancienne (READ_ONLY)")
            connection.execute(f"ATTACH {quote_literal(str(fresh))} AS nouvelle")
            connection.execute("COPY FROM DATABASE ancienne TO nouvelle")
            connection.execute("DETACH nouvelle")
        os.replace(fresh, database)
    except duckdb.Error:
        return None
    finally:
        fresh.unlink(missing_ok=True)
    return before, database.stat().st_size


def _link_unchanged(work: Path, previous: Release | None, files: list[dict]) -> int:
    """Replace the files of ``work`` identical to the previous release's by hard links to them."""
    if previous is None:
        return 0
    before = {f["path"]: f["sha256"] for f in previous.manifest.get("files", [])}
    linked = 0
    for entry in files:
        if before.get(entry["path"]) != entry["sha256"] or entry["path"] == DATABASE:
            continue
        temporary = work / (entry["path"] + ".link")
        if (work / entry["path"]).exists() and os.path.samefile(previous.folder / entry["path"], work / entry["path"]):
            linked += 1  # the working copy hard-linked it already: os.replace would leave the .link file
            continue
        try:
            os.link(previous.folder / entry["path"], temporary)
            os.replace(temporary, work / entry["path"])
            linked += 1
        except OSError:  # another file system, or links refused: keep the copy
            temporary.unlink(missing_ok=True)
    return linked


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _switch_link(link: Path, target: str) -> Path | None:
    """Point ``link`` at ``target`` atomically (a new symlink renamed over the old one).

    A real file or folder there (a warehouse made before releases, or a user's) is never removed: it is
    moved aside first, to ``<name>.kept-<time>`` beside it, whose path is returned (else None)."""
    temporary = temporary_for(link)
    temporary.unlink(missing_ok=True)
    os.symlink(target, temporary)
    aside = None
    if link.exists() and not link.is_symlink():
        aside = link.with_name(f"{link.name}.kept-{dt.datetime.now(dt.UTC):%Y-%m-%dT%H%M%S.%fZ}")
        os.replace(link, aside)
    os.replace(temporary, link)
    return aside


def restore_links(out: Path) -> tuple[list[str], list[str]]:
    """Point ``<out>/budget.duckdb`` and ``<out>/parquet`` at the latest release again where they no longer do:
    a build that publishes nothing new leaves the release's entry points as a new release would.

    A link removed, dangling, or pointing at another file is switched (:func:`_switch_link`); a real file or
    folder put there is left as it is (it may be a user's: never removed). Returns ``(restored, not_restored)``:
    the names switched, and a reason for each one left (in the way, or the switch failed: ``OSError``, e.g. a
    read-only folder); both empty before a first release."""
    if latest_release(out) is None:
        return [], []
    restored, left = [], []
    for name, target in ((DATABASE, f"latest/{DATABASE}"), ("parquet", "latest/parquet")):
        link = out / name
        if link.is_symlink() and link.exists() and link.resolve() == (out / target).resolve():
            continue
        if link.exists() and not link.is_symlink():
            what = "folder" if link.is_dir() else "file"
            left.append(f"{link} is a {what}, not the link to {target}: left as it is")
            continue
        try:
            _switch_link(link, target)
        except OSError as exc:
            left.append(f"{link} could not be pointed at {target}: {type(exc).__name__}: {exc}")
        else:
            restored.append(name)
    if restored:
        _fsync_dir(out)
    return restored, left


def publish_release(
    out: Path,
    work: Path,
    tables: list[str],
    sources: list[dict],
    now: dt.datetime | None = None,
    state: dict | None = None,
    say: Callable[[str], None] = print,
    progress: Callable[[str], None] | None = None,
) -> tuple[Release, bool]:
    """Turn the working folder ``work`` into a release and switch ``latest`` to it.

    ``tables``: the published tables (one ``parquet/<table>.parquet`` each, already
    written in ``work``); ``sources``: the provenance rows to list in the manifest.
    Checks every Parquet file (footer, rows equal to the table's), writes
    ``manifest.json``, renames the folder to its version, then switches ``latest``,
    ``budget.duckdb`` and ``parquet``. When the content equals the latest release's,
    removes ``work`` and returns ``(latest, False)``: no new release. Raises
    ``InvalidParquet`` (nothing published) when a file does not check. A file or folder in the place of
    ``budget.duckdb`` or ``parquet`` is moved aside (:func:`_switch_link`), and ``say`` told where.

    ``state``: what the release holds in the Dagster instance's terms (``materialisations``: the
    event id of the materialisation of each asset and partition whose output the release holds;
    ``checks``: the latest result of each check; ``source_versions``, ``code_versions``: the data
    versions of the sources and the code versions of the assets it was built from; ``complete``:
    whether its build left nothing stale, i.e. had no ``--years``; ``recognitions``: the code version
    of recognition and what it said of each file, by path and sha256, which the next build takes
    again for the same bytes: ``assets/sources.py``), written in the manifest and in
    ``releases/.state.json`` (also when the content is unchanged: :func:`release_state`).

    ``progress``, if given, is told each stage as it starts (the content hash, the Parquet files checked, the
    documents, the page, the switch): at 10 M lines the release takes seconds the command shows.
    """
    progress = progress or (lambda _stage: None)
    from warehouse.publication import write_release_documents  # Pandera: imported only to publish
    from warehouse.publication.parquet import verify_parquet
    from warehouse.publication.site import write_site

    previous = latest_release(out)
    database = work / DATABASE
    progress("content hash of the tables")
    digest = content_hash(database, tables)
    if previous is not None and previous.manifest.get("content_sha256") == digest:
        shutil.rmtree(work)
        if state is not None:
            write_state(out, previous.version, state)
        return previous, False
    now = now or dt.datetime.now(dt.UTC)
    version = f"{now:%Y-%m-%dT%H%M%SZ}-{digest[:6]}"
    compacted = compact_database(database)  # before its sha256: the file the manifest names is the one written
    files = []
    progress(f"checking the {len(tables)} Parquet files against the database")
    with duckdb.connect(str(database), read_only=True, config={"memory_limit": MEMORY_LIMIT}) as connection:
        for table in tables:
            relative = f"parquet/{table}.parquet"
            rows = connection.execute(f"SELECT count(*) FROM {quote_identifier(table)}").fetchone()[0]
            verify_parquet(work / relative, rows)
            path = work / relative
            files.append({"path": relative, "sha256": _sha256(path), "rows": rows, "bytes": path.stat().st_size})
    files.append({"path": DATABASE, "sha256": _sha256(database), "rows": None, "bytes": database.stat().st_size})
    linked = _link_unchanged(work, previous, files)
    manifest = {
        "version": version,
        "created": now.isoformat(timespec="seconds"),
        "content_sha256": digest,
        "previous": previous.version if previous else None,
        "files": files,
        "files_linked_to_previous": linked,
        "sources": sources,
        **(state or {}),
    }
    text = json.dumps(manifest, ensure_ascii=False, indent=1, default=str)
    (work / MANIFEST).write_text(text, encoding="utf-8")
    progress("data package, dictionary, changelog")
    write_release_documents(work, previous.folder if previous else None, manifest)
    progress("the page (site/index.html)")
    write_site(work)  # site/index.html, after the release's other files: it links them (not in the content hash)
    progress(f"releases/{version}: syncing to disk, switching latest")
    for path in [*work.rglob("*")]:
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(path, READ_ONLY)  # a release is never changed: not by a reader's read-write connection either
    final = releases_dir(out) / version
    os.replace(work, final)
    _fsync_dir(releases_dir(out))
    record_verified(out, Release(final, manifest))
    pause_for_tests("switch", out)
    for name, target in (
        ("latest", f"releases/{version}"),
        (DATABASE, f"latest/{DATABASE}"),
        ("parquet", "latest/parquet"),
    ):
        aside = _switch_link(out / name, target)
        if aside is not None:
            say(
                f"budget-warehouse: {out / name} was a {'folder' if aside.is_dir() else 'file'}, not the link to "
                f"{target}: moved to {aside} (nothing removed)"
            )
    (out / (DATABASE + ".lock")).unlink(missing_ok=True)  # the lock file of warehouses made before releases
    _fsync_dir(out)
    if state is not None:
        write_state(out, version, state)
    return Release(final, manifest, compacted), True


STATE = ".state.json"
#: A release folder's name, ``<UTC date>T<time>Z-<first 6 hex digits of content_sha256>`` (:func:`publish_release`):
#: only such a folder is ever taken for a killed build's unpublished release (a user's ``backup-copy`` is not).
_RELEASE_NAME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{6}Z-[0-9a-f]{6}")


def write_state(out: Path, version: str, state: dict) -> None:
    """Write ``releases/.state.json``: the state of release ``version`` (see :func:`publish_release`), and
    ``published``, the newest release ever published here: a build whose content equalled an older release that
    ``latest`` was pointed back at writes that older version, and the newer ones stay published, not a killed
    build's leftovers (:func:`remove_stale_work`)."""
    published = max(v for v in (_state_version(out), version) if v is not None)
    state = {"version": version, "published": published, **state}
    write_text_atomically(releases_dir(out) / STATE, json.dumps(state, indent=1))


def release_state(out: Path) -> tuple[Release | None, dict]:
    """The latest release and what it holds in the Dagster instance's terms (``materialisations``,
    ``checks``; see :func:`publish_release`): ``releases/.state.json`` when it is about the latest
    release (a build whose content equalled it), else its manifest's; ``{}`` when neither says."""
    latest = latest_release(out)
    if latest is None:
        return None, {}
    path = releases_dir(out) / STATE
    if path.is_file():
        state = json.loads(path.read_text(encoding="utf-8"))
        if state.get("version") == latest.version:
            return latest, state
    keys = (
        "materialisations",
        "checks",
        "source_versions",
        "code_versions",
        "reading_limits",
        "complete",
        "recognitions",
    )
    return latest, {k: latest.manifest[k] for k in keys if k in latest.manifest}


def prune_releases(out: Path, keep: int) -> list[str]:
    """Remove all but the ``keep`` newest releases (``latest`` always stays). Returns the versions removed."""
    latest = latest_release(out)
    versions = sorted(p for p in releases_dir(out).iterdir() if p.is_dir() and not p.name.startswith("."))
    removed = []
    for path in versions[: max(len(versions) - max(keep, 1), 0)]:
        if latest is not None and path == latest.folder:
            continue
        shutil.rmtree(path)
        removed.append(path.name)
    return removed
