"""The source catalogue (``schemas/catalogue.toml``): every known credit file, as data."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["CatalogueEntry", "catalogue"]


@dataclass(frozen=True)
class CatalogueEntry:
    """One known source file: its id, what it holds, its hash and its official address."""

    id: str
    fichier: str
    exercice: int
    phases: tuple[str, ...]
    famille: str | None = None
    sha256: str | None = None
    url: str | None = None
    jeu_de_donnees: str | None = None
    present: bool = False

    @property
    def downloadable(self) -> bool:
        """Whether the build can fetch it; else it is read from ``--sources`` only."""
        return self.url is not None


@cache
def catalogue() -> tuple[CatalogueEntry, ...]:
    """All entries of ``catalogue.toml``, in file order."""
    with open(Path(__file__).parent / "catalogue.toml", "rb") as handle:
        raw = tomllib.load(handle)
    return tuple(CatalogueEntry(**{**entry, "phases": tuple(entry["phases"])}) for entry in raw["source"])
