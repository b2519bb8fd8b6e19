"""Every credit file of the snapshot ``data/sources/`` through its reader (data README facts)."""

import csv
import io
import shutil
from decimal import Decimal

import polars as pl
import pytest

from tests.conftest import SOURCES
from warehouse.credits.files import SourceReadError, read_credit_table
from warehouse.sources import discover_sources, recognise

# fichier, family, exercice, phases, data rows, rows kept, set aside by reason, empty amount cells
REAL_CREDIT_FILES = [
    ("PLR_2018_Credits.csv", "credits_libelles", 2018, ("EXEC",), 3060, 3060, {}, 0),
    ("PLR_2018_Details.csv", "credits_titres_en_colonnes", 2018, ("EXEC",), 668, 666, {"total": 1, "vide": 1}, 0),
    ("PLF_2019_BG_Nature.csv", "credits_libelles", 2019, ("PLF",), 2115, 2115, {}, 77),
    ("PLF_2019_CS_Nature.csv", "credits_libelles", 2019, ("PLF",), 85, 85, {}, 0),
    ("PLF_2019_CCF_Nature.csv", "credits_libelles", 2019, ("PLF",), 43, 43, {}, 0),
    ("PLF_2019_BA_Destination.csv", "credits_destination", 2019, ("PLF",), 15, 14, {"sans_montant": 1}, 0),
    ("PLF_2019_BG_Destination.csv", "credits_destination", 2019, ("PLF",), 888, 750,
     {"sans_montant": 27, "vide": 111}, 38),
    ("PLF_2019_CS_Destination.csv", "credits_destination", 2019, ("PLF",), 67, 63, {"sans_montant": 4}, 0),
    ("PLF_2019_CCF_Destination.csv", "credits_destination", 2019, ("PLF",), 29, 26, {"sans_montant": 3}, 0),
    ("LFI_2019_Credits.csv", "credits_libelles", 2019, ("LFI",), 2260, 2260, {}, 77),
    ("PLF_2020_Credits.csv", "credits_codes", 2020, ("PLF",), 2215, 2213, {"vide": 2}, 0),
    ("LFI_2020_Credits.csv", "credits_codes", 2020, ("LFI",), 2240, 2240, {}, 0),
    ("PLF_2021_Credits.csv", "credits_codes", 2021, ("PLF",), 2355, 2353, {"vide": 2}, 0),
    ("LFI_2021_Credits.csv", "credits_t2_ht2", 2021, ("AMD", "LFI", "PLF"), 2333, 2327, {"vide": 6}, 0),
    ("PLF_2022_Credits_Destination_Nature.csv", "credits_codes", 2022, ("PLF",), 2375, 2373, {"vide": 2}, 0),
    ("PLF_2023_Credits_Destination_Nature.csv", "credits_codes", 2023, ("PLF",), 2320, 2320, {}, 0),
    ("LFI_2023_Credits_Destination_Nature.csv", "credits_t2_ht2", 2023, ("AMD", "LFI", "PLF"), 2322, 2322, {}, 0),
    ("plf-2024-depenses-2024-selon-nomenclatures-destination-et-nature.csv", "credits_fdc_adp", 2024, ("PLF",),
     2392, 2392, {}, 0),
    ("2024_PLF/PLF2024-credits.xls", "credits_codes", 2024, ("PLF",), 2374, 2374, {}, 0),
    ("2024_PLRG/Credits_Destination_Nature_YC_RetD.xls", "credits_codes", 2024, ("EXEC",), 3560, 3560, {}, 0),
    ("PLF_2025_Depenses_Destination.csv", "credits_codes_libelles", 2025, ("PLF",), 2404, 2404, {}, 0),
    ("2025_PLF/Credits_Destination_Nature_YC_RetD.xls", "credits_codes", 2025, ("PLF",), 2404, 2404, {}, 0),
    ("PLF_2025_Depenses_pluriannuelles.csv", "credits_fdc_adp", 2025, ("PLF",), 2415, 2415, {}, 0),
]  # fmt: skip

_SOURCES = {s.fichier: s for s in discover_sources(SOURCES)}


def _read(fichier):
    found = recognise(_SOURCES[fichier])
    assert found.match is not None, f"{fichier} not recognised"
    return found, read_credit_table(found.table, found.match, found.source.source_id, found.exercice_hint)


def test_every_credit_file_of_the_folder_is_covered():
    found = {f: recognise(s).match for f, s in _SOURCES.items()}
    recognised = {f for f, match in found.items() if match is not None and match.family.kind == "credits"}
    assert recognised == {row[0] for row in REAL_CREDIT_FILES}


@pytest.mark.parametrize(
    ("fichier", "famille", "exercice", "phases", "data_rows", "kept", "set_aside", "empty"), REAL_CREDIT_FILES
)
def test_reader_on_real_file(fichier, famille, exercice, phases, data_rows, kept, set_aside, empty):
    found, read = _read(fichier)
    assert found.famille == famille
    assert read.exercice == exercice
    assert read.phases == phases
    assert (read.data_rows, read.kept, read.set_aside, read.empty_amounts) == (data_rows, kept, set_aside, empty)
    # The line accounting of the data README.
    assert read.data_rows == read.kept + sum(read.set_aside.values())
    assert read.lines["source_ligne"].n_unique() == read.kept
    assert read.totaux_publies == []
    assert read.lines["ae"].dtype == pl.Decimal(18, 2)


@pytest.mark.parametrize(
    ("fichier", "encoding"),
    [
        ("PLR_2018_Credits.csv", "utf-8-sig"),
        ("PLR_2018_Details.csv", "utf-8-sig"),
        ("PLF_2019_BG_Destination.csv", "cp1252"),
        ("LFI_2021_Credits.csv", "cp1252"),
        ("PLF_2020_Credits.csv", "ascii"),
    ],
)
def test_data_rows_match_an_independent_csv_reader(fichier, encoding):
    """Python's csv module, another reader, counts the same records and blank lines."""
    records = list(csv.reader(io.StringIO((SOURCES / fichier).read_text(encoding=encoding)), delimiter=";"))
    blank = sum(1 for r in records[1:] if not any(c.strip() for c in r))
    found, read = _read(fichier)
    assert found.table.encoding == encoding
    assert read.data_rows == len(records) - 1
    assert read.set_aside.get("vide", 0) - (1 if fichier == "PLR_2018_Details.csv" else 0) == blank


def test_plr_2018_details_total_and_empty_marker_stand_among_the_lines():
    found, read = _read("PLR_2018_Details.csv")
    # Physical lines 27 and 72 of the file are data rows 26 and 71.
    assert found.table.rows[25][0] == "Total général"
    assert found.table.rows[70][0] == "(vide)"
    assert 26 not in read.lines["source_ligne"] and 71 not in read.lines["source_ligne"]
    # One row per titre with amounts: titre 2 of programme 218 action 05.
    row = read.lines.filter((pl.col("source_ligne") == 2) & (pl.col("code_titre") == "2")).row(0, named=True)
    assert (row["code_programme"], row["code_action"], row["ae"]) == ("218", "05", Decimal("199642104.00"))


@pytest.mark.parametrize(
    ("fichier", "count"),
    [("2024_PLF/PLF2024-credits.xls", 561), ("2025_PLF/Credits_Destination_Nature_YC_RetD.xls", 628)],
)
def test_action_given_only_by_its_sous_action(fichier, count):
    found, read = _read(fichier)
    header = found.table.header
    action, sous_action = header.index("action"), header.index("sous-action")
    only = [i + 1 for i, r in enumerate(found.table.rows) if r[action] is None and r[sous_action] is not None]
    assert len(only) == count
    derived = read.lines.filter(pl.col("source_ligne").is_in(only))
    assert derived.height == count
    assert derived["code_action"].null_count() == 0


def test_lfi_2021_split_t2_ht2_and_programme_352():
    _, read = _read("LFI_2021_Credits.csv")
    assert read.exercice == 2021  # stated nowhere inside: from the catalogue's sha256
    p352 = read.lines.filter(pl.col("code_programme") == "352")
    lfi = p352.filter(pl.col("phase") == "LFI")
    assert lfi["ae"].sum() == Decimal("10600000") == lfi["cp"].sum()
    assert lfi["ae_t2"].sum() == Decimal("3000000")
    assert lfi.filter(pl.col("code_action") == "01")["ae"].sum() == Decimal("7300000")
    assert not lfi["calcule"].any()


def test_lfi_2023_is_broken_at_source_and_computed():
    _, read = _read("LFI_2023_Credits_Destination_Nature.csv")
    assert read.broken_phases == ("LFI",)
    assert read.titres_corriges == 2318  # `Code Titre` holds 4.0 on every line but the titre 4 ones
    lfi = read.lines.filter(pl.col("phase") == "LFI")
    assert lfi["calcule"].all() and lfi.height == read.kept
    plf = read.lines.filter(pl.col("phase") == "PLF")
    amd = read.lines.filter(pl.col("phase") == "AMD")
    assert lfi["ae"].sum() == plf["ae"].sum() + amd["ae"].sum()
    assert Decimal("4.00") not in lfi["ae"].to_list()[:50]


def test_plf_2024_csv_two_spaced_header_and_fdc_adp():
    found, read = _read("plf-2024-depenses-2024-selon-nomenclatures-destination-et-nature.csv")
    assert "AE  PLF" in found.table.header
    assert read.exercice == 2024
    assert read.lines["ae_fdc_adp"].null_count() == 0
    p352 = read.lines.filter(pl.col("code_programme") == "352")
    assert p352["ae"].sum() == Decimal("74100000")


def test_plf_2025_two_boms():
    found, read = _read("PLF_2025_Depenses_Destination.csv")
    assert found.table.encoding == "utf-8-sig-sig"
    assert found.table.header[0] == "exercice"


def test_exercice_from_the_catalogue_then_the_file_name(tmp_path):
    # Same bytes, any name: the catalogue's sha256 gives the exercice.
    shutil.copy(SOURCES / "LFI_2021_Credits.csv", tmp_path / "credits.csv")
    (source,) = discover_sources(tmp_path)
    assert source.source_id == "lfi-2021"
    assert recognise(source).exercice_hint == 2021
    # Other bytes, no year in the name: the exercice is unknown, and the error says so.
    data = (SOURCES / "LFI_2021_Credits.csv").read_bytes().replace(b"45 000", b"45 001", 1)
    (tmp_path / "credits.csv").write_bytes(data)
    (source,) = discover_sources(tmp_path)
    found = recognise(source)
    assert found.exercice_hint is None
    with pytest.raises(SourceReadError, match="exercice unknown"):
        read_credit_table(found.table, found.match, source.source_id, found.exercice_hint)
    # The one year in its name gives it.
    (tmp_path / "credits.csv").rename(tmp_path / "lfi_2021_modifie.csv")
    (source,) = discover_sources(tmp_path)
    assert recognise(source).exercice_hint == 2021
