"""Find the source files in a local folder, and recognise them (downloads: ``warehouse/downloads.py``).

A local folder is walked recursively; each file is identified by its content
(sha256 against the catalogue, then its header against the families), never by its
name alone. Symbolic links are never followed: the walk reads the regular files of
the folder, and each link it meets is listed (``skipped_links``) with the reason.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from schemas.catalogue import CatalogueEntry, catalogue
from schemas.families import FamilyMatch, all_families, best_family, file_name_kind, vocabulary
from warehouse.digests import sha256_of  # never follows a symbolic link
from warehouse.display import escaped_bytes
from warehouse.reading.tables import RawTable, TableReadError, named_error, read_table_heads

__all__ = [
    "RECORDED_FIELDS",
    "InventoryItem",
    "Recognition",
    "SkippedLink",
    "SourceFile",
    "discover_sources",
    "expected_kind",
    "forget_recognitions",
    "inventory_record",
    "recognise",
    "recognised_heads",
    "sha256_of",
    "skipped_links",
    "not_read",
    "take_inventory",
]

log = logging.getLogger(__name__)

_YEAR_IN_NAME = re.compile(r"(?<!\d)(20\d{2}|19\d{2})(?!\d)")


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
    """What a file was recognised as. ``match`` is None for a file of no covered family.

    ``head``: the table as far as recognition read it (a CSV's head: header and first rows;
    a workbook's whole sheet); ``complete``: whether ``head`` is the whole table.
    :attr:`table` is the whole table, read on first use (a CSV longer than its head).
    """

    source: SourceFile
    header: list[str]
    match: FamilyMatch | None
    head: RawTable | None = field(default=None, repr=False)
    exercice_hint: int | None = None
    error: str | None = None
    phase_hint: str | None = None
    complete: bool = True
    #: For a workbook in error because several of its sheets hold a known family's table: those families' kind.
    error_kind: str | None = None
    _whole: RawTable | None = field(default=None, repr=False, init=False)

    @property
    def table(self) -> RawTable | None:
        """The whole table (every row); for a CSV longer than its head, read now (once) in full.

        Holds the file's rows in memory: a large credit file is read with
        :func:`warehouse.reading.csv_files.stream_csv_table` instead. Raises
        :class:`warehouse.reading.tables.TableReadError` as :func:`warehouse.reading.tables.read_tables` does.
        """
        if self.complete or self.head is None:
            return None if self.head is None else self.head.checked()  # a CSV head read leniently: its quote error
        if self._whole is None:
            from warehouse.reading.csv_files import read_csv_table

            self._whole = read_csv_table(self.source.chemin, self.source.fichier)
        return self._whole

    @property
    def famille(self) -> str | None:
        return self.match.family.id if self.match else None

    @property
    def feuille(self) -> str | None:
        """The sheet read: a workbook's visible sheet, ``tableau <n>`` of an HTML table; None for a CSV."""
        return self.head.sheet if self.head is not None else None


#: The catalogue's entries by sha256 (the first of each) and each entry's file name, made once per catalogue.
_INDEX: list = [None, {}, ()]


def _entry_for(relative: str, sha256: str) -> CatalogueEntry | None:
    """The catalogue entry of the file: the first of its path, or of its name for an entry without a folder (a
    file at ``LFI_2021_Credits.csv`` is ``lfi-2021``'s, whatever it holds: another entry's bytes there are a source
    in error, ``warehouse.expected.held_elsewhere``), else the first of its sha256 (a catalogued file renamed)."""
    entries = catalogue()
    if _INDEX[0] is not entries:
        by_hash: dict[str, CatalogueEntry] = {}
        for entry in entries:
            by_hash.setdefault(entry.sha256, entry)
        _INDEX[:] = [entries, by_hash, tuple((e, Path(e.fichier).name, "/" not in e.fichier) for e in entries)]
    name = Path(relative).as_posix()
    base = Path(name).name
    by_path = next((e for e, own, bare in _INDEX[2] if e.fichier == name or own == base and bare), None)
    return by_path or _INDEX[1].get(sha256)


def _source_id(relative: str, entry: CatalogueEntry | None) -> str:
    if entry is not None:
        return entry.id
    stem = re.sub(r"[^a-z0-9]+", "-", Path(relative).with_suffix("").as_posix().lower())
    return "fichier-" + stem.strip("-")


@dataclass(frozen=True)
class SkippedLink:
    """A symbolic link met in the sources folder, not followed.

    ``fichier``: its path relative to the folder; ``cible``: where it points (resolved, or as
    written when it points nowhere); ``raison``: why it was not read.
    """

    fichier: str
    cible: str
    raison: str

    def __str__(self) -> str:
        return f"{self.fichier} -> {self.cible}: {self.raison}"


def _walk(folder: Path, outputs: Path | None = None) -> tuple[list[Path], list[SkippedLink], list[str]]:
    """The regular files below ``folder`` (hidden names aside, and the folder ``outputs``: a build's output folder
    inside its sources folder, whose files it writes itself), sorted, the links met, and the paths (relative, their
    bytes outside UTF-8 escaped: ``Notes_\\xe9t\\xe9.csv``) of the files and folders whose name is not valid UTF-8,
    not read: a name goes into the tables, the reports and the manifest as text (a Latin-1 name made the build
    crash).

    No link is followed (``os.walk`` does not enter linked folders), whether to a file or a
    folder. A link whose target lies inside the folder is not read either: its target is read
    where it stands, once, unless hidden.
    """
    root = folder.resolve()
    skipped = outputs.resolve() if outputs is not None else None
    files, links, unreadable = [], [], []
    for directory, subfolders, names in os.walk(folder, followlinks=False):
        here = Path(directory)
        subfolders[:] = sorted(
            d for d in subfolders if not d.startswith(".") and (skipped is None or (here / d).resolve() != skipped)
        )
        for name in [*subfolders, *sorted(names)]:
            path = here / name
            if not _utf8(name) and not name.startswith("."):  # a hidden name is never read anyway
                unreadable.append(escaped_bytes(path.relative_to(folder).as_posix()))
                if name in subfolders:
                    subfolders.remove(name)
                continue
            if name.startswith(".") or not path.is_symlink():
                if not name.startswith(".") and stat.S_ISREG(path.lstat().st_mode):
                    files.append(path)
                continue
            relative = path.relative_to(folder).as_posix()
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):
                links.append(SkippedLink(relative, os.readlink(path), "points nowhere"))
                continue
            kind = "folder" if target.is_dir() else "file"
            if not target.is_relative_to(root):
                links.append(SkippedLink(relative, str(target), f"a link to a {kind} outside the sources folder"))
            else:
                inside = target.relative_to(root).as_posix() or "."
                hidden = any(part.startswith(".") for part in Path(inside).parts)
                where = "hidden, not read" if hidden else "read where it stands"
                links.append(SkippedLink(relative, inside, f"a link to a {kind} of the folder ({where})"))
    return sorted(files), sorted(links, key=lambda link: link.fichier), sorted(unreadable)


def _utf8(name: str) -> bool:
    """Whether the file name ``name`` (as ``os`` gives it: bytes outside UTF-8 as surrogates) is valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def discover_sources(folder: Path, outputs: Path | None = None, ids: dict[str, str] | None = None) -> list[SourceFile]:
    """Every regular file below ``folder`` (hidden ones aside, and the build's own ``outputs`` folder when it
    lies inside), with its hash and catalogue entry.

    A file whose sha256 is in the catalogue takes that entry's id; else the entry of
    the same file name, if any (a changed file keeps its source id); else an id made
    from its path. Ids are unique (:func:`_unique_ids`) and stable across builds: ``ids``, the latest release's
    source id of each path (``{fichier: source_id}``), gives a file the catalogue does not know its id of then when
    its path could have made it (a file already read keeps its id; a new file whose name differs from it only by
    punctuation takes another). Symbolic links are not followed (see ``skipped_links``). Raises
    ``FileNotFoundError`` if ``folder`` does not exist.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"sources folder not found: {folder}")
    found = []
    for path in _walk(folder, outputs)[0]:
        relative = path.relative_to(folder).as_posix()
        digest = sha256_of(path)
        entry = _entry_for(relative, digest)
        found.append(
            SourceFile(
                source_id=_source_id(relative, entry),
                fichier=relative,
                chemin=path,
                sha256=digest,
                octets=path.lstat().st_size,
                url=entry.url if entry else None,
                entree=entry,
            )
        )
    return _unique_ids(found, ids or {})


def _unique_ids(found: list[SourceFile], ids: dict[str, str]) -> list[SourceFile]:
    """``found`` with unique source ids (the key of ``sources``). Two files would share one when both match a
    catalogue entry (two copies of a file) or when their paths differ only by extension or punctuation
    (``vert.csv``, ``vert.txt``): the one the id belongs to keeps it (the catalogue's own path, else the first
    in path order), the others take an id made from their whole path, extension included (numbered if still
    taken). ``ids``: the latest release's id of each path; a file the catalogue does not know whose path had an id
    it could be given (its own, or one made from its whole path) keeps it, before any other file: a new file never
    takes the id of a file already read, present or absent."""
    found = [_kept_id(source, ids.get(source.fichier)) for source in found]

    def rank(source: SourceFile) -> tuple:
        catalogued = source.entree is not None and source.entree.fichier == source.fichier
        return (not catalogued, ids.get(source.fichier) != source.source_id, source.fichier)

    owner: dict[str, SourceFile] = {}
    for source in sorted(found, key=rank):
        owner.setdefault(source.source_id, source)
    # An id another path had in the latest release (its file absent now) stays that source's: a new file whose
    # path folds to it (`a-c.csv` for an absent `a/c.csv`) is another source, not that one changed.
    present = {s.fichier for s in found}
    others = {i for path, i in ids.items() if path not in present}
    taken = {s.source_id for s in owner.values()} | others
    result = []
    for source in found:
        uncatalogued_new = source.entree is None and ids.get(source.fichier) != source.source_id
        if owner[source.source_id] is not source or (uncatalogued_new and source.source_id in others):
            base = _source_id(source.fichier + ".", None)  # the trailing dot keeps the extension in the stem
            source_id, number = base, 2
            while source_id in taken:
                source_id, number = f"{base}-{number}", number + 1
            taken.add(source_id)
            source = replace(source, source_id=source_id)
        result.append(source)
    return result


def _kept_id(source: SourceFile, before: str | None) -> SourceFile:
    """``source`` with ``before``, its path's id in the latest release, when the catalogue does not know it and
    ``before`` is one :func:`_unique_ids` could give its path (``fichier-vert-extrait-txt``, ``…-2``)."""
    if before is None or source.entree is not None or before == source.source_id:
        return source
    base = _source_id(source.fichier + ".", None)
    if before == base or re.fullmatch(re.escape(base) + r"-[0-9]+", before):
        return replace(source, source_id=before)
    return source


def skipped_links(folder: Path, outputs: Path | None = None) -> list[SkippedLink]:
    """The symbolic links below ``folder`` that ``discover_sources`` did not follow, with why."""
    return not_read(folder, outputs)[0]


def not_read(folder: Path, outputs: Path | None = None) -> tuple[list[SkippedLink], list[str]]:
    """What ``discover_sources`` did not read below ``folder``, in one walk: the symbolic links not followed, with
    why, and the files and folders whose name is not valid UTF-8 (relative paths, those bytes escaped)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"sources folder not found: {folder}")
    _, links, names = _walk(folder, outputs)
    return links, names


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


def recognise(source: SourceFile, whole_encoding: bool = True) -> Recognition:
    """Read the head of ``source`` as a table and find its family from its header (best match).

    A CSV is read only as far as its head (:func:`warehouse.reading.tables.read_table_heads`: the
    header and the first rows; its encoding from a streaming pass over the whole file); a
    workbook whole, the one visible sheet whose header is a known family's (several such sheets: an error
    naming them, never a choice). ``whole_encoding = False``: the
    head's encoding is the head's own (for a reader that decodes the whole file itself next). A file that is not a
    table (``error`` says why: empty, compressed, an HTML page with no table, a damaged
    workbook…), or matches no family, comes back with ``match = None`` and its header.

    Read once per build: when this process's inventory (:func:`take_inventory`), or an earlier
    reader of the same build, read the file, its heads are taken again without reading it, provided
    the path, the sha256 and the file's identity on disk (device, inode, size, modification and change
    times) are those it read; else it is read now, and kept for the next reader. A CSV's encoding
    decided from the whole file serves a caller asking ``whole_encoding = False`` (the head's own is
    enough); not the other way round. A new :class:`Recognition` each call: the whole table, if asked,
    is read for that caller only.
    """
    held = _held(source.chemin, source.fichier, source.sha256, whole_encoding)
    if held is None:
        held = _read_heads(source, whole_encoding)
    if held.error is not None:
        return Recognition(source, [], None, error=held.error)
    return _recognition(source, list(held.tables), held.complete)


def _recognition(source: SourceFile, tables: list[RawTable], complete: bool) -> Recognition:
    """The recognition of ``source`` from the heads of its tables: the best family over its tables."""
    best: tuple[FamilyMatch, RawTable] | None = None
    matched: list[tuple[FamilyMatch, RawTable]] = []
    for table in tables:
        match = best_family(table.header, tuple(all_families().values()))
        if match:
            matched.append((match, table))
        if match and (best is None or match.explained > best[0].explained):
            best = (match, table)
    if len(matched) > 1:  # never a silent choice: a draft sheet first would be read instead of the data
        named = ", ".join(f"'{t.sheet}' ({m.family.id})" for m, t in matched)
        kinds = {m.family.kind for m, _ in matched}
        return Recognition(
            source,
            [],
            None,
            error=f"{len(matched)} sheets hold a table of a known family: {named}; which one is the data is not "
            "decided: delete or hide the others (a hidden sheet is never read)",
            error_kind=kinds.pop() if len(kinds) == 1 else None,
        )
    if best is None:
        header = tables[0].header if tables else []
        return Recognition(source, header, None, head=tables[0] if tables else None, complete=complete)
    match, table = best
    return Recognition(
        source, table.header, match, table, _exercice_hint(source), phase_hint=_phase_hint(source), complete=complete
    )


@dataclass(frozen=True)
class _HeadsRead:
    """What a build read of one file in this process: its sha256 (as discovered), its identity on disk
    when read (``_identity``), the heads of its tables and whether they are whole, or the error; and
    whether a CSV's encoding was decided from the whole file."""

    sha256: str
    identity: tuple[int, ...] | None
    tables: tuple[RawTable, ...]
    complete: bool
    error: str | None
    whole_encoding: bool = True


#: The heads the build read, by path and name (the name its messages give), for its next readers in the
#: same process (:func:`recognise`); emptied when an inventory starts and by :func:`forget_recognitions`.
_HEADS: dict[tuple[Path, str], _HeadsRead] = {}


def _identity(path: Path) -> tuple[int, ...] | None:
    """The file's identity on disk: device, inode, size, modification and change times (ns); None if gone.

    The change time cannot be set back by a writer (``os.utime`` sets it to now): equal identities
    mean the bytes were not rewritten in between."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _read_heads(source: SourceFile, whole_encoding: bool = True) -> _HeadsRead:
    """Read the heads of ``source``'s tables (or the error), and keep them for the build's next readers
    (:func:`recognise`) when the file did not change on disk while it was read."""
    before = _identity(source.chemin)
    try:
        tables, complete = read_table_heads(source.chemin, source.fichier, whole_encoding)
        error = None
    except (TableReadError, OSError) as exc:
        tables, complete, error = [], True, str(exc)
    read = _HeadsRead(source.sha256, before, tuple(tables), complete, error, whole_encoding)
    if before is not None and source.sha256 and _identity(source.chemin) == before:
        _HEADS[(source.chemin, source.fichier)] = read
    return read


def _held(path: Path, fichier: str, sha256: str | None = None, whole_encoding: bool = False) -> _HeadsRead | None:
    held = _HEADS.get((path, fichier))
    if held is None or (sha256 is not None and held.sha256 != sha256) or (whole_encoding and not held.whole_encoding):
        return None
    return held if _identity(path) == held.identity else None


def recognised_heads(path: Path, fichier: str) -> tuple[list[RawTable], bool]:
    """What :func:`warehouse.reading.tables.read_table_heads` returns for ``path`` (named ``fichier``), without
    reading it again when this build read it in this process (its identity on disk the same, its CSV
    encoding decided from the whole file; see :func:`recognise`). Raises
    :class:`warehouse.reading.tables.TableReadError` as it does."""
    held = _held(path, fichier, whole_encoding=True)
    if held is None or held.error is not None:
        return read_table_heads(path, fichier)
    return list(held.tables), held.complete


def forget_recognitions() -> None:
    """Drop the heads this process's inventory read (:func:`recognise`): a build calls it when done."""
    _HEADS.clear()


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
    #: Whether the latest release read this file (same path, same sha256): of byte-identical copies, the one kept
    #: (``warehouse.credits.roles.set_aside_copies``). Not recorded: set by the build from the latest release.
    lu_avant: bool = field(default=False, compare=False)

    def holds(self, kind: str) -> bool:
        """Whether the file is of a family of ``kind``, or was to be and could not be fetched or read."""
        if self.kind is not None:
            return self.kind == kind
        entry = self.source.entree
        return self.error is not None and entry is not None and kind == "credits"

    @property
    def error_message(self) -> str | None:
        """The error with the file named once, first: ``'<fichier>: <why>'`` (a reader's error names
        the file already, a failed download's does not); None for a file read."""
        if self.error is None:
            return None
        named = f"{self.source.fichier}: "
        return self.error if self.error.startswith(named) else named_error(self.source.fichier, self.error)

    @property
    def error_detail(self) -> str | None:
        """The error without the file's name (for a message that names the file itself); None for a file read."""
        return None if self.error is None else self.error.removeprefix(f"{self.source.fichier}: ")

    @property
    def unreadable(self) -> bool:
        """Whether the file is of no covered family and cannot be read at all (a picture, a PDF, an archive, an
        empty file): no step reads it (a RAP/PAP document is a text or a page read without error), so it is in
        no data version and no table (``sources`` included): dropped in the sources folder, it makes no run and
        no release; the summary names it (README, "The outputs")."""
        from warehouse.expected import is_absent

        return self.error is not None and not self.in_error and self.kind is None and not is_absent(self)

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


#: The fields of an :class:`InventoryItem` that recognition gives (all but ``source``): what a release
#: records of each file (:func:`inventory_record`).
RECORDED_FIELDS = ("famille", "exercice", "entete", "type_fichier", "encodage", "error", "kind", "feuille")


def inventory_record(item: InventoryItem) -> dict:
    """What recognition said of ``item``'s file, as JSON: ``fichier`` and ``sha256`` (the key), then
    :data:`RECORDED_FIELDS` (``entete`` a list)."""
    record = {"fichier": item.source.fichier, "sha256": item.source.sha256}
    for name in RECORDED_FIELDS:
        value = getattr(item, name)
        record[name] = list(value) if name == "entete" else value
    return record


def take_inventory(files: list[SourceFile], recorded: list[dict] | None = None) -> list[InventoryItem]:
    """Recognise every file and find the exercice of each credit file (cheaply).

    A file that cannot be read at all is an item with its ``error``; if its catalogue
    entry or its name says it holds a covered family, it also has that ``kind`` (and, for
    credits, the exercice the catalogue or its name gives), so that the build reports it
    as a source in error (:attr:`InventoryItem.in_error`).

    ``recorded``: the items (:func:`inventory_record`) of an earlier inventory made by the same
    recognising code (the caller compares its code version): a file of the same path (``fichier``)
    and the same sha256 takes its recorded item, without being read again; any other is recognised.
    The heads read are kept for the readers of this build (:func:`recognise`).
    """
    from warehouse.credits.files import stated_exercice

    known = {(r["fichier"], r["sha256"]): r for r in recorded or []}
    forget_recognitions()
    items = []
    for source in files:
        record = known.get((source.fichier, source.sha256))
        if record is not None and source.sha256:
            fields = {name: record[name] for name in RECORDED_FIELDS}
            items.append(InventoryItem(source=source, **{**fields, "entete": tuple(fields["entete"])}))
            continue
        found = recognise(source)
        exercice = None
        kind = found.match.family.kind if found.match else None
        if found.match is not None and found.head is not None:
            exercice = stated_exercice(found.head, found.match, found.exercice_hint)
        elif found.error is not None:
            kind = found.error_kind or expected_kind(source)
            exercice = _expected_exercice(source) if kind == "credits" else None
        items.append(
            InventoryItem(
                source=source,
                famille=found.famille,
                exercice=exercice,
                entete=tuple(found.header),
                type_fichier=found.head.format if found.head else None,
                encodage=found.head.encoding if found.head else None,
                error=found.error,
                kind=kind,
                feuille=found.feuille,
            )
        )
    return items
