"""Loading ``credits`` from the staged lines in DuckDB, and the checks that compare them, in bounded memory.

The staged lines of an exercice (``staging/credits``, :mod:`warehouse.credits.staged_lines`) go
into ``credits`` by one ``INSERT … SELECT``, run by DuckDB over the Parquet files (never
through a Python frame), in the transaction that deletes the exercice's former rows
(:func:`load_exercice`): the lines of a repeated business key summed by a ``GROUP BY``,
every other line as it is. Before that, the
rules of :class:`schemas.credits.CreditsModel` run as SQL over the authoritative
lines (:func:`rule_failures`): every column check of the model (``isin``,
``str_matches``, bounds, nullability) is translated from the Pandera schema itself,
so the two never drift apart, plus its dataframe check (the titre is the first
digit of the catégorie). A failing line gives :class:`InvalidStagedLine`, naming the
file, the line and the column. The uniqueness of the business key and the column
types hold by construction (``GROUP BY`` the key; the table's DDL).

Amounts are euros, ``DECIMAL(18,2)``; sums are exact (DuckDB sums decimals as
``DECIMAL(38,2)`` and casts back, failing on overflow, never rounding).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl

from schemas.credits import BUSINESS_KEY, CreditsModel
from warehouse.credits.staged_lines import scratch, staged_fichiers, staged_files, staged_relation
from warehouse.store import quote_identifier, quote_literal, sharing_hashes, transaction

__all__ = [
    "InvalidStagedLine",
    "Rule",
    "credits_model_failures",
    "credits_not_summing_to_kept_lines",
    "lines_loaded",
    "load_exercice",
    "model_rules",
    "repeated_keys_not_summed",
    "rule_failures",
    "staged_repeated_keys",
]

#: Columns of ``credits``, in order (README, "The tables").
_COLUMNS = list(CreditsModel.to_schema().columns)
_KEY = ", ".join(quote_identifier(c) for c in BUSINESS_KEY)


@dataclass(frozen=True)
class Rule:
    """One rule of a Pandera model as SQL: ``failing`` is true on a row that breaks it."""

    column: str
    check: str
    failing: str


#: One atom of a fixed-length pattern: ``\d``, a class of ASCII letters and digits (ranges allowed), or one
#: letter or digit; then an optional ``{n}``.
_ATOM = re.compile(r"(\\d|\[(?:[A-Za-z0-9](?:-[A-Za-z0-9])?)+\]|[A-Za-z0-9])(?:\{(\d+)\})?")


def _pattern_sql(column: str, pattern: str) -> str:
    """SQL true where ``column`` (quoted) matches the whole of the regular expression ``pattern``.

    A fixed-length pattern of ASCII classes (``^\d{3}$``, ``^[A-Z]{2}$``, ``^[1-7]$``: every code of
    GLOSSARY.md) becomes a ``GLOB`` (``[0-9][0-9][0-9]``), about seven times cheaper than a regular
    expression on millions of rows, and the same answer on every string: DuckDB's ``\d`` and classes
    are ASCII, a ``GLOB`` class matches one character, and neither matches across a newline. Any other
    pattern stays ``regexp_full_match``."""
    body = pattern.removeprefix("^").removesuffix("$")
    position, pieces = 0, []
    while position < len(body) and (atom := _ATOM.match(body, position)):
        pieces.append(("[0-9]" if atom[1] == "\\d" else atom[1]) * int(atom[2] or 1))
        position = atom.end()
    if position == len(body) and pieces and pattern.startswith("^") and pattern.endswith("$"):
        return f"({column} GLOB {quote_literal(''.join(pieces))})"
    return f"regexp_full_match({column}, {quote_literal(pattern)})"


def _check_sql(column: str, check: pa.Check) -> str | None:
    name, stats, col = check.name, check.statistics, quote_identifier(column)
    if name == "isin":
        values = ", ".join(quote_literal(v) for v in stats["allowed_values"])
        return f"{col} NOT IN ({values})"
    if name == "str_matches":
        return f"NOT {_pattern_sql(col, stats['pattern'])}"
    if name == "greater_than_or_equal_to":
        return f"{col} < {stats['min_value']!r}"
    if name == "less_than_or_equal_to":
        return f"{col} > {stats['max_value']!r}"
    if name == "greater_than":
        return f"{col} <= {stats['min_value']!r}"
    if name == "less_than":
        return f"{col} >= {stats['max_value']!r}"
    if name == "in_range":
        return f"NOT ({col} BETWEEN {stats['min_value']!r} AND {stats['max_value']!r})"
    return None


def model_rules(model: type[pa.DataFrameModel] = CreditsModel, columns: list[str] | None = None) -> list[Rule]:
    """The row-level rules of ``model`` (restricted to ``columns``) as SQL conditions.

    From the Pandera schema: ``not_nullable`` for each non-nullable column, then each
    column check; plus the model's dataframe check ``titre_is_first_digit_of_categorie``.
    Raises ``NotImplementedError`` for a check with no SQL translation (so a check
    added to the model is never silently skipped here).
    """
    schema = model.to_schema()
    rules = []
    for name, column in schema.columns.items():
        if columns is not None and name not in columns:
            continue
        if not column.nullable:
            rules.append(Rule(name, "not_nullable", f"{quote_identifier(name)} IS NULL"))
        for check in column.checks:
            sql = _check_sql(name, check)
            if sql is None:
                raise NotImplementedError(f"{model.__name__}.{name}: no SQL for check {check.name}")
            rules.append(Rule(name, check.name, sql))
    for check in schema.checks:
        if check.name != "titre_is_first_digit_of_categorie":
            raise NotImplementedError(f"{model.__name__}: no SQL for dataframe check {check.name}")
        rules.append(
            Rule(
                "code_titre",
                check.name,
                "code_categorie IS NOT NULL AND code_categorie[1] IS DISTINCT FROM code_titre",  # [1]: first character
            )
        )
    return rules


_FAILURES_SCHEMA = {
    "source_id": pl.String,
    "source_ligne": pl.Int64,
    "colonne": pl.String,
    "regle": pl.String,
    "valeur": pl.String,
    "nb_echecs": pl.Int64,
}


def rule_failures(
    connection: duckdb.DuckDBPyConnection, relation: str, rules: list[Rule], limit: int = 20
) -> pl.DataFrame:
    """The rows of ``relation`` (SQL) that break ``rules``: at most ``limit`` per rule, first lines first.

    Columns: source_id, source_ligne, colonne, regle, valeur (the value as text), nb_echecs (the
    rule's failures in all). Empty when every row passes: then one scan of ``relation`` that looks for a
    row breaking any rule (one ``WHERE`` of the rules joined by ``OR``: about 2.5 times cheaper than
    counting each rule's failures, 1.0 s of CPU against 2.7 on 21 M lines); where one does, the counts
    (one more scan) and one scan per rule that fails.
    """
    if not rules:
        return pl.DataFrame(schema=_FAILURES_SCHEMA)
    # A rule whose condition is null on a row (a null compared) does not fail there: WHERE and FILTER skip it.
    any_failing = " OR ".join(f"({r.failing})" for r in rules)
    found = connection.execute(f"SELECT count(*) FROM (SELECT 1 FROM {relation} WHERE {any_failing} LIMIT 1)")
    if not found.fetchall()[0][0]:
        return pl.DataFrame(schema=_FAILURES_SCHEMA)
    counts = connection.execute(
        "SELECT " + ", ".join(f"count(*) FILTER (WHERE {r.failing})" for r in rules) + f" FROM {relation}"
    ).fetchall()[0]
    frames = []
    for rule, count in zip(rules, counts, strict=True):
        if not count:
            continue
        column = quote_identifier(rule.column)
        frames.append(
            connection.sql(
                f"SELECT source_id, source_ligne::BIGINT AS source_ligne, ? AS colonne, ? AS regle, "
                f"{column}::VARCHAR AS valeur, ?::BIGINT AS nb_echecs FROM {relation} "
                f"WHERE coalesce({rule.failing}, false) ORDER BY source_id, source_ligne LIMIT {int(limit)}",
                params=[rule.column, rule.check, count],
            ).pl()
        )
    if not frames:
        return pl.DataFrame(schema=_FAILURES_SCHEMA)
    return pl.concat([f.cast(_FAILURES_SCHEMA) for f in frames])


class InvalidStagedLine(ValueError):
    """A staged authoritative line breaks a rule of ``credits``: names the file, the line and the column.

    ``failures``: the frame of :func:`rule_failures` (with ``fichier``)."""

    def __init__(self, failures: pl.DataFrame) -> None:
        self.failures = failures
        first = failures.row(0, named=True)
        total = failures.group_by("regle", "colonne").agg(pl.col("nb_echecs").first())["nb_echecs"].sum()
        super().__init__(
            f"{first['fichier']}, ligne {first['source_ligne']}, colonne {first['colonne']!r}: "
            f"{first['regle']} failed on {first['valeur']!r} ({total} failure(s) in all)"
        )


def _authoritative(files: list[Path]) -> str:
    return f"(SELECT * FROM {staged_relation(files)} WHERE role = 'A')"


_SELECT_CREDITS = """
SELECT exercice, phase, type_budget,
       arg_min(code_ministere, source_ligne) FILTER (WHERE code_ministere IS NOT NULL) AS code_ministere,
       arg_min(code_mission, source_ligne) FILTER (WHERE code_mission IS NOT NULL) AS code_mission,
       code_programme, code_action, code_sous_action, code_categorie, code_titre,
       sum(ae)::DECIMAL(18,2) AS ae, sum(cp)::DECIMAL(18,2) AS cp,
       sum(ae_fdc_adp)::DECIMAL(18,2) AS ae_fdc_adp, sum(cp_fdc_adp)::DECIMAL(18,2) AS cp_fdc_adp,
       bool_or(calcule) AS calcule,
       arg_min(source_id, source_ligne) AS source_id,
       min(source_ligne) AS source_ligne,
       count(*)::INTEGER AS nb_lignes_source
FROM {relation}
GROUP BY {key}
"""

#: The 64-bit hashes of the key that several lines of ``relation`` have: a small aggregate that never spills, where
#: grouping millions of lines by eight columns of text did. A key merely hashing like another goes the grouping way,
#: whose sums of one line are that line, so the rows are those of a ``GROUP BY`` of every line.
_REPEATED_HASHES = """
CREATE OR REPLACE TEMP TABLE _cles_repetees AS
SELECT hash({key}) AS _cle FROM {relation} GROUP BY _cle HAVING count(*) > 1
"""

#: The lines of a repeated hash (nearly always few), for the ``GROUP BY`` of :data:`_SELECT_CREDITS` and for the
#: check that repeated keys are summed (:func:`repeated_keys_not_summed`).
_REPEATED_LINES = """
CREATE OR REPLACE TEMP TABLE _lignes_repetees AS
SELECT * FROM (SELECT {columns}, hash({key}) AS _cle FROM {relation})
WHERE _cle IN (SELECT _cle FROM _cles_repetees)
"""

#: The rows of ``credits``: a line whose key no other line shares (nearly all) is its row as it is; the lines of a
#: repeated hash (:data:`_REPEATED_LINES`) go through the ``GROUP BY`` of :data:`_SELECT_CREDITS`.
_INSERT_CREDITS = """
INSERT INTO credits ({columns})
SELECT {single} FROM {relation} WHERE hash({key}) NOT IN (SELECT _cle FROM _cles_repetees)
UNION ALL
SELECT {columns} FROM ({grouped})
"""


def load_exercice(connection: duckdb.DuckDBPyConnection, staging: Path, exercice: int) -> int:
    """Replace the ``credits`` rows of ``exercice`` by its staged authoritative lines summed by business key.

    ``staging``: the root of ``staging/credits``. Lines sharing the whole business key
    (nulls equal) are summed into one row: ``source_ligne`` the first of them,
    ``nb_lignes_source`` their count, ``code_ministere``/``code_mission`` the first
    given. First checks every authoritative line against the rules of ``credits``
    (:func:`model_rules`): raises :class:`InvalidStagedLine` naming the first failing
    file, line and column, and changes nothing. Then deletes and inserts in one
    transaction (a failure leaves the table as it was). Raises ``FileNotFoundError``
    when the exercice is not staged. Returns the number of rows inserted. The keys
    repeated in the staged lines are kept for :func:`repeated_keys_not_summed`
    (:data:`_REPEATED_KEYS`), which then need not look for them again.
    """
    files = staged_files(staging, exercice)
    if not files:
        raise FileNotFoundError(f"exercice {exercice} is not staged under {staging}")
    relation = _authoritative(files)
    rules = model_rules(CreditsModel, _line_columns())
    # One scan: does a line break a rule (the rules joined by OR; a rule null on a line does not fail there), and
    # does a hash of the key repeat? Counting the distinct hashes is a third cheaper than grouping by them (2.5 s
    # of CPU against 3.8 on 21 M lines), and nearly always says that none does: then no line is grouped.
    failing = " OR ".join(f"({r.failing})" for r in rules) or "false"
    lines_count, distinct, failed = connection.execute(
        f"SELECT count(*), count(DISTINCT hash({_KEY})), count(*) FILTER (WHERE {failing}) FROM {relation}"
    ).fetchall()[0]
    if failed:
        failures = rule_failures(connection, relation, rules)
        fichiers = staged_fichiers(staging, exercice)
        raise InvalidStagedLine(
            failures.with_columns(
                fichier=pl.col("source_id").replace_strict(
                    fichiers, default=pl.col("source_id"), return_dtype=pl.String
                )
            )
        )
    columns = ", ".join(quote_identifier(c) for c in _COLUMNS)
    single = columns.replace(quote_identifier("nb_lignes_source"), "1 AS nb_lignes_source")
    lines = ", ".join(quote_identifier(c) for c in _line_columns())
    try:
        if lines_count == distinct:  # every key held by one line: each line is its row
            repeated = connection.sql(f"SELECT source_id, {_KEY}, 0::BIGINT AS nb_lignes FROM {relation} LIMIT 0").pl()
            insert = f"INSERT INTO credits ({columns}) SELECT {single} FROM {relation}"
        else:
            connection.execute(_REPEATED_HASHES.format(key=_KEY, relation=relation))
            connection.execute(_REPEATED_LINES.format(columns=lines, key=_KEY, relation=relation))
            repeated = connection.sql(
                f"SELECT source_id, {_KEY}, count(*) AS nb_lignes FROM _lignes_repetees "
                f"GROUP BY source_id, {_KEY} HAVING count(*) > 1"
            ).pl()
            insert = _INSERT_CREDITS.format(
                columns=columns,
                single=single,
                relation=relation,
                key=_KEY,
                grouped=_SELECT_CREDITS.format(relation="_lignes_repetees", key=_KEY),
            )
        # The rows go in in any order (every reader orders them, by the business key): DuckDB then inserts from
        # both threads without keeping the scan's order, a third faster on millions of lines.
        connection.execute("SET preserve_insertion_order = false")
        try:
            with transaction(connection):
                connection.execute("DELETE FROM credits WHERE exercice = ?", [exercice])
                inserted = connection.execute(insert).fetchall()[0][0]
        finally:
            connection.execute("RESET preserve_insertion_order")
    finally:
        connection.execute("DROP TABLE IF EXISTS _lignes_repetees")
        connection.execute("DROP TABLE IF EXISTS _cles_repetees")
    _REPEATED_KEYS[files[0].parent.resolve()] = (_files_identity(files), repeated)
    return inserted


#: The business keys repeated in the staged authoritative lines of an exercice (source_id, the key, nb_lignes),
#: found by :func:`load_exercice`, by exercice folder, with the identity of the staged files they come from
#: (:func:`_files_identity`): for :func:`repeated_keys_not_summed` in the same process (a build), which would
#: otherwise look for them again in every staged line (a grouping of 21 M hashes at 10 M lines). A file staged
#: again is a new file (a new inode), so an entry never answers for lines it was not computed from.
_REPEATED_KEYS: dict[Path, tuple[tuple, pl.DataFrame]] = {}


def _files_identity(files: list[Path]) -> tuple:
    """``files`` by path, inode, size and modification time (ns): what changes when one is written again."""
    identity = []
    for path in files:
        status = path.stat()
        identity.append((str(path.resolve()), status.st_ino, status.st_size, status.st_mtime_ns))
    return tuple(identity)


def _line_columns() -> list[str]:
    """The columns of ``credits`` that a staged line carries (all but ``nb_lignes_source``)."""
    return [c for c in _COLUMNS if c != "nb_lignes_source"]


def repeated_keys_not_summed(
    connection: duckdb.DuckDBPyConnection, staging: Path, exercices: list[int] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Business keys that several authoritative lines share, against the ``credits`` rows summing them.

    Over every exercice staged, or those of ``exercices`` (:func:`staged_in`). Returns ``(wrong, summary)``:
    ``wrong`` the keys repeated in
    staging with no ``credits`` row counting as many lines, and the ``credits`` rows with
    ``nb_lignes_source > 1`` that no repeated key explains (columns source_id, the business key,
    nb_lignes (staged), nb_lignes_source (loaded)); ``summary`` per source the repeated keys
    (``cles``) and their lines (``lignes``). The repeated keys of an exercice whose staged files
    :func:`load_exercice` loaded in this process are those it found (the same files); the others'
    are looked for here (:func:`staged_repeated_keys`).
    """
    files, only = staged_in(staging, exercices)
    by_exercice: dict[Path, list[Path]] = {}
    for path in files:
        by_exercice.setdefault(path.parent, []).append(path)
    frames = []
    for group in by_exercice.values():
        identity, known = _REPEATED_KEYS.get(group[0].parent.resolve(), (None, None))
        frames.append(known if identity == _files_identity(group) else staged_repeated_keys(connection, group))
    connection.register("_cles_repetees_vues", pl.concat(frames).to_arrow())
    key = " AND ".join(f"r.{c} IS NOT DISTINCT FROM c.{c}" for c in ["source_id", *BUSINESS_KEY])
    try:
        wrong = connection.sql(
            f"""
            WITH r AS (FROM _cles_repetees_vues), c AS (SELECT * FROM credits WHERE nb_lignes_source > 1 {only})
            SELECT coalesce(r.source_id, c.source_id) AS source_id,
                   {", ".join(f"coalesce(r.{c}, c.{c}) AS {c}" for c in BUSINESS_KEY)},
                   r.nb_lignes, c.nb_lignes_source
            FROM r FULL JOIN c ON {key}
            WHERE r.nb_lignes IS NULL OR c.nb_lignes_source IS NULL OR r.nb_lignes <> c.nb_lignes_source
            ORDER BY ALL
            """
        ).pl()
        summary = connection.sql(
            "SELECT source_id, count(*) AS cles, sum(nb_lignes)::BIGINT AS lignes FROM _cles_repetees_vues "
            "GROUP BY source_id ORDER BY source_id"
        ).pl()
    finally:
        connection.unregister("_cles_repetees_vues")
    return wrong, summary


def staged_repeated_keys(connection: duckdb.DuckDBPyConnection, files: list[Path]) -> pl.DataFrame:
    """The business keys that several authoritative lines of ``files`` (staged lines) share, per source:
    columns source_id, the business key, nb_lignes (BIGINT). Found on a hash of the key
    (:func:`warehouse.store.sharing_hashes`), then grouped exactly."""
    lines = sharing_hashes(_authoritative(files), ["source_id", *BUSINESS_KEY])
    return connection.sql(
        f"SELECT source_id, {_KEY}, count(*) AS nb_lignes FROM {lines} GROUP BY source_id, {_KEY} HAVING count(*) > 1"
    ).pl()


def staged_in(staging: Path, exercices: list[int] | None) -> tuple[list[Path], str]:
    """The staged files of ``exercices`` (None: of every exercice), and the SQL condition that keeps the
    ``credits`` rows of the same exercices (``AND exercice IN (...)``, or nothing). A check of a credits run
    compares the exercices of its run: an exercice whose run failed earlier in the build (its staging new, its
    ``credits`` rows not) is that run's failure, not a fault of the next run's. Raises ``FileNotFoundError``
    when none is staged."""
    files, only = staged_files(staging), ""
    if exercices is not None:
        files = sorted(f for e in exercices for f in staged_files(staging, e))
        only = f"AND exercice IN ({', '.join(str(int(e)) for e in exercices) or 'NULL'})"
    if not files:
        raise FileNotFoundError(f"nothing staged under {staging}")
    return files, only


def credits_not_summing_to_kept_lines(
    connection: duckdb.DuckDBPyConnection, staging: Path, exercices: list[int] | None = None
) -> tuple[pl.DataFrame, int]:
    """Scopes (source_id, exercice, phase, type_budget) where ``credits`` does not sum to the kept lines.

    For every authoritative source and scope of every exercice staged (or of ``exercices``, :func:`staged_in`),
    the sums of AE and CP
    of its staged lines and of its ``credits`` rows, to the cent, and the lines counted
    (``nb_lignes_source``). Returns ``(wrong, scopes)``: the rows that differ (columns the
    scope, ae, cp, lignes from staging, ``*_charge`` from ``credits``; null where one side
    lacks the scope) and the number of scopes compared.
    """
    files, only = staged_in(staging, exercices)
    scope = ["source_id", "exercice", "phase", "type_budget"]
    on = " AND ".join(f"k.{c} IS NOT DISTINCT FROM l.{c}" for c in scope)
    joined = f"""
        WITH k AS (SELECT source_id, exercice::SMALLINT AS exercice, phase, type_budget, sum(ae) AS ae,
                          sum(cp) AS cp, count(*)::BIGINT AS lignes
                   FROM {_authoritative(files)} GROUP BY ALL),
             l AS (SELECT source_id, exercice, phase, type_budget, sum(ae) AS ae, sum(cp) AS cp,
                          sum(nb_lignes_source)::BIGINT AS lignes FROM credits WHERE true {only} GROUP BY ALL),
             j AS (SELECT {", ".join(f"coalesce(k.{c}, l.{c}) AS {c}" for c in scope)},
                          k.ae, k.cp, k.lignes, l.ae AS ae_charge, l.cp AS cp_charge, l.lignes AS lignes_charge
                   FROM k FULL JOIN l ON {on})"""
    with _temporary(connection, "_perimetres", f"{joined} SELECT * FROM j") as table:  # one scan of the lines
        wrong = connection.sql(
            f"SELECT * FROM {table} WHERE ae IS DISTINCT FROM ae_charge OR cp IS DISTINCT FROM cp_charge "
            "OR lignes IS DISTINCT FROM lignes_charge ORDER BY ALL"
        ).pl()
        scopes = connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return wrong, scopes


@contextmanager
def _temporary(connection: duckdb.DuckDBPyConnection, name: str, query: str) -> Iterator[str]:
    """``query``'s rows as the temporary table ``name`` (the connection's own, read-only connections
    included) while the block runs; dropped after."""
    connection.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}")
    try:
        yield name
    finally:
        connection.execute(f"DROP TABLE IF EXISTS {name}")


#: DuckDB's type of each Polars type of the model (``credits``'s DDL, ``warehouse/sql/schema.sql``).
_SQL_TYPES = {"Int16": "SMALLINT", "Int32": "INTEGER", "String": "VARCHAR", "Boolean": "BOOLEAN"}


def credits_model_failures(
    connection: duckdb.DuckDBPyConnection, limit: int = 1000, unique: bool = True
) -> pl.DataFrame:
    """What breaks :class:`schemas.credits.CreditsModel` in the whole ``credits`` table, computed in DuckDB.

    The column rules (:func:`model_rules`, at most ``limit`` rows each), the columns and their
    types against the model (``regle`` ``dtype``/``column_in_schema``: strict), and, unless ``unique``
    is false (for a caller that looks for duplicate keys itself), the business key's uniqueness
    (``regle`` ``unique``, ``valeur`` the key). Columns as :func:`rule_failures`.
    """
    failures = [rule_failures(connection, "credits", model_rules(CreditsModel), limit)]
    schema = CreditsModel.to_schema()
    described = {r[0]: r[1] for r in connection.execute("DESCRIBE credits").fetchall()}
    wrong_types = []
    for name, column in schema.columns.items():
        dtype = column.dtype.type
        expected = (
            f"DECIMAL({dtype.precision},{dtype.scale})" if isinstance(dtype, pl.Decimal) else _SQL_TYPES[str(dtype)]
        )
        if described.get(name) != expected:
            wrong_types.append((name, "dtype", f"{described.get(name)} (expected {expected})"))
    wrong_types += [(name, "column_in_schema", name) for name in described if name not in schema.columns]
    if wrong_types:
        failures.append(
            pl.DataFrame([(None, None, c, r, v, 1) for c, r, v in wrong_types], schema=_FAILURES_SCHEMA, orient="row")
        )
    if not unique:
        return pl.concat(failures)
    key = ", ".join(quote_identifier(c) for c in BUSINESS_KEY)
    rows = sharing_hashes("credits", BUSINESS_KEY)
    duplicates = connection.sql(
        f"""
        SELECT min(source_id) AS source_id, min(source_ligne)::BIGINT AS source_ligne, 'cle' AS colonne,
               'unique' AS regle, concat_ws('-', {key}) AS valeur, count(*)::BIGINT AS nb_echecs
        FROM {rows} GROUP BY {key} HAVING count(*) > 1 ORDER BY ALL LIMIT {int(limit)}
        """
    ).pl()
    failures.append(duplicates.cast(_FAILURES_SCHEMA))
    return pl.concat(failures)


def lines_loaded(staging: Path) -> dict[str, int]:
    """Per source, how many of its staged lines are loaded (distinct ``source_ligne`` of its
    authoritative lines), over every exercice staged; computed by DuckDB (:func:`scratch`)."""
    files = staged_files(staging)
    if not files:
        return {}
    relation = _authoritative(files)
    with scratch() as connection:
        low, high, sources = connection.execute(
            f"SELECT min(source_ligne), max(source_ligne), count(DISTINCT source_id) FROM {relation}"
        ).fetchone()
        if low is not None and (high - low + 1) * sources <= _LINE_BITS:
            # one bit per line number of each source, set where a line is loaded: exact, and 1.25 MB per source at
            # 10 M lines where the hash table of count(DISTINCT) grew to hundreds of MB (2 s of CPU there, 0.2 here)
            distinct = f"coalesce(bit_count(bitstring_agg(source_ligne, {int(low)}, {int(high)})), 0)"
        else:
            distinct = "count(DISTINCT source_ligne)"
        rows = connection.execute(f"SELECT source_id, {distinct} FROM {relation} GROUP BY source_id").fetchall()
    return dict(rows)


#: The most bits :func:`lines_loaded` gives its line sets in all (128 MiB); beyond, it counts distinct lines by hash.
_LINE_BITS = 1 << 30
