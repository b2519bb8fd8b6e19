"""The sources folder is read without following symbolic links (issue 8, "Symlinks").

A link to a file or a folder outside the folder is not read and is listed; a link to a
file or folder inside it is not read either (its target is read where it stands, once).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import SOURCES
from warehouse.sources import discover_sources, sha256_of, skipped_links

CREDITS = "LFI_2020_Credits.csv"
SYSTEM_FILE = Path("/etc/hostname")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A sources folder with one real file, a subfolder, and links of every kind."""
    assert SYSTEM_FILE.is_file()
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(SOURCES / "PLF_2020_Credits.csv", outside / "PLF_2020_Credits.csv")
    root = tmp_path / "sources"
    (root / "sub").mkdir(parents=True)
    shutil.copy(SOURCES / CREDITS, root / CREDITS)
    shutil.copy(SOURCES / "LFI_2021_Credits.csv", root / "sub" / "LFI_2021_Credits.csv")
    (root / "hostname.csv").symlink_to(SYSTEM_FILE)
    (root / "sub" / "up.csv").symlink_to("../../outside/PLF_2020_Credits.csv")
    (root / "linked_outside").symlink_to(outside, target_is_directory=True)
    (root / "copy.csv").symlink_to(CREDITS)
    (root / "sub_again").symlink_to("sub", target_is_directory=True)
    (root / "nowhere.csv").symlink_to(tmp_path / "missing.csv")
    (root / ".hidden.csv").symlink_to("/etc/passwd")
    return root


def test_only_the_regular_files_of_the_folder_are_read(folder: Path) -> None:
    files = discover_sources(folder)

    assert [f.fichier for f in files] == [CREDITS, "sub/LFI_2021_Credits.csv"]
    assert [f.source_id for f in files] == ["lfi-2020", "lfi-2021"]
    assert all(not f.chemin.is_symlink() for f in files)


def test_every_link_is_listed_with_its_reason(folder: Path, tmp_path: Path) -> None:
    links = {link.fichier: (link.cible, link.raison) for link in skipped_links(folder)}

    outside = str((tmp_path / "outside").resolve())
    assert links == {
        "hostname.csv": (str(SYSTEM_FILE.resolve()), "a link to a file outside the sources folder"),
        "sub/up.csv": (outside + "/PLF_2020_Credits.csv", "a link to a file outside the sources folder"),
        "linked_outside": (outside, "a link to a folder outside the sources folder"),
        "copy.csv": (CREDITS, "a link to a file of the folder (read where it stands)"),
        "sub_again": ("sub", "a link to a folder of the folder (read where it stands)"),
        "nowhere.csv": (str(tmp_path / "missing.csv"), "points nowhere"),
    }


def test_a_folder_given_through_a_link_is_read(folder: Path, tmp_path: Path) -> None:
    (tmp_path / "alias").symlink_to(folder, target_is_directory=True)

    assert [f.fichier for f in discover_sources(tmp_path / "alias")] == [CREDITS, "sub/LFI_2021_Credits.csv"]
    assert "hostname.csv" in {link.fichier for link in skipped_links(tmp_path / "alias")}


def test_hashing_never_follows_a_link(folder: Path) -> None:
    with pytest.raises(OSError):
        sha256_of(folder / "hostname.csv")
    assert sha256_of(folder / CREDITS) == "59073f37153b728182653a3ee9de942d8bf2ef9a70bf32f81c471569bc17c67b"
    assert os.readlink(folder / "hostname.csv") == str(SYSTEM_FILE)
