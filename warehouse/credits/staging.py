"""The staging area: line-level credit rows and read reports, one folder per exercice.

``<out>/staging/credits/exercice=<YYYY>/part-0.parquet`` holds every line read
from every credit file of that exercice, authoritative and witness, with its
``role``; ``rapport.json`` beside it, one report per file. Both are replaced
atomically, one exercice at a time (``shared/cases/B20``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from warehouse.atomic import temporary_for, write_text_atomically
from warehouse.publication.parquet import verify_parquet, write_frame
from warehouse.sources import InventoryItem

__all__ = [
    "SourceReport",
    "read_reports",
    "read_unpartitioned_staging",
    "sink_staging",
    "write_staging",
    "write_reports",
    "write_unpartitioned_staging",
]

PARTITION_KEY = "exercice"
#: Rows per row group of a staged file: the readers downstream (DuckDB, Polars) hold a row group at a time.
ROW_GROUP_ROWS = 50_000


@dataclass
class SourceReport:
    """How reading one source file went (one row of the ``sources`` table, before loading).

    ``statut``: ``lu`` (read), ``erreur`` (a covered family that could not be
    read; ``message`` says the file, the row and the column), ``non_reconnu``
    (no covered family), ``hors_selection`` (an exercice outside ``--years``), ``doublon`` (a byte-identical
    copy of a file read, set aside unread: ``warehouse.credits.roles.set_aside_copies``).
    """

    source_id: str
    fichier: str
    statut: str
    url: str | None = None
    sha256: str | None = None
    octets: int | None = None
    type_fichier: str | None = None
    encodage: str | None = None
    feuille: str | None = None  # the workbook sheet read; None for a CSV
    format: str | None = None
    exercice: int | None = None
    phases: list[str] = field(default_factory=list)
    message: str | None = None
    lignes: int | None = None
    lignes_retenues: int | None = None
    lignes_ecartees_par_motif: dict[str, int] = field(default_factory=dict)
    montants_vides: int | None = None
    titres_corriges: int | None = None
    lignes_preambule: int | None = None  # lines above the header set aside (titles, blank, `sep=;`)
    lignes_recodees: int | None = None  # lines of a UTF-8 file whose stray bytes were read as Windows-1252
    # Published total lines that differ from the detail lines they sum: one dict per (line, column),
    # keys ligne, libelle, colonne, attendu, trouve (see warehouse.credits.files.CreditRead).
    controle_totaux: list[dict] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)
    entete: list[str] = field(default_factory=list)
    lu_le: str | None = None  # ISO time the file was read (UTC); for an error, of the attempt

    @property
    def lignes_ecartees(self) -> int:
        return sum(self.lignes_ecartees_par_motif.values())

    @classmethod
    def starting(cls, item: InventoryItem) -> SourceReport:
        """The report of a file about to be read (``statut = 'lu'`` until an error says otherwise)."""
        source = item.source
        return cls(
            source_id=source.source_id,
            fichier=source.fichier,
            statut="lu",
            url=source.url,
            sha256=source.sha256,
            octets=source.octets,
            type_fichier=item.type_fichier,
            encodage=item.encodage,
            feuille=item.feuille,
            format=item.famille,
            exercice=item.exercice,
            entete=list(item.entete),
            lu_le=dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        )


def _folder(root: Path, exercice: int) -> Path:
    return root / f"{PARTITION_KEY}={exercice}"


def write_reports(folder: Path, reports: list[SourceReport]) -> None:
    """Replace ``folder/rapport.json`` by ``reports`` (atomically: a new file renamed over it)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomically(
        folder / "rapport.json", json.dumps([asdict(r) for r in reports], ensure_ascii=False, indent=1)
    )


def sink_staging(
    root: Path,
    exercice: int,
    lines: pl.LazyFrame,
    reports: list[SourceReport] | Callable[[], list[SourceReport]],
) -> int:
    """Replace the staging of ``exercice`` from a ``LazyFrame``, streamed to Parquet (``sink_parquet``).

    The file is written under a temporary name, checked (magic bytes, footer) and renamed; stale files
    of the partition are removed. ``reports``: the reports, or a function giving them once the lines are
    written (a reader that counts while the sink reads it). Returns its row count.
    """

    def write(path: Path) -> None:
        # lz4: a third less CPU than zstd; row groups of 50,000 lines (not 100,000): the sink buffers fewer lines
        lines.sink_parquet(path, compression="lz4", engine="streaming", row_group_size=ROW_GROUP_ROWS)

    return _replace(root, exercice, write, reports)


def write_staging(
    root: Path,
    exercice: int,
    batches: Iterable[pl.DataFrame],
    schema: dict[str, pl.DataType],
    reports: Callable[[], list[SourceReport]],
) -> int:
    """Replace the staging of ``exercice`` by the frames of ``batches``, written one after the other (row groups
    of :data:`ROW_GROUP_ROWS` at most, lz4) by a Parquet writer in a second thread while the next batch is made
    (pyarrow releases the GIL while it encodes): memory holds the batch being written and the next one, never
    more.
    ``schema``: the frames' columns (the file's when no batch comes). ``reports`` gives the reports once every
    batch is written. As :func:`sink_staging` otherwise; a ``batches`` that raises leaves the staging as it
    was (the batch being written is written first). Returns the row count."""

    def write(path: Path) -> None:
        arrow = pl.DataFrame(schema=schema).to_arrow(compat_level=pl.CompatLevel.newest()).schema
        # Dictionaries for the text columns only (codes, labels: few values): on amounts and line numbers (many
        # values) the writer built one per row group and fell back to plain; 1 M synthetic lines: a fifth less
        # CPU writing, a file 7 % smaller, the same rows and values.
        dictionary = [name for name, dtype in schema.items() if dtype == pl.String]
        with (
            pq.ParquetWriter(
                path, arrow, compression="lz4", write_statistics=False, use_dictionary=dictionary
            ) as writer,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="budget-warehouse-staging") as pool,
        ):
            writing: Future | None = None
            for batch in batches:
                table = batch.select(list(schema)).to_arrow(compat_level=pl.CompatLevel.newest())
                del batch
                if writing is not None:
                    writing.result()  # one batch written at a time, in order; its error raised here
                writing = pool.submit(writer.write_table, table, row_group_size=ROW_GROUP_ROWS)
                del table
            if writing is not None:
                writing.result()

    return _replace(root, exercice, write, reports)


def _replace(
    root: Path,
    exercice: int,
    write: Callable[[Path], None],
    reports: list[SourceReport] | Callable[[], list[SourceReport]],
) -> int:
    """Replace the staged file of ``exercice`` by what ``write`` writes to the path it is given; then its reports."""
    folder = _folder(root, exercice)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / "part-0.parquet"
    temporary = temporary_for(final)
    try:
        write(temporary)
        rows = verify_parquet(temporary)
        if callable(reports):
            reports = reports()
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    for stale in folder.glob("*.parquet"):
        if stale != final:
            stale.unlink()
    write_reports(folder, reports)
    return rows


def write_unpartitioned_staging(root: Path, rows: pl.DataFrame, reports: list[SourceReport]) -> None:
    """Replace an unpartitioned staging (``<root>/part-0.parquet`` and ``<root>/rapport.json``)."""
    write_frame(rows, root / "part-0.parquet")
    write_reports(root, reports)


def read_unpartitioned_staging(root: Path) -> pl.DataFrame | None:
    """The rows of an unpartitioned staging, or None if there is none yet."""
    path = root / "part-0.parquet"
    return pl.read_parquet(path) if path.exists() else None


def read_reports(root: Path, exercice: int | None = None) -> list[SourceReport]:
    """Staged reports of ``exercice``, or every report below ``root``."""
    paths = [_folder(root, exercice) / "rapport.json"] if exercice is not None else sorted(root.rglob("rapport.json"))
    reports = []
    for path in paths:
        if path.exists():
            reports.extend(SourceReport(**r) for r in json.loads(path.read_text(encoding="utf-8")))
    return reports
