"""Which document a performance file is (``PAP`` or ``RAP``, and its year), from its value columns.

The rule (README, "Performance indicators"), from what each document publishes
(the PAP annexed to the PLF of year N; the RAP annexed to the loi de règlement of N):

- a **RAP N** states the realisation of N (``Exec N``, ``N Réalisation``) and the target
  of N (``N Cible``), and publishes whether it was met (``Atteinte de la cible N``). A
  file is a RAP when its latest realisation year has a target column too, or when it
  publishes an attainment; N is that latest realisation year, and every attainment
  column must be of N;
- a **PAP N** states targets for N and later, realisations up to N−2 at most, and for
  N−1 forecasts or restated targets (``N-1 Cible (PAP N-1)``, ``Prévision N-1 PAP N``).
  Every value column bounds N: a realisation of Y gives N ≥ Y+2; a forecast of Y
  (``Prévision Y``) N ∈ [Y, Y+1] (a PAP forecasts N−1, and N in the older layouts); an
  actualised forecast of Y, or a target of Y restated from a PAP (``Y Cible (PAP m)``),
  N = Y+1; a plain target of Y, N ≤ Y; a header naming ``PAP m``, N ≥ m. N is the one
  year every column allows. No year at all: the columns contradict each other, an error
  naming them; several years: the name or the catalogue must say which.

Pairs (``Année cible`` + ``Valeur cible``) have their year in the rows and take no part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.headers import strip_accents
from schemas.performance.families import PublishedAttainmentColumn, ValueColumn, document_vocabulary

__all__ = [
    "ColumnDocument",
    "DocumentError",
    "StatedDocument",
    "decide_document",
    "document_from_columns",
    "stated_by_catalogue",
    "stated_by_name",
]

_YEAR = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")
_WORD = re.compile(r"[a-z]+")


class DocumentError(ValueError):
    """The value columns of a file fit no document, or disagree with its name or catalogue entry."""


@dataclass(frozen=True)
class ColumnDocument:
    """What the value columns say: ``type_document`` and the years ``premier``…``dernier`` N may be.

    ``premier == dernier`` when the columns decide the year; ``None`` for an open end.
    ``raison``: the columns that decided, for the read report and the errors.
    """

    type_document: str
    premier: int | None
    dernier: int | None
    raison: str

    @property
    def millesime(self) -> int | None:
        return self.premier if self.premier is not None and self.premier == self.dernier else None

    def allows(self, year: int) -> bool:
        return (self.premier is None or year >= self.premier) and (self.dernier is None or year <= self.dernier)

    def describe(self) -> str:
        if self.millesime is not None:
            return f"{self.type_document} {self.millesime}"
        low = str(self.premier) if self.premier is not None else "…"
        high = str(self.dernier) if self.dernier is not None else "…"
        return f"{self.type_document} of a year in {low}–{high}"


@dataclass(frozen=True)
class StatedDocument:
    """What a file's name or its catalogue entry says: a type and/or a year (None: says nothing)."""

    origine: str  # "nom du fichier", "catalogue"
    type_document: str | None
    millesime: int | None


def _quote(column: ValueColumn | PublishedAttainmentColumn) -> str:
    return repr(column.header)


def document_from_columns(
    values: tuple[ValueColumn, ...], attainments: tuple[PublishedAttainmentColumn, ...]
) -> ColumnDocument:
    """Decide PAP or RAP, and the years the document may be of, from the value and attainment columns.

    Raises :class:`DocumentError` naming the columns when they fit no document.
    """
    dated = [v for v in values if v.annee is not None]
    realisations = [v for v in dated if v.type_valeur == "realisation"]
    targets = [v for v in dated if v.type_valeur == "cible"]
    if realisations:
        latest = max(v.annee for v in realisations)
        result = next(v for v in realisations if v.annee == latest)
        target = next((v for v in targets if v.annee == latest), None)
        if target is not None or attainments:
            elsewhere = [a for a in attainments if a.annee != latest]
            if elsewhere:
                raise DocumentError(
                    f"column {_quote(elsewhere[0])} publishes the attainment of {elsewhere[0].annee}, but the "
                    f"latest realisation is of {latest} ({_quote(result)}): a RAP N publishes the attainment of N"
                )
            why = _quote(target) if target is not None else _quote(attainments[0])
            return ColumnDocument("RAP", latest, latest, f"RAP: realisation {_quote(result)} and {why}")
    elif attainments:
        raise DocumentError(
            f"column {_quote(attainments[0])} publishes an attainment, but no column states a realisation"
        )
    low: tuple[int, ValueColumn] | None = None
    high: tuple[int, ValueColumn] | None = None
    for column in dated:
        year = column.annee
        bounds: tuple[int | None, int | None]
        if column.type_valeur == "realisation":
            bounds = (year + 2, None)
        elif column.type_valeur == "prevision":
            bounds = (year, year + 1)
        elif column.type_valeur == "prevision_actualisee" or column.millesime is not None:
            bounds = (year + 1, year + 1)  # the forecast of N-1 actualised, or the target of N-1 restated
        else:  # a plain target
            bounds = (None, year)
        if column.millesime is not None:
            bounds = (max(bounds[0] or column.millesime, column.millesime), bounds[1])
        if bounds[0] is not None and (low is None or bounds[0] > low[0]):
            low = (bounds[0], column)
        if bounds[1] is not None and (high is None or bounds[1] < high[0]):
            high = (bounds[1], column)
    if low is None and high is None:
        raise DocumentError("no value column states a year: the document cannot be told")
    if low is not None and high is not None and low[0] > high[0]:
        raise DocumentError(
            f"the value columns fit no document: {_quote(low[1])} needs a PAP of {low[0]} or later, "
            f"{_quote(high[1])} a PAP of {high[0]} or earlier, and no target accompanies the latest realisation "
            "as in a RAP"
        )
    deciding = sorted({_quote(b[1]) for b in (low, high) if b is not None})
    return ColumnDocument("PAP", low[0] if low else None, high[0] if high else None, "PAP: " + " and ".join(deciding))


def stated_by_name(fichier: str) -> StatedDocument:
    """What a file's path says: ``PAP``/``RAP`` from its words (``pap``, ``rap``; else the law,
    ``plf`` → PAP, ``plr``/``plrg`` → RAP), and the one year it names, only where it names a type.

    ``PLF_2019_PAP.csv`` → PAP 2019; ``Performance_Depense.csv`` → nothing.
    """
    vocabulary = document_vocabulary()
    words = _WORD.findall(strip_accents(fichier).lower())
    kinds = {vocabulary["mots"][w] for w in words if w in vocabulary["mots"]}
    if not kinds:
        kinds = {vocabulary["mots_loi"][w] for w in words if w in vocabulary["mots_loi"]}
    if len(kinds) != 1:
        return StatedDocument("nom du fichier", None, None)
    years = set(_YEAR.findall(fichier))
    return StatedDocument("nom du fichier", kinds.pop(), int(years.pop()) if len(years) == 1 else None)


def stated_by_catalogue(phases: tuple[str, ...], exercice: int | None) -> StatedDocument:
    """What a catalogue entry of the same bytes says: its one phase (``PLF`` → PAP, ``EXEC`` → RAP)
    and its exercice (the document's year)."""
    mapping = document_vocabulary()["phases"]
    kinds = {mapping[p] for p in phases if p in mapping}
    kind = kinds.pop() if len(kinds) == 1 else None
    return StatedDocument("catalogue", kind, exercice)


def decide_document(columns: ColumnDocument, stated: list[StatedDocument]) -> tuple[str, int, str]:
    """``(type_document, millesime, confirmed_by)`` of a file from its columns, cross-checked with ``stated``.

    A type or year stated that the columns do not allow raises :class:`DocumentError`; where the
    columns allow several years, the stated year (all stated years must agree) decides.
    ``confirmed_by``: ``colonnes`` plus the origins that agreed (``colonnes, nom du fichier``).
    """
    agreed = ["colonnes"]
    for statement in stated:
        said = " ".join(str(x) for x in (statement.type_document, statement.millesime) if x is not None)
        if not said:
            continue
        if statement.type_document not in (None, columns.type_document) or (
            statement.millesime is not None and not columns.allows(statement.millesime)
        ):
            raise DocumentError(
                f"its {statement.origine} says {said}, its value columns say {columns.describe()} ({columns.raison})"
            )
        agreed.append(statement.origine)
    millesime = columns.millesime
    if millesime is None:
        years = {s.millesime for s in stated if s.millesime is not None}
        if len(years) != 1:
            raise DocumentError(
                f"its value columns say {columns.describe()} ({columns.raison}) and neither its name "
                "nor the catalogue says which year" + (f" (they say {sorted(years)})" if years else "")
            )
        millesime = years.pop()
    return columns.type_document, millesime, ", ".join(agreed)
