"""What the warehouse holds, and what it lacks: the rows of ``couverture`` (README, "The tables").

Credits: one row per (exercice, phase, type_budget) where the phase and the
type_budget each appear somewhere in the warehouse, for every exercice from the
first to the last the warehouse holds for that phase. Performance: one row per
document held, plus an ``absent`` row for each year missing inside a document
type's series (RAP 2022 between RAP 2021 and RAP 2023). Nothing is ever filled in.

``statut``: ``present``; ``absent`` (no source states it); ``en_erreur`` (its
authoritative source failed this build and its last good lines were carried
over, or no source could be made authoritative).
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

__all__ = [
    "COUVERTURE_SCHEMA",
    "GRID_MARKS",
    "credit_coverage",
    "grid_lines",
    "performance_coverage",
    "performance_files",
]

#: Columns of ``couverture``, in order (README, "The tables").
COUVERTURE_SCHEMA: dict[str, pl.DataType] = {
    "domaine": pl.String,
    "exercice": pl.Int16,
    "phase": pl.String,
    "document": pl.String,
    "type_budget": pl.String,
    "source_autoritaire": pl.String,
    "temoins": pl.List(pl.String),
    "lignes": pl.Int64,
    "statut": pl.String,
}

_SCOPE = ["exercice", "phase", "type_budget"]


def _shaped(frame: pl.DataFrame, domaine: str) -> pl.DataFrame:
    columns = [
        pl.lit(domaine).alias(c)
        if c == "domaine"
        else (pl.col(c) if c in frame.columns else pl.lit(None, t).alias(c)).cast(t)
        for c, t in COUVERTURE_SCHEMA.items()
    ]
    return frame.select(columns)


def credit_coverage(lines: pl.DataFrame | pl.LazyFrame, loaded: pl.DataFrame) -> pl.DataFrame:
    """The credit rows of ``couverture``.

    ``lines``: staged line-level credit rows with ``role`` (A, W, or null where a
    tie left the scope without authority) and ``repris``, a frame or a lazy scan
    (``warehouse.credits.staged_lines.scan_staged_lines``: reduced, streaming, to one row per
    scope, source and role before anything else); ``loaded``: rows of
    ``credits`` per scope (columns exercice, phase, type_budget, lignes). Sorted
    by phase, type_budget, exercice.
    """
    sources = (
        lines.lazy()
        .group_by(*_SCOPE, "source_id", "role")
        .agg(pl.col("repris").any())
        .sort(*_SCOPE, "source_id", "role", nulls_last=True)
        .collect(engine="streaming")
    )
    held = sources.group_by(_SCOPE).agg(
        pl.col("source_id").filter(pl.col("role") == "A").first().alias("source_autoritaire"),
        pl.col("source_id").filter(pl.col("role") == "W").unique().sort().alias("temoins"),
        (pl.col("repris") & (pl.col("role") == "A")).any().alias("repris"),
    )
    held = held.with_columns(pl.col("exercice").cast(pl.Int16))
    phases = held.group_by("phase").agg(pl.col("exercice").min().alias("debut"), pl.col("exercice").max().alias("fin"))
    grid = (
        phases.select("phase", exercice=pl.int_ranges("debut", pl.col("fin") + 1, dtype=pl.Int16))
        .explode("exercice")
        .join(held.select("type_budget").unique(), how="cross")
    )
    counts = loaded.select(pl.col("exercice").cast(pl.Int16), "phase", "type_budget", pl.col("lignes").cast(pl.Int64))
    rows = grid.join(held, on=_SCOPE, how="left", nulls_equal=True).join(
        counts, on=_SCOPE, how="left", nulls_equal=True
    )
    rows = rows.with_columns(
        temoins=pl.col("temoins").fill_null(pl.lit([], pl.List(pl.String))),
        lignes=pl.col("lignes").fill_null(0),
        statut=pl.when(pl.col("repris").is_null())
        .then(pl.lit("absent"))
        .when(pl.col("repris") | pl.col("source_autoritaire").is_null())
        .then(pl.lit("en_erreur"))
        .otherwise(pl.lit("present")),
    )
    return _shaped(rows.sort("phase", "type_budget", "exercice", nulls_last=True), "credits")


#: Columns of :func:`performance_files`.
PERFORMANCE_FILES_SCHEMA = {"document": pl.String, "source_id": pl.String, "statut": pl.String, "lignes": pl.Int64}


def performance_files(connection) -> pl.DataFrame:
    """The performance files of the warehouse (DuckDB ``connection``), the input of :func:`performance_coverage`:
    one row per file of ``indicateur_fichiers`` and document, columns document, source_id, statut
    (``lu``, ``erreur``) and lignes (the document's rows in ``indicateur_valeurs``). A file in error this
    build, whose document could not be read (``document`` null), takes the documents of its last good rows,
    carried in ``indicateur_valeurs`` under its source_id: the document is held, from a source in error.
    Empty when the warehouse has no performance table."""
    tables = {t for (t,) in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    rows = []
    if {"indicateur_fichiers", "indicateur_valeurs"} <= tables:
        rows = connection.execute(
            """
            WITH held AS (SELECT document, source_id, count(*) AS n FROM indicateur_valeurs GROUP BY ALL),
            files AS (
                SELECT coalesce(f.document, h.document) AS document, f.source_id, f.statut
                FROM indicateur_fichiers f
                LEFT JOIN held h ON f.document IS NULL AND h.source_id = f.source_id
            )
            SELECT f.document, f.source_id, f.statut, coalesce(d.n, 0)
            FROM files f
            LEFT JOIN (SELECT document, sum(n) AS n FROM held GROUP BY ALL) d USING (document)
            ORDER BY f.document, f.source_id
            """
        ).fetchall()
    return pl.DataFrame(rows, schema=PERFORMANCE_FILES_SCHEMA, orient="row")


def performance_coverage(files: pl.DataFrame) -> pl.DataFrame:
    """The performance rows of ``couverture``.

    ``files``: one row per performance file read (columns document, e.g.
    ``RAP 2024``; source_id; statut ``lu`` or ``erreur``; lignes, the document's
    rows in ``indicateur_valeurs``). A document is ``present`` when its files read,
    ``en_erreur`` when one failed (its previous rows stay); each year missing
    between the first and the last document of a type (PAP, RAP) is ``absent``.
    Sorted by document type and year.
    """
    files = files.filter(pl.col("document").is_not_null())
    documents = files.group_by("document").agg(
        pl.col("source_id").sort().first().alias("source_autoritaire"),
        pl.col("source_id").sort().slice(1).alias("temoins"),
        pl.col("lignes").max().cast(pl.Int64),
        (pl.col("statut") == "erreur").any().alias("erreur"),
    )
    parts = documents.with_columns(
        type_document=pl.col("document").str.extract(r"^(\S+)"),
        exercice=pl.col("document").str.extract(r"(\d{4})$").cast(pl.Int16),
        statut=pl.when(pl.col("erreur")).then(pl.lit("en_erreur")).otherwise(pl.lit("present")),
    )
    series = parts.group_by("type_document").agg(pl.col("exercice").min().alias("debut"), pl.col("exercice").max())
    every_year = series.select(
        "type_document", exercice=pl.int_ranges("debut", pl.col("exercice") + 1, dtype=pl.Int16)
    ).explode("exercice")
    gaps = every_year.join(parts, on=["type_document", "exercice"], how="anti").with_columns(
        document=pl.concat_str("type_document", pl.col("exercice").cast(pl.String), separator=" "),
        temoins=pl.lit([], pl.List(pl.String)),
        lignes=pl.lit(0, pl.Int64),
        statut=pl.lit("absent"),
    )
    rows = pl.concat([parts, gaps], how="diagonal_relaxed").sort("type_document", "exercice")
    return _shaped(rows, "performance")


#: How the summary shows a statut in the grid.
GRID_MARKS = {"present": "X", "absent": ".", "en_erreur": "!"}


def grid_lines(rows: pl.DataFrame, credit_errors: Iterable[int] = ()) -> list[str]:
    """``couverture`` as text grids, for the build summary (under 100 columns for 16 years).

    Credits: one line per (phase, type_budget), one column per exercice; performance:
    one line per document type. ``X`` present, ``.`` absent, ``!`` en_erreur, blank
    where the row does not exist (before a phase's first year or after its last).
    ``credit_errors``: the exercices of credit sources in error, marked ``!`` on a line of their own, each with
    its column (an exercice whose only file is in error has no row in ``couverture``: it had none).
    """
    lines = []
    errors = sorted(set(credit_errors))
    for domaine, label in (("credits", ["phase", "type_budget"]), ("performance", ["type_document"])):
        part = rows.filter(pl.col("domaine") == domaine)
        extra = errors if domaine == "credits" else []
        if part.is_empty() and not extra:
            continue
        part = part.with_columns(type_document=pl.col("document").str.extract(r"^(\S+)"))
        known = [*part["exercice"].to_list(), *extra]
        years = range(min(known), max(known) + 1)
        cells = {
            (tuple(r[c] or "-" for c in label), r["exercice"]): GRID_MARKS[r["statut"]]
            for r in part.iter_rows(named=True)
        }
        lines.append(f"  {domaine:<12}" + "".join(f"{y:>5}" for y in years))
        for key in sorted({k for k, _ in cells}):
            marks = "".join(f"{cells.get((key, y), ' '):>5}" for y in years)
            lines.append(f"    {' '.join(key):<10}{marks}".rstrip())
        if extra:
            marks = "".join(f"{GRID_MARKS['en_erreur'] if y in extra else ' ':>5}" for y in years)
            lines.append(f"    {'erreur':<10}{marks}".rstrip())
    return lines
