"""Recognition once per build, and not again for files the latest release recorded (README,
"Incremental builds"): real builds, in this process, of real files of the snapshot (credit and
nomenclature files as CSV and as workbooks, a performance file, workbooks of no covered family)
run by the command in a child process with a counter around the real reading functions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

import assets.versions
import warehouse.sources
from assets.sources import recognition_state, recorded_items
from tests.conftest import ROOT, SOURCES
from warehouse.publication.releases import release_state
from warehouse.sources import discover_sources, take_inventory

FILES = [
    "LFI_2020_Credits.csv",
    "PLF_2020_Nomenclature.csv",
    "PLF_2019_PAP.csv",
    "PLF_2023_Taxes_affectees.xlsx",
    "2025_PLF/Credits_Destination_Nature_YC_RetD.xls",
    "2025_PLF/MiS_PGM_ACT_SSA.xls",
    "2025_PLF/emplois.xls",
]
WORKBOOKS = [f for f in FILES if f.endswith((".xls", ".xlsx"))]
#: The first data line of LFI_2020_Credits.csv (the real file): programme 101, action 01, catégorie 31.
LINE = "2020;LFI;BG;10;JA;101;101-01;;31;3;50 000;50 000"
CHANGED = "2020;LFI;BG;10;JA;101;101-01;;31;3;50 123;50 000"
AMOUNT_SQL = (
    "SELECT sum(ae) FROM credits WHERE exercice = 2020 AND phase = 'LFI' AND code_programme = '101' "
    "AND code_action = '01' AND code_categorie = '31'"
)


class Reads:
    """The files read by a build, by name relative to the sources folder: ``heads`` (recognition,
    ``read_table_heads``), ``workbooks`` (``read_workbook``, whoever calls it), ``whole_csv``
    (``read_csv_table``) and ``hashed`` (``sha256_of``)."""

    def __init__(self, sources: Path, counts: dict[str, dict[str, int]] | None = None) -> None:
        self.sources = sources
        counts = counts or {}
        self.heads = Counter(counts.get("heads", {}))
        self.workbooks = Counter(counts.get("workbooks", {}))
        self.whole_csv = Counter(counts.get("whole_csv", {}))
        self.hashed = Counter(counts.get("hashed", {}))

    def counting(self, counter: Counter, real):
        def read(path, *args, **kwargs):
            counter[Path(path).relative_to(self.sources).as_posix()] += 1
            return real(path, *args, **kwargs)

        return read


#: The command, run in a child process as a user runs it, with a counter around each reading function.
COUNTED_BUILD = """
import json, sys
from collections import Counter
from pathlib import Path
import warehouse.reading.csv_files, warehouse.sources, warehouse.reading.workbooks
from pipelines.cli import main
sources, out, report = (Path(a) for a in sys.argv[1:4])
counts = {name: Counter() for name in ("heads", "workbooks", "whole_csv", "hashed")}
def counting(module, function, counter):
    real = getattr(module, function)
    def read(path, *args, **kwargs):
        counter[Path(path).relative_to(sources).as_posix()] += 1
        return real(path, *args, **kwargs)
    setattr(module, function, read)
counting(warehouse.sources, "read_table_heads", counts["heads"])
counting(warehouse.reading.workbooks, "read_workbook", counts["workbooks"])
counting(warehouse.reading.csv_files, "read_csv_table", counts["whole_csv"])
counting(warehouse.sources, "sha256_of", counts["hashed"])
code = main(["build", "--sources", str(sources), "--out", str(out)])
report.write_text(json.dumps(counts))
sys.exit(code)
"""


def _build(sources: Path, out: Path) -> tuple[int, Reads]:
    """``budget-warehouse build --sources sources --out out`` in a child process, every read of a file counted."""
    report = out.parent / "reads.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "BUDGET_"))}
    done = subprocess.run(
        [sys.executable, "-c", COUNTED_BUILD, str(sources), str(out), str(report)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    assert report.is_file(), done.stdout + done.stderr
    return done.returncode, Reads(sources, json.loads(report.read_text()))


def _amount(database: Path) -> Decimal:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(AMOUNT_SQL).fetchone()[0]


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> tuple[Path, Path, Reads]:
    root = tmp_path_factory.mktemp("recognition")
    for name in FILES:
        (root / "sources" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOURCES / name, root / "sources" / name)
    code, reads = _build(root / "sources", root / "out")
    assert code == 0
    return root / "sources", root / "out", reads


@pytest.fixture
def warehouse_copy(first, tmp_path) -> tuple[Path, Path]:
    sources, out, _ = first
    shutil.copytree(sources, tmp_path / "sources")
    shutil.copytree(out, tmp_path / "out", symlinks=True)
    return tmp_path / "sources", tmp_path / "out"


def test_a_full_build_recognises_each_file_once_and_reads_each_workbook_once(first):
    """The inventory reads every file's head once; staging credits, the nomenclature, the documents and
    the performance tables take what it read (before: 2 to 4 reads of each, every workbook included)."""
    sources, out, reads = first
    assert reads.heads == Counter(FILES)
    assert reads.workbooks == Counter(WORKBOOKS)
    # The performance CSV, longer than its head, is read whole once more, for its rows; the others
    # are whole in their head (the nomenclature CSV: 199 kB, under the head's 256 KiB).
    assert reads.whole_csv == Counter(["PLF_2019_PAP.csv"])
    assert _amount(out / "budget.duckdb") == Decimal("50000.00")
    # Its release recorded what recognition said of each file, under recognition's code version.
    _, state = release_state(out)
    recorded = {r["fichier"]: r for r in recorded_items(state)}
    assert sorted(recorded) == sorted(FILES)
    assert recorded["2025_PLF/MiS_PGM_ACT_SSA.xls"]["famille"] == "nomenclature_type_ligne"
    assert recorded["LFI_2020_Credits.csv"]["exercice"] == 2020
    assert recorded["2025_PLF/emplois.xls"]["famille"] is None


def test_a_rebuild_with_nothing_changed_reads_no_file_beyond_hashing_it(first, warehouse_copy):
    sources, out = warehouse_copy
    code, reads = _build(sources, out)
    assert code == 0
    assert reads.hashed == Counter(FILES)  # each file hashed once: its sha256 is its data version
    assert not reads.heads and not reads.workbooks and not reads.whole_csv


def test_files_touched_or_copied_are_judged_by_their_bytes_and_path(warehouse_copy):
    """Every file touched (new modification time, same bytes): nothing to read, nothing to run. A
    workbook copied under another name (same bytes, a new path): the copy alone is recognised."""
    sources, out = warehouse_copy
    for name in FILES:
        os.utime(sources / name, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    code, reads = _build(sources, out)
    assert code == 0
    assert not reads.heads and not reads.workbooks and reads.hashed == Counter(FILES)
    shutil.copyfile(sources / "2025_PLF/emplois.xls", sources / "2025_PLF/emplois_copie.xls")
    code, reads = _build(sources, out)
    assert code == 0
    # The inventory reads the copy alone; the credits are not rebuilt (LFI_2020_Credits.csv not read).
    # The other files' group has a new data version: the documents and the performance tables are
    # built again and read the files they read, which this build had not read (their items were the
    # release's). The nomenclature workbook is read twice: by the documents (recognise, by path and
    # sha256) and by the performance tables (recognised_heads, given a path alone: kept for no one).
    assert reads.heads == Counter(
        {
            "2025_PLF/emplois_copie.xls": 1,
            "2025_PLF/emplois.xls": 1,
            "2025_PLF/Credits_Destination_Nature_YC_RetD.xls": 1,
            "2025_PLF/MiS_PGM_ACT_SSA.xls": 2,
            "PLF_2019_PAP.csv": 1,
            "PLF_2020_Nomenclature.csv": 1,
            "PLF_2023_Taxes_affectees.xlsx": 1,
        }
    )
    _, state = release_state(out)
    recorded = {r["fichier"]: r for r in recorded_items(state)}
    assert recorded["2025_PLF/emplois_copie.xls"]["sha256"] == recorded["2025_PLF/emplois.xls"]["sha256"]
    assert recorded["2025_PLF/emplois_copie.xls"]["famille"] is None


def test_a_changed_file_is_recognised_again_and_its_new_content_is_built(warehouse_copy):
    sources, out = warehouse_copy
    path = sources / "LFI_2020_Credits.csv"
    text = path.read_bytes().decode("cp1252")
    assert text.count(LINE) == 1
    path.write_bytes(text.replace(LINE, CHANGED).encode("cp1252"))
    code, reads = _build(sources, out)
    assert code == 0
    # The changed file alone is read: by the inventory, and staging its exercice takes that reading. An
    # amount changed, not a code or a label: the nomenclature and the documents, which read the nomenclature
    # files, are not built again (README "What a credit file feeds"), so no other file is read.
    assert reads.heads == Counter(["LFI_2020_Credits.csv"])
    assert reads.workbooks == Counter()
    assert _amount(out / "budget.duckdb") == Decimal("50123.00")
    _, state = release_state(out)
    (record,) = [r for r in recorded_items(state) if r["fichier"] == "LFI_2020_Credits.csv"]
    assert record["sha256"] == warehouse.sources.sha256_of(path)


def test_a_new_code_version_of_recognition_recognises_every_file_again(first, monkeypatch):
    sources, out, _ = first
    _, state = release_state(out)
    recorded = recorded_items(state)
    files = discover_sources(sources)
    reads = Reads(sources)
    monkeypatch.setattr(
        warehouse.sources, "read_table_heads", reads.counting(reads.heads, warehouse.sources.read_table_heads)
    )
    again = take_inventory(files, recorded)
    assert not reads.heads  # same bytes, same code: the recorded items, none read
    assert recognition_state(_inventory(again)) == state["recognitions"]
    # An edit of the recognising code (the test salt of assets/versions.py on warehouse.reading.tables, which
    # warehouse/sources.py imports) gives recognition a new code version: nothing recorded is taken.
    monkeypatch.setenv(assets.versions.SALT_ENV, "warehouse.reading.tables")
    assets.versions.code_version.cache_clear()
    try:
        assert recorded_items(state) == []
        fresh = take_inventory(files, recorded_items(state))
    finally:
        monkeypatch.delenv(assets.versions.SALT_ENV)
        assets.versions.code_version.cache_clear()
    assert reads.heads == Counter(FILES)
    assert fresh == again  # the same files read again say the same


def _inventory(items):
    from assets.sources import BuildInventory

    return BuildInventory(items, recognised=items)
