"""Read one nomenclature file of a known family into its elements, one row per element.

The column maps are data (``schemas/families/nomenclature.toml``). A long file
(``Type ligne``) gives one element per line; a wide file (one line per action)
gives the action, its programme, its mission and its ministère on every line.
Codes take their warehouse form (``schemas/codes.py``); labels are cleaned
(``schemas/labels.py``). A cell that does not parse raises
:class:`warehouse.credits.files.SourceReadError` naming the file, the row and the
column.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache

import polars as pl

from schemas.codes import (
    CodeError,
    normalise_action,
    normalise_categorie,
    normalise_ministere,
    normalise_mission,
    normalise_programme,
    normalise_titre,
    split_destination_code,
)
from schemas.families import FamilyMatch, vocabulary
from schemas.headers import fold_header
from schemas.labels import clean_label
from warehouse.credits.files import SourceReadError, differing_doubles
from warehouse.reading.tables import RawTable

__all__ = ["ELEMENT_SCHEMA", "NomenclatureRead", "read_nomenclature_table"]

#: ``fold_header`` of a cell, folded once per distinct value (a file repeats a few line types and budget types).
_fold_cell = cache(fold_header)

#: One row per element a line states (``niveau``: mission, programme, action, sous_action,
#: categorie, titre, ministere); the codes of its level and above, and its cleaned label.
ELEMENT_SCHEMA: dict[str, pl.DataType] = {
    "source_id": pl.String,
    "source_ligne": pl.Int32,
    "exercice": pl.Int16,
    "phase": pl.String,
    "niveau": pl.String,
    "type_budget": pl.String,
    "code_mission": pl.String,
    "code_programme": pl.String,
    "code_action": pl.String,
    "code_sous_action": pl.String,
    "code_categorie": pl.String,
    "code_titre": pl.String,
    "code_ministere": pl.String,
    "libelle": pl.String,
}

_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_PHASE_CELL = re.compile(r"^(?P<phase>[a-z]+?)(?P<exercice>\d{4})?$")
_CODE_AND_LABEL = re.compile(r"^\s*(\S+)\s*(.*)$", re.S)


@dataclass
class NomenclatureRead:
    """The elements of one file (columns of :data:`ELEMENT_SCHEMA`) and its line accounting."""

    elements: pl.DataFrame
    exercice: int
    phase: str
    data_rows: int
    kept: int
    set_aside: dict[str, int]
    per_niveau: dict[str, int]  # lines per level, as the file's `Type ligne` counts them


def read_nomenclature_table(
    table: RawTable,
    match: FamilyMatch,
    source_id: str,
    exercice_hint: int | None = None,
    phase_hint: str | None = None,
) -> NomenclatureRead:
    """Read ``table`` (a nomenclature file of the family of ``match``) into its elements.

    ``exercice_hint``, ``phase_hint``: what the catalogue or the file's path says,
    used where the file says nothing. Raises :class:`SourceReadError` for a missing
    required column, an unknown exercice or phase, or a cell that does not parse;
    :class:`warehouse.reading.tables.TableReadError` naming the first row whose field count
    differs from the header's (:meth:`RawTable.irregular_rows_error`).
    """
    if match.missing:
        raise SourceReadError(
            table.fichier, f"required column(s) missing for family {match.family.id}: " + ", ".join(match.missing)
        )
    if (irregular := table.irregular_rows_error()) is not None:
        raise irregular
    reader = _Reader(table, match, source_id, exercice_hint, phase_hint)
    double = differing_doubles(table, match.doubles)  # two columns of one field that differ: the credits' error
    try:
        read = reader.read()
    except SourceReadError as exc:  # in a workbook's sheet: its cell too
        first = double if double is not None and (exc.ligne or 0) > double.ligne else exc  # the first in line order
        if (located := first.in_cell(table)) is exc:
            raise
        raise located from exc
    if double is not None:
        raise double.in_cell(table)
    return read


class _Reader:
    def __init__(self, table, match, source_id, exercice_hint, phase_hint) -> None:
        self.table, self.fields, self.source_id = table, match.fields, source_id
        self.exercice_hint, self.phase_hint = exercice_hint, phase_hint
        self.vocab = vocabulary()
        self.niveaux = {name: re.compile(pattern) for name, pattern in self.vocab["niveau"].items()}

    def _error(self, ligne: int, field: str | None, message: str) -> SourceReadError:
        index = self.fields.get(field) if field else None
        colonne = self.table.header[index] if index is not None else None
        return SourceReadError(self.table.fichier, message, ligne=ligne, colonne=colonne, index_colonne=index)

    def _cell(self, row, name):
        index = self.fields.get(name)
        return None if index is None else row[index]

    def _code(self, row, ligne, name, rule):
        try:
            return rule(self._cell(row, name))
        except CodeError as exc:
            raise self._error(ligne, name, str(exc)) from exc

    def _code_and_label(self, row, ligne, name, rule) -> tuple[str | None, str | None]:
        """``MTR Transformation et fonction publiques`` → (``TR``, ``Transformation…``)."""
        cell = self._cell(row, name)
        if cell is None:
            return None, None
        head, rest = _CODE_AND_LABEL.match(cell).groups()
        try:
            return rule(head), clean_label(rest)
        except CodeError as exc:
            raise self._error(ligne, name, str(exc)) from exc

    def _exercice_phase(self, row, ligne) -> tuple[int, str]:
        exercice, phase = None, None
        cell = self._cell(row, "phase")
        if cell is not None:
            found = _PHASE_CELL.match(_fold_cell(cell))
            if not found or found.group("phase") not in self.vocab["phase"]:
                raise self._error(ligne, "phase", f"unknown phase {cell!r}")
            phase = self.vocab["phase"][found.group("phase")]
            exercice = int(found.group("exercice")) if found.group("exercice") else None
        cell = self._cell(row, "exercice")
        if cell is not None:
            year = _YEAR.search(cell)
            if not year:
                raise self._error(ligne, "exercice", f"not an exercice: {cell!r}")
            exercice = int(year.group(1))
        exercice = exercice or self.exercice_hint
        phase = phase or self.phase_hint
        if exercice is None:
            raise self._error(ligne, "exercice", "exercice unknown: stated neither in the file nor by its path")
        if phase is None:
            raise self._error(ligne, "phase", "phase unknown: stated neither in the file nor by its path")
        return exercice, phase

    def read(self) -> NomenclatureRead:
        elements: list[dict] = []
        set_aside: Counter[str] = Counter()
        per_niveau: Counter[str] = Counter()
        kept = 0
        for ligne, row in enumerate(self.table.rows, start=1):
            if row.count(None) == len(row):  # every cell empty (a C count, not a generator per row)
                set_aside["vide"] += 1
                continue
            exercice, phase = self._exercice_phase(row, ligne)
            base = {
                "source_id": self.source_id,
                "source_ligne": ligne,
                "exercice": exercice,
                "phase": phase,
                "type_budget": self._type_budget(row, ligne),
            }
            produced = self._long(row, ligne, base) if "niveau" in self.fields else self._wide(row, ligne, base)
            if not produced:
                set_aside["sans_code"] += 1
                continue
            kept += 1
            per_niveau[produced[0]["niveau"]] += 1
            elements.extend(produced)
        frame = (
            pl.DataFrame({name: [e[name] for e in elements] for name in ELEMENT_SCHEMA}, schema=ELEMENT_SCHEMA)
            if elements  # by columns: Polars builds them faster than it reads a dict per row
            else pl.DataFrame(schema=ELEMENT_SCHEMA)
        )
        exercices = sorted(set(frame["exercice"].to_list())) or [self.exercice_hint or 0]
        if len(exercices) > 1:
            raise self._several(frame, "exercice", exercices)
        phases = sorted(set(frame["phase"].to_list())) or [self.phase_hint or ""]
        if len(phases) > 1:  # a PLF line in an LFI file: an error, as for exercices (the file has one phase)
            raise self._several(frame, "phase", phases)
        return NomenclatureRead(
            frame, exercices[0], phases[0], len(self.table.rows), kept, dict(set_aside), dict(per_niveau)
        )

    def _several(self, frame: pl.DataFrame, field: str, values: list) -> SourceReadError:
        """The error of a file whose lines state several ``values`` of ``field`` (``exercice`` or ``phase``), as the
        credit reader words it: naming the first line of the value of fewest lines (the earlier first line, where as
        many) and the column that states it on that line (an exercice's: the exercice's, else the phase's,
        ``PLF 2019``)."""
        found = frame.group_by(field).agg(pl.col("source_ligne").n_unique().alias("n"), pl.col("source_ligne").min())
        rows, ligne, value = min((n, first, v) for v, n, first in found.iter_rows())
        row = self.table.rows[ligne - 1]
        stated = field
        if field == "exercice" and self._cell(row, "exercice") is None and self._cell(row, "phase") is not None:
            stated = "phase"
        what = "exercices" if field == "exercice" else "phases"
        return self._error(
            ligne, stated, f"several {what} in one file: {values}; {value} on {rows} row(s), the first here"
        )

    def _type_budget(self, row, ligne) -> str | None:
        cell = self._cell(row, "type_budget")
        if cell is None:
            return None
        folded = _fold_cell(cell)
        for key in (folded, folded[:2], folded[:3]):  # `BG00` (Chorus) is BG
            if key in self.vocab["type_budget"]:
                return self.vocab["type_budget"][key]
        raise self._error(ligne, "type_budget", f"unknown budget type {cell!r}")

    def _niveau(self, row, ligne) -> str:
        cell = self._cell(row, "niveau")
        folded = _fold_cell(cell)
        for name, pattern in self.niveaux.items():
            if pattern.search(folded):
                return name
        raise self._error(ligne, "niveau", f"unknown line type {cell!r}")

    def _long(self, row, ligne, base) -> list[dict]:
        niveau = self._niveau(row, ligne)
        code = self._cell(row, "code")
        element = dict.fromkeys(ELEMENT_SCHEMA) | base | {"niveau": niveau}
        try:
            if niveau == "mission":
                element["code_mission"] = normalise_mission(code)
            elif niveau in ("programme", "action", "sous_action"):
                programme, action, sous_action = split_destination_code(code)
                if programme is None:
                    programme, _, _ = split_destination_code(self._cell(row, "code_programme"))
                element |= {"code_programme": programme, "code_action": action, "code_sous_action": sous_action}
            elif niveau == "categorie":
                element["code_categorie"] = normalise_categorie(code)
            elif niveau == "titre":
                element["code_titre"] = normalise_titre(code)
            else:
                element["code_ministere"] = normalise_ministere(code)
        except CodeError as exc:
            raise self._error(ligne, "code", str(exc)) from exc
        if code is None:
            return []
        if niveau == "programme":
            element["code_mission"] = self._code(row, ligne, "code_mission", normalise_mission)
            element["code_ministere"] = self._code(row, ligne, "code_ministere", normalise_ministere)
        label_code = {"programme": element["code_programme"], "mission": element["code_mission"]}.get(niveau)
        element["libelle"] = clean_label(self._cell(row, "libelle"), label_code)
        produced = [element]
        mission, mission_label = self._code_and_label(row, ligne, "mission_code_libelle", normalise_mission)
        ministere, ministere_label = self._code_and_label(row, ligne, "ministere_code_libelle", normalise_ministere)
        if niveau == "programme" and mission:
            element["code_mission"] = mission
            produced.append(
                dict.fromkeys(ELEMENT_SCHEMA)
                | base
                | {"niveau": "mission", "code_mission": mission, "libelle": mission_label}
            )
        if niveau == "programme" and ministere:
            element["code_ministere"] = ministere
            produced.append(
                dict.fromkeys(ELEMENT_SCHEMA)
                | base
                | {"niveau": "ministere", "code_ministere": ministere, "libelle": ministere_label}
            )
        return produced

    def _wide(self, row, ligne, base) -> list[dict]:
        programme = self._code(row, ligne, "code_programme", normalise_programme)
        if programme is None:
            return []
        action = self._code(row, ligne, "code_action", lambda v: normalise_action(v, programme))
        mission = self._code(row, ligne, "code_mission", normalise_mission)
        ministere = self._code(row, ligne, "code_ministere", normalise_ministere)
        empty = dict.fromkeys(ELEMENT_SCHEMA) | base
        produced = [
            empty
            | {
                "niveau": "action",
                "code_programme": programme,
                "code_action": action,
                "libelle": clean_label(self._cell(row, "libelle_action")),
            },
            empty
            | {
                "niveau": "programme",
                "code_programme": programme,
                "code_mission": mission,
                "code_ministere": ministere,
                "libelle": clean_label(self._cell(row, "libelle_programme"), programme),
            },
        ]
        mission_label = clean_label(self._cell(row, "libelle_mission"))
        if mission or mission_label:
            produced.append(empty | {"niveau": "mission", "code_mission": mission, "libelle": mission_label})
        if ministere:
            produced.append(
                empty
                | {
                    "niveau": "ministere",
                    "code_ministere": ministere,
                    "libelle": clean_label(self._cell(row, "libelle_ministere")),
                }
            )
        return produced
