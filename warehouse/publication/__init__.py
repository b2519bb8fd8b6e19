"""What a release holds for the people who use it, beside its data (issue 10): ``datapackage.json``
(Frictionless Data Package v2), ``dictionnaire.md`` (data dictionary) and ``changelog.md`` /
``changelog.json`` (changes since the previous release). No Dagster here: ``warehouse/publication/releases.py``
calls :func:`write_release_documents` while the release is still its working folder."""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_release_documents"]


def write_release_documents(work: Path, previous_folder: Path | None, manifest: dict) -> None:
    """Write the data package, the dictionary and the changelog of the release being made in ``work``.

    ``previous_folder``: the previous release's folder (None for the first release); ``manifest``:
    this release's (``files`` with path, sha256, bytes, rows). Tables are those of the manifest's
    Parquet files, in the order of ``warehouse/publication/tables.py``."""
    # Imported here: the package is also imported for its ``columns`` module (by the staging), which
    # needs none of the Pandera models these read.
    from warehouse.publication.changelog import write_changelog
    from warehouse.publication.datapackage import write_datapackage
    from warehouse.publication.dictionary import write_dictionary
    from warehouse.publication.tables import TABLES

    published = {f["path"] for f in manifest["files"]}
    tables = [t for t in TABLES if f"parquet/{t}.parquet" in published]
    write_datapackage(work, manifest, previous_folder)
    write_dictionary(work, manifest, tables)
    write_changelog(work, previous_folder, manifest, tables)
