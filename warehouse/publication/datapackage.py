"""``datapackage.json``: the release as a Frictionless Data Package (https://datapackage.org, v2).

Made with the ``frictionless`` library, which checks the descriptor as it builds it:
every published table is a resource (``parquet/<table>.parquet``, format parquet,
``"hash": "sha256:<hex>"``, ``bytes``, ``rows``), with its Table Schema (types,
descriptions and units from ``warehouse/publication/tables.py``, primary key (a unique key
when a field of it may be null), foreign keys to the nomenclature), its licence and its
sources (official addresses of the files its rows come from, from the ``sources`` table).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from warehouse.publication.columns import table_columns
from warehouse.publication.tables import TABLES
from warehouse.store import MEMORY_LIMIT, quote_identifier

__all__ = ["DATAPACKAGE", "LICENCE", "datapackage_descriptor", "write_datapackage"]

DATAPACKAGE = "datapackage.json"
LICENCE = {
    "name": "etalab-2.0",
    "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
    "title": "Licence Ouverte / Open Licence version 2.0",
}
PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"


def _schema(connection: duckdb.DuckDBPyConnection, table: str) -> dict:
    meta = TABLES[table]
    fields = []
    for column in table_columns(connection, table):
        field = {"name": column.name, "type": column.type, "sqlType": column.sql_type}
        if column.type == "array":
            field["arrayItem"] = {"type": "string"}
        if column.description:
            field["description"] = column.description
        if column.unit:
            field["unit"] = column.unit
        fields.append(field)
    schema: dict = {"fields": fields}
    if meta.primary_key:
        if meta.key_is_primary:
            schema["primaryKey"] = list(meta.primary_key)
        else:
            schema["uniqueKeys"] = [list(meta.primary_key)]
    if meta.foreign_keys:
        schema["foreignKeys"] = [
            {"fields": list(k.fields), "reference": {"resource": k.table, "fields": list(k.reference_fields)}}
            for k in meta.foreign_keys
        ]
    return schema


def _sources(connection: duckdb.DuckDBPyConnection, table: str) -> list[dict]:
    """The files the rows of ``table`` come from (every file read, for a table without ``source_id``), with
    their official address where the ``sources`` table knows it."""
    columns = {c.name for c in table_columns(connection, table)}
    used = (
        f"WHERE source_id IN (SELECT DISTINCT source_id FROM {quote_identifier(table)})"
        if "source_id" in columns and table != "sources"
        else "WHERE statut = 'lu'"
    )
    rows = connection.execute(f"SELECT source_id, fichier, url FROM sources {used} ORDER BY source_id").fetchall()
    return [{"title": f"{source_id} ({fichier})"} | ({"path": url} if url else {}) for source_id, fichier, url in rows]


def datapackage_descriptor(folder: Path, manifest: dict, previous_folder: Path | None = None) -> dict:
    """The descriptor of the release in ``folder``: one resource per Parquet file of ``manifest["files"]``.

    ``previous_folder``: the previous release, whose ``datapackage.json`` is taken again, with this release's
    version, dates, hashes, sizes and row counts, when the descriptor differs from it in those values only
    (:func:`_same_but_values`): frictionless checked and wrote that one (and takes 0.5 s to import and check).
    Raises ``frictionless.FrictionlessException`` when the descriptor breaks the Data Package profile."""
    files = {f["path"]: f for f in manifest["files"]}
    resources = []
    with duckdb.connect(
        str(folder / "budget.duckdb"), read_only=True, config={"memory_limit": MEMORY_LIMIT}
    ) as connection:
        for table, meta in TABLES.items():
            entry = files.get(f"parquet/{table}.parquet")
            if entry is None:
                continue
            resources.append(
                {
                    "name": table,
                    "title": meta.title,
                    "path": entry["path"],
                    "format": "parquet",
                    "mediatype": "application/vnd.apache.parquet",
                    "hash": f"sha256:{entry['sha256']}",
                    "bytes": entry["bytes"],
                    "rows": entry["rows"],
                    "schema": _schema(connection, table),
                    "licenses": [LICENCE],
                    "sources": _sources(connection, table),
                }
            )
        everything = _sources(connection, "sources")
    descriptor = {
        "$schema": PROFILE,
        "name": "budget-etat",
        "title": "Budget de l'État : crédits, nomenclature et performance",
        "version": manifest["version"],
        "created": manifest["created"],
        "licenses": [LICENCE],
        "sources": everything,
        "resources": resources,
    }
    if previous_folder is not None and (again := _same_but_values(previous_folder / DATAPACKAGE, descriptor)):
        return again
    from frictionless import Package  # 0.5 s to import: only when a release is written, not when the definitions load

    return Package.from_descriptor(descriptor, basepath=str(folder)).to_descriptor()


#: The values of a descriptor that change from one release to the next (package, then resource).
_PACKAGE_VALUES = ("version", "created")
_RESOURCE_VALUES = ("hash", "bytes", "rows")
#: What frictionless adds to each resource of the descriptor it is given.
_ADDED = (("type", "table"), ("scheme", "file"))


def _masked(descriptor: dict, resources: list[dict]) -> dict:
    return {
        **{k: v for k, v in descriptor.items() if k not in _PACKAGE_VALUES},
        "resources": [{k: v for k, v in r.items() if k not in _RESOURCE_VALUES} for r in resources],
    }


def _same_but_values(previous: Path, descriptor: dict) -> dict | None:
    """The descriptor ``previous`` (a release's ``datapackage.json``, as frictionless wrote it) with the version,
    dates, hashes, sizes and row counts of ``descriptor``, when that is all they differ in (the keys frictionless
    adds aside); else None. The result is then what frictionless would write for ``descriptor``."""
    try:
        before = json.loads(previous.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    resources = before.get("resources")
    if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
        return None
    as_given = [{k: v for k, v in r.items() if (k, v) not in _ADDED} for r in resources]
    if _masked(before, as_given) != _masked(descriptor, descriptor["resources"]):
        return None
    again = {**before, **{k: descriptor[k] for k in _PACKAGE_VALUES}}
    pairs = zip(resources, descriptor["resources"], strict=True)
    again["resources"] = [{**r, **{k: new[k] for k in _RESOURCE_VALUES}} for r, new in pairs]
    return again


def write_datapackage(folder: Path, manifest: dict, previous_folder: Path | None = None) -> Path:
    """Write ``folder/datapackage.json`` (see :func:`datapackage_descriptor`); return its path."""
    path = folder / DATAPACKAGE
    text = json.dumps(datapackage_descriptor(folder, manifest, previous_folder), ensure_ascii=False, indent=1)
    path.write_text(text + "\n", encoding="utf-8")
    return path
