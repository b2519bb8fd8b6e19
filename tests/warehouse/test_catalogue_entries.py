"""Which catalogue entry speaks for a file (warehouse/sources.py ``discover_sources``): its bytes first, then its
path, then its name for an entry without a folder; else none."""

import shutil

from tests.conftest import SOURCES
from warehouse.sources import discover_sources


def _entries(folder):
    return {s.fichier: (s.source_id, s.entree.id if s.entree else None) for s in discover_sources(folder)}


def test_entry_by_bytes_then_path_then_bare_name(tmp_path):
    shutil.copy(SOURCES / "LFI_2020_Credits.csv", tmp_path / "renamed.csv")  # same bytes, another name
    (tmp_path / "LFI_2019_Credits.csv").write_text("other bytes\n", encoding="utf-8")  # catalogue name
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "PLF_2020_Credits.csv").write_text("x\n", encoding="utf-8")  # bare name in a folder
    (tmp_path / "2024_PLRG").mkdir()
    (tmp_path / "2024_PLRG" / "Credits_Destination_Nature_YC_RetD.xls").write_bytes(b"x")  # a path of the catalogue
    (tmp_path / "sub" / "Credits_Destination_Nature_YC_RetD.xls").write_bytes(b"y")  # its name, other folder
    (tmp_path / "unknown.csv").write_text("y\n", encoding="utf-8")
    assert _entries(tmp_path) == {
        "renamed.csv": ("lfi-2020", "lfi-2020"),
        "LFI_2019_Credits.csv": ("lfi-2019", "lfi-2019"),
        "sub/PLF_2020_Credits.csv": ("plf-2020", "plf-2020"),
        "2024_PLRG/Credits_Destination_Nature_YC_RetD.xls": ("plrg-2024-xls", "plrg-2024-xls"),
        "sub/Credits_Destination_Nature_YC_RetD.xls": (
            "fichier-sub-credits-destination-nature-yc-retd",
            None,
        ),  # the catalogue's entries of that name are in folders
        "unknown.csv": ("fichier-unknown", None),
    }


def test_source_ids_stay_unique_for_copies_and_paths_that_differ_by_extension(tmp_path):
    """Found by wave 9's fresh user: ``vert_extrait.csv`` beside ``vert_extrait.txt`` failed the build
    (``column 'source_id' not unique``); two copies of a catalogue file did too."""
    shutil.copy(SOURCES / "vert_extrait.csv", tmp_path / "vert_extrait.csv")
    shutil.copy(SOURCES / "vert_extrait.csv", tmp_path / "vert_extrait.txt")
    shutil.copy(SOURCES / "LFI_2020_Credits.csv", tmp_path / "LFI_2020_Credits.csv")
    shutil.copy(SOURCES / "LFI_2020_Credits.csv", tmp_path / "A_copy.csv")  # sorts first; not the entry's path
    ids = {s.fichier: s.source_id for s in discover_sources(tmp_path)}
    assert ids == {
        "A_copy.csv": "fichier-a-copy-csv",
        "LFI_2020_Credits.csv": "lfi-2020",
        "vert_extrait.csv": "fichier-vert-extrait",
        "vert_extrait.txt": "fichier-vert-extrait-txt",
    }


def test_an_output_folder_inside_the_sources_folder_is_not_read(tmp_path):
    shutil.copy(SOURCES / "LFI_2020_Credits.csv", tmp_path / "LFI_2020_Credits.csv")
    (tmp_path / "out" / "dagster").mkdir(parents=True)
    (tmp_path / "out" / "dagster" / "runs.db").write_bytes(b"SQLite format 3\x00")
    assert [s.fichier for s in discover_sources(tmp_path, tmp_path / "out")] == ["LFI_2020_Credits.csv"]
    assert len(discover_sources(tmp_path)) == 2  # without it, a folder like any other
