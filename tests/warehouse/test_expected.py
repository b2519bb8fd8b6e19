"""The sources a build expects (issue 8, item 2): what the latest release holds keeps its data."""

import datetime as dt

import duckdb

from tests.conftest import SOURCES
from warehouse.expected import ABSENT, NOT_DOWNLOADED, expect_release_sources, is_absent, previous_sources
from warehouse.sources import InventoryItem, SourceFile, discover_sources, take_inventory
from warehouse.store import schema_sql


def _release(tmp_path, rows):
    database = tmp_path / "budget.duckdb"
    seen = dt.datetime(2026, 11, 1)
    with duckdb.connect(str(database)) as connection:
        connection.execute(schema_sql())
        for source_id, fichier, famille, exercice, statut in rows:
            connection.execute(
                "INSERT INTO sources (source_id, fichier, sha256, octets, format, exercice, statut, vu_le, charge_le) "
                "VALUES (?, ?, 'abc', 10, ?, ?, ?, ?, ?)",
                [source_id, fichier, famille, exercice, statut, seen, seen if statut == "lu" else None],
            )
    return database


RELEASE = [
    ("plf-2020", "PLF_2020_Credits.csv", "credits_codes", 2020, "lu"),
    ("fichier-plf-2019-pap", "PLF_2019_PAP.csv", "performance_pap", None, "lu"),
    ("fichier-inconnu", "inconnu.csv", None, None, "non_reconnu"),
    # A failed download of a catalogue entry naming its family: never loaded, it holds no data.
    ("plf-2025-fdc-adp", "plf25-depenses.csv", "credits_fdc_adp", 2025, "erreur"),
]


def test_a_failed_download_of_a_source_of_the_release_keeps_its_family(tmp_path):
    previous = previous_sources(_release(tmp_path, RELEASE))
    assert set(previous) == {"plf-2020", "fichier-plf-2019-pap"}  # no data held: not expected
    source = SourceFile("fichier-plf-2019-pap", "PLF_2019_PAP.csv", tmp_path / "PLF_2019_PAP.csv", "", 0)
    failed = InventoryItem(source, None, None, (), error="download failed: 503 Service Unavailable")
    item, absent = expect_release_sources([failed], previous, tmp_path, prune=False, downloaded=True)
    assert (item.famille, item.kind, item.holds("performance")) == ("performance_pap", "performance", True)
    assert item.error.startswith("download failed: 503") and "last good data is kept" in item.error
    # A source of the release that the download build does not get (no catalogue address) keeps its data too.
    assert (absent.source.source_id, absent.error, absent.kind) == ("plf-2020", NOT_DOWNLOADED, "credits")
    assert is_absent(absent)
    pruned = expect_release_sources([failed], previous, tmp_path, prune=True, downloaded=True)
    assert [i.source.source_id for i in pruned] == ["fichier-plf-2019-pap"]


def test_a_file_emptied_or_absent_keeps_its_data_and_prune_drops_the_absent(tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "PLF_2020_Credits.csv").write_bytes(b"")
    previous = previous_sources(_release(tmp_path, RELEASE))
    items = take_inventory(discover_sources(folder))
    assert items[0].famille is None  # an empty file matches no family
    emptied, absent = expect_release_sources(items, previous, folder, prune=False)
    assert (emptied.famille, emptied.exercice, emptied.kind) == ("credits_codes", 2020, "credits")
    assert not is_absent(emptied) and "it was read as credits_codes" in emptied.error
    assert (absent.source.source_id, absent.error, absent.kind) == ("fichier-plf-2019-pap", ABSENT, "performance")
    assert [i.source.source_id for i in expect_release_sources(items, previous, folder, prune=True)] == ["plf-2020"]


def test_a_readable_file_is_left_as_it_is(tmp_path):
    previous = previous_sources(_release(tmp_path, RELEASE))
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "PLF_2020_Credits.csv").write_bytes((SOURCES / "PLF_2020_Credits.csv").read_bytes())
    items = take_inventory(discover_sources(folder))
    kept = expect_release_sources(items, previous, folder, prune=True)
    assert kept == items


def test_a_catalogued_file_holding_another_exercice_is_in_error_a_new_file_is_read_from_its_content(tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    other = (SOURCES / "PLF_2022_Credits_Destination_Nature.csv").read_bytes()
    other = other.replace(b";4 350 000;4 050 000;", b";4 350 001;4 050 000;", 1)  # no catalogue entry's bytes
    (folder / "LFI_2020_Credits.csv").write_bytes(other)
    (folder / "mes_credits.csv").write_bytes(other)
    items = {
        i.source.fichier: i for i in expect_release_sources(take_inventory(discover_sources(folder)), {}, folder, False)
    }
    wrong, new = items["LFI_2020_Credits.csv"], items["mes_credits.csv"]
    assert wrong.error == (
        "holds PLF 2022 where the catalogue's lfi-2020 is LFI 2020: not read (rename the file if it is meant to hold that)"
    )
    assert (wrong.exercice, wrong.kind, wrong.in_error) == (2020, "credits", True)  # no data before: nothing kept
    assert (new.error, new.famille, new.exercice) == (None, "credits_codes", 2022)  # recognised from its content
