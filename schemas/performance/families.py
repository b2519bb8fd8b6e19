"""The performance file families (PAP, RAP), kept as data in ``schemas/families/performance.toml``.

A :class:`PerformanceFamily` is a layout: how to recognise a performance file from its
header (folded, :func:`schemas.headers.fold_header`) and where each non-value field is.
The value columns are shared by every family: generic patterns with year placeholders
(``{annee}{type}``, ``{type}{annee}pap{millesime}``…) say, from a header, for which year
and of which ``type_valeur`` the column's values are. Every column of a header is a field,
a value, a published attainment or part of a pair, or it is :attr:`PerformanceMatch.unmapped`
(the file is then not read: a column is never dropped in silence). Which document a file
is (PAP or RAP, its year) is decided from its value columns by
:mod:`schemas.performance.documents`, not by the layout. Source of the layouts:
``shared/data/README.md`` ("Performance"); the vocabulary: README, "Performance indicators"
(``indicateur_valeurs``).
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
    "attainment_patterns",
    "attainment_vocabulary",
    "best_performance_family",
    "is_performance_header",
    "document_vocabulary",
    "match_performance_family",
    "performance_families",
    "type_valeur_vocabulary",
    "value_patterns",
]

_PATH = Path(__file__).parents[1] / "families" / "performance.toml"


@dataclass(frozen=True)
class ValuePair:
    """A value whose year is in another column (``Année cible`` + ``Valeur cible``)."""

    annee: re.Pattern[str]
    valeur: re.Pattern[str]
    type_valeur: str


@dataclass(frozen=True)
class PerformanceFamily:
    """One layout of performance files (see ``families/performance.toml``): its non-value columns."""

    id: str
    description: str
    columns: dict[str, re.Pattern[str]]
    pairs: tuple[ValuePair, ...]
    identifying: tuple[str, ...]
    required: tuple[str, ...]
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
    """How a header maps onto a family: fields, value and attainment columns, what is missing.

    ``unmapped``: (index, header) of the columns that are none of the family's fields, no
    value, attainment or pair column (a header left empty counts, its cells are looked at
    when the file is read); ``missing``: required fields absent.
    """

    family: PerformanceFamily
    fields: dict[str, int]
    values: tuple[ValueColumn, ...]
    attainments: tuple[PublishedAttainmentColumn, ...]
    explained: int
    missing: tuple[str, ...]
    unmapped: tuple[tuple[int, str], ...] = ()

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


def _pattern(template: str, placeholders: dict[str, str]) -> re.Pattern[str]:
    """Compile a header template (``{annee}{type}pap{millesime}``) into a regular expression."""
    pattern = re.escape(template)
    for name, expression in placeholders.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>{expression})")
    if re.escape("{") in pattern or "(?P<annee>" not in pattern:
        raise ValueError(f"{_PATH.name}: bad value column template {template!r}")
    return re.compile(pattern)


@cache
def value_patterns() -> tuple[re.Pattern[str], ...]:
    """The value column patterns of ``[valeurs] motifs``, each with the groups ``annee``, ``type``
    and, where the template has it, ``millesime``."""
    words = "|".join(sorted(map(re.escape, type_valeur_vocabulary()), key=len, reverse=True))
    placeholders = {"annee": r"\d{4}", "type": words, "millesime": r"\d{4}"}
    patterns = tuple(_pattern(t, placeholders) for t in _raw()["valeurs"]["motifs"])
    if any("type" not in p.groupindex for p in patterns):
        raise ValueError(f"{_PATH.name}: every value column template needs {{type}}")
    return patterns


@cache
def attainment_patterns() -> tuple[re.Pattern[str], ...]:
    """The published attainment column patterns of ``[valeurs] atteintes`` (group ``annee``)."""
    return tuple(_pattern(t, {"annee": r"\d{4}"}) for t in _raw()["valeurs"]["atteintes"])


@cache
def document_vocabulary() -> dict[str, dict[str, str]]:
    """``[document]``: ``mots`` and ``mots_loi`` (path words → ``PAP``/``RAP``), ``phases`` (catalogue phase → idem)."""
    return {k: dict(v) for k, v in _raw()["document"].items()}


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
                description=entry["description"],
                columns={k: re.compile(v) for k, v in entry["colonnes"].items()},
                pairs=tuple(pairs),
                identifying=tuple(entry["identifiantes"]),
                required=tuple(entry["requises"]),
                examples=tuple(entry.get("exemples", ())),
            )
        )
    return tuple(families)


def _value_column(index: int, header: str, folded: str) -> ValueColumn | None:
    vocabulary = type_valeur_vocabulary()
    for pattern in value_patterns():
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
    unmapped: list[tuple[int, str]] = []
    for index, (name, key) in enumerate(zip(header, folded, strict=True)):
        if not key:
            unmapped.append((index, name))
            continue
        value = _value_column(index, name, key)
        if value is not None:
            values.append(value)
            continue
        attainment = next((p.fullmatch(key) for p in attainment_patterns() if p.fullmatch(key)), None)
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
        field_name = next(
            (f for f, pattern in family.columns.items() if f not in fields and pattern.fullmatch(key)), None
        )
        if field_name is None:
            unmapped.append((index, name))
        else:
            fields[field_name] = index
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
        unmapped=tuple(unmapped),
    )


def best_performance_family(header: list[str] | tuple[str, ...]) -> PerformanceMatch | None:
    """The performance family that explains the most of ``header``, or None if none is identified."""
    candidates = [match_performance_family(f, list(header)) for f in performance_families()]
    candidates = [c for c in candidates if c.identified]
    if not candidates:
        return None
    # Ties (every column explained by both): the more demanding family, the one with more required fields met.
    return max(
        candidates,
        key=lambda m: (m.explained, -len(m.missing), -len(m.unmapped), len(m.family.required) - len(m.missing)),
    )


def is_performance_header(header: list[str] | tuple[str, ...]) -> bool:
    """Whether a header (as the inventory saw it) is that of a performance family."""
    return best_performance_family(list(header)) is not None
