"""Read one credit (AE/CP) file of a known family into line-level credit rows.

The column map of each family is data (``schemas/families/credits.toml``); this
module applies it to a :class:`warehouse.tables.RawTable`, with the rules of the
project's data README (``shared/data/README.md``, "Credits"):

- lines that are blank, totals (``Total général``) or empty markers (``(vide)``)
  are set aside and counted by reason; totals are kept as checksums;
- codes are normalised (:mod:`schemas.codes`); an action given only through its
  sous-action (``308-06-03``) takes it from there; the titre is the first digit of
  the catégorie where there is one (the published titre is kept beside it);
- amounts are exact euros (:func:`schemas.amounts.parse_euros`); an empty amount
  on a line that has the other amount counts as 0, and is counted;
- T2 / HT2 split files yield one row per phase (PLF, AMD, LFI); an amendment row
  exists only where AE or CP is not zero; a phase whose published columns hold one
  constant value on every line (LFI 2023: ``4.0``) is broken at source, and is
  computed as PLF + AMD with ``calcule = true``.

Any cell that does not parse raises :class:`SourceReadError` naming the file, the
data row (1-based, after the header) and the column as published.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl

from schemas.amounts import AmountError, parse_euros
from schemas.codes import (
    CodeError,
    normalise_action,
    normalise_categorie,
    normalise_ministere,
    normalise_mission,
    normalise_programme,
    normalise_sous_action,
    normalise_titre,
)
from schemas.families import AmountColumn, FamilyMatch, vocabulary
from schemas.headers import fold_header
from warehouse.tables import RawTable

__all__ = ["CreditRead", "LINE_SCHEMA", "SourceReadError", "read_credit_table", "stated_exercice"]

MONEY = pl.Decimal(18, 2)

#: Columns of the line-level credit frame (``staging/credits``), before roles are assigned.
LINE_SCHEMA: dict[str, pl.DataType] = {
    "source_id": pl.String,
    "source_ligne": pl.Int32,
    "exercice": pl.Int16,
    "phase": pl.String,
    "type_budget": pl.String,
    "code_ministere": pl.String,
    "code_mission": pl.String,
    "code_programme": pl.String,
    "code_action": pl.String,
    "code_sous_action": pl.String,
    "code_categorie": pl.String,
    "code_titre": pl.String,
    "ae": MONEY,
    "cp": MONEY,
    "ae_fdc_adp": MONEY,
    "cp_fdc_adp": MONEY,
    "ae_t2": MONEY,
    "ae_ht2": MONEY,
    "cp_t2": MONEY,
    "cp_ht2": MONEY,
    "ae_publie": MONEY,
    "cp_publie": MONEY,
    "calcule": pl.Boolean,
    "code_titre_publie": pl.String,
    "libelle_ministere": pl.String,
    "libelle_mission": pl.String,
    "libelle_programme": pl.String,
    "libelle_action": pl.String,
    "libelle_sous_action": pl.String,
    "libelle_categorie": pl.String,
    "libelle_titre": pl.String,
}

_LABELS = tuple(k for k in LINE_SCHEMA if k.startswith("libelle_"))
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_PHASE_CELL = re.compile(r"^(?P<phase>[a-z]+?)(?P<exercice>\d{4})?$")
_BROKEN_MIN_ROWS = 10


class SourceReadError(ValueError):
    """A source of a covered family that cannot be read: names the file, the row and the column."""

    def __init__(self, fichier: str, message: str, ligne: int | None = None, colonne: str | None = None) -> None:
        self.fichier, self.message, self.ligne, self.colonne = fichier, message, ligne, colonne
        where = [fichier]
        if ligne is not None:
            where.append(f"ligne {ligne}")
        if colonne is not None:
            where.append(f"colonne {colonne!r}")
        super().__init__(f"{', '.join(where)}: {message}")


@dataclass
class CreditRead:
    """What reading one credit file gave.

    ``lines``: one row per (data line, phase[, titre]) with the columns of
    :data:`LINE_SCHEMA`, amounts in euros as ``Decimal(18, 2)``.
    ``data_rows`` = ``kept`` + sum of ``set_aside`` (by reason: ``vide``, ``total``,
    ``note``, ``sans_montant``).
    """

    lines: pl.DataFrame
    exercice: int
    phases: tuple[str, ...]
    data_rows: int
    kept: int
    set_aside: dict[str, int]
    empty_amounts: int = 0
    titres_corriges: int = 0
    broken_phases: tuple[str, ...] = ()
    total_mismatches: list[str] = field(default_factory=list)


def read_credit_table(
    table: RawTable, match: FamilyMatch, source_id: str, exercice_hint: int | None = None
) -> CreditRead:
    """Read ``table`` (a credit file of the family of ``match``) into line-level credit rows.

    ``exercice_hint``: the exercice the catalogue or the file name gives, used only
    where the file states none. Raises :class:`SourceReadError` when a required
    column is missing, the exercice is unknown, or a cell does not parse.
    """
    fichier = table.fichier
    if match.missing:
        expected = [
            f"{name} (a header like {match.family.columns[name].pattern!r})"
            if name in match.family.columns
            else f"{name} (an amount column)"
            for name in match.missing
        ]
        raise SourceReadError(
            fichier, f"required column(s) missing for family {match.family.id}: {', '.join(expected)}"
        )
    reader = _LineReader(table, match, source_id, exercice_hint)
    return reader.read()


class _LineReader:
    def __init__(self, table: RawTable, match: FamilyMatch, source_id: str, exercice_hint: int | None) -> None:
        self.table, self.match, self.source_id = table, match, source_id
        self.fields = match.fields
        self.vocab = vocabulary()
        self.set_aside: Counter[str] = Counter()
        self.empty_amounts = 0
        self.titres_corriges = 0
        header_years = {a.exercice for a in match.amounts if a.exercice}
        if len(header_years) > 1:
            raise SourceReadError(table.fichier, f"several exercices in the header: {header_years}")
        self.header_exercice = next(iter(header_years), None)
        self.exercice_hint = exercice_hint
        if (
            "exercice" not in self.fields
            and "phase" not in self.fields
            and self.header_exercice is None
            and exercice_hint is None
        ):
            raise SourceReadError(
                table.fichier,
                "exercice unknown: stated neither in a column, nor in the header, "
                "nor by the catalogue (sha256), nor by a year in the file name",
            )
        # An amount column that names no phase (``AE Prev FDC/ADP``) belongs to the phase of the
        # file's other amount columns when they name exactly one; else to the row's phase column.
        header_phases = {a.phase for a in match.amounts if a.phase}
        file_phase = next(iter(header_phases)) if len(header_phases) == 1 else None
        self.groups: dict[tuple[str | None, str | None], list[AmountColumn]] = defaultdict(list)
        for amount in match.amounts:
            self.groups[(amount.phase or file_phase, amount.titre)].append(amount)
        self.broken = self._broken_phases()

    # -- helpers --------------------------------------------------------------------------
    def _error(self, ligne: int, index: int | None, message: str) -> SourceReadError:
        colonne = self.table.header[index] if index is not None else None
        return SourceReadError(self.table.fichier, message, ligne=ligne, colonne=colonne)

    def _cell(self, row: list[str | None], name: str) -> str | None:
        index = self.fields.get(name)
        return None if index is None else row[index]

    def _code(self, row, ligne, name, rule, *args):
        try:
            return rule(self._cell(row, name), *args)
        except CodeError as exc:
            raise self._error(ligne, self.fields[name], str(exc)) from exc

    def _amount(self, row, ligne, column: AmountColumn) -> Decimal | None:
        try:
            return parse_euros(row[column.index])
        except AmountError as exc:
            raise self._error(ligne, column.index, str(exc)) from exc

    def _set_aside_reason(self, row: list[str | None]) -> str | None:
        filled = [v for v in row if v is not None]
        if not filled:
            return "vide"
        first = fold_header(filled[0])
        for reason, pattern in self.vocab["lignes_ecartees"].items():
            if re.search(pattern, first) and (reason != "note" or len(filled) == 1):
                return reason
        return None

    def _broken_phases(self) -> set[str]:
        """Phases whose published amount columns hold one non-zero constant on every line."""
        values: dict[int, set[str | None]] = defaultdict(set)
        rows = [r for r in self.table.rows if self._set_aside_reason(r) is None]
        if len(rows) < _BROKEN_MIN_ROWS:
            return set()
        for amount in self.match.amounts:
            values[amount.index] = {r[amount.index] for r in rows}
        broken = set()
        phases = {a.phase for a in self.match.amounts if a.phase}
        for phase in phases:
            columns = [a for a in self.match.amounts if a.phase == phase]
            others = [a for a in self.match.amounts if a.phase and a.phase != phase]
            constant = all(
                len(values[a.index]) == 1 and parse_euros(next(iter(values[a.index]))) not in (None, 0) for a in columns
            )
            others_vary = any(len(values[a.index]) > 1 for a in others)
            if constant and others_vary:
                broken.add(phase)
        return broken

    def _row_exercice_phase(self, row, ligne) -> tuple[int, str | None]:
        exercice: int | None = None
        phase: str | None = None
        cell = self._cell(row, "phase")
        if cell is not None:
            found = _PHASE_CELL.match(fold_header(cell))
            if not found or found.group("phase") not in self.vocab["phase"]:
                raise self._error(ligne, self.fields["phase"], f"unknown phase {cell!r}")
            phase = self.vocab["phase"][found.group("phase")]
            if found.group("exercice"):
                exercice = int(found.group("exercice"))
        cell = self._cell(row, "exercice")
        if cell is not None:
            year = _YEAR.search(cell)
            if not year:
                raise self._error(ligne, self.fields["exercice"], f"not an exercice: {cell!r}")
            exercice = int(year.group(1))
        exercice = exercice or self.header_exercice or self.exercice_hint
        if exercice is None:
            raise self._error(ligne, self.fields.get("exercice"), "exercice unknown")
        return exercice, phase

    # -- reading --------------------------------------------------------------------------
    def read(self) -> CreditRead:
        out: list[dict] = []
        totals: list[tuple[int, list[str | None]]] = []
        kept_rows: list[list[str | None]] = []
        for ligne, row in enumerate(self.table.rows, start=1):
            reason = self._set_aside_reason(row)
            if reason is None:
                produced = self._read_line(row, ligne)
                if produced:
                    out.extend(produced)
                    kept_rows.append(row)
                    continue
                reason = "sans_montant"
            self.set_aside[reason] += 1
            if reason == "total":
                totals.append((ligne, row))
        lines = pl.DataFrame(out, schema=LINE_SCHEMA, orient="row") if out else pl.DataFrame(schema=LINE_SCHEMA)
        exercices = sorted(set(lines["exercice"].to_list())) if out else []
        if len(exercices) > 1:
            raise SourceReadError(self.table.fichier, f"several exercices in one file: {exercices}")
        exercice = exercices[0] if exercices else (self.header_exercice or self.exercice_hint or 0)
        return CreditRead(
            lines=lines,
            exercice=exercice,
            phases=tuple(sorted(set(lines["phase"].to_list()))) if out else (),
            data_rows=len(self.table.rows),
            kept=len(kept_rows),
            set_aside=dict(self.set_aside),
            empty_amounts=self.empty_amounts,
            titres_corriges=self.titres_corriges,
            broken_phases=tuple(sorted(self.broken)),
            total_mismatches=self._check_totals(totals, kept_rows),
        )

    def _read_line(self, row: list[str | None], ligne: int) -> list[dict]:
        exercice, row_phase = self._row_exercice_phase(row, ligne)
        base = self._base(row, ligne, exercice)
        groups: dict[tuple[str, str | None], dict[tuple[str, str], Decimal | None]] = {}
        for (phase, titre), columns in self.groups.items():
            phase = phase or row_phase
            if phase is None:
                raise self._error(ligne, columns[0].index, "phase unknown for this amount column")
            parts = groups.setdefault((phase, titre), {})
            for column in columns:
                parts[(column.grandeur, column.partie)] = self._amount(row, ligne, column)
        produced = []
        for (phase, titre), parts in groups.items():
            computed = phase in self.broken
            if computed:
                parts = self._computed(groups, titre)
                if parts is None:
                    continue
            record = self._record(base, phase, titre, parts, computed)
            if record is None:
                continue
            if phase == "AMD" and record["ae"] == 0 and record["cp"] == 0:
                continue
            produced.append(record)
        return produced

    def _computed(self, groups, titre) -> dict[tuple[str, str], Decimal | None] | None:
        """LFI = PLF + AMD, part by part, for a phase broken at source."""
        plf, amd = groups.get(("PLF", titre)), groups.get(("AMD", titre))
        if plf is None or amd is None:
            return None
        keys = {k for k in (*plf, *amd) if k[1] != "total" or k in plf}
        return {k: _add(plf.get(k), amd.get(k)) for k in keys}

    def _base(self, row, ligne, exercice) -> dict:
        code_programme = self._code(row, ligne, "code_programme", normalise_programme)
        if code_programme is None:
            raise self._error(ligne, self.fields["code_programme"], "empty programme code")
        code_action = self._code(row, ligne, "code_action", normalise_action, code_programme)
        action_of_sa, code_sous_action = self._code(
            row, ligne, "code_sous_action", normalise_sous_action, code_programme
        )
        if code_action is None:
            code_action = action_of_sa
        elif action_of_sa is not None and action_of_sa != code_action:
            raise self._error(
                ligne,
                self.fields["code_sous_action"],
                f"sous-action of action {action_of_sa}, on a line of action {code_action}",
            )
        code_categorie = self._code(row, ligne, "code_categorie", normalise_categorie)
        code_titre_publie = self._code(row, ligne, "code_titre", normalise_titre)
        code_titre = code_categorie[0] if code_categorie else code_titre_publie
        if code_titre_publie is not None and code_titre != code_titre_publie:
            self.titres_corriges += 1
        type_budget = self._cell(row, "type_budget")
        if type_budget is not None:
            folded = fold_header(type_budget)
            if folded not in self.vocab["type_budget"]:
                raise self._error(ligne, self.fields["type_budget"], f"unknown budget type {type_budget!r}")
            type_budget = self.vocab["type_budget"][folded]
        base = {
            "source_id": self.source_id,
            "source_ligne": ligne,
            "exercice": exercice,
            "type_budget": type_budget,
            "code_ministere": self._code(row, ligne, "code_ministere", normalise_ministere),
            "code_mission": self._code(row, ligne, "code_mission", normalise_mission),
            "code_programme": code_programme,
            "code_action": code_action,
            "code_sous_action": code_sous_action,
            "code_categorie": code_categorie,
            "code_titre": code_titre,
            "code_titre_publie": code_titre_publie,
        }
        for label in _LABELS:
            value = self._cell(row, label)
            base[label] = " ".join(value.split()) if value else None
        return base

    def _record(self, base, phase, titre, parts, computed) -> dict | None:
        record = dict(base, phase=phase, calcule=computed)
        if titre is not None:
            record["code_titre"] = titre
        empty = 0
        for grandeur in ("ae", "cp"):
            total = parts.get((grandeur, "total"))
            t2, ht2 = parts.get((grandeur, "t2")), parts.get((grandeur, "ht2"))
            split = (grandeur, "t2") in parts or (grandeur, "ht2") in parts
            value = total if total is not None else (_add(t2, ht2) if split else None)
            record[grandeur] = value
            record[f"{grandeur}_t2"], record[f"{grandeur}_ht2"] = t2, ht2
            record[f"{grandeur}_publie"] = total if split and not computed else None
            record[f"{grandeur}_fdc_adp"] = parts.get((grandeur, "fdc_adp"))
            empty += value is None
        if empty == 2:
            return None
        if empty:
            self.empty_amounts += 1
            record["ae"] = record["ae"] if record["ae"] is not None else Decimal("0.00")
            record["cp"] = record["cp"] if record["cp"] is not None else Decimal("0.00")
        return record

    def _check_totals(self, totals, kept_rows) -> list[str]:
        """Compare each total line with the sum of the kept lines, column by column."""
        mismatches = []
        for ligne, row in totals:
            for column in self.match.amounts:
                stated = parse_euros(row[column.index]) if row[column.index] else None
                if stated is None:
                    continue
                summed = sum((parse_euros(r[column.index]) or Decimal(0) for r in kept_rows), Decimal(0))
                if summed != stated:
                    mismatches.append(f"ligne {ligne}, colonne {column.header!r}: total {stated} ≠ sum {summed}")
        return mismatches


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    if a is None and b is None:
        return None
    return (a or Decimal(0)) + (b or Decimal(0))


def stated_exercice(table: RawTable, match: FamilyMatch, exercice_hint: int | None) -> int | None:
    """The exercice a credit file holds, found cheaply (before the file is read in full).

    The ``exercice`` column of the first data line, else the year of its ``phase``
    column (``PLF 2019``), else the year of the amount headers (``AE LFI 2019``),
    else ``exercice_hint`` (catalogue or file name). None when nothing states it.
    """
    for name in ("exercice", "phase"):
        index = match.fields.get(name)
        if index is None:
            continue
        for row in table.rows:
            if row[index] is not None:
                year = _YEAR.search(row[index])
                if year:
                    return int(year.group(1))
                break
    header_years = {a.exercice for a in match.amounts if a.exercice}
    if len(header_years) == 1:
        return header_years.pop()
    return exercice_hint
