"""The source catalogue (``schemas/catalogue.toml``): every known credit file, and how to download, as data."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["CatalogueEntry", "DownloadRules", "SnapshotFile", "catalogue", "download_rules", "snapshot_files"]


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


@dataclass(frozen=True)
class SnapshotFile:
    """A file of the repository's snapshot (``data/sources/``) that no ``[[source]]`` entry lists.

    ``famille``: ``nomenclature``, ``performance``, ``document`` or ``hors_perimetre`` (read by no
    family yet); ``contenu``: what it holds, in French; ``jeu_de_donnees``: its dataset on
    data.economie.gouv.fr where known (None: its official address is not known).
    """

    fichier: str
    famille: str
    contenu: str
    sha256: str
    jeu_de_donnees: str | None = None


@dataclass(frozen=True)
class DownloadRules:
    """How downloads are bounded (``[telechargement]`` of ``catalogue.toml``).

    ``hotes``: the official hosts fetched over HTTPS; ``taille_max_octets``: the largest body
    accepted; ``delai_par_fichier_s``: the deadline of one file, every attempt and wait included;
    ``delai_connexion_s`` / ``delai_lecture_s``: to connect, and between two bytes; ``tentatives``:
    retries after the first attempt; ``attente_s``: backoff factor (waits of 1, 2, 4… times it);
    ``attente_max_s``: the longest single wait, a ``Retry-After`` included.
    """

    hotes: tuple[str, ...]
    taille_max_octets: int
    delai_par_fichier_s: float
    delai_connexion_s: float
    delai_lecture_s: float
    tentatives: int
    attente_s: float
    attente_max_s: float


def _raw() -> dict:
    with open(Path(__file__).parent / "catalogue.toml", "rb") as handle:
        return tomllib.load(handle)


@cache
def catalogue() -> tuple[CatalogueEntry, ...]:
    """All entries of ``catalogue.toml``, in file order."""
    return tuple(CatalogueEntry(**{**entry, "phases": tuple(entry["phases"])}) for entry in _raw()["source"])


@cache
def download_rules() -> DownloadRules:
    """The ``[telechargement]`` table of ``catalogue.toml``."""
    raw = _raw()["telechargement"]
    return DownloadRules(**{**raw, "hotes": tuple(raw["hotes"])})


@cache
def snapshot_files() -> tuple[SnapshotFile, ...]:
    """The ``[[instantane]]`` entries of ``catalogue.toml``: the snapshot's files beyond the credit ones."""
    return tuple(SnapshotFile(**entry) for entry in _raw().get("instantane", []))
