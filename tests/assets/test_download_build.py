"""The default build path: sources downloaded from their official address, then loaded.

The "portal" is a server the test starts on 127.0.0.1, serving copies of real files;
the catalogue is pointed at it (``portal_url`` of the paths resource rebases the
official addresses). Nothing else is contacted.
"""

import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pytest

import warehouse.downloads
import warehouse.sources
from assets.credits import credits, staging_credits
from assets.sources import source_files
from pipelines.resources import build_resources
from pipelines.settings import Settings
from schemas.catalogue import catalogue
from tests.conftest import SOURCES

SERVED = ("PLF_2020_Credits.csv", "LFI_2020_Credits.csv")


@pytest.fixture
def portal(tmp_path):
    root = tmp_path / "portal"
    root.mkdir()
    for name in SERVED:
        shutil.copy(SOURCES / name, root / name)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_sources_are_downloaded_recognised_and_loaded(portal, tmp_path, monkeypatch):
    entries = {e.fichier: e for e in catalogue()}
    official = "https://data.economie.gouv.fr"
    local = tuple(entries[name].__class__(**{**entries[name].__dict__, "url": f"{official}/{name}"}) for name in SERVED)
    missing = entries["PLF_2019_BG_Nature.csv"].__class__(
        **{**entries["PLF_2019_BG_Nature.csv"].__dict__, "url": f"{official}/absent.csv"}
    )
    monkeypatch.setattr(warehouse.downloads, "catalogue", lambda: (*local, missing))
    out = tmp_path / "out"
    resources = build_resources(Settings(sources_dir=None, out_dir=out, portal=portal))
    with dg.instance_for_test() as instance:
        first = dg.materialize([source_files], instance=instance, resources=resources)
        items = first.output_for_node("raw__sources")
        assert sorted(i.source.fichier for i in items if i.famille and not i.error) == sorted(SERVED)
        (failed,) = [i for i in items if i.error]
        assert failed.source.fichier == "PLF_2019_BG_Nature.csv" and "404" in failed.error
        assert sorted(instance.get_dynamic_partitions("exercice")) == ["2019", "2020"]
        for path in (out / "telechargements").glob("[!.]*"):
            assert (SOURCES / path.name).read_bytes() == path.read_bytes()
        assert sorted(p.name for p in (out / "telechargements").glob(".*")) == sorted(f".{n}.http.json" for n in SERVED)
        result = dg.materialize(
            [source_files, staging_credits, credits],
            selection=[staging_credits, credits],
            partition_key="2020",
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
        assert result.success
        failed_year = dg.materialize(
            [source_files, staging_credits],
            selection=[staging_credits],
            partition_key="2019",
            instance=instance,
            resources=resources,
        )
        assert failed_year.success  # the failure is reported, not raised
    with duckdb.connect(str(resources["paths"].database), read_only=True) as connection:  # the working copy
        loaded = connection.execute(
            "SELECT phase, source_id, count(*) FROM credits GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    assert loaded == [("LFI", "lfi-2020", 2240), ("PLF", "plf-2020", 2213)]
    reports = (out / "staging" / "credits" / "exercice=2019" / "rapport.json").read_text()
    assert "download failed" in reports and "erreur" in reports


def test_downloaded_file_keeps_its_catalogue_exercice(portal, tmp_path):
    entry = next(e for e in catalogue() if e.fichier == "LFI_2020_Credits.csv")
    url = "https://data.economie.gouv.fr/LFI_2020_Credits.csv"
    entry = entry.__class__(**{**entry.__dict__, "url": url, "fichier": "sans_annee.csv"})
    policy = warehouse.downloads.DownloadPolicy.from_rules(portal=portal)
    got = warehouse.downloads.download_sources(tmp_path, [entry], policy)
    assert got.failures == []
    (item,) = warehouse.sources.take_inventory(got.files)
    assert (item.source.source_id, item.famille, item.exercice) == ("lfi-2020", "credits_codes", 2020)
    assert Path(item.source.chemin).name == "sans_annee.csv"
