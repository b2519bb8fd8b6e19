"""The changelog between a release and the previous one: ``changelog.json`` and ``changelog.md``.

Content, not load times: the columns a build stamps (``vu_le``, ``charge_le``, ``lu_le``:
``warehouse.publication.releases.VOLATILE_COLUMNS``) are left out of every comparison.

- per table, the rows added, removed and changed, compared by the table's primary key
  (``warehouse/publication/tables.py``): a row whose key is in both releases and whose other
  columns differ is changed. A table with no natural key (or whose key is not unique in
  either release) is compared by whole rows: changed rows then show as one removed, one added;
- the totals of ``credits`` (sum of ``ae``, sum of ``cp``, euros) per (exercice, phase) that changed;
- the sources added, removed, and those whose sha256 changed (``sources`` of both releases, by ``source_id``);
  a source outside the build's ``--years`` (``statut = 'hors_selection'``: seen, none of its data held) is none
  of them: it is added by the release that first reads it. A file newly set aside as a byte-identical copy of
  another (``statut = 'doublon'``: none of its data held either; a new file, or one read before, now the copy of
  a file kept in its place) is listed apart, as a copy set aside (``sources_doublons``), never as a source added.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from warehouse.publication.tables import TABLES
from warehouse.store import MEMORY_LIMIT, quote_identifier, quote_literal

__all__ = ["CHANGELOG_JSON", "CHANGELOG_MD", "LISTED_ROWS", "changes_summary", "compare_releases", "write_changelog"]

CHANGELOG_JSON = "changelog.json"
CHANGELOG_MD = "changelog.md"
#: Rows listed per table and kind (added, removed, changed) in the changelog; the counts are always whole.
LISTED_ROWS = 200
_VOLATILE = ("vu_le", "charge_le", "lu_le")


def _columns(connection: duckdb.DuckDBPyConnection, qualified: str) -> list[str]:
    return [r[0] for r in connection.execute(f"DESCRIBE {qualified}").fetchall() if r[0] not in _VOLATILE]


def _tables(connection: duckdb.DuckDBPyConnection, catalog: str) -> set[str]:
    rows = connection.execute(
        f"SELECT table_name FROM duckdb_tables() WHERE database_name = {quote_literal(catalog)}"
    ).fetchall()
    return {r[0] for r in rows}


def _unique(connection: duckdb.DuckDBPyConnection, qualified: str, key: list[str]) -> bool:
    cols = ", ".join(quote_identifier(c) for c in key)
    total, distinct = connection.execute(
        f"SELECT count(*), count(DISTINCT struct_pack({cols})) FROM {qualified}"
    ).fetchone()
    return total == distinct


def _rows(connection: duckdb.DuckDBPyConnection, query: str) -> list[dict]:
    cursor = connection.execute(query)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _compare_table(connection: duckdb.DuckDBPyConnection, table: str, same: bool = False) -> dict:
    """The changes of ``table``; ``same``: both releases hold the same Parquet file (sha256) for it, so the same
    rows and columns: the entry says no change without comparing the rows (its ``comparaison`` all the same)."""
    new, old = f"nouveau.{quote_identifier(table)}", f"avant.{quote_identifier(table)}"
    new_columns = _columns(connection, new)
    old_columns = new_columns if same else _columns(connection, old)
    columns = [c for c in new_columns if c in old_columns]
    entry: dict = {
        "colonnes_ajoutees": [c for c in new_columns if c not in old_columns],
        "colonnes_retirees": [c for c in old_columns if c not in new_columns],
    }
    key = [c for c in TABLES[table].primary_key if c in columns] if table in TABLES else []
    by_key = bool(key) and len(key) == len(TABLES[table].primary_key)
    by_key = by_key and _unique(connection, new, key) and (same or _unique(connection, old, key))
    if same:
        entry["comparaison"] = "clé primaire (" + ", ".join(key) + ")" if by_key else "lignes entières"
        for kind in ("ajoutees", "retirees", "modifiees"):
            entry[f"nb_{kind}"], entry[kind] = 0, []
        return entry
    listed = ", ".join(quote_identifier(c) for c in columns)
    limit = f"LIMIT {LISTED_ROWS}"
    if not by_key:
        entry["comparaison"] = "lignes entières"
        for kind, (a, b) in {"ajoutees": (new, old), "retirees": (old, new)}.items():
            query = f"SELECT {listed} FROM {a} EXCEPT ALL SELECT {listed} FROM {b}"
            entry[f"nb_{kind}"] = connection.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
            entry[kind] = _rows(connection, f"{query} ORDER BY ALL {limit}")
        entry["nb_modifiees"], entry["modifiees"] = 0, []
        return entry
    entry["comparaison"] = "clé primaire (" + ", ".join(key) + ")"
    others = [c for c in columns if c not in key]
    join = " AND ".join(f"n.{quote_identifier(c)} IS NOT DISTINCT FROM o.{quote_identifier(c)}" for c in key)
    keys = ", ".join(f"n.{quote_identifier(c)}" for c in key)
    for kind, (a, b) in {"ajoutees": (new, old), "retirees": (old, new)}.items():
        query = "SELECT " + ", ".join(f"n.{quote_identifier(c)}" for c in columns) + " "
        query += f"FROM {a} n ANTI JOIN {b} o ON {join}"
        entry[f"nb_{kind}"] = connection.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
        entry[kind] = _rows(connection, f"{query} ORDER BY {keys} {limit}")
    differs = (
        " OR ".join(f"n.{quote_identifier(c)} IS DISTINCT FROM o.{quote_identifier(c)}" for c in others) or "false"
    )
    pairs = ", ".join(
        f"struct_pack(avant := o.{quote_identifier(c)}, apres := n.{quote_identifier(c)}) AS {quote_identifier(c)}"
        for c in others
    )
    query = f"SELECT {keys}{', ' + pairs if pairs else ''} FROM {new} n JOIN {old} o ON {join} WHERE {differs}"
    entry["nb_modifiees"] = connection.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
    changed = []
    for row in _rows(connection, f"{query} ORDER BY {keys} {limit}"):
        cle = {c: row[c] for c in key}
        values = {c: row[c] for c in others if row[c]["avant"] != row[c]["apres"]}
        changed.append(
            {
                "cle": cle,
                "avant": {c: v["avant"] for c, v in values.items()},
                "apres": {c: v["apres"] for c, v in values.items()},
            }
        )
    entry["modifiees"] = changed
    return entry


_TOTALS = """
WITH n AS (SELECT exercice, phase, sum(ae) AS ae, sum(cp) AS cp FROM nouveau.credits GROUP BY ALL),
     o AS (SELECT exercice, phase, sum(ae) AS ae, sum(cp) AS cp FROM avant.credits GROUP BY ALL)
SELECT coalesce(n.exercice, o.exercice) AS exercice, coalesce(n.phase, o.phase) AS phase,
       o.ae AS ae_avant, n.ae AS ae_apres, coalesce(n.ae, 0) - coalesce(o.ae, 0) AS ae_ecart,
       o.cp AS cp_avant, n.cp AS cp_apres, coalesce(n.cp, 0) - coalesce(o.cp, 0) AS cp_ecart
FROM n FULL JOIN o ON n.exercice = o.exercice AND n.phase = o.phase
WHERE n.ae IS DISTINCT FROM o.ae OR n.cp IS DISTINCT FROM o.cp
ORDER BY 1, 2
"""

#: The sources of each release whose data it holds, or tried to: not those outside ``--years`` (``hors_selection``,
#: seen and not read; a tester found one listed as added).
_SOURCES = """
WITH n AS (SELECT * FROM nouveau.sources WHERE statut IS DISTINCT FROM 'hors_selection'),
     o AS (SELECT * FROM avant.sources WHERE statut IS DISTINCT FROM 'hors_selection')
SELECT coalesce(n.source_id, o.source_id) AS source_id, coalesce(n.fichier, o.fichier) AS fichier,
       o.sha256 AS sha256_avant, n.sha256 AS sha256_apres, n.message AS message,
       CASE WHEN n.statut = 'doublon' THEN 'doublon'
            WHEN o.source_id IS NULL THEN 'ajoutee' WHEN n.source_id IS NULL THEN 'retiree' ELSE 'modifiee' END
           AS etat
FROM n FULL JOIN o ON n.source_id = o.source_id
WHERE n.sha256 IS DISTINCT FROM o.sha256 OR n.statut = 'doublon' AND o.statut IS DISTINCT FROM 'doublon'
ORDER BY 1
"""


def compare_releases(
    database: Path, previous_database: Path | None, tables: list[str], same_files: frozenset[str] = frozenset()
) -> dict:
    """The changes from ``previous_database`` to ``database`` (both release databases) over ``tables``.
    ``same_files``: the tables whose Parquet file is the same in both releases (same sha256 in both manifests):
    their rows are not compared (a rebuild after one file changed publishes every table again).

    Returns ``{"tables": {table: {nb_ajoutees, nb_retirees, nb_modifiees, ajoutees, retirees, modifiees,
    comparaison, colonnes_ajoutees, colonnes_retirees}}, "totaux_credits": [...], "sources_modifiees": [...],
    "sources_ajoutees": [...], "sources_retirees": [...], "sources_doublons": [...] (with ``message``),
    "inchange": bool}``; amounts are ``Decimal`` euros. With no previous release, every table's rows are added.
    """
    with duckdb.connect(":memory:", config={"memory_limit": MEMORY_LIMIT}) as connection:
        connection.execute(f"ATTACH {quote_literal(database)} AS nouveau (READ_ONLY)")
        if previous_database is None:
            counts = {
                t: connection.execute(f"SELECT count(*) FROM nouveau.{quote_identifier(t)}").fetchone()[0]
                for t in tables
            }
            return {"premiere_publication": True, "tables": {t: {"nb_ajoutees": n} for t, n in counts.items()}}
        connection.execute(f"ATTACH {quote_literal(previous_database)} AS avant (READ_ONLY)")
        present = _tables(connection, "avant")
        changes: dict = {"premiere_publication": False, "tables": {}}
        for table in tables:
            if table in present:
                changes["tables"][table] = _compare_table(connection, table, table in same_files)
            else:
                rows = connection.execute(f"SELECT count(*) FROM nouveau.{quote_identifier(table)}").fetchone()[0]
                changes["tables"][table] = {
                    "nouvelle_table": True,
                    "nb_ajoutees": rows,
                    "nb_retirees": 0,
                    "nb_modifiees": 0,
                }
        both = "credits" in tables and "credits" in present
        changes["totaux_credits"] = _rows(connection, _TOTALS) if both else []
        # Sources new to the release, gone from it, or whose sha256 changed: each under its own key (a new
        # file was listed among the changed ones).
        found = _rows(connection, _SOURCES) if "sources" in present else []
        for etat in ("ajoutee", "retiree", "modifiee"):
            changes[f"sources_{etat}s"] = [
                {k: v for k, v in row.items() if k not in ("etat", "message")} for row in found if row["etat"] == etat
            ]
        # files set aside as copies of another (none of their data held) since this release: new ones, or read
        # before and now copies of a file kept in their place; said apart, with the file they copy (`message`)
        changes["sources_doublons"] = [
            {k: v for k, v in row.items() if k != "etat"} for row in found if row["etat"] == "doublon"
        ]
    changes["inchange"] = (
        not changes["sources_modifiees"]
        and not changes["sources_ajoutees"]
        and not changes["sources_retirees"]
        and not changes["sources_doublons"]
        and not changes["totaux_credits"]
        and not any(
            e.get("nb_ajoutees")
            or e.get("nb_retirees")
            or e.get("nb_modifiees")
            or e.get("colonnes_ajoutees")
            or e.get("colonnes_retirees")
            for e in changes["tables"].values()
        )
    )
    return changes


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _markdown(changes: dict, version: str, previous: str | None) -> str:
    if changes.get("premiere_publication"):
        lines = [
            f"# Changements de la version {version}",
            "",
            "Première publication : toutes les lignes sont nouvelles.",
            "",
        ]
        lines += ["| table | lignes |", "|---|---:|"]
        lines += [f"| {t} | {e['nb_ajoutees']} |" for t, e in changes["tables"].items()]
        return "\n".join(lines) + "\n"
    lines = [f"# Changements de la version {version}", "", f"Par rapport à la version {previous}.", ""]
    if changes["inchange"]:
        lines += ["Aucun changement de contenu.", ""]
    lines += [
        "## Lignes par table",
        "",
        "| table | ajoutées | retirées | modifiées | comparaison |",
        "|---|---:|---:|---:|---|",
    ]
    for table, e in changes["tables"].items():
        lines.append(
            f"| {table} | {e.get('nb_ajoutees', 0)} | {e.get('nb_retirees', 0)} | {e.get('nb_modifiees', 0)} "
            f"| {e.get('comparaison', 'nouvelle table')} |"
        )
    lines += ["", "## Totaux des crédits par exercice et phase (euros)", ""]
    if changes["totaux_credits"]:
        lines += ["| exercice | phase | AE avant | AE après | écart AE | CP avant | CP après | écart CP |"]
        lines += ["|---|---|---:|---:|---:|---:|---:|---:|"]
        for t in changes["totaux_credits"]:
            cells = [
                t[c]
                for c in ("exercice", "phase", "ae_avant", "ae_apres", "ae_ecart", "cp_avant", "cp_apres", "cp_ecart")
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    else:
        lines.append("Aucun total changé.")
    for key, title in (
        ("sources_ajoutees", "Sources ajoutées"),
        ("sources_retirees", "Sources retirées"),
        ("sources_modifiees", "Sources dont l'empreinte sha256 a changé"),
    ):
        lines += ["", f"## {title}", ""]
        if changes.get(key):
            lines += ["| source_id | fichier | sha256 avant | sha256 après |", "|---|---|---|---|"]
            lines += [
                f"| {s['source_id']} | {_cell(s['fichier'])} | {_cell(s['sha256_avant'])} "
                f"| {_cell(s['sha256_apres'])} |"
                for s in changes[key]
            ]
        else:
            lines.append("Aucune.")
    if changes.get("sources_doublons"):  # only when there are: releases without copies read as before
        lines += ["", "## Copies mises de côté (doublons, non lues)", ""]
        lines += ["| source_id | fichier | sha256 | message |", "|---|---|---|---|"]
        lines += [
            f"| {s['source_id']} | {_cell(s['fichier'])} | {_cell(s['sha256_apres'])} | {_cell(s['message'])} |"
            for s in changes["sources_doublons"]
        ]
    for table, e in changes["tables"].items():
        if not e.get("modifiees") and not e.get("ajoutees") and not e.get("retirees"):
            continue
        lines += ["", f"## {table}", ""]
        for kind, title in (("ajoutees", "Ajoutées"), ("retirees", "Retirées")):
            if e.get(kind):
                lines += [f"{title} ({e[f'nb_{kind}']}) :", ""]
                lines += [f"- {json.dumps(r, ensure_ascii=False, default=str)}" for r in e[kind]]
                lines.append("")
        if e.get("modifiees"):
            lines += [f"Modifiées ({e['nb_modifiees']}) :", ""]
            for r in e["modifiees"]:
                cle = ", ".join(f"{k}={_cell(v)}" for k, v in r["cle"].items())
                what = "; ".join(f"{c} : {_cell(r['avant'][c])} → {_cell(r['apres'][c])}" for c in r["avant"])
                lines.append(f"- {cle} : {what}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_changelog(folder: Path, previous_folder: Path | None, manifest: dict, tables: list[str]) -> dict:
    """Write ``folder/changelog.json`` and ``folder/changelog.md`` (the release in ``folder`` against the
    release in ``previous_folder``, None for the first); return the changes (see :func:`compare_releases`)."""
    previous_database = previous_folder / "budget.duckdb" if previous_folder is not None else None
    same = _same_files(previous_folder, manifest)
    changes = compare_releases(folder / "budget.duckdb", previous_database, tables, same)
    document = {"version": manifest["version"], "version_precedente": manifest.get("previous"), **changes}
    text = json.dumps(document, ensure_ascii=False, indent=1, default=str)
    (folder / CHANGELOG_JSON).write_text(text + "\n", encoding="utf-8")
    (folder / CHANGELOG_MD).write_text(
        _markdown(changes, manifest["version"], manifest.get("previous")), encoding="utf-8"
    )
    return document


def _same_files(previous_folder: Path | None, manifest: dict) -> frozenset[str]:
    """The tables whose ``parquet/<table>.parquet`` has the same sha256 in ``manifest`` and in the previous
    release's ``manifest.json``."""
    path = previous_folder / "manifest.json" if previous_folder is not None else None
    if path is None or not path.is_file():
        return frozenset()
    before = {f["path"]: f["sha256"] for f in json.loads(path.read_text(encoding="utf-8")).get("files", [])}
    return frozenset(
        f["path"].removeprefix("parquet/").removesuffix(".parquet")
        for f in manifest["files"]
        if f["path"].startswith("parquet/") and f["sha256"] and before.get(f["path"]) == f["sha256"]
    )


def changes_summary(folder: Path) -> str:
    """One line saying what ``folder/changelog.json`` holds (for the build's summary)."""
    document = json.loads((folder / CHANGELOG_JSON).read_text(encoding="utf-8"))
    if document.get("premiere_publication"):
        return "changes: first release"
    if document["inchange"]:
        return f"changes since {document['version_precedente']}: none"
    tables = [
        f"{t} +{e['nb_ajoutees']} -{e['nb_retirees']} ~{e['nb_modifiees']}"
        for t, e in document["tables"].items()
        if e.get("nb_ajoutees") or e.get("nb_retirees") or e.get("nb_modifiees")
    ]
    totals = [f"{t['exercice']} {t['phase']}" for t in document["totaux_credits"]]
    sources = [s["source_id"] for s in document["sources_modifiees"]]
    added = [s["source_id"] for s in document.get("sources_ajoutees", [])]
    removed = [s["source_id"] for s in document.get("sources_retirees", [])]
    copies = [s["source_id"] for s in document.get("sources_doublons", [])]
    return (
        f"changes since {document['version_precedente']} (changelog.md): rows {', '.join(tables) or 'none'}; "
        f"credits totals changed: {', '.join(totals) or 'none'}; sources changed: {', '.join(sources) or 'none'}"
        + (f"; sources added: {', '.join(added)}" if added else "")
        + (f"; sources removed: {', '.join(removed)}" if removed else "")
        + (f"; copies set aside: {', '.join(copies)}" if copies else "")
    )
