"""Read the documents of an inventory, and read/write their tables in the DuckDB warehouse."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb
import polars as pl

from warehouse.documents.reconciliation import (
    RAPPROCHEMENT_SCHEMA,
    DocumentTables,
    build_document_tables,
    reconcile_credits,
)
from warehouse.documents.texts import Document, DocumentError, narratives, read_document
from warehouse.reading.tables import TableReadError
from warehouse.sources import InventoryItem, recognise
from warehouse.store import reader, replace_tables, transaction

__all__ = [
    "FICHIER_SCHEMA",
    "DocumentFiles",
    "build_from_warehouse",
    "document_reports",
    "document_reports_in",
    "keep_expected_documents",
    "one_per_text",
    "read_documents",
    "reconcile_from_warehouse",
    "write_document_tables",
    "write_rapprochements",
]

#: One read report per document file (``document_fichiers``): what the ``sources`` table shows for it.
FICHIER_SCHEMA = {
    "source_id": pl.String,
    "fichier": pl.String,
    "format": pl.String,
    "statut": pl.String,
    "message": pl.String,
    "documents": pl.Int32,
}


@dataclass
class DocumentFiles:
    """The documents read, and one report per file they came from (texts, pages, workbooks)."""

    documents: list[Document]
    fichiers: pl.DataFrame


def read_documents(items: list[InventoryItem]) -> DocumentFiles:
    """Every document of the inventory: RAP/PAP texts and pages among the files of no covered family,
    and the ``commentFP`` narratives of the nomenclature workbooks."""
    documents, reports = [], []
    for item in items:
        source = item.source
        if item.error or not source.chemin.is_file():
            continue
        if item.kind is None:
            try:
                doc = read_document(source.chemin, source.fichier, source.source_id)
            except (DocumentError, OSError) as exc:
                reports.append((source.source_id, source.fichier, "document_texte", "erreur", str(exc), 0))
                continue
            if doc is not None:
                documents.append(doc)
                reports.append((source.source_id, source.fichier, doc.format, "lu", None, 1))
        elif item.kind == "nomenclature":
            try:
                found = recognise(source)
                table = found.table  # the whole table, read now: refused past the size limit
            except (TableReadError, OSError):
                continue  # the nomenclature's step reports the file in error
            if table is None or found.exercice_hint is None:
                continue
            phase = found.phase_hint or "PLF"
            read = narratives(table, source.source_id, found.exercice_hint, phase)
            if read:
                documents.extend(read)
                reports.append((source.source_id, source.fichier, "commentaire_nomenclature", "lu", None, len(read)))
    return DocumentFiles(documents, pl.DataFrame(reports, schema=FICHIER_SCHEMA, orient="row"))


def keep_expected_documents(
    connection: duckdb.DuckDBPyConnection, items: list[InventoryItem], read: DocumentFiles
) -> DocumentFiles:
    """``read`` plus the documents of the latest release whose source this build expected but did
    not read: absent from the ``--sources`` folder (``statut = 'absent'``) or in error (not got, not
    readable: ``'erreur'``). Their text is taken back from the ``documents`` table as it was, so
    their declarations and reconciliations are made again against today's data; nothing is lost
    (issue 8: a fault never deletes what users had; ``--prune`` drops such sources from the inventory).
    """
    from warehouse.expected import is_absent

    expected = {i.source.source_id: i for i in items if i.error}
    if not expected or not _exists(connection, "documents"):
        return read
    rows = connection.execute(
        "SELECT document, type_document, exercice, code_programme, libelle_programme, responsable, source_id, "
        "texte, format, source_ligne FROM documents WHERE list_contains(?, source_id) ORDER BY ALL",
        [list(expected)],
    ).fetchall()
    kept = [Document(*row) for row in rows]
    reports = []
    for source_id in sorted({d.source_id for d in kept}):
        item = expected[source_id]
        fmt = next(d.format for d in kept if d.source_id == source_id)
        statut = "absent" if is_absent(item) else "erreur"
        count = sum(1 for d in kept if d.source_id == source_id)
        reports.append((source_id, item.source.fichier, fmt, statut, item.error_message, count))
    # A file of the latest release whose every document was a copy of another file's (`one_per_text`) has no
    # document to take back: its report is kept all the same, with none.
    if _exists(connection, "document_fichiers"):
        for source_id, fmt in connection.execute(
            "SELECT source_id, format FROM document_fichiers WHERE list_contains(?, source_id) "
            "AND NOT list_contains(?, source_id) ORDER BY source_id",
            [list(expected), sorted({d.source_id for d in kept})],
        ).fetchall():
            item = expected[source_id]
            statut = "absent" if is_absent(item) else "erreur"
            reports.append((source_id, item.source.fichier, fmt, statut, item.error_message, 0))
    fichiers = pl.concat([read.fichiers, pl.DataFrame(reports, schema=FICHIER_SCHEMA, orient="row")])
    return DocumentFiles(read.documents + kept, fichiers)


def one_per_text(read: DocumentFiles) -> DocumentFiles:
    """The same text of the same document for the same programme, carried by several source files (the
    ``commentFP`` narratives of the LFI 2022 and PLF 2022 nomenclature workbooks, identical), is one document:
    kept under the source whose id sorts first, so that its declarations are reconciled once and each
    disagreement published once. The report of each other file (``document_fichiers``) counts only the
    documents kept under it, and its message names the source its copies are kept under."""
    first: dict[tuple[str, str, str], str] = {}
    for doc in read.documents:
        key = (doc.document, doc.code_programme, doc.texte)
        if key not in first or doc.source_id < first[key]:
            first[key] = doc.source_id
    kept, copies = [], {}
    for doc in read.documents:
        source_id = first[(doc.document, doc.code_programme, doc.texte)]
        if source_id == doc.source_id:
            kept.append(doc)
        else:
            copies.setdefault(doc.source_id, {}).setdefault(source_id, 0)
            copies[doc.source_id][source_id] += 1
    if not copies:
        return read
    counts = {source_id: 0 for source_id in copies}
    for doc in kept:
        if doc.source_id in counts:
            counts[doc.source_id] += 1
    notes = {
        source_id: "; ".join(
            f"{n} document(s) identical to those of {other}, kept once under it" for other, n in by.items()
        )
        for source_id, by in copies.items()
    }
    fichiers = read.fichiers.with_columns(
        pl.col("source_id")
        .replace_strict(counts, default=pl.col("documents"), return_dtype=pl.Int32)
        .alias("documents"),
        pl.coalesce(pl.col("message"), pl.col("source_id").replace_strict(notes, default=None, return_dtype=pl.String)),
    )
    return DocumentFiles(kept, fichiers)


def _exists(connection: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = connection.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]).fetchall()
    return bool(found[0][0])


def _credit_totals(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """AE, CP and CP of titre 2 per (exercice, phase, programme) of ``credits``: what texts state."""
    return connection.sql(
        """
        SELECT exercice, phase, code_programme, sum(ae) AS ae, sum(cp) AS cp,
               CASE WHEN count(code_titre) > 0 THEN coalesce(sum(cp) FILTER (WHERE code_titre = '2'), 0) END
                   AS titre2,
               min(source_id) AS source_id
        FROM credits WHERE phase <> 'AMD' GROUP BY ALL
        """
    ).pl()


def build_from_warehouse(
    connection: duckdb.DuckDBPyConnection, read: DocumentFiles, *, with_credits: bool = True
) -> DocumentTables:
    """Build the document tables against the warehouse's ``credits`` and performance tables
    (the rows the documents themselves added to ``indicateurs`` left aside). ``with_credits=False``:
    ``credits`` is not read and the credit declarations have no ``rapprochements`` rows yet
    (:func:`reconcile_from_warehouse` makes them)."""
    ids = [d.source_id for d in read.documents] or [""]
    credits = _credit_totals(connection) if with_credits else pl.DataFrame()
    if _exists(connection, "indicateur_valeurs"):
        sub_indicators = connection.sql(
            """
            SELECT document, code_programme, code_indicateur, code_sous_indicateur,
                   concat_ws(' ', libelle_indicateur, libelle_sous_indicateur) AS libelle, unite
            FROM indicateurs WHERE niveau = 'programme' AND NOT list_contains(?, source_id)
            """,
            params=[ids],
        ).pl()
        realisations = connection.sql(
            """
            SELECT document, code_programme, code_sous_indicateur, annee, valeur, statut, source_id
            FROM indicateur_valeurs
            WHERE type_valeur = 'realisation' AND niveau = 'programme' AND NOT list_contains(?, source_id)
            """,
            params=[ids],
        ).pl()
    else:
        sub_indicators = pl.DataFrame(
            schema=dict.fromkeys(
                ["document", "code_programme", "code_indicateur", "code_sous_indicateur", "libelle", "unite"],
                pl.String,
            )
        )
        realisations = pl.DataFrame(
            schema={
                "document": pl.String,
                "code_programme": pl.String,
                "code_sous_indicateur": pl.String,
                "annee": pl.Int16,
                "valeur": pl.Float64,
                "statut": pl.String,
                "source_id": pl.String,
            }
        )
    missions = {}
    if _exists(connection, "programmes"):
        missions = {
            (e, p): m
            for e, p, m in connection.execute(
                "SELECT exercice, code_programme, code_mission FROM programmes"
            ).fetchall()
        }
    return build_document_tables(
        read.documents, credits, sub_indicators, realisations, missions, with_credits=with_credits
    )


def reconcile_from_warehouse(connection: duckdb.DuckDBPyConnection, others: pl.DataFrame) -> pl.DataFrame:
    """The ``rapprochements`` table: the credit declarations of the warehouse's ``declarations`` compared
    with its ``credits`` (:func:`warehouse.documents.reconciliation.reconcile_credits`), with ``others``
    (the indicator declarations' rapprochements, made when the documents were read)."""
    declarations = connection.sql(
        "SELECT document, code_programme, exercice, phase, grandeur, valeur, precision, debut, source_id, "
        "type_declaration FROM declarations WHERE type_declaration = 'credits'"
    ).pl()
    return reconcile_credits(declarations, _credit_totals(connection), others)


def write_document_tables(
    connection: duckdb.DuckDBPyConnection, tables: DocumentTables, fichiers: pl.DataFrame
) -> None:
    """Replace ``documents``, ``declarations`` and ``document_fichiers``; replace the rows of the documents'
    own indicators in ``indicateurs`` and ``indicateur_valeurs`` (only rows whose ``source_id`` is a
    document's), in one transaction. ``rapprochements``: :func:`write_rapprochements`."""
    replace_tables(
        connection,
        {"documents": tables.documents, "declarations": tables.declarations, "document_fichiers": fichiers},
    )
    ids = fichiers.filter(pl.col("format") != "commentaire_nomenclature")["source_id"].to_list()
    with transaction(connection):
        if _exists(connection, "indicateurs") and ids:
            for table, frame in (
                ("indicateurs", tables.indicateurs),
                ("indicateur_valeurs", tables.indicateur_valeurs),
            ):
                connection.execute(f"DELETE FROM {table} WHERE list_contains(?, source_id)", [ids])
                if frame.height:
                    connection.register("lignes_documents", frame.to_arrow())
                    connection.execute(f"INSERT INTO {table} BY NAME SELECT * FROM lignes_documents")
                    connection.unregister("lignes_documents")


def write_rapprochements(connection: duckdb.DuckDBPyConnection, rapprochements: pl.DataFrame) -> None:
    """Replace ``rapprochements`` and the view ``execution_credits`` (``warehouse/sql/execution_credits.sql``)."""
    replace_tables(connection, {"rapprochements": rapprochements.cast(RAPPROCHEMENT_SCHEMA)})
    sql = resources.files("warehouse").joinpath("sql/execution_credits.sql").read_text(encoding="utf-8")
    connection.execute(sql)


def document_reports(database: Path) -> dict[str, dict]:
    """The read reports of the RAP/PAP texts and pages (``document_fichiers``), by source id, in the form
    the ``sources`` table takes them (``famille``, ``statut``, ``message``, ``lignes``: documents read)."""
    if not database.exists():
        return {}
    with reader(database) as connection:
        return document_reports_in(connection)


def document_reports_in(connection: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """:func:`document_reports` on an open connection (a caller that reads the database for more)."""
    if not _exists(connection, "document_fichiers"):
        return {}
    rows = connection.sql("SELECT * FROM document_fichiers WHERE format <> 'commentaire_nomenclature'").fetchall()
    return {
        source_id: {
            "fichier": fichier,
            "famille": fmt,
            "statut": statut,
            "message": message,
            "lignes": documents,
            "lignes_retenues": documents,
            "lignes_ecartees": 0,
            "lignes_ecartees_par_motif": None,
        }
        for source_id, fichier, fmt, statut, message, documents in rows
    }
