"""The performance file families (PAP, RAP), kept as data in ``schemas/families/performance.toml``.

A :class:`PerformanceFamily` says how to recognise a performance file from its header
(folded, :func:`schemas.headers.fold_header`), where each field is, which columns hold
values (and, from their header, for which year and of which ``type_valeur``), and how
to find the document's vintage. Source of the layouts: ``shared/data/README.md``
("Performance"); the vocabulary: ``shared/CONTRACT.md`` (``indicateur_valeurs``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from schemas.headers import fold_header

__all__ = [
    "PerformanceFamily",
    "PerformanceMatch",
    "PublishedAttainmentColumn",
    "ValueColumn",
    "ValuePair",
    "attainment_vocabulary",
    "best_performance_family",
    "match_performance_family",
    "performance_families",
    "type_valeur_vocabulary",
]

_PATH = Path(__file__).parent / "families" / "performance.toml"


@dataclass(frozen=True)
class ValuePair:
    """A value whose year is in another column (``Année cible`` + ``Valeur cible``)."""

    annee: re.Pattern[str]
    valeur: re.Pattern[str]
    type_valeur: str


@dataclass(frozen=True)
class PerformanceFamily:
    """One layout of performance files (see ``families/performance.toml``)."""

    id: str
    document: str  # "PAP" or "RAP"
    description: str
    columns: dict[str, re.Pattern[str]]
    values: tuple[re.Pattern[str], ...]
    pairs: tuple[ValuePair, ...]
    attainments: tuple[re.Pattern[str], ...]
    identifying: tuple[str, ...]
    required: tuple[str, ...]
    vintage_rules: tuple[str, ...]
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValueColumn:
    """A wide value column: the year and ``type_valeur`` its header states.

    ``index``: the column's position; ``annee_index``: for a pair (``Valeur cible``), the
    column holding the year (``Année cible``), with ``annee`` None. ``millesime``: the year
    of the document that stated the value, where the header says (``PAP 2018``).
    """

    index: int
    header: str
    type_valeur: str
    annee: int | None
    millesime: int | None = None
    annee_index: int | None = None


@dataclass(frozen=True)
class PublishedAttainmentColumn:
    """A column publishing whether the target of ``annee`` was met (RAP ``Atteinte de la cible 2024``)."""

    index: int
    header: str
    annee: int


@dataclass(frozen=True)
class PerformanceMatch:
    """How a header maps onto a family: fields, value and attainment columns, what is missing."""

    family: PerformanceFamily
    fields: dict[str, int]
    values: tuple[ValueColumn, ...]
    attainments: tuple[PublishedAttainmentColumn, ...]
    explained: int
    missing: tuple[str, ...]

    @property
    def identified(self) -> bool:
        """Whether the header holds the family's identifying fields and at least one value column."""
        return bool(self.values) and all(name in self.fields for name in self.family.identifying)


@cache
def _raw() -> dict:
    with open(_PATH, "rb") as handle:
        return tomllib.load(handle)


@cache
def type_valeur_vocabulary() -> dict[str, str]:
    """Folded header word → ``type_valeur`` (``exec`` → ``realisation``)."""
    return dict(_raw()["type_valeur"])


@cache
def attainment_vocabulary() -> dict[str, str]:
    """Folded published attainment → ``atteinte``, ``non_atteinte`` or ``inconnue``."""
    return dict(_raw()["atteinte"])


@cache
def performance_families() -> tuple[PerformanceFamily, ...]:
    """The families of ``families/performance.toml``, in file order."""
    vocabulary = type_valeur_vocabulary()
    families = []
    for entry in _raw()["famille"]:
        pairs = []
        for pair in entry.get("paires", ()):
            if pair["type"] not in vocabulary.values():
                raise ValueError(f"{_PATH.name}: family {entry['id']}: unknown type {pair['type']!r}")
            pairs.append(ValuePair(re.compile(pair["annee"]), re.compile(pair["valeur"]), pair["type"]))
        families.append(
            PerformanceFamily(
                id=entry["id"],
                document=entry["document"],
                description=entry["description"],
                columns={k: re.compile(v) for k, v in entry["colonnes"].items()},
                values=tuple(re.compile(p) for p in entry["valeurs"]),
                pairs=tuple(pairs),
                attainments=tuple(re.compile(p) for p in entry.get("atteintes", ())),
                identifying=tuple(entry["identifiantes"]),
                required=tuple(entry["requises"]),
                vintage_rules=tuple(entry["millesime"]),
                examples=tuple(entry.get("exemples", ())),
            )
        )
    return tuple(families)


def _value_column(family: PerformanceFamily, index: int, header: str, folded: str) -> ValueColumn | None:
    vocabulary = type_valeur_vocabulary()
    for pattern in family.values:
        match = pattern.fullmatch(folded)
        if not match:
            continue
        groups = match.groupdict()
        type_valeur = vocabulary[groups["type"]]
        annee = int(groups["annee"])
        millesime = int(groups["millesime"]) if groups.get("millesime") else None
        if type_valeur == "prevision" and millesime is not None and millesime > annee:
            type_valeur = "prevision_actualisee"
        return ValueColumn(index, header, type_valeur, annee, millesime)
    return None


def match_performance_family(family: PerformanceFamily, header: list[str]) -> PerformanceMatch:
    """Map a file's header onto ``family``: where each field, value and attainment column is."""
    folded = [fold_header(h) for h in header]
    fields: dict[str, int] = {}
    values: list[ValueColumn] = []
    attainments: list[PublishedAttainmentColumn] = []
    pair_years: dict[int, int] = {}  # pair number -> index of its year column
    pair_values: dict[int, int] = {}
    for index, (name, key) in enumerate(zip(header, folded, strict=True)):
        if not key:
            continue
        value = _value_column(family, index, name, key)
        if value is not None:
            values.append(value)
            continue
        attainment = next((p.fullmatch(key) for p in family.attainments if p.fullmatch(key)), None)
        if attainment is not None:
            attainments.append(PublishedAttainmentColumn(index, name, int(attainment.group("annee"))))
            continue
        paired = False
        for number, pair in enumerate(family.pairs):
            if number not in pair_years and pair.annee.fullmatch(key):
                pair_years[number], paired = index, True
                break
            if number not in pair_values and pair.valeur.fullmatch(key):
                pair_values[number], paired = index, True
                break
        if paired:
            continue
        for field_name, pattern in family.columns.items():
            if field_name not in fields and pattern.fullmatch(key):
                fields[field_name] = index
                break
    for number, pair in enumerate(family.pairs):
        if number in pair_values:
            index = pair_values[number]
            values.append(ValueColumn(index, header[index], pair.type_valeur, None, None, pair_years.get(number)))
    missing = [name for name in family.required if name not in fields]
    missing += [f"year column of {header[v.index]!r}" for v in values if v.annee is None and v.annee_index is None]
    return PerformanceMatch(
        family=family,
        fields=fields,
        values=tuple(values),
        attainments=tuple(attainments),
        explained=len(fields) + len(values) + len(attainments) + len(pair_years),
        missing=tuple(missing),
    )


def best_performance_family(header: list[str] | tuple[str, ...]) -> PerformanceMatch | None:
    """The performance family that explains the most of ``header``, or None if none is identified."""
    candidates = [match_performance_family(f, list(header)) for f in performance_families()]
    candidates = [c for c in candidates if c.identified]
    if not candidates:
        return None
    return max(candidates, key=lambda m: (m.explained, -len(m.missing)))
