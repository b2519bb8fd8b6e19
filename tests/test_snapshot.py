"""The snapshot of the sources the repository ships (``data/sources/``, ``data/README.md``; issue 10, item 1).

Every file of the snapshot has its sha256 in the catalogue; every file the catalogue says is in the
snapshot is there with those bytes; ``data/README.md`` lists every file; a build with neither
``--sources`` nor ``--download`` reads the snapshot, and says so clearly when it is missing.
"""

from __future__ import annotations

from pipelines import cli, settings
from schemas.catalogue import catalogue, snapshot_files
from tests.conftest import ROOT, SOURCES
from warehouse.sources import sha256_of


def _snapshot() -> dict[str, str]:
    return {p.relative_to(SOURCES).as_posix(): sha256_of(p) for p in SOURCES.rglob("*") if p.is_file()}


def test_every_snapshot_file_has_its_sha256_in_the_catalogue() -> None:
    listed = {e.fichier: e.sha256 for e in catalogue() if e.present} | {f.fichier: f.sha256 for f in snapshot_files()}
    snapshot = _snapshot()
    assert len(snapshot) == 80
    assert snapshot == listed


def test_catalogue_entries_not_present_are_not_in_the_snapshot() -> None:
    absent = {e.fichier for e in catalogue() if not e.present}
    assert absent and not absent & set(_snapshot())


def test_the_snapshot_files_are_plain_readable_files() -> None:
    modes = {oct(p.stat().st_mode & 0o777) for p in SOURCES.rglob("*")}
    assert modes <= {"0o644", "0o755"}
    assert not [p for p in SOURCES.rglob("*") if p.is_symlink()]


def test_data_readme_lists_every_file_with_its_licence() -> None:
    text = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    assert "Licence Ouverte" in text
    missing = [name for name in _snapshot() if f"`{name}`" not in text]
    assert missing == []


def test_the_default_sources_are_the_snapshot() -> None:
    assert settings.SNAPSHOT_DIR == SOURCES


def test_a_missing_snapshot_is_a_clear_error(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli, "SNAPSHOT_DIR", tmp_path / "data" / "sources")
    monkeypatch.delenv(settings.SOURCES_ENV, raising=False)
    args = cli.parser().parse_args(["build", "--out", str(tmp_path / "out")])
    assert cli.build(args) == 2
    error = capsys.readouterr().err
    assert f"snapshot of the sources is missing ({tmp_path / 'data' / 'sources'})" in error
    assert "--sources DIR or --download" in error
    assert not (tmp_path / "out").exists()


def test_the_built_warehouse_read_the_snapshot(built) -> None:
    assert f"sources from folder {SOURCES}" in built.stdout
