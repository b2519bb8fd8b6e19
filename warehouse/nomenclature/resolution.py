"""The nomenclature per exercice, and what changed between exercices.

From the elements read in every nomenclature file and the labels the credit files
carry (``shared/data/README.md``, "Nomenclature"): for each exercice, the codes are
the union of its files; the label comes from the latest phase that gives a
non-empty one (EXEC, else LFR, else LFI, else PLF; a nomenclature file before a
credit file of the same phase). Labels are cleaned before they are stored and
compared (:mod:`schemas.labels`).
"""

from __future__ import annotations

import tempfile
import tomllib
from collections.abc import Iterator
from functools import cache, partial
from importlib import resources
from itertools import pairwise
from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl
import pyarrow as arrow
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rapidfuzz import fuzz

from schemas.labels import clean_label, label_key
from schemas.validation import ValidationFailed, validate
from warehouse.ahead import taken
from warehouse.credits.files import SourceReadError
from warehouse.credits.staged_lines import files_version, scratch, staged_files, staged_relation
from warehouse.credits.staging import SourceReport
from warehouse.expected import is_absent
from warehouse.nomenclature.files import ELEMENT_SCHEMA, NomenclatureRead, read_nomenclature_table
from warehouse.reading.tables import TableReadError
from warehouse.sources import InventoryItem, recognise
from warehouse.store import memory_limit, quote_identifier, quote_literal, sharing_hashes

__all__ = [
    "EVENT_SCHEMA",
    "LEVEL_KEYS",
    "credit_elements",
    "credit_elements_version",
    "read_elements",
    "staged_credit_elements",
    "write_credit_elements",
    "derive_events",
    "known_events",
    "element_files",
    "resolve_nomenclature",
    "resolve_staged_nomenclature",
    "resolve_staged_nomenclature_files",
    "validate_file",
    "scan_elements",
    "stage_nomenclature",
    "nomenclature_read_key",
    "read_nomenclature_file",
]

#: How late a phase is: a later phase's label wins.
PHASE_RANK = {"PLF": 1, "AMD": 1, "LFI": 2, "LFR": 3, "EXEC": 4}

#: The codes that identify an element of each level within an exercice.
LEVEL_KEYS = {
    "mission": ["code_mission"],
    "programme": ["code_programme"],
    "action": ["code_programme", "code_action"],
    "sous_action": ["code_programme", "code_action", "code_sous_action"],
    "ministere": ["code_ministere"],
    "categorie": ["code_categorie"],
    "titre": ["code_titre"],
}

#: Minimum label similarity (rapidfuzz ratio of folded labels, 0–100) for a ``changement_code``.
SAME_LABEL_SCORE = 90.0

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "exercice": pl.Int16,
    "niveau": pl.String,
    "code_mission": pl.String,
    "code_programme": pl.String,
    "code_action": pl.String,
    "code_sous_action": pl.String,
    "type_evenement": pl.String,
    "ancien_libelle": pl.String,
    "nouveau_libelle": pl.String,
    "vers": pl.String,
    "origine": pl.String,
    "score": pl.Float64,
}

_CREDIT_LEVELS = {
    "mission": (["code_mission"], "libelle_mission"),
    "programme": (["code_programme", "code_mission", "code_ministere"], "libelle_programme"),
    "action": (["code_programme", "code_action"], "libelle_action"),
    "sous_action": (["code_programme", "code_action", "code_sous_action"], "libelle_sous_action"),
    "ministere": (["code_ministere"], "libelle_ministere"),
    "categorie": (["code_categorie"], "libelle_categorie"),
    "titre": (["code_titre"], "libelle_titre"),
}


def credit_elements(lines: pl.DataFrame) -> pl.DataFrame:
    """The elements the credit files state: their codes and, where given, their labels.

    ``lines``: staged line-level credit rows (``staging/credits``). Returns rows of
    :data:`warehouse.nomenclature.files.ELEMENT_SCHEMA`, one per distinct element
    and source. For the whole staging area, :func:`staged_credit_elements` gives the
    same rows without reading the lines into Python.
    """
    with scratch() as connection:
        connection.register("lignes_credits", lines.with_row_index("_ordre").to_arrow())
        return _credit_elements(connection, "lignes_credits")


def staged_credit_elements(staging: Path, exercice: int | None = None) -> pl.DataFrame | None:
    """:func:`credit_elements` of every line staged under ``staging`` (``staging/credits``) for ``exercice``
    (or every exercice), computed by DuckDB over the Parquet files; None when nothing is staged."""
    files = staged_files(staging, exercice)
    if not files:
        return None
    with scratch() as connection:
        return _credit_elements(connection, _in_order(files))


def _in_order(files: list[Path]) -> str:
    """The staged lines of ``files`` as a DuckDB relation with ``_ordre``: their order, file by file, each in the
    reading order of its lines (``ordre_lecture``: amount group, then line, whatever the order they were written
    in: ``warehouse.credits.files.reading_order``); a file staged before that column, in its rows' order."""
    listed = ", ".join(quote_literal(f) for f in files)
    ordered = ["ordre_lecture" in pq.read_schema(f).names for f in files]
    within = "coalesce(ordre_lecture, file_row_number)" if any(ordered) else "file_row_number"
    if all(ordered):
        within = "ordre_lecture"
    return (
        f"(SELECT *, (list_position([{listed}], filename)::HUGEINT << 64) + {within} AS _ordre "
        f"FROM {staged_relation(files)})"
    )


#: The file of one exercice's credit elements under the credit elements' staging folder.
ELEMENTS_FILE = "elements.parquet"
_BATCH_ROWS = 200_000


#: DuckDB's memory limit while grouping the credit elements: with labels as ENUMs the groups are small, and
#: 256 MB spill a little more than 512 MB for ~240 MB less peak RSS (1 M
#: synthetic lines: 4.7 s user either way, 545 MiB peak against 790).
ELEMENTS_MEMORY_LIMIT = "256MB"

#: DuckDB's memory limit where :data:`ELEMENTS_MEMORY_LIMIT` is too small (labels too many and too long for an
#: ENUM; a writer's buffers): 512 MB, the store's limit before it was lowered to 320 MB (issue 11, wave 6), with
#: which the adversarial inputs that need it were measured (20,000 distinct labels of 4,000 characters).
FALLBACK_MEMORY_LIMIT = "512MB"


def _elements_path(root: Path, exercice: int) -> Path:
    return root / f"exercice={exercice}" / ELEMENTS_FILE


def write_credit_elements(staging: Path, root: Path, exercices: list[int]) -> dict[int, int]:
    """Write the credit elements (:func:`credit_elements`) of the lines of each of ``exercices`` staged
    under ``staging`` to ``<root>/exercice=<YYYY>/elements.parquet`` (zstd), in bounded memory, the lines read
    three times by DuckDB whatever their number (:func:`_write_elements`): no line or element comes into Python as
    objects, only Arrow batches on their way to the file. Within :data:`ELEMENTS_MEMORY_LIMIT` (DuckDB spills
    its aggregates and sorts to disk), else (labels too many and too long) with labels grouped as text within
    :data:`FALLBACK_MEMORY_LIMIT`. An exercice with nothing staged has its file removed. Returns the number
    of elements written per exercice."""
    counts = dict.fromkeys(exercices, 0)
    staged = {exercice: staged_files(staging, exercice) for exercice in exercices}
    written = [exercice for exercice in exercices if staged[exercice]]
    if written:
        files = [f for exercice in written for f in staged[exercice]]
        with scratch() as connection:
            lines = _ordered_lines(files, connection)
            try:
                with memory_limit(connection, ELEMENTS_MEMORY_LIMIT):
                    counts |= _write_elements(connection, lines, root, written, as_enum=True)
            except duckdb.OutOfMemoryException:
                # Labels too many and too long for an ENUM within ELEMENTS_MEMORY_LIMIT (100,000 distinct
                # labels of 770 characters): grouped as text, within FALLBACK_MEMORY_LIMIT.
                with memory_limit(connection, FALLBACK_MEMORY_LIMIT):
                    counts |= _write_elements(connection, lines, root, written, as_enum=False)
    for exercice in exercices:
        if not counts[exercice]:
            _elements_path(root, exercice).unlink(missing_ok=True)
    return counts


def _ordered_lines(files: list[Path], connection: duckdb.DuckDBPyConnection | None = None) -> str:
    """:func:`_in_order` of ``files`` (``_ordre``: the lines' order, file by file, each in its reading order),
    ``_ordre`` as a ``BIGINT`` where it fits one (the file's place in its high bits, from the largest
    ``ordre_lecture`` the files' statistics give, else, with ``connection``, a scan of that one column: the
    staging writes no statistics), else a ``HUGEINT``: the same order, compared and kept cheaper."""
    within_bits = 0
    unknown = []
    for path in files:
        metadata = pq.read_metadata(path)
        names = metadata.schema.names
        within_bits = max(within_bits, metadata.num_rows.bit_length())
        if "ordre_lecture" not in names:
            continue
        column = names.index("ordre_lecture")
        for group in range(metadata.num_row_groups):
            statistics = metadata.row_group(group).column(column).statistics
            if statistics is None or not statistics.has_min_max:
                unknown.append(path)
                break
            within_bits = max(within_bits, int(statistics.max).bit_length())
    if unknown:
        if connection is None:
            return _in_order(files)
        listed = ", ".join(quote_literal(f) for f in unknown)
        query = f"SELECT min(ordre_lecture), max(ordre_lecture) FROM read_parquet([{listed}])"
        smallest, largest = connection.execute(query).fetchall()[0]
        if smallest is None or smallest < 0:
            return _in_order(files)
        within_bits = max(within_bits, int(largest).bit_length())
    if within_bits + len(files).bit_length() > 62:
        return _in_order(files)
    listed = ", ".join(quote_literal(f) for f in files)
    ordered = ["ordre_lecture" in pq.read_schema(f).names for f in files]
    within = "coalesce(ordre_lecture, file_row_number)" if any(ordered) else "file_row_number"
    if all(ordered):
        within = "ordre_lecture"
    place = f"((list_position([{listed}], filename) - 1)::BIGINT << {within_bits})" if len(files) > 1 else "0::BIGINT"
    return f"(SELECT *, {place} + {within} AS _ordre FROM {staged_relation(files)})"


#: The levels grouped from the lines' distinct combinations of codes, budget type and labels (few per
#: programme): all but ``action`` (its elements are grouped from the lines, :data:`_FROM_LINES`) and
#: ``sous_action`` (whose elements can be as many as the lines).
_FEW_LEVELS = ["mission", "programme", "ministere", "categorie", "titre"]
#: The levels of :data:`_CREDIT_LEVELS` but ``sous_action`` grouped straight from the lines: the synthetic
#: file of 100,000 lines has as many distinct (programme, action, budget type, label) combinations as lines
#: (171,686 per phase, source and exercice), so grouping them from their combinations grouped the lines twice.
_FROM_LINES = ["action"]
#: The grouping sets of :func:`_write_elements`' pass over the lines, by ``grouping_id`` of
#: :data:`_SMALL_SETS`' columns: the combinations every level of :data:`_FEW_LEVELS` is grouped from
#: (:data:`_COMBINATIONS`), and the distinct action and sous-action codes and labels (``ENUM`` values and the
#: labels to clean).
_SETS = {
    "combinaisons": ["source_id", "exercice", "phase", "type_budget", "code_mission", "code_programme"]
    + ["code_ministere", "code_categorie", "code_titre", "libelle_mission", "libelle_programme"]
    + ["libelle_ministere", "libelle_categorie", "libelle_titre"],
    "code_action": ["code_action"],
    "libelle_action": ["libelle_action"],
    "code_sous_action": ["code_sous_action"],
    "libelle_sous_action": ["libelle_sous_action"],
}
_SMALL_SETS = ["code_action", "libelle_action", "code_sous_action", "libelle_sous_action"]
#: ``grouping_id`` of the combinations' set: every column of :data:`_SMALL_SETS` left out of it.
_COMBINATIONS = (1 << len(_SMALL_SETS)) - 1
#: The columns of the ``sous_action`` elements grouped as an ``ENUM`` of the values the grouping sets give.
_AS_ENUM = ["source_id", "phase", "type_budget", "code_programme", "code_action", "code_sous_action"]
_ARROW_TYPES = {pl.Int16: arrow.int16(), pl.Int32: arrow.int32(), pl.String: arrow.string()}
#: The columns of the element files with statistics (min, max, nulls per row group): those readers filter on
#: (``niveau`` above all: the levels are written one after the other). Those of the others cost a fifth of the
#: write (1 M synthetic lines: 0.53 -> 0.41 s user for 2.3 M elements) and serve no reader.
_WITH_STATISTICS = ["source_id", "exercice", "phase", "niveau"]
_ELEMENT_ARROW = arrow.schema([(c, _ARROW_TYPES[t]) for c, t in ELEMENT_SCHEMA.items()])


def _write_elements(
    connection: duckdb.DuckDBPyConnection, relation: str, root: Path, exercices: list[int], as_enum: bool
) -> dict[int, int]:
    """Write the elements of the lines of ``relation`` (:func:`_ordered_lines`) of each of ``exercices`` to its
    file under ``root``; return their number per exercice. Each file holds the levels in the order of
    :data:`_CREDIT_LEVELS`, each level's elements in the order of their first line: the rows of
    :func:`_level_sql`.

    The lines are read three times. Once for the levels of :data:`_FEW_LEVELS`: grouped by the codes, budget
    type and labels of the levels (``GROUPING SETS``, :data:`_SETS`: tens of thousands of combinations for
    millions of lines), each combination with its first line and smallest line number; the elements are then
    grouped from those combinations (a combination holds one budget type and one label: the first given over
    an element's lines is the one of its first combination that gives one), each distinct label cleaned once.
    Once for ``action`` (:data:`_FROM_LINES`), grouped from the lines. Once for ``sous_action``, grouped from
    the lines (its elements can be as many), sorted by DuckDB by exercice then first line and streamed to each
    exercice's file in turn, between the levels before and after it; with ``as_enum``, its codes and labels
    grouped as ``ENUM``s of the values the first pass found (:data:`_AS_ENUM`: a few bytes per element, less to
    spill), each label cleaned once; else as text. Only Arrow batches come into Python (pyarrow writes the files)."""
    columns = list(dict.fromkeys(c for names in _SETS.values() for c in names))
    sets = ", ".join(f"({', '.join(names)})" for names in _SETS.values())
    connection.execute(
        f"""CREATE OR REPLACE TEMP TABLE combinaisons AS
        SELECT {", ".join(columns)}, grouping_id({", ".join(_SMALL_SETS)}) AS ensemble,
               min(source_ligne) AS source_ligne, min(_ordre) AS _ordre
        FROM {relation} GROUP BY GROUPING SETS ({sets})"""
    )
    of_set = dict.fromkeys(_FEW_LEVELS, f"(FROM combinaisons WHERE ensemble = {_COMBINATIONS})")
    of_set |= dict.fromkeys(_FROM_LINES, relation)
    levels = " UNION ALL ".join(
        f"SELECT *, {rank} AS _rang FROM ({_level_sql(of_set[niveau], niveau)})"
        for rank, niveau in enumerate(_CREDIT_LEVELS)
        if niveau in of_set
    )
    distinct = " UNION ".join(
        f"SELECT {_CREDIT_LEVELS[n][1]} AS libelle FROM combinaisons" for n in [*_FEW_LEVELS, *_FROM_LINES]
    )
    # The levels but sous_action, in one table in the order of the files (by exercice, level, first line),
    # split around the sous-actions in Python (not a DuckDB table read twice: 174,659 elements at 100,000
    # synthetic lines, whose copy into a table cost as much as their grouping).
    few = connection.sql(
        f"""SELECT e.* EXCLUDE (_premier) REPLACE (l.propre AS libelle) FROM ({levels}) e
        LEFT JOIN (SELECT libelle, {clean_label_sql("libelle")} AS propre FROM ({distinct}) WHERE libelle IS NOT NULL) l
        USING (libelle) ORDER BY exercice, _rang, _premier"""
    ).to_arrow_table()
    codes, label = _CREDIT_LEVELS["sous_action"]
    grouped = {c: c for c in [*_AS_ENUM, label]}
    cleaned: arrow.Table | None = None
    if as_enum:
        for column in [*_AS_ENUM, label]:
            grouped[column] = f"{column}::valeurs_{column}"
            connection.execute(
                f"CREATE OR REPLACE TYPE valeurs_{column} AS ENUM "
                f"(SELECT DISTINCT {column} FROM combinaisons WHERE {column} IS NOT NULL ORDER BY {column})"
            )
        cleaned = connection.sql(
            f"SELECT libelle, {clean_label_sql('libelle')} AS propre "
            f"FROM unnest(enum_range(NULL::valeurs_{label})::VARCHAR[]) t(libelle)"
        ).to_arrow_table()
    libelle = f"arg_min({label}, _ordre) FILTER (WHERE {label} IS NOT NULL)"
    if not as_enum:
        libelle = clean_label_sql(libelle)
    keys = ", ".join(["source_id", "exercice", "phase", *codes])
    wanted = ", ".join(str(int(exercice)) for exercice in exercices)
    sous_actions = f"""
        SELECT source_id, min(source_ligne)::INTEGER AS source_ligne, exercice::SMALLINT AS exercice, phase,
               arg_min(type_budget, _ordre) FILTER (WHERE type_budget IS NOT NULL) AS type_budget, {", ".join(codes)},
               {libelle} AS libelle
        FROM (SELECT {", ".join(f"{e} AS {c}" for c, e in grouped.items())}, exercice, source_ligne, _ordre
              FROM {relation} WHERE exercice IN ({wanted}) AND {codes[0]} IS NOT NULL)
        GROUP BY {keys} ORDER BY exercice, min(_ordre)"""
    rank = list(_CREDIT_LEVELS).index("sous_action")

    def levels_of(exercice: int, side: str) -> list[arrow.RecordBatch]:
        """The rows of ``few`` of ``exercice`` before the sous-actions' level (``side`` "less") or after it."""
        kept = pc.and_(pc.equal(few.column("exercice"), exercice), getattr(pc, side)(few.column("_rang"), rank))
        return few.filter(kept).drop_columns(["_rang"]).to_batches()

    # One query for the sous-actions of every exercice, in the order of the exercices then of their first line.
    stream = _runs_by_exercice(connection.sql(sous_actions).to_arrow_reader(_BATCH_ROWS))
    pending = next(stream, None)
    counts = {}
    for exercice in sorted(exercices):
        path = _elements_path(root, exercice)
        temporary = path.with_suffix(".tmp")
        temporary.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        try:
            with pq.ParquetWriter(
                temporary, _ELEMENT_ARROW, compression="zstd", write_statistics=_WITH_STATISTICS
            ) as writer:
                for batch in levels_of(exercice, "less"):
                    writer.write_batch(batch.cast(_ELEMENT_ARROW))
                    count += batch.num_rows
                while pending is not None and pending[0] == exercice:
                    writer.write_batch(_sous_action_batch(pending[1], cleaned).cast(_ELEMENT_ARROW))
                    count += pending[1].num_rows
                    pending = next(stream, None)
                for batch in levels_of(exercice, "greater"):
                    writer.write_batch(batch.cast(_ELEMENT_ARROW))
                    count += batch.num_rows
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        counts[exercice] = count
        if count:
            temporary.replace(path)
        else:
            temporary.unlink()
    return counts


def _runs_by_exercice(batches: Iterator[arrow.RecordBatch]) -> Iterator[tuple[int, arrow.RecordBatch]]:
    """The rows of ``batches`` (sorted by ``exercice``) as (exercice, batch of that exercice's rows)."""
    for batch in batches:
        runs = pc.run_end_encode(batch.column("exercice"))
        start = 0
        for exercice, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
            yield exercice, batch.slice(start, end - start)
            start = end


def _sous_action_batch(batch: arrow.RecordBatch, cleaned: arrow.Table | None) -> arrow.RecordBatch:
    """A batch of :func:`_write_elements`' ``sous_action`` query in ``ELEMENT_SCHEMA`` columns: ``niveau``, the
    columns of other levels null, and, where the label was grouped as an ``ENUM`` (``cleaned``: its values,
    ``libelle``, and each one cleaned, ``propre``), the label cleaned: the batch's dictionary of labels
    replaced by their cleaned values."""
    columns = {}
    for name in ELEMENT_SCHEMA:
        if name == "niveau":
            columns[name] = arrow.repeat("sous_action", batch.num_rows)
        elif name in batch.schema.names:
            columns[name] = batch.column(name)
        else:
            columns[name] = arrow.nulls(batch.num_rows, _ELEMENT_ARROW.field(name).type)
    if cleaned is not None:
        labels = columns["libelle"]
        found = pc.index_in(labels.dictionary, value_set=cleaned.column("libelle").combine_chunks())
        dictionary = pc.take(cleaned.column("propre").combine_chunks(), found)
        columns["libelle"] = arrow.DictionaryArray.from_arrays(labels.indices, dictionary)
    return arrow.RecordBatch.from_pydict(columns)


def _element_files(root: Path, staging: Path) -> list[Path]:
    """The credit elements' files under ``root`` of the exercices that have lines staged under ``staging``."""
    staged = {path.parent.name for path in staged_files(staging)}
    return [path for path in sorted(root.glob(f"exercice=*/{ELEMENTS_FILE}")) if path.parent.name in staged]


def read_elements(nomenclature: pl.DataFrame | None, root: Path, staging: Path) -> pl.DataFrame:
    """Every element staged: ``nomenclature`` (from the nomenclature files) then the credit elements
    written under ``root`` (:func:`write_credit_elements`) of every exercice with lines staged under
    ``staging``, level by level as :func:`staged_credit_elements` of the whole staging area gives them
    (the same rows in the same order)."""
    frames = [nomenclature] if nomenclature is not None else []
    files = _element_files(root, staging)
    if files:
        credits = pl.concat([pl.read_parquet(f) for f in files])
        rank = {niveau: n for n, niveau in enumerate(_CREDIT_LEVELS)}
        order = pl.col("niveau").replace_strict(rank, return_dtype=pl.Int8)
        frames.append(credits.sort(order, maintain_order=True))
    return pl.concat(frames) if frames else pl.DataFrame(schema=ELEMENT_SCHEMA)


def credit_elements_version(root: Path, staging: Path) -> str:
    """The sha256 of the credit elements of every exercice (:func:`read_elements`): of each exercice's
    name and the sha256 of its file. What the nomenclature reads from the credit files, the same whatever
    the exercices a run wrote: a run whose lines changed but not their codes and labels leaves it as it was.
    """
    return files_version(_element_files(root, staging))


#: The characters Python's ``str.split()`` splits on (``str.isspace``), as an RE2 class.
_WHITE_SPACE = (
    r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)


def clean_label_sql(column: str) -> str:
    """:func:`schemas.labels.clean_label` of ``column`` (without a code) as a DuckDB expression: the
    Excel artefacts ``_x000D_``/``_x000A_`` replaced by a space, white space (:data:`_WHITE_SPACE`)
    collapsed to one space and trimmed, null where nothing is left."""
    no_artefact = f"regexp_replace({column}, '_x000[dDaA]_', ' ', 'g')"
    return f"nullif(trim(regexp_replace({no_artefact}, '{_WHITE_SPACE}+', ' ', 'g'), ' '), '')"


def _level_sql(relation: str, niveau: str) -> str:
    """The SQL of the elements of level ``niveau`` the credit lines of ``relation`` state (SQL; ``_ordre``
    gives the lines' order), in ``ELEMENT_SCHEMA`` columns plus ``_premier`` (the order of its first line):
    one row per (source, exercice, phase, codes), with its first line, and the first budget type and
    label (as given) in line order. ``relation`` may be combinations of lines with ``source_ligne`` and
    ``_ordre`` those of their first line (:func:`_write_elements`): the same rows."""
    codes, label = _CREDIT_LEVELS[niveau]
    keys = ", ".join(["source_id", "exercice", "phase", *codes])
    given = {*codes, "source_id", "exercice", "phase", "source_ligne", "type_budget"}
    types = {pl.Int16: "SMALLINT", pl.Int32: "INTEGER", pl.String: "VARCHAR"}
    selected = ", ".join(
        f"'{niveau}' AS niveau"
        if c == "niveau"
        else "libelle"
        if c == "libelle"
        else f"CAST({c if c in given else 'NULL'} AS {types[ELEMENT_SCHEMA[c]]}) AS {c}"
        for c in ELEMENT_SCHEMA
    )
    return f"""
        SELECT {selected}, _premier FROM (
            SELECT {keys}, min(source_ligne)::INTEGER AS source_ligne,
                   arg_min(type_budget, _ordre) FILTER (WHERE type_budget IS NOT NULL) AS type_budget,
                   arg_min({label}, _ordre) FILTER (WHERE {label} IS NOT NULL) AS libelle,
                   min(_ordre) AS _premier
            FROM {relation} WHERE {codes[0]} IS NOT NULL
            GROUP BY {keys}
        )"""


def _credit_element_batches(connection: duckdb.DuckDBPyConnection, relation: str):
    """The elements of the credit lines of ``relation`` (SQL; ``_ordre`` gives the lines' order), labels not
    yet cleaned, in batches of ``ELEMENT_SCHEMA`` columns: level by level (:func:`_level_sql`), in the order
    of each element's first line. DuckDB groups within ``MEMORY_LIMIT`` (it spills); only a batch is in
    Python at a time."""
    for niveau in _CREDIT_LEVELS:
        query = f"SELECT * EXCLUDE (_premier) FROM ({_level_sql(relation, niveau)}) ORDER BY _premier"
        for batch in connection.sql(query).fetch_record_batch(_BATCH_ROWS):
            yield pl.from_arrow(batch).cast(ELEMENT_SCHEMA)


def _clean_labels(batch: pl.DataFrame) -> pl.DataFrame:
    """``libelle`` cleaned (:func:`schemas.labels.clean_label`), each distinct label once."""
    labels = batch["libelle"].drop_nulls().unique()
    cleaned = {text: clean_label(text) for text in labels.to_list()}
    return batch.with_columns(libelle=pl.col("libelle").replace_strict(cleaned, default=None, return_dtype=pl.String))


def _credit_elements(connection: duckdb.DuckDBPyConnection, relation: str) -> pl.DataFrame:
    """The elements of the credit lines of ``relation`` (SQL; ``_ordre`` gives the lines' order)."""
    frames = [_clean_labels(batch) for batch in _credit_element_batches(connection, relation)]
    return pl.concat(frames) if frames else pl.DataFrame(schema=ELEMENT_SCHEMA)


def _ranked(elements: pl.DataFrame, nomenclature_sources: set[str]) -> pl.DataFrame:
    return elements.with_columns(
        rang=pl.col("phase").replace_strict(PHASE_RANK, default=0, return_dtype=pl.Int32) * 2
        + pl.col("source_id").is_in(list(nomenclature_sources)).cast(pl.Int32)
    ).sort("rang", descending=True, maintain_order=True)


def _fill_mission_codes(elements: pl.DataFrame) -> pl.DataFrame:
    """Give a code to missions stated by their label only (PLF 2014, PLF 2019 budgets annexes).

    The code is the one another line gives the same (folded) label, when exactly one
    code has it; a programme of that line takes it too.
    """
    known = (
        elements.filter((pl.col("niveau") == "mission") & pl.col("code_mission").is_not_null())
        .with_columns(cle=pl.col("libelle").map_elements(label_key, return_dtype=pl.String))
        .group_by("cle")
        .agg(pl.col("code_mission").unique())
        .filter(pl.col("code_mission").list.len() == 1)
        .select("cle", code_trouve=pl.col("code_mission").list.first())
    )
    missions = (
        elements.filter((pl.col("niveau") == "mission") & pl.col("code_mission").is_null())
        .with_columns(cle=pl.col("libelle").map_elements(label_key, return_dtype=pl.String))
        .join(known, on="cle", how="left")
        .select("source_id", "source_ligne", "code_trouve")
    )
    filled = elements.join(missions, on=["source_id", "source_ligne"], how="left").with_columns(
        code_mission=pl.when(pl.col("niveau").is_in(["mission", "programme"]))
        .then(pl.coalesce("code_mission", "code_trouve"))
        .otherwise(pl.col("code_mission"))
    )
    return filled.drop("code_trouve")


def resolve_nomenclature(elements: pl.DataFrame, nomenclature_sources: set[str]) -> dict[str, pl.DataFrame]:
    """The tables of the nomenclature from every element read.

    ``elements``: rows of ``ELEMENT_SCHEMA`` from nomenclature files (their ids in
    ``nomenclature_sources``) and credit files. Returns the frames ``missions``,
    ``programmes``, ``actions``, ``sous_actions``, ``ministeres`` (per exercice),
    ``categories`` and ``titres`` (one label per code: the latest exercice's).
    """
    ranked = _ranked(_fill_mission_codes(elements), nomenclature_sources)

    def level(niveau: str, *extra: str, per_year: bool = True) -> pl.DataFrame:
        keys = (["exercice"] if per_year else []) + LEVEL_KEYS[niveau]
        rows = ranked.filter((pl.col("niveau") == niveau) & pl.all_horizontal(pl.col(k).is_not_null() for k in keys))
        if not per_year:
            rows = rows.sort("exercice", "rang", descending=True, maintain_order=True)
        return (
            rows.group_by(keys, maintain_order=True)
            .agg(pl.col("libelle").drop_nulls().first(), *[pl.col(c).drop_nulls().first() for c in extra])
            .sort(keys)
        )

    missions = level("mission", "type_budget").rename({"libelle": "libelle_mission"})
    ministeres = level("ministere").rename({"libelle": "libelle_ministere"})
    programmes = (
        level("programme", "code_mission", "code_ministere")
        .rename({"libelle": "libelle_programme"})
        .join(ministeres, on=["exercice", "code_ministere"], how="left")
        .select(
            "exercice", "code_programme", "libelle_programme", "code_mission", "code_ministere", "libelle_ministere"
        )
    )
    actions = level("action").rename({"libelle": "libelle_action"})
    sous_actions = level("sous_action").rename({"libelle": "libelle_sous_action"})
    categories = (
        level("categorie", per_year=False)
        .rename({"libelle": "libelle_categorie"})
        .with_columns(code_titre=pl.col("code_categorie").str.slice(0, 1))
    )
    titres = level("titre", per_year=False).rename({"libelle": "libelle_titre"})
    return {
        "missions": missions.select("exercice", "code_mission", "libelle_mission", "type_budget"),
        "programmes": programmes,
        "actions": actions.select("exercice", "code_programme", "code_action", "libelle_action"),
        "sous_actions": sous_actions.select(
            "exercice", "code_programme", "code_action", "code_sous_action", "libelle_sous_action"
        ),
        "ministeres": ministeres.select("exercice", "code_ministere", "libelle_ministere"),
        "categories": categories.select("code_categorie", "libelle_categorie", "code_titre"),
        "titres": titres.select("code_titre", "libelle_titre"),
    }


#: The levels with one row per code and exercice that can count millions (a credit file of 10 M lines):
#: resolved by DuckDB from the staged files, never read whole into Python (:func:`resolve_staged_nomenclature`).
LARGE_LEVELS = {"action": "libelle_action", "sous_action": "libelle_sous_action"}


def element_files(nomenclature: Path, root: Path, staging: Path) -> list[Path]:
    """The Parquet files holding the rows of :func:`read_elements`: ``nomenclature`` (the nomenclature
    files' ``part-0.parquet``) then the credit elements under ``root`` of the exercices with lines staged
    under ``staging``; none when no nomenclature is staged."""
    if not nomenclature.exists():
        return []
    return [nomenclature, *_element_files(root, staging)]


def scan_elements(nomenclature: Path, root: Path, staging: Path, levels: list[str]) -> pl.DataFrame:
    """:func:`read_elements` of ``levels`` only (``nomenclature``: the nomenclature files' ``part-0.parquet``),
    read from the staged files with the filter pushed down: the large levels stay on disk when not asked."""
    frames = []
    if nomenclature.exists():
        frames.append(pl.scan_parquet(nomenclature).filter(pl.col("niveau").is_in(levels)).collect())
    files = _element_files(root, staging)
    if files:
        credits = pl.concat([pl.scan_parquet(f).filter(pl.col("niveau").is_in(levels)) for f in files]).collect()
        rank = {niveau: n for n, niveau in enumerate(_CREDIT_LEVELS)}
        frames.append(credits.sort(pl.col("niveau").replace_strict(rank, return_dtype=pl.Int8), maintain_order=True))
    return pl.concat(frames) if frames else pl.DataFrame(schema=ELEMENT_SCHEMA)


def resolve_staged_nomenclature(
    nomenclature: Path, root: Path, staging: Path, nomenclature_sources: set[str]
) -> dict[str, pl.DataFrame]:
    """:func:`resolve_nomenclature` of every element staged (:func:`read_elements`: ``nomenclature``, the
    nomenclature files' ``part-0.parquet``, and the credit elements under ``root``): the tables of
    :func:`resolve_staged_nomenclature_files`, the large ones read back from their files."""
    with tempfile.TemporaryDirectory(prefix="budget-nomenclature-") as folder:
        tables, large = resolve_staged_nomenclature_files(
            nomenclature, root, staging, nomenclature_sources, Path(folder)
        )
        return tables | {name: pl.read_parquet(path) for name, path in large.items()}


def resolve_staged_nomenclature_files(
    nomenclature: Path, root: Path, staging: Path, nomenclature_sources: set[str], folder: Path
) -> tuple[dict[str, pl.DataFrame], dict[str, Path]]:
    """:func:`resolve_nomenclature` of every element staged, in bounded memory: the small tables as frames,
    ``actions`` and ``sous_actions`` written to ``<folder>/<table>.parquet`` (sorted by their keys).

    The small levels (missions, programmes, ministères, catégories, titres: a few thousand elements) are
    resolved in Polars as :func:`resolve_nomenclature` does; actions and sous-actions by DuckDB over the
    Parquet files (``warehouse.store.MEMORY_LIMIT``, spilling), ``COPY``-ed to their file: for each code
    and exercice, the label of the element of the latest phase (a nomenclature file before a credit file
    of the same phase), the first in the elements' order among equals. Nothing of those two levels comes
    into Python (a credit file of 10 M lines states millions of sous-actions).
    """
    small = [n for n in LEVEL_KEYS if n not in LARGE_LEVELS]
    tables = resolve_nomenclature(scan_elements(nomenclature, root, staging, small), nomenclature_sources)
    files = _element_files(root, staging)
    parts = []
    if nomenclature.exists():
        parts.append(
            "SELECT *, 0::BIGINT AS _fichier, file_row_number AS _ligne "
            f"FROM read_parquet({quote_literal(nomenclature)}, file_row_number = true)"
        )
    if files:
        listed = ", ".join(quote_literal(f) for f in files)
        parts.append(
            f"SELECT * EXCLUDE (filename), list_position([{listed}], filename)::BIGINT AS _fichier, "
            f"file_row_number AS _ligne FROM read_parquet([{listed}], filename = true, file_row_number = true)"
        )
    sources = ", ".join(quote_literal(s) for s in sorted(nomenclature_sources))
    phases = " ".join(f"WHEN {quote_literal(p)} THEN {r}" for p, r in PHASE_RANK.items())
    large = {}
    with scratch() as connection:
        for niveau, label in LARGE_LEVELS.items():
            name = niveau + "s"
            path = folder / f"{name}.parquet"
            large[name] = path
            empty = tables.pop(name)
            if not parts:
                empty.write_parquet(path)
                continue
            keys = ["exercice", *LEVEL_KEYS[niveau]]
            # The order resolve_nomenclature takes the first label in: rang (descending), then the
            # elements' order (the nomenclature files' rows, then the credit elements' files and rows).
            rang = (
                f"coalesce(CASE phase {phases} END, 0) * 2 + list_contains([{sources}]::VARCHAR[], source_id)::INTEGER"
            )
            order = f"((10 - ({rang}))::BIGINT << 56) + (_fichier << 40) + _ligne"
            selected = ", ".join(
                f"{c}::SMALLINT AS {c}" if c == "exercice" else f"{c}::VARCHAR AS {c}" if c == label else c
                for c in empty.columns
            )
            elements = f"""(SELECT *, {order} AS _ordre FROM ({" UNION ALL BY NAME ".join(parts)})
                WHERE niveau = '{niveau}' AND {" AND ".join(f"{k} IS NOT NULL" for k in keys)})"""
            # The labels grouped as an ENUM of the level's distinct labels: a small integer per group, not
            # a copy of its text (the aggregate of a 10 M-line file's sous-actions spills less).
            connection.execute(
                f"CREATE OR REPLACE TYPE libelles_{niveau} AS ENUM "
                f"(SELECT DISTINCT libelle FROM {elements} WHERE libelle IS NOT NULL)"
            )
            connection.execute(
                f"""
                COPY (
                    SELECT {selected} FROM (
                        SELECT {", ".join(keys)},
                               arg_min(libelle::libelles_{niveau}, _ordre) FILTER (WHERE libelle IS NOT NULL) AS {label}
                        FROM {elements}
                        GROUP BY ALL
                    ) ORDER BY {", ".join(keys)}
                ) TO {quote_literal(path)} (FORMAT parquet)
                """
            )
    return tables, large


#: Rows of a table file validated at a time by :func:`validate_file`.
VALIDATION_BATCH_ROWS = 250_000


def validate_file(model: type[pa.DataFrameModel], path: Path, batch_rows: int = VALIDATION_BATCH_ROWS) -> int:
    """Validate the Parquet table ``path`` against ``model`` in bounded memory; return its number of rows.

    First the model's rules as SQL over the whole file in one DuckDB scan (:func:`_passes_in_sql`): a file
    that passes them (every build's) is not read into Python. Where one fails (the SQL rules are never more
    lenient than Pandera's: a ``GLOB`` digit is an ASCII one), or the file's columns and types are not the
    model's, Pandera decides (:func:`schemas.validation.validate`) on batches of ``batch_rows`` rows, the
    failures' ``index`` being the row of the file. The model's ``unique`` key (``Config.unique``) is checked
    over the whole file by DuckDB (the rows whose key's hash another row has, then their exact key), so a
    duplicate that two batches share is found too, reported as Pandera reports it
    (``multiple_fields_uniqueness``, each duplicated row as JSON). Raises :class:`ValidationFailed`.
    """
    relation = f"read_parquet({quote_literal(path)}, file_row_number = true)"
    with scratch() as connection:
        rows = _passes_in_sql(connection, model, path, relation)
        if rows is None:
            rows = _validate_batches(model, path, batch_rows)
        unique = model.to_schema().unique
        if unique:
            keys = ", ".join(quote_identifier(k) for k in unique)
            duplicated = connection.sql(
                f"SELECT * FROM {sharing_hashes(relation, unique)} "
                f"QUALIFY count(*) OVER (PARTITION BY {keys}) > 1 ORDER BY file_row_number"
            ).pl()
    if unique and duplicated.height:
        rows = duplicated.drop("file_row_number")
        failures = pl.DataFrame(
            {
                "column": model.__name__,
                "check": "multiple_fields_uniqueness",
                "index": duplicated["file_row_number"].cast(pl.Int64),
                "failure_case": rows.select(pl.struct(pl.all()).struct.json_encode())[:, 0],
            }
        )
        raise ValidationFailed(model.__name__, failures)
    return rows


def _passes_in_sql(
    connection: duckdb.DuckDBPyConnection, model: type[pa.DataFrameModel], path: Path, relation: str
) -> int | None:
    """The number of rows of the Parquet file ``path`` (``relation``: DuckDB's scan of it) if its columns
    are the model's, in order and of its types, and none of its rows breaks a rule of the model as SQL
    (:func:`warehouse.credits.load.model_rules`); else (or when a rule has no SQL) None."""
    from warehouse.credits.load import model_rules

    schema = model.to_schema()
    expected = {name: column.dtype.type for name, column in schema.columns.items()}
    if list(pl.read_parquet_schema(path).items()) != list(expected.items()):
        return None
    if any(column.unique for column in schema.columns.values()):
        return None
    try:
        rules = model_rules(model)
    except NotImplementedError:
        return None
    counts = [f"count(*) FILTER (WHERE coalesce({rule.failing}, false))" for rule in rules]
    found = connection.execute(f"SELECT {', '.join(['count(*)', *counts])} FROM {relation}").fetchall()[0]
    return found[0] if not any(found[1:]) else None


def _validate_batches(model: type[pa.DataFrameModel], path: Path, batch_rows: int) -> int:
    """Pandera's validation of ``path`` on batches of ``batch_rows`` rows (the failures' ``index`` the row of
    the file); returns the number of rows."""
    offset = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        frame = pl.from_arrow(batch)
        try:
            validate(model, frame)
        except ValidationFailed as exc:
            failures = exc.failures.with_columns(pl.col("index") + offset)
            raise ValidationFailed(model.__name__, failures) from exc
        offset += frame.height
    return offset


@cache
def known_events() -> pl.DataFrame:
    """The hand-kept events of ``schemas/nomenclature_evenements.toml``, each with its official source."""
    text = resources.files("schemas").joinpath("nomenclature_evenements.toml").read_text(encoding="utf-8")
    rows = tomllib.loads(text)["evenement"]
    frame = pl.DataFrame(rows)
    missing = [pl.lit(None, t).alias(c) for c, t in EVENT_SCHEMA.items() if c not in frame.columns]
    return frame.with_columns(missing).select(list(EVENT_SCHEMA)).cast(EVENT_SCHEMA)


def _similar_pairs(removed: list, removed_keys: list[str], added: list, added_keys: list[str]) -> list[tuple]:
    """The (score, removed, added) pairs whose folded labels are at least :data:`SAME_LABEL_SCORE` alike
    (``rapidfuzz.fuzz.ratio``), best first. Each label is folded once, not once per pair."""
    pairs = []
    for r, removed_key in zip(removed, removed_keys, strict=True):
        for a, added_key in zip(added, added_keys, strict=True):
            score = fuzz.ratio(removed_key, added_key, score_cutoff=SAME_LABEL_SCORE)
            if score:
                pairs.append((score, r, a))
    return sorted(pairs, reverse=True)


def _level_events(previous: pl.DataFrame, current: pl.DataFrame, niveau: str, exercice: int) -> list[dict]:
    keys = LEVEL_KEYS[niveau]
    label = {"mission": "libelle_mission", "programme": "libelle_programme", "action": "libelle_action"}[niveau]
    before = {tuple(r[k] for k in keys): r for r in previous.iter_rows(named=True)}
    after = {tuple(r[k] for k in keys): r for r in current.iter_rows(named=True)}

    def event(row, kind, **more) -> dict:
        base = dict.fromkeys(EVENT_SCHEMA) | {
            "exercice": exercice,
            "niveau": niveau,
            "type_evenement": kind,
            "origine": "derive",
        }
        base |= {k: row.get(k) for k in ("code_mission", "code_programme", "code_action", "code_sous_action")}
        if niveau in ("action", "sous_action"):
            base["code_mission"] = None
        return base | more

    events = []
    for key in sorted(before.keys() & after.keys()):
        old, new = before[key], after[key]
        if old[label] and new[label] and label_key(old[label]) != label_key(new[label]):
            events.append(event(new, "renommage", ancien_libelle=old[label], nouveau_libelle=new[label]))
        if (
            niveau == "programme"
            and old["code_mission"]
            and new["code_mission"]
            and (old["code_mission"] != new["code_mission"])
        ):
            events.append(
                event(new, "changement_mission", vers=new["code_mission"], ancien_libelle=None, nouveau_libelle=None)
                | {"code_mission": old["code_mission"]}
            )
    removed = sorted(before.keys() - after.keys())
    added = sorted(after.keys() - before.keys())
    pairs = _similar_pairs(
        [r for r in removed if before[r][label]],
        [label_key(before[r][label]) for r in removed if before[r][label]],
        [a for a in added if after[a][label]],
        [label_key(after[a][label]) for a in added if after[a][label]],
    )
    matched_removed, matched_added = set(), set()
    for score, r, a in pairs:
        if r in matched_removed or a in matched_added:
            continue
        matched_removed.add(r)
        matched_added.add(a)
        events.append(
            event(
                before[r],
                "changement_code",
                vers="-".join(a),
                score=round(score, 1),
                ancien_libelle=before[r][label],
                nouveau_libelle=after[a][label],
            )
        )
    events += [
        event(before[r], "suppression", ancien_libelle=before[r][label]) for r in removed if r not in matched_removed
    ]
    events += [event(after[a], "creation", nouveau_libelle=after[a][label]) for a in added if a not in matched_added]
    return events


def derive_events(tables: dict[str, pl.DataFrame], known: pl.DataFrame | None = None) -> pl.DataFrame:
    """The ``nomenclature_evenements`` rows: what changed between consecutive exercices.

    Compares each exercice with the previous one the nomenclature holds, for
    missions, programmes and actions: ``creation``, ``suppression``, ``renommage``
    (same code, another label once folded), ``changement_code`` (a removed code's
    label on a created code, similarity ≥ :data:`SAME_LABEL_SCORE`, the score kept),
    ``changement_mission``; then adds ``known`` events (transfers, mergers, splits:
    :func:`known_events`). Deterministic: deriving twice gives the same rows.
    """
    events: list[dict] = []
    years = sorted(set(tables["programmes"]["exercice"].to_list()))
    for previous, current in pairwise(years):
        for niveau, table in (("mission", "missions"), ("programme", "programmes"), ("action", "actions")):
            frame = tables[table]
            if niveau == "action":
                frame = frame.with_columns(code_mission=pl.lit(None, pl.String))
            events += _level_events(
                frame.filter(pl.col("exercice") == previous),
                frame.filter(pl.col("exercice") == current),
                niveau,
                current,
            )
    derived = pl.DataFrame(events, schema=EVENT_SCHEMA, orient="row") if events else pl.DataFrame(schema=EVENT_SCHEMA)
    frames = [derived] + ([known] if known is not None else [])
    return (
        pl.concat(frames)
        .unique(maintain_order=True)
        .sort("exercice", "niveau", "code_mission", "code_programme", "code_action", "type_evenement", nulls_last=True)
    )


def nomenclature_read_key(item: InventoryItem) -> tuple:
    """What :func:`read_nomenclature_file` of ``item`` depends on: the whole item (its file, bytes, error)."""
    return ("nomenclature", repr(item))


def read_nomenclature_file(item: InventoryItem) -> NomenclatureRead:
    """The elements of the nomenclature file of ``item`` (:func:`read_nomenclature_table` of its recognised
    table). Raises :class:`SourceReadError` (the file in error, or no longer of its family) or
    :class:`warehouse.reading.tables.TableReadError`. Logs and writes nothing: the build may do it ahead
    (:mod:`warehouse.ahead`)."""
    source = item.source
    if item.error is not None:  # not got, or not readable (warehouse/expected.py)
        raise SourceReadError(source.fichier, item.error)
    found = recognise(source)
    if found.match is None or found.table is None:
        raise SourceReadError(source.fichier, found.error or "no longer matches its family")
    return read_nomenclature_table(found.table, found.match, source.source_id, found.exercice_hint, found.phase_hint)


def stage_nomenclature(
    items: list[InventoryItem], previous: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, list[SourceReport]]:
    """Read every nomenclature file into its elements (``ELEMENT_SCHEMA`` rows).

    A file that cannot be read is reported (``statut = 'erreur'``, naming the file,
    the row and the column) and its elements of the previous build (``previous``)
    are kept, so its last good data stays. Returns the elements and one report per file.
    """
    frames, reports = [], []
    for item in items:
        source = item.source
        report = SourceReport.starting(item)
        reports.append(report)
        try:
            read = taken(nomenclature_read_key(item), partial(read_nomenclature_file, item))
        except (SourceReadError, TableReadError) as exc:
            report.statut, report.message = ("absent" if is_absent(item) else "erreur"), str(exc)
            if previous is not None:
                frames.append(previous.filter(pl.col("source_id") == source.source_id))
            continue
        report.exercice, report.phases = read.exercice, [read.phase]
        report.lignes, report.lignes_retenues = read.data_rows, read.kept
        report.lignes_ecartees_par_motif = read.set_aside
        report.message = "lignes par niveau: " + ", ".join(f"{k} {v}" for k, v in sorted(read.per_niveau.items()))
        frames.append(read.elements)
    elements = pl.concat(frames) if frames else pl.DataFrame(schema=ELEMENT_SCHEMA)
    return elements, reports
