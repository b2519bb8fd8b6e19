"""Read the performance files (PAP, RAP) into the long tables ``indicateurs`` and ``indicateur_valeurs``.

Sources: ``PLF_2019_PAP.csv`` (PAP 2019) and ``Performance_Depense.csv`` (RAP 2024,
dataset ``performance-de-la-depense`` of data.economie.gouv.fr), described in
``shared/data/README.md`` ("Performance"); the tables and their vocabulary are those of
``shared/CONTRACT.md``. Each file is recognised by its header
(:func:`schemas.performance_families.best_performance_family`, column maps as data in
``schemas/families/performance.toml``) and read through :func:`warehouse.tables.read_tables`:

- one ``indicateurs`` row per sub-indicator row of the file; a row naming no indicator
  (PAP 2019 programmes without indicators, e.g. ``P551``) is set aside as
  ``sans_indicateur`` and counted; ``niveau = 'mission'`` where there is no programme code;
- codes normalised (:mod:`schemas.performance_codes`): ``P129.1.2`` → ``P129-1-2``,
  ``MVA.4 (P147.3)`` → ``MVA-4``, ``30157.0`` → ``30157``;
- each wide value column becomes rows whose ``annee`` and ``type_valeur`` come from its
  header, every cell parsed by :func:`schemas.indicator_values.parse_indicator_value`
  (empty cells kept as ``statut = 'vide'``); ``Année cible`` + ``Valeur cible`` give the
  year from the row;
- the RAP's ``Atteinte de la cible <annee>`` goes to ``indicateur_atteintes_publiees``.

A cell that cannot be read raises :class:`warehouse.credit_files.SourceReadError` naming
the file, the data row (1-based, after the header) and the column as published.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from schemas.codes import CodeError, normalise_mission, normalise_programme
from schemas.families import vocabulary
from schemas.headers import fold_header
from schemas.indicator_values import parse_indicator_value
from schemas.performance import (
    IndicateurAtteintesPublieesModel,
    IndicateursModel,
    IndicateurValeursModel,
)
from schemas.performance_codes import (
    PerformanceCode,
    normalise_sous_indicateur_id,
    parse_performance_code,
    programme_reference,
)
from schemas.performance_families import PerformanceMatch, attainment_vocabulary, best_performance_family
from schemas.validation import ValidationFailed, validate
from warehouse.credit_files import SourceReadError
from warehouse.tables import RawTable, read_tables

__all__ = [
    "ATTEINTE_SCHEMA",
    "INDICATEUR_SCHEMA",
    "PerformanceRead",
    "VALEUR_SCHEMA",
    "document_vintage",
    "is_performance_header",
    "read_performance_file",
    "read_performance_table",
    "recognise_performance",
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
#: Columns of ``indicateur_valeurs`` (CONTRACT.md, plus ``colonne_source``).
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

_YEAR_CELL = re.compile(r"^\s*(\d{4})(?:\.0+)?\s*$")
_YEAR_IN_PATH = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")
_ARTEFACT = re.compile(r"_x000D_", re.IGNORECASE)


@dataclass
class PerformanceRead:
    """What reading one performance file gave.

    ``indicateurs``, ``valeurs``, ``atteintes``: frames with the columns of
    :data:`INDICATEUR_SCHEMA`, :data:`VALEUR_SCHEMA`, :data:`ATTEINTE_SCHEMA`, validated.
    ``data_rows`` = ``kept`` + sum of ``set_aside`` (by reason: ``vide``, ``sans_indicateur``).
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


def recognise_performance(path: Path, fichier: str) -> tuple[PerformanceMatch, RawTable] | None:
    """Read ``path`` and return the best performance family match and its table (sheet), or None.

    Raises :class:`warehouse.tables.TableReadError` for a file that is not a table.
    """
    best: tuple[PerformanceMatch, RawTable] | None = None
    for table in read_tables(path, fichier):
        match = best_performance_family(table.header)
        if match and (best is None or match.explained > best[0].explained):
            best = (match, table)
    return best


def document_vintage(match: PerformanceMatch, fichier: str) -> int:
    """The vintage (millésime) of a performance file, by the rules of its family (``millesime`` in the TOML).

    ``entete``: the largest document year its headers state (``PAP 2019``); ``max:<type>``:
    the latest year of its value columns of that type (a RAP N reports the results of N);
    ``chemin``: the one four-digit year in its path. Raises :class:`SourceReadError` if none applies.
    """
    for rule in match.family.vintage_rules:
        if rule == "entete":
            years = [v.millesime for v in match.values if v.millesime]
        elif rule.startswith("max:"):
            wanted = rule.split(":", 1)[1]
            years = [v.annee for v in match.values if v.type_valeur == wanted and v.annee]
        elif rule == "chemin":
            found = set(_YEAR_IN_PATH.findall(fichier))
            years = [int(found.pop())] if len(found) == 1 else []
        else:
            raise ValueError(f"unknown vintage rule {rule!r} in family {match.family.id}")
        if years:
            return max(years)
    raise SourceReadError(fichier, f"vintage unknown: no rule of family {match.family.id} applies")


def _label(text: str | None) -> str | None:
    """A label without the export artefact ``_x000D_`` and with its white space collapsed."""
    if text is None:
        return None
    cleaned = " ".join(_ARTEFACT.sub(" ", text).split())
    return cleaned or None


class _Row:
    """Cells of one data row, by field, with errors naming the file, the row and the column."""

    def __init__(self, table: RawTable, match: PerformanceMatch, number: int, cells: list[str | None]) -> None:
        self.table, self.match, self.number, self.cells = table, match, number, cells

    def get(self, name: str) -> str | None:
        index = self.match.fields.get(name)
        if index is None:
            return None
        value = self.cells[index]
        return value.strip() if value is not None and value.strip() else None

    def error(self, message: str, name: str | None = None, index: int | None = None) -> SourceReadError:
        if index is None and name is not None:
            index = self.match.fields.get(name)
        column = self.table.header[index] if index is not None else None
        return SourceReadError(self.table.fichier, message, self.number, column)

    def code(self, name: str, parse, *args):
        try:
            return parse(self.get(name), *args)
        except CodeError as exc:
            raise self.error(str(exc), name) from exc


def _year(row: _Row, index: int) -> int | None:
    cell = row.cells[index]
    if cell is None or not cell.strip():
        return None
    match = _YEAR_CELL.match(cell)
    if not match:
        raise row.error(f"not a year: {cell!r}", index=index)
    return int(match.group(1))


def read_performance_table(table: RawTable, match: PerformanceMatch, source_id: str) -> PerformanceRead:
    """Read one performance table (a CSV, or a sheet) of family ``match.family`` into long frames.

    Returns a :class:`PerformanceRead` whose frames passed their Pandera models
    (:mod:`schemas.performance`). Raises :class:`SourceReadError` naming the file, the row
    and the column for a required column missing, a code or a year that does not parse,
    a value whose year is missing, or rows that break the models.
    """
    fichier = table.fichier
    if match.missing:
        raise SourceReadError(
            fichier, f"required column(s) missing for family {match.family.id}: {', '.join(match.missing)}"
        )
    millesime = document_vintage(match, fichier)
    document = f"{match.family.document} {millesime}"
    budget_types = vocabulary()["type_budget"]
    attainments = attainment_vocabulary()
    indicateurs: list[dict] = []
    valeurs: list[dict] = []
    atteintes: list[dict] = []
    set_aside: Counter[str] = Counter()
    for number, cells in enumerate(table.rows, start=1):
        if all(c is None or not c.strip() for c in cells):
            set_aside["vide"] += 1
            continue
        row = _Row(table, match, number, cells)
        has_values = any(cells[v.index] is not None for v in match.values)
        if row.get("code_indicateur") is None:
            if has_values:
                raise row.error("values on a row that names no indicator", "code_indicateur")
            set_aside["sans_indicateur"] += 1
            continue
        code_programme = row.code("code_programme", normalise_programme)
        code_mission = row.code("code_mission", normalise_mission)
        objective: PerformanceCode = row.code("code_objectif", parse_performance_code, 1, code_programme, code_mission)
        if objective is None:
            raise row.error("indicator without an objective code", "code_objectif")
        if code_mission is None and objective.owner == "M":
            code_mission = objective.code_mission
        indicator: PerformanceCode = row.code(
            "code_indicateur", parse_performance_code, 2, code_programme, code_mission or objective.code_mission
        )
        niveau = "programme" if code_programme else "mission"
        repris = None
        if niveau == "mission":
            try:
                repris = programme_reference(
                    row.get("ref_indicateur"), indicator.code_programme and f"P{indicator.code_programme}"
                )
            except CodeError as exc:
                raise row.error(str(exc), "ref_indicateur") from exc
        key = {
            "document": document,
            "niveau": niveau,
            "code_mission": code_mission,
            "code_programme": code_programme,
            "code_indicateur": indicator.code,
            "code_sous_indicateur": row.code("code_sous_indicateur", normalise_sous_indicateur_id),
        }
        budget = row.get("type_budget")
        indicateurs.append(
            {
                **key,
                "type_document": match.family.document,
                "millesime": millesime,
                "code_objectif": objective.code,
                "libelle_objectif": _label(row.get("libelle_objectif")),
                "code_indicateur_source": row.get("code_indicateur"),
                "libelle_indicateur": _label(row.get("libelle_indicateur")),
                "libelle_sous_indicateur": _label(row.get("libelle_sous_indicateur")),
                "unite": None,
                "unite_source": cells[match.fields["unite"]] if "unite" in match.fields else None,
                "code_programme_repris": repris,
                "type_budget": budget_types.get(fold_header(budget)) if budget else None,
                "sens_attendu": None,
                "sens_origine": None,
                "source_id": source_id,
                "source_ligne": number,
            }
        )
        for column in match.values:
            raw = cells[column.index]
            annee = column.annee
            if annee is None:
                annee = _year(row, column.annee_index)
                if annee is None:
                    if raw is None:
                        continue  # neither a year nor a value: nothing stated
                    raise row.error(f"value {raw!r} without its year", index=column.annee_index)
            parsed = parse_indicator_value(raw)
            valeurs.append(
                {
                    **key,
                    "annee": annee,
                    "type_valeur": column.type_valeur,
                    "valeur": parsed.valeur,
                    "valeur_min": parsed.valeur_min,
                    "valeur_max": parsed.valeur_max,
                    "comparateur": parsed.comparateur,
                    "sens": parsed.sens,
                    "statut": parsed.statut,
                    "valeur_brute": parsed.valeur_brute,
                    "colonne_source": column.header,
                    "source_id": source_id,
                    "source_ligne": number,
                }
            )
        for column in match.attainments:
            raw = cells[column.index]
            if raw is None or not raw.strip():
                continue
            atteintes.append(
                {
                    **key,
                    "annee": column.annee,
                    "atteinte_publiee": raw,
                    "atteinte": attainments.get(fold_header(raw)),
                    "source_id": source_id,
                    "source_ligne": number,
                }
            )
    _number_sub_indicators(indicateurs, valeurs, atteintes)
    frames = (
        pl.DataFrame(indicateurs, schema=INDICATEUR_SCHEMA, orient="row"),
        pl.DataFrame(valeurs, schema=VALEUR_SCHEMA, orient="row"),
        pl.DataFrame(atteintes, schema=ATTEINTE_SCHEMA, orient="row"),
    )
    models = (IndicateursModel, IndicateurValeursModel, IndicateurAtteintesPublieesModel)
    validated = [_validated(model, frame, fichier) for model, frame in zip(models, frames, strict=True)]
    return PerformanceRead(
        fichier=fichier,
        source_id=source_id,
        famille=match.family.id,
        document=document,
        indicateurs=validated[0],
        valeurs=validated[1],
        atteintes=validated[2],
        data_rows=len(table.rows),
        kept=len(indicateurs),
        set_aside=dict(set_aside),
    )


def _number_sub_indicators(indicateurs: list[dict], valeurs: list[dict], atteintes: list[dict]) -> None:
    """Give a sub-indicator without a source id the code ``<code_indicateur>-<n>`` (CONTRACT.md).

    ``n`` is its 1-based position among the rows of its indicator, in file order.
    """
    positions: dict[tuple, int] = defaultdict(int)
    codes: dict[int, str] = {}
    for record in indicateurs:
        owner = (record["niveau"], record["code_mission"], record["code_programme"], record["code_indicateur"])
        positions[owner] += 1
        if record["code_sous_indicateur"] is None:
            record["code_sous_indicateur"] = f"{record['code_indicateur']}-{positions[owner]}"
            codes[record["source_ligne"]] = record["code_sous_indicateur"]
    for record in (*valeurs, *atteintes):
        if record["code_sous_indicateur"] is None:
            record["code_sous_indicateur"] = codes[record["source_ligne"]]


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
    that cannot be read, :class:`warehouse.tables.TableReadError` for a file that is no table.
    """
    found = recognise_performance(path, fichier)
    if found is None:
        return None
    match, table = found
    return read_performance_table(table, match, source_id)


def is_performance_header(header: list[str] | tuple[str, ...]) -> bool:
    """Whether a header (as the inventory saw it) is that of a performance family."""
    return best_performance_family(list(header)) is not None
