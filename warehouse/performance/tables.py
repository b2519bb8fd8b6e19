"""Assemble the performance tables from the files read, and write them to DuckDB in one transaction.

From the frames of every performance file (:mod:`warehouse.performance.files`):

- ``unites``: units trimmed (white space collapsed) and case variants merged
  (``Nombre``/``nombre``): each spelling takes the most frequent spelling of its
  case-folded form (ties: the first in sort order); ``indicateurs.unite`` holds it,
  ``unite_source`` the published one;
- ``indicateurs.sens_attendu``: the direction of improvement of a sub-indicator, only
  where its document reveals it (:func:`infer_directions`), else null;
- ``indicateur_correspondances`` (:func:`warehouse.performance.indicator_links.link_sub_indicators`);
- ``indicateur_fichiers``: one read report per file: the document its columns say, its rows
  (read = kept + set aside, by reason) and its value cells (read = values loaded + set
  aside, by reason), each value column as published → what it was read as.

:func:`write_performance` replaces every performance table in one transaction and
(re)creates the view ``indicateur_atteinte`` (``warehouse/sql/indicateur_atteinte.sql``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import duckdb
import polars as pl

from schemas.headers import fold_header
from schemas.performance.models import (
    INDICATEUR_KEY,
    IndicateurAtteintesPublieesModel,
    IndicateurCorrespondancesModel,
    IndicateurFichiersModel,
    IndicateursModel,
    IndicateurValeursModel,
    UnitesModel,
)
from schemas.validation import ValidationFailed, validate
from warehouse.credits.files import SourceReadError
from warehouse.performance.files import (
    ATTEINTE_SCHEMA,
    INDICATEUR_SCHEMA,
    VALEUR_SCHEMA,
    PerformanceRead,
    validate_read,
)
from warehouse.performance.indicator_links import link_sub_indicators
from warehouse.store import transaction

__all__ = [
    "FICHIER_SCHEMA",
    "PERFORMANCE_TABLES",
    "PerformanceTables",
    "assemble_checked",
    "assemble_performance",
    "infer_directions",
    "normalise_units",
    "previous_rows",
    "write_performance",
]

#: The performance tables, in the order they are written, with the order their rows are published in.
PERFORMANCE_TABLES: dict[str, str] = {
    "indicateurs": ", ".join(INDICATEUR_KEY),
    "indicateur_valeurs": ", ".join([*INDICATEUR_KEY, "annee", "type_valeur"]),
    "indicateur_atteintes_publiees": ", ".join([*INDICATEUR_KEY, "annee"]),
    "indicateur_correspondances": "document_a, document_b, code_sous_indicateur_a, code_sous_indicateur_b",
    "unites": "unite",
    "indicateur_fichiers": "source_id",
}

FICHIER_SCHEMA: dict[str, pl.DataType] = {
    "source_id": pl.String,
    "fichier": pl.String,
    "famille": pl.String,
    "document": pl.String,
    "statut": pl.String,
    "message": pl.String,
    "lignes": pl.Int64,
    "lignes_retenues": pl.Int64,
    "lignes_ecartees": pl.Int64,
    "lignes_ecartees_par_motif": pl.String,
    "valeurs": pl.Int64,
    "type_document": pl.String,
    "millesime": pl.Int16,
    "document_confirme_par": pl.String,
    "colonnes_valeurs": pl.Int64,
    "correspondance_colonnes": pl.String,
    "cellules_lues": pl.Int64,
    "valeurs_chargees": pl.Int64,
    "cellules_ecartees": pl.Int64,
    "cellules_ecartees_par_motif": pl.String,
}


@dataclass
class FileFailure:
    """A performance file that could not be read: its last good rows are kept."""

    source_id: str
    fichier: str
    famille: str
    message: str
    statut: str = "erreur"  # or "absent": not given this time, kept (warehouse/expected.py)


@dataclass
class PerformanceTables:
    """Every performance table, validated, ready to write (columns as in ``warehouse/sql/performance.sql``)."""

    indicateurs: pl.DataFrame
    indicateur_valeurs: pl.DataFrame
    indicateur_atteintes_publiees: pl.DataFrame
    indicateur_correspondances: pl.DataFrame
    unites: pl.DataFrame
    indicateur_fichiers: pl.DataFrame

    def frames(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in PERFORMANCE_TABLES}


def _variant(unit: str | None) -> str | None:
    if unit is None:
        return None
    text = " ".join(unit.split())
    return text or None


def normalise_units(indicateurs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Set ``unite`` from ``unite_source`` (trimmed, case variants merged); return it and ``unites``.

    ``unites``: ``unite``, ``nb_sous_indicateurs`` (rows of ``indicateurs``),
    ``nb_variantes``, ``variantes`` (``'Nombre (166) | nombre (37)'``).
    """
    spellings = Counter(_variant(u) for u in indicateurs["unite_source"].to_list())
    spellings.pop(None, None)
    groups: dict[str, list[tuple[str, int]]] = {}
    for spelling, count in spellings.items():
        groups.setdefault(spelling.casefold(), []).append((spelling, count))
    canonical: dict[str, str] = {}
    rows = []
    for members in groups.values():
        members.sort(key=lambda m: (-m[1], m[0]))
        unit = members[0][0]
        for spelling, _ in members:
            canonical[spelling] = unit
        rows.append(
            {
                "unite": unit,
                "nb_sous_indicateurs": sum(c for _, c in members),
                "nb_variantes": len(members),
                "variantes": " | ".join(f"{s} ({c})" for s, c in members),
            }
        )
    unites = pl.DataFrame(
        rows,
        schema={"unite": pl.String, "nb_sous_indicateurs": pl.Int64, "nb_variantes": pl.Int32, "variantes": pl.String},
        orient="row",
    ).sort("unite")
    mapped = indicateurs.with_columns(
        unite=pl.col("unite_source").map_elements(
            lambda u: canonical.get(_variant(u)), return_dtype=pl.String, skip_nulls=True
        )
    )
    return mapped, unites


def infer_directions(valeurs: pl.DataFrame, atteintes: pl.DataFrame) -> pl.DataFrame:
    """The direction of improvement (``hausse``: higher is better) each sub-indicator's document reveals.

    Evidence, within one document (the RAP publishes whether each target was met beside
    the values), only where it admits one reading:

    - ``atteinte_publiee``: a target of year N published as *not* met, with a numeric
      result R and target C of N, R ≠ C: R < C → ``hausse`` (higher is better), R > C →
      ``baisse``; ``amélioration`` (not met, but progress on N-1) or ``absence
      amélioration`` with the result R' of N-1 ≠ R: progress upward, or no progress
      downward → ``hausse``, else ``baisse``. A target published as *met* is no evidence:
      the RAP counts results close to the target as met (RAP 2024, 30160: 217 for a target
      of 220, ``cible atteinte``), so it reveals no direction;
    - ``cible_borne``: a target written as a bound (``≥ 95`` → ``hausse``, ``<=450`` → ``baisse``).

    Returns ``INDICATEUR_KEY`` + ``sens_attendu``, ``sens_origine`` for every sub-indicator
    with evidence: where evidence disagrees, ``sens_attendu`` is null and ``sens_origine``
    is ``contradictoire``. Sub-indicators without evidence are absent (direction unknown).
    """
    key = INDICATEUR_KEY
    results = valeurs.filter((pl.col("type_valeur") == "realisation") & (pl.col("statut") == "ok")).select(
        *key, "annee", resultat=pl.col("valeur")
    )
    targets = valeurs.filter((pl.col("type_valeur") == "cible") & (pl.col("statut") == "ok")).select(
        *key, "annee", cible=pl.col("valeur")
    )
    previous = results.select(*key, annee=pl.col("annee") + 1, precedent=pl.col("resultat"))
    published = (
        atteintes.filter(pl.col("atteinte").is_in(["atteinte", "non_atteinte"]))
        .with_columns(forme=pl.col("atteinte_publiee").map_elements(fold_header, return_dtype=pl.String))
        .join(results, on=[*key, "annee"], how="inner", nulls_equal=True)
        .join(targets, on=[*key, "annee"], how="left", nulls_equal=True)
        .join(previous, on=[*key, "annee"], how="left", nulls_equal=True)
    )
    met = pl.col("atteinte") == "atteinte"
    against_target = (
        published.filter(~met & pl.col("cible").is_not_null() & (pl.col("resultat") != pl.col("cible")))
        .with_columns(
            sens=pl.when(pl.col("resultat") < pl.col("cible")).then(pl.lit("hausse")).otherwise(pl.lit("baisse"))
        )
        .select(*key, "sens", origine=pl.lit("atteinte_publiee"))
    )
    progress = pl.col("forme") == "amelioration"
    no_progress = pl.col("forme").str.starts_with("absence")
    against_previous = (
        published.filter(
            pl.col("precedent").is_not_null() & (pl.col("resultat") != pl.col("precedent")) & (progress | no_progress)
        )
        .with_columns(
            sens=pl.when(progress == (pl.col("resultat") > pl.col("precedent")))
            .then(pl.lit("hausse"))
            .otherwise(pl.lit("baisse"))
        )
        .select(*key, "sens", origine=pl.lit("atteinte_publiee"))
    )
    bounds = valeurs.filter((pl.col("type_valeur") == "cible") & (pl.col("statut") == "borne")).select(
        *key,
        sens=pl.when(pl.col("comparateur").str.starts_with(">")).then(pl.lit("hausse")).otherwise(pl.lit("baisse")),
        origine=pl.lit("cible_borne"),
    )
    evidence = pl.concat([against_target, against_previous, bounds])
    return (
        evidence.group_by(key)
        .agg(sens=pl.col("sens").unique().sort(), origine=pl.col("origine").unique().sort())
        .select(
            *key,
            sens_attendu=pl.when(pl.col("sens").list.len() == 1).then(pl.col("sens").list.first()),
            sens_origine=pl.when(pl.col("sens").list.len() == 1)
            .then(pl.col("origine").list.join("+"))
            .otherwise(pl.lit("contradictoire")),
        )
    )


def assemble_performance(
    reads: list[PerformanceRead],
    failures: list[FileFailure] | None = None,
    carried: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame] | None = None,
) -> PerformanceTables:
    """Every performance table from the files read, plus the rows ``carried`` over for failed files.

    ``carried``: (``indicateurs``, ``indicateur_valeurs``, ``indicateur_atteintes_publiees``)
    rows of the files that failed this time, from the last good build (:func:`previous_rows`).
    Every table is validated against its Pandera model (raises
    :class:`schemas.validation.ValidationFailed`).
    """
    failures = failures or []
    indicateurs = [r.indicateurs for r in reads]
    valeurs = [r.valeurs for r in reads]
    atteintes = [r.atteintes for r in reads]
    if carried is not None:
        indicateurs.append(carried[0])
        valeurs.append(carried[1])
        atteintes.append(carried[2])
    indicateurs_frame = pl.concat([pl.DataFrame(schema=INDICATEUR_SCHEMA), *indicateurs], how="vertical")
    valeurs_frame = pl.concat([pl.DataFrame(schema=VALEUR_SCHEMA), *valeurs], how="vertical")
    atteintes_frame = pl.concat([pl.DataFrame(schema=ATTEINTE_SCHEMA), *atteintes], how="vertical")
    indicateurs_frame, unites = normalise_units(indicateurs_frame)
    directions = infer_directions(valeurs_frame, atteintes_frame)
    indicateurs_frame = (
        indicateurs_frame.drop("sens_attendu", "sens_origine")
        .join(directions, on=INDICATEUR_KEY, how="left", nulls_equal=True)
        .select(list(INDICATEUR_SCHEMA))
    )
    reports = [
        {
            "source_id": r.source_id,
            "fichier": r.fichier,
            "famille": r.famille,
            "document": r.document,
            "statut": "lu",
            "message": None,
            "lignes": r.data_rows,
            "lignes_retenues": r.kept,
            "lignes_ecartees": sum(r.set_aside.values()),
            "lignes_ecartees_par_motif": ", ".join(f"{k}: {v}" for k, v in sorted(r.set_aside.items())) or None,
            "valeurs": r.valeurs.height,
            "type_document": r.type_document,
            "millesime": r.millesime,
            "document_confirme_par": r.document_confirme_par,
            "colonnes_valeurs": r.value_columns,
            "correspondance_colonnes": r.colonnes,
            "cellules_lues": r.cells_read,
            "valeurs_chargees": r.values_loaded,
            "cellules_ecartees": sum(r.cells_set_aside.values()),
            "cellules_ecartees_par_motif": ", ".join(f"{k}: {v}" for k, v in sorted(r.cells_set_aside.items())) or None,
        }
        for r in reads
    ] + [
        {"source_id": f.source_id, "fichier": f.fichier, "famille": f.famille, "statut": f.statut, "message": f.message}
        for f in failures
    ]
    fichiers = pl.DataFrame(reports, schema=FICHIER_SCHEMA, orient="row")
    return PerformanceTables(
        indicateurs=validate(IndicateursModel, indicateurs_frame),
        indicateur_valeurs=validate(IndicateurValeursModel, valeurs_frame),
        indicateur_atteintes_publiees=validate(IndicateurAtteintesPublieesModel, atteintes_frame),
        indicateur_correspondances=validate(IndicateurCorrespondancesModel, link_sub_indicators(indicateurs_frame)),
        unites=validate(UnitesModel, unites),
        indicateur_fichiers=validate(IndicateurFichiersModel, fichiers),
    )


def assemble_checked(
    reads: list[PerformanceRead],
    failures: list[FileFailure],
    carried: Callable[[list[str]], tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame] | None],
) -> tuple[PerformanceTables, list[FileFailure]]:
    """:func:`assemble_performance` of ``reads`` read without their models (``read_performance_table(...,
    validated=False)``): the models run once on the whole tables rather than once per file.

    ``carried(source_ids)``: the last good rows of those files (:func:`previous_rows`). The whole tables
    passing means every file passes (each file's rows are rows of the whole). When they fail, each file is
    validated alone (:func:`warehouse.performance.files.validate_read`): a file that breaks the models becomes a
    :class:`FileFailure` with the message reading it alone gives (the file, its rows and columns), its last
    good rows carried, as when its read fails; a failure no single file explains (across files) is raised.
    Returns the tables and every failure (``failures`` and the files that broke the models).
    """
    try:
        return assemble_performance(reads, failures, carried([f.source_id for f in failures])), failures
    except ValidationFailed:
        kept, failures = [], list(failures)
        for read in reads:
            try:
                kept.append(validate_read(read))
            except SourceReadError as exc:
                failures.append(FileFailure(read.source_id, read.fichier, read.famille, str(exc)))
        if len(kept) == len(reads):
            raise
        return assemble_performance(kept, failures, carried([f.source_id for f in failures])), failures


def _sql(name: str) -> str:
    return resources.files("warehouse").joinpath(f"sql/{name}").read_text(encoding="utf-8")


def previous_rows(
    connection: duckdb.DuckDBPyConnection, source_ids: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame] | None:
    """The rows of ``indicateurs``, ``indicateur_valeurs``, ``indicateur_atteintes_publiees`` of ``source_ids``
    from the warehouse (the last good read of files that failed now), or None if there are none yet."""
    tables = {r[0] for r in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if not source_ids or not {"indicateurs", "indicateur_valeurs", "indicateur_atteintes_publiees"} <= tables:
        return None
    frames = []
    for table, schema in (
        ("indicateurs", INDICATEUR_SCHEMA),
        ("indicateur_valeurs", VALEUR_SCHEMA),
        ("indicateur_atteintes_publiees", ATTEINTE_SCHEMA),
    ):
        frame = connection.sql(
            f"SELECT {', '.join(schema)} FROM {table} WHERE list_contains(?, source_id)", params=[source_ids]
        ).pl()
        frames.append(frame.cast(schema))
    return frames[0], frames[1], frames[2]


def write_performance(connection: duckdb.DuckDBPyConnection, tables: PerformanceTables) -> dict[str, int]:
    """Replace every performance table by ``tables`` and (re)create the view ``indicateur_atteinte``.

    One transaction: a failure leaves every table as it was. Returns the rows written per table.
    """
    frames = tables.frames()
    written = {}
    with transaction(connection):
        connection.execute(_sql("performance.sql"))
        for name, frame in frames.items():
            view = f"nouvelles_{name}"
            connection.register(view, frame.to_arrow())
            try:
                columns = ", ".join(frame.columns)
                connection.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM {view}")
            finally:
                connection.unregister(view)
            written[name] = frame.height
        connection.execute(_sql("indicateur_atteinte.sql"))
    return written
