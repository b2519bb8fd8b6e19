"""``core/sources``: the provenance table, one row per source file seen."""

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.credits import DUCKDB_WRITER_POOL, staging_credits
from assets.documents import document_tables
from assets.metadata import column_schema, markdown
from assets.nomenclature import STAGING_NOMENCLATURE, nomenclature
from assets.performance import performance_tables
from assets.resources import WarehousePaths
from assets.sources import CREDIT_FILES, NOMENCLATURE_FILES, OTHER_FILES
from assets.versions import code_version
from schemas.sources import SourcesModel
from schemas.validation import validate
from warehouse.credits.load import lines_loaded
from warehouse.credits.staging import SourceReport, read_reports
from warehouse.documents.store import document_reports
from warehouse.expected import is_absent
from warehouse.memory import give_back
from warehouse.sources import InventoryItem
from warehouse.store import drop_gone_sources, drop_moved_sources, prune_sources, reader, upsert_sources, writer


@dg.asset(
    key=["core", "sources"],
    group_name="sources",
    kinds={"duckdb"},
    deps=[
        CREDIT_FILES,
        NOMENCLATURE_FILES,
        OTHER_FILES,
        staging_credits,
        STAGING_NOMENCLATURE,
        *nomenclature.keys,
        *performance_tables.keys,
        *document_tables.keys,
    ],
    code_version=code_version(__file__),
    ins={"sources": dg.AssetIn(key=["raw", "sources"])},
    pool=DUCKDB_WRITER_POOL,
    description=(
        "The `sources` table of `budget.duckdb` (README, 'The tables'): one row per file seen, with "
        "its official address, file name, sha256, size, data rows read, family recognised "
        "(`format`), role per phase and budget type (A authoritative, W witness), lines kept, "
        "set aside by reason and loaded, and its status: `lu`, `erreur` (the message names "
        "the file, the row and the column; the hash and counts stay those of the last good "
        "read), `non_reconnu` (no covered family; its header is kept) or `doublon` (the same bytes as a "
        "file read, set aside unread)."
    ),
)
def sources_table(
    context: dg.AssetExecutionContext,
    paths: WarehousePaths,
    duckdb: DuckDBResource,
    sources: list[InventoryItem],
) -> dg.MaterializeResult:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    reports = read_reports(paths.staging_credits) + read_reports(paths.staging_nomenclature)
    # The copies set aside, as the steps that set them aside recorded them in their staged reports
    # (warehouse/credits/roles.py: set_aside_copies): the credits' and the performance step's.
    reports += read_reports(paths.staging_performance)
    copies = {r.source_id: r for r in reports if r.statut == "doublon"}
    reports = [r for r in reports if r.statut != "doublon"]
    staged = {r.source_id for r in reports}
    if Path(duckdb.database).exists():  # the warehouse's blocks are not held under the lines' count (another database)
        with reader(Path(duckdb.database)) as connection:
            give_back(connection)
    loaded = lines_loaded(paths.staging_credits)
    performance = _performance_reports(Path(duckdb.database))
    documents = document_reports(Path(duckdb.database))
    records = []
    absent = {item.source.source_id: item for item in sources if is_absent(item)}
    for report in reports:
        record = _record(report, loaded.get(report.source_id), now)
        item = absent.get(report.source_id)
        if item is not None and report.statut == "lu":  # its exercice not staged (--years): absent all the same
            record["statut"], record["message"] = "absent", item.error_message
        records.append(record)
    for item in sources:
        if item.source.source_id in staged or item.unreadable:  # read by no step: in no table (the summary names it)
            continue
        statut = "non_reconnu" if item.famille is None else "hors_selection"
        message = (
            item.error or "matches no covered family" if item.famille is None else f"exercice {item.exercice} not built"
        )
        if item.in_error and item.holds("credits") and item.exercice:  # unreadable, its exercice not built
            statut, message = "hors_selection", f"exercice {item.exercice} not built"
        elif item.in_error:  # a covered family that cannot be read at all, staged nowhere
            statut, message = "erreur", item.error_message
        copy = copies.get(item.source.source_id)
        if copy is not None and copy.sha256 == item.source.sha256:  # of these bytes (not a staging of other ones)
            statut, message = "doublon", copy.message
        read = performance.get(item.source.source_id) or documents.get(item.source.source_id)
        if read is not None:  # a performance file: its report is the `indicateur_fichiers` row
            statut, message = read["statut"], read["message"]
        records.append(
            {
                "source_id": item.source.source_id,
                "url": item.source.url,
                "fichier": item.source.fichier,
                "sha256": item.source.sha256,
                "octets": item.source.octets,
                "format": item.famille,
                "type_fichier": item.type_fichier,
                "encodage": item.encodage,
                "feuille": item.feuille,
                "exercice": item.exercice,
                "statut": statut,
                "message": message,
                "entete": " | ".join(item.entete),
                "vu_le": now,
            }
            | (
                {
                    "format": read["famille"],
                    "lignes": read["lignes"],
                    "lignes_retenues": read["lignes_retenues"],
                    "lignes_ecartees": read["lignes_ecartees"],
                    "lignes_ecartees_par_motif": read["lignes_ecartees_par_motif"],
                    "charge_le": now if statut == "lu" else None,
                }
                if read is not None
                else {}
            )
        )
    columns = list(SourcesModel.to_schema().columns)
    validate(SourcesModel, pl.DataFrame([{c: r.get(c) for c in columns} for r in records], infer_schema_length=None))
    with writer(Path(duckdb.database)) as connection:
        upsert_sources(connection, records)
        given = [r["source_id"] for r in records]
        for moved in drop_moved_sources(connection, given):
            context.log.info(f"{moved}: moved or renamed (its bytes are read under another path); its row goes")
        for gone in drop_gone_sources(connection, given):
            context.log.info(f"{gone}: no longer in the sources, and none of its data in the warehouse; its row goes")
        if paths.prune:  # --prune: sources no longer given go, with their credits (warehouse/expected.py)
            pruned = prune_sources(connection, given)
            context.log.info(f"--prune: {pruned} source(s) no longer given removed")
        table = connection.sql("SELECT statut, count(*) AS fichiers FROM sources GROUP BY statut ORDER BY statut").pl()
        count = connection.execute("SELECT count(*) FROM sources").fetchone()[0]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": count,
            "dagster/table_name": "budget.main.sources",
            "dagster/column_schema": column_schema(SourcesModel),
            "par_statut": markdown(table),
        }
    )


def _performance_reports(database: Path) -> dict[str, dict]:
    """The read reports of the performance files (table ``indicateur_fichiers``), by source id."""
    if not database.exists():
        return {}
    with reader(database) as connection:
        exists = connection.sql(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'indicateur_fichiers'"
        ).fetchall()[0][0]
        if not exists:
            return {}
        rows = connection.sql("SELECT * FROM indicateur_fichiers").pl()
    return {r["source_id"]: r for r in rows.iter_rows(named=True)}


def _record(report: SourceReport, loaded: int | None, now: dt.datetime) -> dict:
    """The ``sources`` row of a staged report; its times are those of the read, not of this run."""
    roles = set(report.roles.values())
    read_at = dt.datetime.fromisoformat(report.lu_le) if report.lu_le else now
    return {
        "source_id": report.source_id,
        "url": report.url,
        "fichier": report.fichier,
        "sha256": report.sha256,
        "octets": report.octets,
        "lignes": report.lignes,
        "format": report.format,
        "charge_le": read_at if report.statut == "lu" else None,
        "type_fichier": report.type_fichier,
        "encodage": report.encodage,
        "feuille": report.feuille,
        "exercice": report.exercice,
        "phases": report.phases,
        "role": "+".join(sorted(roles)) or None,
        "roles": " ".join(f"{k}:{v}" for k, v in sorted(report.roles.items())),
        "statut": report.statut,
        "message": report.message,
        "lignes_retenues": report.lignes_retenues,
        "lignes_ecartees": report.lignes_ecartees if report.lignes is not None else None,
        "lignes_ecartees_par_motif": report.lignes_ecartees_par_motif,
        "lignes_chargees": loaded or 0,
        "montants_vides": report.montants_vides,
        "titres_corriges": report.titres_corriges,
        "lignes_preambule": report.lignes_preambule,
        "lignes_recodees": report.lignes_recodees,
        "controle_totaux": "; ".join(
            f"ligne {t['ligne']} ({t['libelle']}), colonne {t['colonne']!r}: total {t['attendu']} ≠ somme {t['trouve']}"
            for t in report.controle_totaux
        )
        or ("ok" if report.statut == "lu" else None),
        "entete": " | ".join(report.entete),
        "vu_le": read_at,
    }
