"""Load the source families and the vocabulary, kept as data in ``schemas/*.toml``.

A :class:`Family` says how to recognise a file (its column map), which columns
it requires, how its amount columns are named, and how authoritative it is per
phase. See ``schemas/families/credits.toml`` for the rules of the format.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from schemas.headers import fold_header

__all__ = [
    "AmountColumn",
    "Family",
    "FamilyMatch",
    "all_families",
    "best_family",
    "credit_families",
    "file_name_kind",
    "match_family",
    "nomenclature_families",
    "vocabulary",
]

_HERE = Path(__file__).parent

#: Share of a family's field columns a header must hold for the family to be a candidate.
MIN_FIELD_SHARE = 0.5


@dataclass(frozen=True)
class AmountColumn:
    """One amount column of a file, as its header describes it."""

    index: int
    header: str
    grandeur: str  # "ae" or "cp"
    partie: str  # "total", "t2", "ht2", "fdc_adp"
    phase: str | None
    exercice: int | None
    titre: str | None


@dataclass(frozen=True)
class Family:
    """A family of source files sharing one layout (see ``families/credits.toml``)."""

    id: str
    description: str
    columns: dict[str, re.Pattern[str]]
    amounts: tuple[re.Pattern[str], ...]
    required: tuple[str, ...]
    authority: dict[str, int]
    examples: tuple[str, ...] = field(default=())
    phase: str | None = None  # the phase of every amount column, where neither header nor a column says
    identifying: tuple[str, ...] = ()  # fields a header must all have for the family to be considered
    kind: str = "credits"  # what the files hold: "credits", "nomenclature" (the TOML file's name)
    sets_aside_irregular_rows: bool = False  # `lignes_irregulieres = "ecarter"`: else such a row is an error

    def rank(self, phase: str) -> int | None:
        """Authority rank of this family for ``phase`` (1 = most authoritative), or None."""
        return self.authority.get(phase)


@dataclass(frozen=True)
class FamilyMatch:
    """How a header matches a family: where each field and amount column is."""

    family: Family
    fields: dict[str, int]  # field -> column index
    amounts: tuple[AmountColumn, ...]
    explained: int  # header columns this family accounts for
    missing: tuple[str, ...]  # required fields or grandeurs absent from the header
    # (field, index of the column that holds it, index of a later column whose header also matches it)
    doubles: tuple[tuple[str, int, int], ...] = ()

    @property
    def field_share(self) -> float:
        return len(self.fields) / max(len(self.family.columns), 1)


@cache
def vocabulary() -> dict[str, dict[str, str]]:
    """The vocabulary of ``vocabulary.toml``: folded source value → warehouse term, per kind."""
    with open(_HERE / "vocabulary.toml", "rb") as handle:
        return tomllib.load(handle)


@cache
def credit_families() -> tuple[Family, ...]:
    """The credit file families of ``families/credits.toml``, in file order."""
    return _load_families(_HERE / "families" / "credits.toml")


@cache
def nomenclature_families() -> tuple[Family, ...]:
    """The nomenclature file families of ``families/nomenclature.toml``, in file order."""
    return _load_families(_HERE / "families" / "nomenclature.toml")


@cache
def all_families() -> dict[str, Family]:
    """Every covered family, by id."""
    return {f.id: f for f in (*credit_families(), *nomenclature_families())}


@cache
def file_name_patterns() -> dict[str, tuple[re.Pattern[str], ...]]:
    """Per kind (``credits``, ``nomenclature``, ``performance``: the TOML file's name), the patterns
    of the file names of its files (key ``fichiers`` of ``families/<kind>.toml``), case ignored."""
    patterns = {}
    for path in sorted((_HERE / "families").glob("*.toml")):
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
        patterns[path.stem] = tuple(re.compile(p, re.IGNORECASE) for p in raw.get("fichiers", ()))
    return patterns


def file_name_kind(fichier: str) -> str | None:
    """The kind of covered family a file's name (not its folders) says it holds, or None.

    Used only for a file whose bytes cannot be read: a readable file is recognised by its
    header. The first kind, in the order credits, nomenclature, performance, whose pattern
    is found in the name wins (``LFI_2020_Credits.csv`` → ``credits``).
    """
    name = Path(fichier).name
    for kind, patterns in file_name_patterns().items():
        if any(p.search(name) for p in patterns):
            return kind
    return None


def _load_families(path: Path) -> tuple[Family, ...]:
    with open(path, "rb") as handle:
        raw = tomllib.load(handle)
    families = []
    for entry in raw["famille"]:
        families.append(
            Family(
                id=entry["id"],
                description=entry["description"],
                columns={k: re.compile(v) for k, v in entry["colonnes"].items()},
                amounts=tuple(re.compile(p) for p in entry["montants"]),
                required=tuple(entry["requises"]),
                authority=dict(entry["autorite"]),
                examples=tuple(entry.get("exemples", ())),
                phase=entry.get("phase"),
                identifying=tuple(entry.get("identifiantes", ())),
                kind=path.stem,
                sets_aside_irregular_rows=entry.get("lignes_irregulieres", "erreur") == "ecarter",
            )
        )
    return tuple(families)


def _amount_column(family: Family, index: int, header: str, folded: str) -> AmountColumn | None:
    vocab = vocabulary()
    for pattern in family.amounts:
        match = pattern.fullmatch(folded)
        if not match:
            continue
        groups = match.groupdict()
        grandeur = vocab["grandeur"][groups["grandeur"]]
        phase = groups.get("phase")
        exercice = groups.get("exercice")
        return AmountColumn(
            index=index,
            header=header,
            grandeur=grandeur,
            partie=vocab["partie"][groups.get("partie") or "total"],
            phase=vocab["phase"][phase] if phase else family.phase,
            exercice=int(exercice) if exercice else None,
            titre=groups.get("titre"),
        )
    return None


def match_family(family: Family, header: list[str]) -> FamilyMatch:
    """Map a file's header onto ``family``: which column holds which field and amount.

    Each header is folded (:func:`schemas.headers.fold_header`); a field takes the
    first column whose folded header matches its pattern; a later column that matches only fields
    already taken is listed in ``doubles`` (the reader refuses it unless it repeats the first).
    """
    folded = [fold_header(h) for h in header]
    fields: dict[str, int] = {}
    amounts: list[AmountColumn] = []
    doubles: list[tuple[str, int, int]] = []
    for index, (name, key) in enumerate(zip(header, folded, strict=True)):
        if not key:
            continue
        amount = _amount_column(family, index, name, key)
        if amount is not None:
            amounts.append(amount)
            continue
        for field_name, pattern in family.columns.items():
            if field_name not in fields and pattern.fullmatch(key):
                fields[field_name] = index
                break
        else:
            taken = next((f for f, p in family.columns.items() if f in fields and p.fullmatch(key)), None)
            if taken is not None:
                doubles.append((taken, fields[taken], index))
    grandeurs = {a.grandeur for a in amounts}
    missing = tuple(name for name in family.required if name not in fields and name not in grandeurs)
    return FamilyMatch(
        family=family,
        fields=fields,
        amounts=tuple(amounts),
        explained=len(fields) + len(amounts),
        missing=missing,
        doubles=tuple(doubles),
    )


def best_family(header: list[str], families: tuple[Family, ...]) -> FamilyMatch | None:
    """The family whose column map explains the most of ``header``, or None.

    A family is a candidate when the header holds its identifying columns, at
    least half of its field columns and, for a family with amount columns, at
    least one of them. Ties go
    to the family of which the header holds the larger share.
    """
    candidates = []
    for family in families:
        found = match_family(family, header)
        identified = all(name in found.fields for name in family.identifying)
        if identified and (found.amounts or not family.amounts) and found.field_share >= MIN_FIELD_SHARE:
            candidates.append(found)
    if not candidates:
        return None
    return max(candidates, key=lambda m: (m.explained, m.field_share))
