"""The sources a build expects, and what it does when one is missing or unreadable (issue 8, item 2).

A source is *expected* when the latest release holds data from it (its ``sources`` row
is ``lu``, ``erreur`` or ``absent`` with a recognised ``format``), or, on a download
build, when it is a catalogue entry. An expected source that the build could not get
or read (download failed, file emptied or garbled so that it matches no family any
more, exercice unknown) becomes an inventory item *in error* of its former family and
exercice: every reader (credits, nomenclature, indicators) then keeps its last good
data, its ``sources`` row keeps the description of that data with ``statut = 'erreur'``,
and the build exits 1.

A source of the latest release simply absent from a ``--sources`` folder (and not moved: its
bytes are under no other path) becomes an item whose error is :data:`ABSENT`: its data is kept
the same way, but its status is ``absent`` (a warning, exit 0). With ``--prune`` it is left out,
and its data goes. On a download build, a source of the latest release that the build does not
download (a local file the catalogue has no address for: ``PLR_2018_Credits.csv``) is absent the
same way (:data:`NOT_DOWNLOADED`), never dropped in silence.

A credit or nomenclature file whose bytes changed and now hold another exercice, or none of the phases, than its
catalogue entry (or, for a file the catalogue does not list, its source in the latest release) says
(:func:`held_elsewhere`: ``LFI_2020_Credits.csv`` holding PLF 2022) is a source in error the same way: its last
good data is kept and the build exits 1, rather than the data of LFI 2020 going in silence. What a file holds is
what its head states (the exercice and phase columns, the amount headers), or, for bytes a source of the latest
release or a catalogue entry has under another id, what that source holds.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import duckdb

from schemas.families import all_families
from schemas.performance.families import performance_families
from warehouse.sources import InventoryItem, SourceFile
from warehouse.store import LAST_GOOD_KEPT

__all__ = [
    "ABSENT",
    "NOT_DOWNLOADED",
    "drop_unheld_staging",
    "expect_release_sources",
    "held_elsewhere",
    "is_absent",
    "known_bytes",
    "previous_sources",
]

#: The error of an expected source absent from the ``--sources`` folder (kept unless ``--prune``).
ABSENT = "absent from the sources folder: its data of the latest release is kept (--prune removes it)"
#: The same for a download build: a source of the latest release that no catalogue address gives.
NOT_DOWNLOADED = (
    "not downloaded (the catalogue has no address for it): its data of the latest release is kept (--prune removes it)"
)


def is_absent(item: InventoryItem) -> bool:
    return item.error in (ABSENT, NOT_DOWNLOADED)


#: The ``sources.format`` of RAP/PAP texts and pages (``warehouse/documents``): read by the
#: documents asset, which reports their errors itself.
DOCUMENT_FORMATS = ("document_texte", "document_html")


def _kind(famille: str | None) -> str | None:
    if famille is None:
        return None
    if famille in DOCUMENT_FORMATS:
        return "document"
    family = all_families().get(famille)
    if family is not None:
        return family.kind
    if famille in {f.id for f in performance_families()}:
        return "performance"
    return None


def previous_sources(database: Path) -> dict[str, dict]:
    """The ``sources`` rows of the latest release (the working copy ``database``) that hold data,
    by source id; empty before the first release. A row never loaded (``charge_le`` null: a failed download
    of a catalogue entry that names its family, ``plf-2025-fdc-adp``) holds none."""
    if not database.exists():
        return {}
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = {t for (t,) in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "sources" not in tables:
            return {}
        cursor = connection.execute(  # rows as Python values: no Arrow (pyarrow: 0.3 s to import) for a rebuild
            "SELECT * FROM sources WHERE statut IN ('lu', 'erreur', 'absent') AND format IS NOT NULL "
            "AND charge_le IS NOT NULL"
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {r["source_id"]: r for r in rows if _kind(r["format"]) is not None}


def _kept(item: InventoryItem, previous: dict, error: str) -> InventoryItem:
    """``item`` as a source in error of its former family and exercice (its last good data is kept)."""
    return InventoryItem(
        source=item.source,
        famille=previous["format"],
        exercice=item.exercice or previous["exercice"],
        entete=item.entete,
        type_fichier=item.type_fichier,
        encodage=item.encodage,
        error=error,
        kind=_kind(previous["format"]),
    )


def _phases(text: str | None) -> frozenset[str]:
    return frozenset(p for p in (text or "").split(", ") if p)


def _shown(exercice: int | None, phases: frozenset[str]) -> str:
    return " ".join([", ".join(sorted(phases)), str(exercice or "")]).strip() or "nothing stated"


def _stated_phases(item: InventoryItem) -> frozenset[str]:
    """The phases a credit file's head states: those of its amount headers (``AE LFI 2020``), else the values of its
    ``phase`` column in the rows of its head (``PLF 2022``). Empty when it states none (then its name's or its
    catalogue entry's phase is taken, which contradicts nothing)."""
    from schemas.families import vocabulary
    from warehouse.sources import recognise

    found = recognise(item.source, whole_encoding=False)  # the heads the inventory read, not read again
    if found.match is None:
        return frozenset()
    header = frozenset(a.phase for a in found.match.amounts if a.phase)
    index = found.match.fields.get("phase")
    if header or index is None or found.head is None:
        return header
    names = vocabulary()["phase"]
    stated = set()
    for row in found.head.rows:
        tokens = re.findall(r"[a-z]+", (row[index] or "").lower())
        phase = names.get("".join(tokens)) or next((names[t] for t in tokens if t in names), None)
        if phase:
            stated.add(phase)
    return frozenset(stated)


#: What a source of the latest release or a catalogue entry holds: (its id, exercice, phases, file name).
_Held = tuple[str, int, frozenset[str], str]


def known_bytes(previous: dict[str, dict]) -> dict[str, list[_Held]]:
    """What the sources of the latest release (``previous``, those of a known exercice, by id) and then the catalogue
    entries hold, by sha256 (in that order): made once per inventory, looked up by :func:`held_elsewhere`."""
    from schemas.catalogue import catalogue

    known: dict[str, list[_Held]] = {}
    for source_id, r in sorted(previous.items()):
        if r["exercice"] is not None:
            known.setdefault(r["sha256"], []).append((source_id, r["exercice"], _phases(r["phases"]), r["fichier"]))
    for e in catalogue():
        known.setdefault(e.sha256, []).append((e.id, e.exercice, frozenset(e.phases), e.fichier))
    return known


def held_elsewhere(
    item: InventoryItem, previous: dict[str, dict], known: dict[str, list[_Held]] | None = None
) -> str | None:
    """Why ``item`` (a credit or nomenclature file read) holds another exercice or phase than it should, or None.

    What it should hold: its catalogue entry's exercice and phases, unless the file has the entry's own bytes;
    else, for a file the catalogue does not list, what its source held in the latest release (``previous``), unless
    the bytes are the same. What it holds: the exercice and phases of a source of ``previous`` or a catalogue entry
    with the same bytes under another id, else the exercice its head states and the phases of its head
    (:func:`_stated_phases`). Another exercice, or no phase in common (when both state phases), contradicts.
    ``known``: :func:`known_bytes` of ``previous``, made once for the items of an inventory (made here if None)."""
    if item.error is not None or item.kind not in ("credits", "nomenclature"):
        return None
    source = item.source
    before = previous.get(source.source_id)
    entry = source.entree
    if entry is not None and entry.sha256 == source.sha256:
        return None
    if before is not None and before["sha256"] == source.sha256:
        return None  # the bytes the latest release read as this source
    if entry is not None and item.kind == "credits":
        should, whose = (entry.exercice, frozenset(entry.phases)), f"the catalogue's {entry.id}"
    elif before is not None and before["exercice"] is not None:
        should, whose = (before["exercice"], _phases(before["phases"])), f"the latest release's {source.source_id}"
    else:
        return None
    if known is None:
        known = known_bytes(previous)
    same = next((k for k in known.get(source.sha256, ()) if k[0] != source.source_id), None)  # under another id
    if same is not None:
        held, how = (same[1], same[2]), f" (the bytes of {same[3]})"
    else:
        held, how = (item.exercice, _stated_phases(item)), ""
    if held[0] == should[0] and (not held[1] or not should[1] or held[1] & should[1]):
        return None
    return (
        f"holds {_shown(*held)}{how} where {whose} is {_shown(*should)}: not read "
        f"(rename the file if it is meant to hold that)"
    )


def _contradicted(item: InventoryItem, before: dict | None, why: str) -> InventoryItem:
    """``item``, whose content contradicts what it should hold (:func:`held_elsewhere`), as a source in error of
    what it should hold: its former family and exercice when the latest release holds it (its data kept), else its
    catalogue entry's exercice (nothing loaded)."""
    if before is not None:
        return _kept(replace(item, exercice=before["exercice"]), before, f"{why}; {LAST_GOOD_KEPT}")
    entry = item.source.entree
    exercice = entry.exercice if entry is not None else item.exercice
    return replace(item, famille=None, exercice=exercice, error=why)


def _read_as_before(item: InventoryItem, before: dict) -> bool:
    """Whether ``item`` (a file of this build with the bytes of ``before``, a source of the latest release) will be
    read as that source was: the same family and exercice (credits, nomenclature: a name that loses its year
    is not), a performance file (recognised by its header), or a document under the same file name (recognised
    by its name)."""
    from schemas.performance.families import is_performance_header

    if item.error is not None:
        return False
    if item.famille is not None:
        return item.famille == before["format"] and item.exercice == before["exercice"]
    kind = _kind(before["format"])
    if kind == "performance":
        return is_performance_header(item.entete)
    return kind == "document" and item.source.chemin.name == Path(before["fichier"]).name


def expect_release_sources(
    items: list[InventoryItem],
    previous: dict[str, dict],
    folder: Path,
    prune: bool,
    downloaded: bool = False,
    years: tuple[int, int] | None = None,
) -> list[InventoryItem]:
    """The inventory ``items`` with the sources of the latest release (``previous``, from
    :func:`previous_sources`) that could not be got or read turned into items in error, and,
    without ``prune``, those absent added as :data:`ABSENT` items (:data:`NOT_DOWNLOADED` on a
    download build, ``downloaded``: ``folder`` is then the downloads folder). A source whose bytes (sha256) a
    file of this build has, which will be read as that source was (:func:`_read_as_before`: the file was moved
    or renamed), is not absent: it is that file, under its new id. A file renamed so that it is read otherwise
    (its year lost) leaves the source absent. With ``prune`` and ``years`` (``--years``), a credit source of an
    exercice outside them is not pruned (only those of the exercices built are): absent, it is added all the same."""
    from schemas.performance.families import is_performance_header

    result = []
    known = known_bytes(previous)
    for item in items:
        before = previous.get(item.source.source_id)
        contradiction = held_elsewhere(item, previous, known)
        if contradiction is not None:
            result.append(_contradicted(item, before, contradiction))
            continue
        readable = item.error is None and (
            item.famille is not None
            or is_performance_header(item.entete)
            or (before is not None and before["format"] in DOCUMENT_FORMATS)
        )
        if before is None or readable:
            result.append(item)
            continue
        why = item.error or "matches no covered family any more"
        result.append(_kept(item, before, f"{why} (it was read as {before['format']}; {LAST_GOOD_KEPT})"))
    seen = {i.source.source_id for i in items}
    by_sha256: dict[str, list[InventoryItem]] = {}
    for item in items:
        by_sha256.setdefault(item.source.sha256, []).append(item)
    if not prune or years is not None:
        for source_id, before in sorted(previous.items()):
            if prune and not _outside(before, years):
                continue  # pruned: its data goes
            if source_id in seen or any(_read_as_before(i, before) for i in by_sha256.get(before["sha256"], [])):
                continue  # moved or renamed: read under its new id (kept as absent too, its data would be twice)
            source = SourceFile(
                source_id=source_id,
                fichier=before["fichier"],
                chemin=folder / before["fichier"],
                sha256=before["sha256"] or "",
                octets=before["octets"] or 0,
                url=before["url"],
            )
            entete = tuple((before["entete"] or "").split(" | ")) if before["entete"] else ()
            placeholder = InventoryItem(source, None, before["exercice"], entete, before["type_fichier"])
            result.append(_kept(placeholder, before, NOT_DOWNLOADED if downloaded else ABSENT))
    return result


def _outside(before: dict, years: tuple[int, int] | None) -> bool:
    """Whether ``before`` (a source of the latest release) is a credit source of an exercice outside ``years``."""
    exercice = before["exercice"]
    if years is None or _kind(before["format"]) != "credits" or exercice is None:
        return False
    return not years[0] <= exercice <= years[1]


def prune_exercices(
    database: Path,
    staging_credits: Path,
    held: set[int],
    years: tuple[int, int] | None = None,
    given: list[str] | None = None,
) -> list[int]:
    """``--prune``: the exercices of ``credits`` that no source of this build holds any more
    (inside ``years`` when given) lose their rows and their staged lines, as their sources were
    pruned. ``database``: the build's working copy. ``held``: the exercices of the credit files this build reads;
    ``given`` (None: only ``held`` counts): the source ids of this build, whose rows of ``credits`` hold their
    exercice too (a source in error, its last good data kept). A source in error with no data (a failed download
    of a file never loaded) holds none: its exercice goes, as its sources' rows would. Returns those exercices."""
    from warehouse.store import writer

    if not database.exists():
        return []
    with writer(database) as connection:
        present = [e for (e,) in connection.execute("SELECT DISTINCT exercice FROM credits").fetchall()]
        if given is not None:  # the exercices whose rows a source of this build keeps
            held = held | {
                e
                for (e,) in connection.execute(
                    "SELECT DISTINCT exercice FROM credits WHERE list_contains(?, source_id)", [given]
                ).fetchall()
            }
        gone = sorted(e for e in present if e not in held and (years is None or years[0] <= e <= years[1]))
        for exercice in gone:
            connection.execute("DELETE FROM credits WHERE exercice = ?", [exercice])
    for exercice in gone:
        shutil.rmtree(staging_credits / f"exercice={exercice}", ignore_errors=True)
    return gone


def drop_unheld_staging(staging_credits: Path, held: set[int]) -> list[int]:
    """The staged exercices that no source of this build holds and that hold no line (only the read reports of
    files in error, gone since: a gzip ``PLF_2026_Credits.csv``, the one file of 2026, removed): their staging
    (``<staging_credits>/exercice=<YYYY>``) is removed, so that those files leave ``sources`` and the checks
    rather than failing every later build. A staged exercice that holds lines is left as it is (its data kept;
    ``--prune`` removes it, :func:`prune_exercices`). Returns the exercices removed."""
    import pyarrow.parquet as pq

    from warehouse.credits.staged_lines import PARTITION_KEY, staged_files

    dropped = []
    for folder in sorted(staging_credits.glob(f"{PARTITION_KEY}=*")):
        exercice = folder.name.partition("=")[2]
        if not exercice.isdigit() or int(exercice) in held:
            continue
        if sum(pq.read_metadata(f).num_rows for f in staged_files(staging_credits, int(exercice))):
            continue
        shutil.rmtree(folder)
        dropped.append(int(exercice))
    return dropped
