"""Find the source files: in a local folder, or downloaded from the official portals.

A local folder is walked recursively; each file is identified by its content
(sha256 against the catalogue, then its header against the families), never by its
name alone. Downloads use ``requests`` with timeouts and retries with backoff,
stream to a temporary file, and are renamed into place only once complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from schemas.catalogue import CatalogueEntry, catalogue
from schemas.families import FamilyMatch, all_families, best_family, file_name_kind, vocabulary
from warehouse.tables import RawTable, TableReadError, read_tables

__all__ = [
    "InventoryItem",
    "Recognition",
    "SourceFile",
    "discover_sources",
    "download_sources",
    "expected_kind",
    "recognise",
    "take_inventory",
]

log = logging.getLogger(__name__)

_YEAR_IN_NAME = re.compile(r"(?<!\d)(20\d{2}|19\d{2})(?!\d)")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceFile:
    """One file to read. ``fichier``: its path relative to the sources folder."""

    source_id: str
    fichier: str
    chemin: Path
    sha256: str
    octets: int
    url: str | None = None
    entree: CatalogueEntry | None = None


@dataclass
class Recognition:
    """What a file was recognised as. ``match`` is None for a file of no covered family."""

    source: SourceFile
    header: list[str]
    match: FamilyMatch | None
    table: RawTable | None = field(default=None, repr=False)
    exercice_hint: int | None = None
    error: str | None = None
    phase_hint: str | None = None

    @property
    def famille(self) -> str | None:
        return self.match.family.id if self.match else None

    @property
    def feuille(self) -> str | None:
        """The sheet read: a workbook's visible sheet, ``tableau <n>`` of an HTML table; None for a CSV."""
        return self.table.sheet if self.table is not None else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _entry_for(relative: str, sha256: str) -> CatalogueEntry | None:
    entries = catalogue()
    by_hash = next((e for e in entries if e.sha256 == sha256), None)
    if by_hash:
        return by_hash
    name = Path(relative).as_posix()
    return next(
        (e for e in entries if e.fichier == name or Path(e.fichier).name == Path(name).name and "/" not in e.fichier),
        None,
    )


def _source_id(relative: str, entry: CatalogueEntry | None) -> str:
    if entry is not None:
        return entry.id
    stem = re.sub(r"[^a-z0-9]+", "-", Path(relative).with_suffix("").as_posix().lower())
    return "fichier-" + stem.strip("-")


def discover_sources(folder: Path) -> list[SourceFile]:
    """Every file below ``folder`` (hidden ones aside), with its hash and catalogue entry.

    A file whose sha256 is in the catalogue takes that entry's id; else the entry of
    the same file name, if any (a changed file keeps its source id); else an id made
    from its path. Raises ``FileNotFoundError`` if ``folder`` does not exist.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"sources folder not found: {folder}")
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in Path(relative).parts):
            continue
        digest = sha256_of(path)
        entry = _entry_for(relative, digest)
        found.append(
            SourceFile(
                source_id=_source_id(relative, entry),
                fichier=relative,
                chemin=path,
                sha256=digest,
                octets=path.stat().st_size,
                url=entry.url if entry else None,
                entree=entry,
            )
        )
    return found


def http_session(retries: int = 4, backoff: float = 1.0) -> requests.Session:
    """A ``requests`` session retrying connection errors and 429/5xx with exponential backoff."""
    session = requests.Session()
    retry = Retry(
        total=retries,
        backoff_factor=backoff,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=("GET", "HEAD"),
        respect_retry_after_header=True,
    )
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.headers["User-Agent"] = "budget-warehouse (open-data pipeline)"
    return session


def download(url: str, target: Path, session: requests.Session, timeout: float = 60.0) -> str:
    """Download ``url`` to ``target``; return its sha256.

    The body is streamed to a temporary file beside ``target`` and renamed into
    place only once complete, so ``target`` is never half-written. Raises
    ``requests.RequestException`` after the retries are spent.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle, session.get(url, stream=True, timeout=timeout) as reply:
            reply.raise_for_status()
            for chunk in reply.iter_content(_CHUNK):
                handle.write(chunk)
                digest.update(chunk)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; a download is not
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def download_sources(
    cache: Path,
    entries: Iterable[CatalogueEntry] | None = None,
    session: requests.Session | None = None,
    refresh: bool = False,
    timeout: float = 60.0,
) -> tuple[list[SourceFile], list[tuple[CatalogueEntry, str]]]:
    """Fetch every catalogue entry that has an official address into ``cache``.

    A file already in ``cache`` is reused unless ``refresh``; ``timeout`` (seconds)
    bounds each connection and read. A body cut short is not retried (urllib3
    retries connections and statuses only): it is reported. Returns the files
    fetched and, for each entry that could not be fetched, the error. A sha256
    that differs from the catalogue's is logged (portal exports are regenerated),
    not refused: the file is recognised by its content like any other.
    """
    session = session or http_session()
    files, failures = [], []
    for entry in entries if entries is not None else catalogue():
        if not entry.downloadable:
            continue
        target = cache / entry.fichier
        try:
            if refresh or not target.exists():
                log.info("downloading %s from %s", entry.fichier, entry.url)
                digest = download(entry.url, target, session, timeout)
            else:
                digest = sha256_of(target)
        except (requests.RequestException, OSError) as exc:
            log.error("cannot download %s: %s", entry.url, exc)
            failures.append((entry, str(exc)))
            continue
        if entry.sha256 and digest != entry.sha256:
            log.warning("%s: sha256 %s differs from the catalogue's", entry.fichier, digest)
        files.append(
            SourceFile(
                source_id=entry.id,
                fichier=entry.fichier,
                chemin=target,
                sha256=digest,
                octets=target.stat().st_size,
                url=entry.url,
                entree=entry,
            )
        )
    return files, failures


def _phase_hint(source: SourceFile) -> str | None:
    """The phase a file states nowhere inside: the catalogue's, else a law named in its path
    (``PLF``, ``LFI``, ``PLRG``…, see ``schemas/vocabulary.toml`` [phase])."""
    entry = source.entree
    if entry is not None and entry.sha256 == source.sha256 and len(entry.phases) == 1:
        return entry.phases[0]
    phases = vocabulary()["phase"]
    found = {phases[t] for t in re.findall(r"[a-z]+", source.fichier.lower()) if t in phases}
    return found.pop() if len(found) == 1 else None


def _exercice_hint(source: SourceFile) -> int | None:
    """The exercice a file states nowhere inside: the catalogue's (same bytes, or downloaded
    for that entry), else the one four-digit year in its path."""
    entry = source.entree
    if entry is not None and (entry.sha256 == source.sha256 or source.url == entry.url):
        return entry.exercice
    years = set(_YEAR_IN_NAME.findall(source.fichier))
    return int(years.pop()) if len(years) == 1 else None


def recognise(source: SourceFile) -> Recognition:
    """Read ``source`` as a table and find its family from its header (best match).

    For a workbook, the visible sheet whose header matches best. A file that is not a
    table (``error`` says why: empty, compressed, an HTML page with no table, a damaged
    workbook…), or matches no family, comes back with ``match = None`` and its header.
    """
    try:
        tables = read_tables(source.chemin, source.fichier)
    except (TableReadError, OSError) as exc:
        return Recognition(source, [], None, error=str(exc))
    best: tuple[FamilyMatch, RawTable] | None = None
    for table in tables:
        match = best_family(table.header, tuple(all_families().values()))
        if match and (best is None or match.explained > best[0].explained):
            best = (match, table)
    if best is None:
        header = tables[0].header if tables else []
        return Recognition(source, header, None, table=tables[0] if tables else None)
    match, table = best
    return Recognition(source, table.header, match, table, _exercice_hint(source), phase_hint=_phase_hint(source))


@dataclass(frozen=True)
class InventoryItem:
    """One file seen in the sources: what it was recognised as, and its exercice.

    ``kind``: the kind of its family (``credits``, ``nomenclature``); for a file that
    cannot be read at all (``error``), the kind its catalogue entry or its name says it
    holds (:func:`expected_kind`), else None. ``feuille``: the sheet read, for a workbook.
    """

    source: SourceFile
    famille: str | None
    exercice: int | None
    entete: tuple[str, ...]
    type_fichier: str | None = None
    encodage: str | None = None
    error: str | None = None
    kind: str | None = None  # "credits", "nomenclature", "performance": the kind of its family
    feuille: str | None = None

    def holds(self, kind: str) -> bool:
        """Whether the file is of a family of ``kind``, or was to be and could not be fetched or read."""
        if self.kind is not None:
            return self.kind == kind
        entry = self.source.entree
        return self.error is not None and entry is not None and kind == "credits"

    @property
    def in_error(self) -> bool:
        """Whether the file holds a covered family (recognised, catalogued or so named) but could not
        be fetched or read at all: an error that fails the build, never a file of no covered family."""
        return self.error is not None and (self.kind is not None or self.source.entree is not None)


def expected_kind(source: SourceFile) -> str | None:
    """The kind of covered family a file is said to hold, for a file whose bytes cannot be read.

    Its catalogue entry's family (the catalogue lists credit files), else its name
    (``fichiers`` patterns of ``schemas/families/*.toml``: ``LFI_2020_Credits.csv`` →
    ``credits``), else None (a file of no covered family).
    """
    entry = source.entree
    if entry is not None:
        family = all_families().get(entry.famille or "")
        return family.kind if family is not None else "credits"
    return file_name_kind(source.fichier)


def _expected_exercice(source: SourceFile) -> int | None:
    """The exercice of a file that cannot be read: its catalogue entry's, else the one year in its path."""
    if source.entree is not None:
        return source.entree.exercice
    years = set(_YEAR_IN_NAME.findall(source.fichier))
    return int(years.pop()) if len(years) == 1 else None


def take_inventory(files: list[SourceFile]) -> list[InventoryItem]:
    """Recognise every file and find the exercice of each credit file (cheaply).

    A file that cannot be read at all is an item with its ``error``; if its catalogue
    entry or its name says it holds a covered family, it also has that ``kind`` (and, for
    credits, the exercice the catalogue or its name gives), so that the build reports it
    as a source in error (:attr:`InventoryItem.in_error`).
    """
    from warehouse.credit_files import stated_exercice

    items = []
    for source in files:
        found = recognise(source)
        exercice = None
        kind = found.match.family.kind if found.match else None
        if found.match is not None and found.table is not None:
            exercice = stated_exercice(found.table, found.match, found.exercice_hint)
        elif found.error is not None:
            kind = expected_kind(source)
            exercice = _expected_exercice(source) if kind == "credits" else None
        items.append(
            InventoryItem(
                source=source,
                famille=found.famille,
                exercice=exercice,
                entete=tuple(found.header),
                type_fichier=found.table.format if found.table else None,
                encodage=found.table.encoding if found.table else None,
                error=found.error,
                kind=kind,
                feuille=found.feuille,
            )
        )
    return items
