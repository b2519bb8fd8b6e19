"""Read the performance files (PAP, RAP) into the long tables ``indicateurs`` and ``indicateur_valeurs``.

Sources: ``PLF_2019_PAP.csv`` (PAP 2019) and ``Performance_Depense.csv`` (RAP 2024,
dataset ``performance-de-la-depense`` of data.economie.gouv.fr), described in
``shared/data/README.md`` ("Performance"); the tables and their vocabulary are those of
the README ("Performance indicators"). Each file is recognised by its header
(:func:`schemas.performance.families.best_performance_family`, column maps as data in
``schemas/families/performance.toml``) and read through :func:`warehouse.reading.tables.read_tables`:

- every column is a declared field, a value column, a published attainment or part of a
  pair; any other column stops the file with an error naming it (never dropped);
- which document it is (``PAP 2023``, ``RAP 2024``) is decided from its value columns,
  cross-checked with its name and catalogue entry (:func:`which_document`);
- one ``indicateurs`` row per sub-indicator row of the file; a row naming no indicator
  (PAP 2019 programmes without indicators, e.g. ``P551``) is set aside as
  ``sans_indicateur`` and counted; ``niveau = 'mission'`` where there is no programme code;
- codes normalised (:mod:`schemas.performance.codes`): ``P129.1.2`` → ``P129-1-2``,
  ``MVA.4 (P147.3)`` → ``MVA-4``, ``30157.0`` → ``30157``;
- each wide value column becomes rows whose ``annee`` and ``type_valeur`` come from its
  header (one column expression per value column, each distinct cell parsed once by
  :func:`schemas.performance.indicator_values.parse_indicator_value`; empty cells kept as
  ``statut = 'vide'``); ``Année cible`` + ``Valeur cible`` give the year from the row;
- ``Atteinte de la cible <annee>`` goes to ``indicateur_atteintes_publiees``;
- every cell of the value and attainment columns is accounted for: cells read = values
  loaded + cells set aside, by reason (:data:`CELL_REASONS`).

A cell that cannot be read raises :class:`warehouse.credits.files.SourceReadError` naming
the file, the data row (1-based, after the header) and the column as published.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from schemas.catalogue import CatalogueEntry
from schemas.codes import CodeError, normalise_mission, normalise_programme
from schemas.families import vocabulary
from schemas.headers import fold_header
from schemas.performance.codes import (
    normalise_sous_indicateur_id,
    parse_performance_code,
    programme_reference,
)
from schemas.performance.documents import (
    DocumentError,
    decide_document,
    document_from_columns,
    stated_by_catalogue,
    stated_by_name,
)
from schemas.performance.families import (
    PerformanceMatch,
    attainment_vocabulary,
    best_performance_family,
    is_performance_header,
)
from schemas.performance.indicator_values import parse_indicator_value
from schemas.performance.models import (
    IndicateurAtteintesPublieesModel,
    IndicateursModel,
    IndicateurValeursModel,
)
from schemas.validation import ValidationFailed, validate
from warehouse.credits.files import SourceReadError
from warehouse.reading.tables import FrameRows, RawTable, TableReadError, read_tables
from warehouse.sources import recognised_heads

__all__ = [
    "ATTEINTE_SCHEMA",
    "INDICATEUR_SCHEMA",
    "PerformanceRead",
    "PerformanceTableError",
    "VALEUR_SCHEMA",
    "CELL_REASONS",
    "is_performance_header",
    "read_performance_file",
    "read_performance_table",
    "recognise_performance",
    "validate_read",
    "which_document",
]

#: Columns of ``indicateurs`` as read (``unite``, ``sens_attendu``, ``sens_origine`` are set later).
INDICATEUR_SCHEMA: dict[str, pl.DataType] = {
    "document": pl.String,
    "type_document": pl.String,
    "millesime": pl.Int16,
    "niveau": pl.String,
    "code_mission": pl.String,
    "code_programme": pl.String,
    "code_objectif": pl.String,
    "libelle_objectif": pl.String,
    "code_indicateur": pl.String,
    "code_indicateur_source": pl.String,
    "libelle_indicateur": pl.String,
    "code_sous_indicateur": pl.String,
    "libelle_sous_indicateur": pl.String,
    "unite": pl.String,
    "unite_source": pl.String,
    "code_programme_repris": pl.String,
    "type_budget": pl.String,
    "sens_attendu": pl.String,
    "sens_origine": pl.String,
    "source_id": pl.String,
    "source_ligne": pl.Int32,
}
#: Columns of ``indicateur_valeurs`` (README, plus ``colonne_source``).
VALEUR_SCHEMA: dict[str, pl.DataType] = {
    "document": pl.String,
    "niveau": pl.String,
    "code_mission": pl.String,
    "code_programme": pl.String,
    "code_indicateur": pl.String,
    "code_sous_indicateur": pl.String,
    "annee": pl.Int16,
    "type_valeur": pl.String,
    "valeur": pl.Float64,
    "valeur_min": pl.Float64,
    "valeur_max": pl.Float64,
    "comparateur": pl.String,
    "sens": pl.String,
    "statut": pl.String,
    "valeur_brute": pl.String,
    "colonne_source": pl.String,
    "source_id": pl.String,
    "source_ligne": pl.Int32,
}
#: Columns of ``indicateur_atteintes_publiees``.
ATTEINTE_SCHEMA: dict[str, pl.DataType] = {
    "document": pl.String,
    "niveau": pl.String,
    "code_mission": pl.String,
    "code_programme": pl.String,
    "code_indicateur": pl.String,
    "code_sous_indicateur": pl.String,
    "annee": pl.Int16,
    "atteinte_publiee": pl.String,
    "atteinte": pl.String,
    "source_id": pl.String,
    "source_ligne": pl.Int32,
}

_YEAR_CELL = r"^\s*(\d{4})(?:\.0+)?\s*$"
_ARTEFACT = re.compile(r"_x000D_", re.IGNORECASE)
#: Reasons a value cell is set aside (``cellules_ecartees_par_motif``).
CELL_REASONS = ("ligne_vide", "ligne_sans_indicateur", "atteinte_vide", "cible_sans_annee_ni_valeur")


@dataclass
class PerformanceRead:
    """What reading one performance file gave.

    ``indicateurs``, ``valeurs``, ``atteintes``: frames with the columns of
    :data:`INDICATEUR_SCHEMA`, :data:`VALEUR_SCHEMA`, :data:`ATTEINTE_SCHEMA`, validated.
    Rows: ``data_rows`` = ``kept`` + sum of ``set_aside`` (by reason: ``vide``,
    ``sans_indicateur``). Cells of the value and attainment columns (``value_columns`` of
    them): ``cells_read`` = ``data_rows`` × ``value_columns`` = ``values_loaded`` (rows of
    ``valeurs`` and ``atteintes``) + sum of ``cells_set_aside`` (by reason, :data:`CELL_REASONS`).
    ``type_document``/``millesime``: the document its columns say (``document_confirme_par``:
    ``colonnes``, plus the name or catalogue where they agree); ``colonnes``: each value
    column as published → ``annee type_valeur`` (or ``atteinte``).
    """

    fichier: str
    source_id: str
    famille: str
    document: str
    indicateurs: pl.DataFrame
    valeurs: pl.DataFrame
    atteintes: pl.DataFrame
    data_rows: int
    kept: int
    set_aside: dict[str, int] = field(default_factory=dict)
    type_document: str = ""
    millesime: int = 0
    document_confirme_par: str = "colonnes"
    value_columns: int = 0
    cells_read: int = 0
    values_loaded: int = 0
    cells_set_aside: dict[str, int] = field(default_factory=dict)
    colonnes: str = ""


class PerformanceTableError(TableReadError):
    """A CSV whose head was recognised as of the performance family ``famille``, whose whole table could not be
    read (a quote error past its head, or met leniently in it): the family is kept for its read report."""

    def __init__(self, message: str, famille: str) -> None:
        super().__init__(message)
        self.famille = famille


def recognise_performance(path: Path, fichier: str) -> tuple[PerformanceMatch, RawTable] | None:
    """Read ``path`` and return the best performance family match and its table (sheet), or None.

    Recognition reads a CSV's head only (:func:`warehouse.reading.tables.read_table_heads`); the whole
    table is read only for a file of a performance family.

    Raises :class:`warehouse.reading.tables.TableReadError` for a file that is not a table; a
    :class:`PerformanceTableError` (its ``famille``) for a CSV whose head is of a performance family and whose
    whole table cannot be read.
    """
    best: tuple[PerformanceMatch, RawTable] | None = None
    tables, complete = recognised_heads(path, fichier)  # read once per build (warehouse.sources)
    for table in tables:
        match = best_performance_family(table.header)
        if match and (best is None or match.explained > best[0].explained):
            best = (match, table)
    try:
        if best is not None and not complete:  # a CSV of a performance family, longer than its head: read it whole
            (table,) = read_tables(path, fichier)
            best = (best_performance_family(table.header), table)  # type: ignore[assignment]
        elif best is not None:  # the head is the whole table: a CSV's quoting error, met leniently, raised
            best[1].checked()
    except TableReadError as exc:
        assert best is not None
        raise PerformanceTableError(str(exc), best[0].family.id) from exc
    return best


def which_document(
    match: PerformanceMatch, fichier: str, catalogue: CatalogueEntry | None = None
) -> tuple[str, int, str]:
    """``(type_document, millesime, confirmed_by)`` of a performance file, from its value columns.

    The rule is :func:`schemas.performance.documents.document_from_columns`; the file name and
    ``catalogue`` (the entry of the same bytes, if any) are cross-checked
    (:func:`schemas.performance.documents.decide_document`). Raises :class:`SourceReadError`
    naming the file when the columns fit no document or disagree with the name or the catalogue.
    """
    stated = [stated_by_name(fichier)]
    if catalogue is not None:
        stated.append(stated_by_catalogue(catalogue.phases, catalogue.exercice))
    try:
        columns = document_from_columns(match.values, match.attainments)
        return decide_document(columns, stated)
    except DocumentError as exc:
        raise SourceReadError(fichier, str(exc)) from exc


def _label(text: str | None) -> str | None:
    """A label without the export artefact ``_x000D_`` and with its white space collapsed."""
    if text is None:
        return None
    cleaned = " ".join(_ARTEFACT.sub(" ", text).split())
    return cleaned or None


def _check_columns(table: RawTable, match: PerformanceMatch) -> None:
    """Raise :class:`SourceReadError` naming every column the family does not map, or two value
    columns that hold the same (``annee``, ``type_valeur``) (``2023 Cible`` twice).

    A column without a header whose cells are all empty holds nothing (a trailing
    separator): it is not a column. Any other unmapped column stops the file.
    """
    named = []
    for index, header in match.unmapped:
        if not header.strip():
            filled = next((n for n, row in enumerate(table.rows, 1) if row[index] and row[index].strip()), None)
            if filled is None:
                continue
            named.append(f"column {index + 1} (no header, a value on data row {filled})")
        else:
            named.append(repr(header))
    seen: dict[tuple, str] = {}
    for key, header in [((v.annee, v.type_valeur), v.header) for v in match.values if v.annee is not None] + [
        ((a.annee, "atteinte"), a.header) for a in match.attainments
    ]:
        if key in seen:
            raise SourceReadError(
                table.fichier, f"columns {seen[key]!r} and {header!r} both hold the {key[1]} of {key[0]}"
            )
        seen[key] = header
    if named:
        raise SourceReadError(
            table.fichier,
            f"column(s) {', '.join(named)} mapped neither to a value (annee, type_valeur), nor to a published "
            f"attainment, nor to a declared column of family {match.family.id} "
            "(schemas/families/performance.toml): not read, rather than dropped",
        )


_PARSED = ("valeur", "valeur_min", "valeur_max", "comparateur", "sens", "statut", "valeur_brute")


def _parsed_values(raw: pl.Series) -> pl.DataFrame:
    """Each distinct cell of ``raw`` parsed once (:func:`parse_indicator_value`): ``raw`` + the published columns."""
    distinct = raw.unique(maintain_order=True).to_list()
    parsed = [parse_indicator_value(cell) for cell in distinct]
    return pl.DataFrame(
        {
            "raw": distinct,
            "valeur": [p.valeur for p in parsed],
            "valeur_min": [p.valeur_min for p in parsed],
            "valeur_max": [p.valeur_max for p in parsed],
            "comparateur": [p.comparateur for p in parsed],
            "sens": [p.sens for p in parsed],
            "statut": [p.statut for p in parsed],
            "valeur_brute": [p.valeur_brute for p in parsed],
        },
        schema={"raw": pl.String, **{k: VALEUR_SCHEMA[k] for k in _PARSED}},
    )


def _frame(table: RawTable) -> pl.DataFrame:
    """The table as text columns ``c0``, ``c1``… (cells as published, None where empty) and ``source_ligne``."""
    names = [f"c{i}" for i in range(len(table.header))]
    rows = table.rows
    if isinstance(rows, FrameRows) and rows.frame.width == len(names):  # a CSV's cells: its frame, not rebuilt
        frame = rows.frame.select(
            pl.col(c).cast(pl.String).alias(n) for c, n in zip(rows.frame.columns, names, strict=True)
        )
    else:
        frame = pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String), orient="row")
    return frame.with_columns(source_ligne=pl.int_range(1, frame.height + 1, dtype=pl.Int32))


def _text(column: str) -> pl.Expr:
    """A cell stripped of surrounding white space; None where nothing is left."""
    stripped = pl.col(column).str.strip_chars()
    return pl.when(stripped != "").then(stripped)


class _Codes:
    """Parse the code columns of the kept rows, each distinct input once; an error names the file, the
    first data row holding that input and the column."""

    def __init__(self, table: RawTable, match: PerformanceMatch) -> None:
        self.table, self.match = table, match

    def apply(self, kept: pl.DataFrame, inputs: list[str], fn, out: dict[str, pl.DataType], field: str):
        """``kept`` with the columns ``out`` of ``fn(*inputs)`` (a tuple) joined on ``inputs``."""
        distinct = kept.select(inputs).unique(maintain_order=True)
        results = []
        for values in distinct.iter_rows():
            try:
                results.append(fn(*values))
            except CodeError as exc:
                where = pl.all_horizontal(
                    [pl.col(c).eq_missing(pl.lit(v, pl.String)) for c, v in zip(inputs, values, strict=True)]
                )
                first = kept.filter(where)["source_ligne"][0]
                index = self.match.fields.get(field)
                column = self.table.header[index] if index is not None else None
                raise SourceReadError(self.table.fichier, str(exc), first, column, index_colonne=index) from exc
        mapping = distinct.with_columns(
            pl.Series(name, [r[n] for r in results], dtype=dtype) for n, (name, dtype) in enumerate(out.items())
        )
        return kept.join(mapping, on=inputs, how="left", nulls_equal=True, maintain_order="left")


_TEXT_FIELDS = (
    "code_programme",
    "code_mission",
    "code_objectif",
    "libelle_objectif",
    "code_indicateur",
    "libelle_indicateur",
    "ref_indicateur",
    "code_sous_indicateur",
    "libelle_sous_indicateur",
    "type_budget",
)


def _objective(code: str | None, programme: str | None, mission: str | None) -> tuple:
    objective = parse_performance_code(code, 1, programme, mission)
    if objective is None:
        raise CodeError("indicator without an objective code")
    return objective.code, objective.owner, objective.code_mission


def _indicator(code: str | None, programme: str | None, mission: str | None) -> tuple:
    indicator = parse_performance_code(code, 2, programme, mission)
    return indicator.code, indicator.code_programme


def _budget_type(text: str | None, budget_types: dict[str, str]) -> str | None:
    """The budget type a cell names (``schemas/vocabulary``: BG, BA, CAS, CCF…), None for an empty cell.
    Raises :class:`CodeError` for a text naming none: a type is read, never guessed or dropped."""
    if not text:
        return None
    found = budget_types.get(fold_header(text))
    if found is None:
        raise CodeError(f"not a budget type ({', '.join(sorted(set(budget_types.values())))}): {text!r}")
    return found


def _reference(niveau: str, reference: str | None, programme: str | None) -> tuple:
    if niveau != "mission":
        return (None,)
    return (programme_reference(reference, programme and f"P{programme}"),)


def _identities(
    table: RawTable, match: PerformanceMatch, frame: pl.DataFrame, source_id: str, type_document: str, millesime: int
) -> tuple[pl.DataFrame, Counter[str]]:
    """The ``indicateurs`` rows (one per data row naming an indicator) and the rows set aside, by reason.

    Column expressions over the whole table; each distinct code (with the programme and mission it
    depends on) parsed once. Raises :class:`SourceReadError` (file, first row, column) for a code that
    does not parse, an indicator without an objective, or a value on a row that names no indicator.
    """
    fields = match.fields
    value_indices = [v.index for v in match.values] + [a.index for a in match.attainments]
    cells = [f"c{i}" for i in range(len(table.header))]
    rows = frame.select(
        "source_ligne",
        blank=pl.all_horizontal([pl.col(c).str.strip_chars().fill_null("") == "" for c in cells]),
        filled=pl.any_horizontal([pl.col(f"c{i}").str.strip_chars().fill_null("") != "" for i in value_indices])
        if value_indices
        else pl.lit(False),
        unite_source=pl.col(f"c{fields['unite']}") if "unite" in fields else pl.lit(None, pl.String),
        **{f: _text(f"c{fields[f]}") if f in fields else pl.lit(None, pl.String) for f in _TEXT_FIELDS},
    )
    set_aside: Counter[str] = Counter()
    set_aside["vide"] = rows["blank"].sum()
    nameless = rows.filter(~pl.col("blank") & pl.col("code_indicateur").is_null())
    stray = nameless.filter(pl.col("filled"))
    if stray.height:
        number = stray["source_ligne"][0]
        index = next(i for i in value_indices if (table.rows[number - 1][i] or "").strip())
        raise SourceReadError(
            table.fichier, "values on a row that names no indicator", number, table.header[index], index_colonne=index
        )
    set_aside["sans_indicateur"] = nameless.height
    set_aside = Counter({k: v for k, v in set_aside.items() if v})
    kept = rows.filter(~pl.col("blank") & pl.col("code_indicateur").is_not_null())
    codes = _Codes(table, match)
    kept = codes.apply(
        kept, ["code_programme"], lambda c: (normalise_programme(c),), {"prog": pl.String}, "code_programme"
    )
    kept = codes.apply(kept, ["code_mission"], lambda c: (normalise_mission(c),), {"miss": pl.String}, "code_mission")
    kept = codes.apply(
        kept,
        ["code_objectif", "prog", "miss"],
        _objective,
        {"objectif": pl.String, "owner": pl.String, "miss_objectif": pl.String},
        "code_objectif",
    )
    kept = kept.with_columns(
        miss=pl.when(pl.col("miss").is_null() & (pl.col("owner") == "M"))
        .then(pl.col("miss_objectif"))
        .otherwise(pl.col("miss"))
    ).with_columns(miss_indicateur=pl.coalesce("miss", "miss_objectif"))
    kept = codes.apply(
        kept,
        ["code_indicateur", "prog", "miss_indicateur"],
        _indicator,
        {"indicateur": pl.String, "prog_indicateur": pl.String},
        "code_indicateur",
    )
    kept = kept.with_columns(
        niveau=pl.when(pl.col("prog").is_not_null()).then(pl.lit("programme")).otherwise(pl.lit("mission"))
    )
    kept = codes.apply(
        kept, ["niveau", "ref_indicateur", "prog_indicateur"], _reference, {"repris": pl.String}, "ref_indicateur"
    )
    kept = codes.apply(
        kept,
        ["code_sous_indicateur"],
        lambda c: (normalise_sous_indicateur_id(c),),
        {"sous": pl.String},
        "code_sous_indicateur",
    )
    budget_types = vocabulary()["type_budget"]
    for name in ("libelle_objectif", "libelle_indicateur", "libelle_sous_indicateur"):
        kept = codes.apply(kept, [name], lambda t: (_label(t),), {f"{name}_propre": pl.String}, name)
    kept = codes.apply(
        kept, ["type_budget"], lambda b: (_budget_type(b, budget_types),), {"budget": pl.String}, "type_budget"
    )
    # A sub-indicator without a source id: ``<code_indicateur>-<n>``, n its position among its indicator's rows.
    owner = ["niveau", "miss", "prog", "indicateur"]
    position = pl.int_range(1, pl.len() + 1).over(owner).cast(pl.String)
    indicateurs = kept.select(
        document=pl.lit(f"{type_document} {millesime}"),
        type_document=pl.lit(type_document),
        millesime=pl.lit(millesime, pl.Int16),
        niveau="niveau",
        code_mission="miss",
        code_programme="prog",
        code_objectif="objectif",
        libelle_objectif="libelle_objectif_propre",
        code_indicateur="indicateur",
        code_indicateur_source="code_indicateur",
        libelle_indicateur="libelle_indicateur_propre",
        code_sous_indicateur=pl.coalesce("sous", pl.col("indicateur") + pl.lit("-") + position),
        libelle_sous_indicateur="libelle_sous_indicateur_propre",
        unite=pl.lit(None, pl.String),
        unite_source="unite_source",
        code_programme_repris="repris",
        type_budget="budget",
        sens_attendu=pl.lit(None, pl.String),
        sens_origine=pl.lit(None, pl.String),
        source_id=pl.lit(source_id),
        source_ligne="source_ligne",
    )
    return indicateurs.cast(INDICATEUR_SCHEMA), set_aside


def _cells(frame: pl.DataFrame, kept: pl.DataFrame, indices: list[int]) -> pl.DataFrame:
    """The cells of columns ``indices`` (``c<index>``) of the kept rows, with their keys and ``source_ligne``."""
    return kept.join(
        frame.select("source_ligne", *(f"c{i}" for i in indices)), on="source_ligne", how="left", maintain_order="left"
    )


def _values(
    table: RawTable, match: PerformanceMatch, frame: pl.DataFrame, kept: pl.DataFrame
) -> tuple[pl.DataFrame, int]:
    """The ``indicateur_valeurs`` rows of the kept rows, every cell of every value column; and the pair
    cells set aside (neither a year nor a value). Raises :class:`SourceReadError` for a year that does not
    parse or a value without its year."""
    indices = sorted({v.index for v in match.values} | {v.annee_index for v in match.values if v.annee_index})
    cells = _cells(frame, kept, indices)
    key = [k for k in VALEUR_SCHEMA if k in kept.columns and k not in ("source_id", "source_ligne")]
    parts, without_year = [], 0
    for order, column in enumerate(match.values):
        part = cells.select(*key, "source_id", "source_ligne", raw=pl.col(f"c{column.index}"))
        if column.annee is not None:
            part = part.with_columns(annee=pl.lit(column.annee, pl.Int16))
        else:
            year_cell = cells[f"c{column.annee_index}"]
            part = part.with_columns(
                annee=year_cell.str.extract(_YEAR_CELL, 1).cast(pl.Int16),
                year_cell=year_cell,
                blank_year=year_cell.str.strip_chars().fill_null("") == "",
            )
            bad = part.filter(~pl.col("blank_year") & pl.col("annee").is_null())
            if bad.height:
                first = bad.row(0, named=True)
                raise SourceReadError(
                    table.fichier,
                    f"not a year: {first['year_cell']!r}",
                    first["source_ligne"],
                    table.header[column.annee_index],
                    index_colonne=column.annee_index,
                )
            orphan = part.filter(pl.col("blank_year") & pl.col("raw").is_not_null())
            if orphan.height:
                first = orphan.row(0, named=True)
                raise SourceReadError(
                    table.fichier,
                    f"value {first['raw']!r} without its year",
                    first["source_ligne"],
                    table.header[column.annee_index],
                    index_colonne=column.annee_index,
                )
            without_year += part.filter(pl.col("blank_year")).height
            part = part.filter(~pl.col("blank_year")).drop("year_cell", "blank_year")
        parts.append(
            part.with_columns(
                type_valeur=pl.lit(column.type_valeur),
                colonne_source=pl.lit(column.header),
                ordre=pl.lit(order, pl.Int32),
            )
        )
    if not parts:
        return pl.DataFrame(schema=VALEUR_SCHEMA), 0
    long = pl.concat(parts, how="vertical")
    parsed = _parsed_values(long["raw"])
    valeurs = (
        long.join(parsed, on="raw", how="left", nulls_equal=True)
        .sort("source_ligne", "ordre")
        .select([pl.col(name).cast(dtype) for name, dtype in VALEUR_SCHEMA.items()])
    )
    return valeurs, without_year


def _attainments(match: PerformanceMatch, frame: pl.DataFrame, kept: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The ``indicateur_atteintes_publiees`` rows of the kept rows, and the empty attainment cells set aside."""
    if not match.attainments:
        return pl.DataFrame(schema=ATTEINTE_SCHEMA), 0
    cells = _cells(frame, kept, [a.index for a in match.attainments])
    long = pl.concat(
        [
            cells.select(
                pl.exclude([f"c{a.index}" for a in match.attainments]),
                atteinte_publiee=pl.col(f"c{column.index}"),
                annee=pl.lit(column.annee, pl.Int16),
                ordre=pl.lit(order, pl.Int32),
            )
            for order, column in enumerate(match.attainments)
        ]
    )
    filled = pl.col("atteinte_publiee").str.strip_chars().fill_null("") != ""
    empty = long.filter(~filled).height
    long = long.filter(filled)
    vocabulary_ = attainment_vocabulary()
    distinct = long["atteinte_publiee"].unique().to_list()
    normalised = pl.DataFrame(
        {"atteinte_publiee": distinct, "atteinte": [vocabulary_.get(fold_header(d)) for d in distinct]},
        schema={"atteinte_publiee": pl.String, "atteinte": pl.String},
    )
    atteintes = (
        long.join(normalised, on="atteinte_publiee", how="left")
        .sort("source_ligne", "ordre")
        .select([pl.col(name).cast(dtype) for name, dtype in ATTEINTE_SCHEMA.items()])
    )
    return atteintes, empty


def _check_irregular_rows(table: RawTable) -> None:
    """Raise :class:`SourceReadError` naming the first data row whose field count differs from the header's
    (``lignes_irregulieres``: more fields than the header, one of them filled, or fewer than it names), its line of
    the file and both counts: its cells are not read against the header's columns, where a shift would blame a
    value column or a code."""
    if not table.lignes_irregulieres:
        return
    ligne, count = table.lignes_irregulieres[0]
    others = len(table.lignes_irregulieres) - 1
    more = f"; and {others} other irregular row{'s' if others > 1 else ''}" if others else ""
    which = "more" if count > len(table.header) else "fewer"
    raise SourceReadError(
        table.fichier,
        f"the row has {which} fields than the header ({count} where the header has {len(table.header)}; line "
        f"{table.ligne_du_fichier(ligne)} of the file{more})",
        ligne,
    )


def _column_map(match: PerformanceMatch, header: list[str]) -> str:
    """Each value column as published → what it was read as (``2022 Cible (PAP 2022) → 2022 cible``;
    a pair's year as ``<Année cible>``)."""
    parts = []
    for column in match.values:
        year = str(column.annee) if column.annee is not None else f"<{header[column.annee_index]}>"
        parts.append(f"{column.header} → {year} {column.type_valeur}")
    parts += [f"{a.header} → {a.annee} atteinte" for a in match.attainments]
    return "; ".join(parts)


def read_performance_table(
    table: RawTable,
    match: PerformanceMatch,
    source_id: str,
    catalogue: CatalogueEntry | None = None,
    validated: bool = True,
) -> PerformanceRead:
    """Read one performance table (a CSV, or a sheet) of family ``match.family`` into long frames.

    ``catalogue``: the catalogue entry of the same bytes, if any, cross-checked against the
    document the columns say (:func:`which_document`). Returns a :class:`PerformanceRead` whose
    frames passed their Pandera models (:mod:`schemas.performance.models`) and whose cells balance;
    ``validated=False``: the models are left to the caller (:func:`validate_read`, or the whole
    tables at once: ``warehouse.performance.tables.assemble_checked``).
    Raises :class:`SourceReadError` naming the file (and the row and the column where there is
    one) for a required column missing, a row of more or fewer fields than the header, a column
    mapped to nothing, columns that fit no document or disagree with its name or catalogue entry,
    a code or a year that does not parse, a value whose year is missing, or rows that break the
    models.
    """
    try:
        return _read_performance_table(table, match, source_id, catalogue, validated)
    except SourceReadError as exc:
        if (located := exc.in_cell(table)) is exc:
            raise
        raise located from exc


def _read_performance_table(
    table: RawTable, match: PerformanceMatch, source_id: str, catalogue: CatalogueEntry | None, validated: bool
) -> PerformanceRead:
    fichier = table.fichier
    if match.missing:
        raise SourceReadError(
            fichier, f"required column(s) missing for family {match.family.id}: {', '.join(match.missing)}"
        )
    _check_irregular_rows(table)
    _check_columns(table, match)
    type_document, millesime, confirmed_by = which_document(match, fichier, catalogue)
    document = f"{type_document} {millesime}"
    frame = _frame(table)
    indicateurs, set_aside = _identities(table, match, frame, source_id, type_document, millesime)
    kept = indicateurs.select(
        [k for k in VALEUR_SCHEMA if k in INDICATEUR_SCHEMA and k not in ("annee",)]  # key, source_id, source_ligne
    )
    valeurs, without_year = _values(table, match, frame, kept)
    atteintes, empty_attainments = _attainments(match, frame, kept)
    width = len(match.values) + len(match.attainments)
    cells_set_aside = {
        "ligne_vide": set_aside.get("vide", 0) * width,
        "ligne_sans_indicateur": set_aside.get("sans_indicateur", 0) * width,
        "atteinte_vide": empty_attainments,
        "cible_sans_annee_ni_valeur": without_year,
    }
    read = PerformanceRead(
        fichier=fichier,
        source_id=source_id,
        famille=match.family.id,
        document=document,
        indicateurs=indicateurs,
        valeurs=valeurs,
        atteintes=atteintes,
        data_rows=len(table.rows),
        kept=indicateurs.height,
        set_aside=dict(set_aside),
        type_document=type_document,
        millesime=millesime,
        document_confirme_par=confirmed_by,
        value_columns=width,
        cells_read=len(table.rows) * width,
        values_loaded=valeurs.height + atteintes.height,
        cells_set_aside={k: v for k, v in cells_set_aside.items() if v},
        colonnes=_column_map(match, table.header),
    )
    return validate_read(read) if validated else read


def validate_read(read: PerformanceRead) -> PerformanceRead:
    """``read`` with its frames validated by their Pandera models (:mod:`schemas.performance.models`); raises
    :class:`SourceReadError` naming the file, the source rows and the columns that break them."""
    models = (IndicateursModel, IndicateurValeursModel, IndicateurAtteintesPublieesModel)
    frames = (read.indicateurs, read.valeurs, read.atteintes)
    checked = [_validated(model, frame, read.fichier) for model, frame in zip(models, frames, strict=True)]
    return replace(read, indicateurs=checked[0], valeurs=checked[1], atteintes=checked[2])


def _validated(model, frame: pl.DataFrame, fichier: str) -> pl.DataFrame:
    """``frame`` validated by ``model``; a failure names the file, the source rows and the columns."""
    try:
        return validate(model, frame)
    except ValidationFailed as exc:
        lines = []
        for failure in exc.failures.head(10).iter_rows(named=True):
            index = failure["index"]
            where = f"ligne {frame['source_ligne'][index]}" if index is not None and index < frame.height else "table"
            lines.append(f"{where}, colonne {failure['column']!r}: {failure['check']} ({failure['failure_case']!r})")
        more = f"; … {exc.failures.height - 10} more" if exc.failures.height > 10 else ""
        raise SourceReadError(fichier, f"{model.__name__}: " + "; ".join(lines) + more) from exc


def read_performance_file(path: Path, fichier: str, source_id: str) -> PerformanceRead | None:
    """Recognise and read one performance file; None if it is of no performance family.

    Raises :class:`SourceReadError` (file, row, column) for a file of a performance family
    that cannot be read, :class:`warehouse.reading.tables.TableReadError` for a file that is no table.
    """
    found = recognise_performance(path, fichier)
    if found is None:
        return None
    match, table = found
    return read_performance_table(table, match, source_id)
