"""The prose vocabulary (``prose.toml``) and the equivalences (``equivalences.toml``), kept as data."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["Equivalence", "Prose", "equivalences", "prose"]

_HERE = Path(__file__).parent


@dataclass(frozen=True)
class Prose:
    """How prose names a phase, a quantity, a programme's whole credits, a change or a part."""

    phases: tuple[tuple[re.Pattern[str], str | None], ...]
    grandeurs: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]
    dotation: re.Pattern[str]
    exclusion: re.Pattern[str]
    exclusion_apres: re.Pattern[str]
    partie: re.Pattern[str]


@dataclass(frozen=True)
class Equivalence:
    """``prose`` (a pattern) names what the performance files call ``fichiers``; only in a sentence
    matching ``contexte`` when there is one."""

    prose: re.Pattern[str]
    fichiers: str
    contexte: re.Pattern[str] | None
    source: str


@cache
def prose() -> Prose:
    data = tomllib.loads((_HERE / "prose.toml").read_text(encoding="utf-8"))
    return Prose(
        phases=tuple((re.compile(p["motif"]), p["phase"] or None) for p in data["phase"]),
        grandeurs=tuple((re.compile(g["motif"]), tuple(g["grandeurs"])) for g in data["grandeur"]),
        dotation=re.compile(data["dotation"]),
        exclusion=re.compile(data["exclusion"]),
        exclusion_apres=re.compile(data["exclusion_apres"]),
        partie=re.compile(data["partie"]),
    )


@cache
def equivalences() -> tuple[Equivalence, ...]:
    data = tomllib.loads((_HERE / "equivalences.toml").read_text(encoding="utf-8"))
    return tuple(
        Equivalence(
            re.compile(e["prose"]),
            e["fichiers"],
            re.compile(e["contexte"]) if e.get("contexte") else None,
            e["source"],
        )
        for e in data["equivalence"]
    )
