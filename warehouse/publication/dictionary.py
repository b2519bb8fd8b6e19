"""``dictionnaire.md``: the data dictionary of a release, generated from the same metadata as
``datapackage.json`` (``warehouse/publication/tables.py``), with figures computed from the data:
rows per table, ``credits`` rows and totals per exercice and phase, ``ecarts_sources`` rows per rule,
the files with empty amount cells, the programmes without a ministère, and the gaps of ``couverture``
(rows whose statut is not ``present``)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.publication.columns import table_columns
from warehouse.publication.tables import TABLES
from warehouse.store import MEMORY_LIMIT, quote_identifier

__all__ = ["DICTIONARY", "dictionary_markdown", "write_dictionary"]

DICTIONARY = "dictionnaire.md"


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[tuple]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows),
    ]


def _figures(connection: duckdb.DuckDBPyConnection, tables: list[str]) -> list[str]:
    lines = [
        "## Chiffres de cette version",
        "",
        "Calculés sur les données de la version.",
        "",
        "### Lignes par table",
        "",
    ]
    counts = [(t, connection.execute(f"SELECT count(*) FROM {quote_identifier(t)}").fetchone()[0]) for t in tables]
    lines += _table(["table", "lignes"], counts)
    if "credits" in tables:
        per_phase = connection.execute(
            "SELECT exercice, phase, count(*), sum(ae), sum(cp) FROM credits GROUP BY ALL ORDER BY 1, 2"
        ).fetchall()
        lines += ["", "### Crédits : lignes et totaux par exercice et phase (euros)", ""]
        lines += _table(["exercice", "phase", "lignes", "AE", "CP"], per_phase)
    if "ecarts_sources" in tables:
        rules = connection.execute("SELECT regle, count(*) FROM ecarts_sources GROUP BY ALL ORDER BY 1").fetchall()
        lines += ["", "### Écarts entre sources : lignes par règle", ""]
        lines += _table(["regle", "lignes"], rules) if rules else ["Aucun écart."]
    if "sources" in tables:
        empty = connection.execute(
            "SELECT source_id, fichier, montants_vides FROM sources WHERE montants_vides > 0 ORDER BY 1"
        ).fetchall()
        lines += ["", "### Fichiers dont des montants étaient vides (comptés 0)", ""]
        lines += _table(["source_id", "fichier", "lignes"], empty) if empty else ["Aucun."]
    if "programmes" in tables:
        per_year = connection.execute(
            "SELECT exercice, count(*), count(*) FILTER (code_ministere IS NULL) FROM programmes GROUP BY 1 ORDER BY 1"
        ).fetchall()
        lines += ["", "### Programmes sans ministère dans la nomenclature", ""]
        lines += _table(["exercice", "programmes", "sans ministère"], per_year)
        # Where most programmes of the year have one, the few without are listed.
        exceptions = connection.execute(
            "SELECT exercice, code_programme, libelle_programme FROM programmes p WHERE code_ministere IS NULL "
            "AND (SELECT count(*) FILTER (code_ministere IS NULL) * 2 < count(*) FROM programmes q "
            "WHERE q.exercice = p.exercice) ORDER BY 1, 2"
        ).fetchall()
        if exceptions:
            lines += ["", "Dans les exercices où la nomenclature donne le ministère des autres programmes :", ""]
            lines += _table(["exercice", "code_programme", "libelle_programme"], exceptions)
    if "couverture" in tables:
        gaps = connection.execute(
            "SELECT domaine, exercice, phase, document, type_budget, statut FROM couverture "
            "WHERE statut <> 'present' ORDER BY ALL"
        ).fetchall()
        lines += ["", "### Couverture : lacunes (statut autre que `present`)", ""]
        lines += (
            _table(["domaine", "exercice", "phase", "document", "type_budget", "statut"], gaps)
            if gaps
            else ["Aucune lacune."]
        )
    return lines


def dictionary_markdown(database: Path, version: str, tables: list[str]) -> str:
    """The dictionary of the release database ``database`` (Markdown, French)."""
    lines = [
        f"# Dictionnaire des données, version {version}",
        "",
        "Une section par table publiée (`parquet/<table>.parquet`, et la table du même nom de `budget.duckdb`), "
        "une ligne par colonne. Montants en euros, `DECIMAL(18,2)`. Généré à partir des métadonnées qui font "
        "aussi `datapackage.json`.",
        "",
    ]
    with duckdb.connect(str(database), read_only=True, config={"memory_limit": MEMORY_LIMIT}) as connection:
        for table in tables:
            meta = TABLES[table]
            rows = connection.execute(f"SELECT count(*) FROM {quote_identifier(table)}").fetchone()[0]
            lines += [f"## `{table}` : {meta.title}", "", f"Lignes : {rows}.  "]
            key = ", ".join(meta.primary_key) if meta.primary_key else "aucune (comparée par lignes entières)"
            if meta.primary_key and not meta.key_is_primary:
                lines.append(f"Clé unique (des champs peuvent être vides : pas de clé primaire) : {key}.")
            else:
                lines.append(f"Clé primaire : {key}.")
            for fk in meta.foreign_keys:
                lines.append(
                    f"Clé étrangère : ({', '.join(fk.fields)}) → `{fk.table}` ({', '.join(fk.reference_fields)})."
                )
            lines.append("")
            columns = [
                (f"`{c.name}`", c.sql_type, c.unit or "", c.description or "") for c in table_columns(connection, table)
            ]
            lines += _table(["colonne", "type", "unité", "signification"], columns)
            lines.append("")
        lines += _figures(connection, tables)
    return "\n".join(lines).rstrip() + "\n"


def write_dictionary(folder: Path, manifest: dict, tables: list[str]) -> Path:
    """Write ``folder/dictionnaire.md``; return its path."""
    path = folder / DICTIONARY
    path.write_text(dictionary_markdown(folder / "budget.duckdb", manifest["version"], tables), encoding="utf-8")
    return path
