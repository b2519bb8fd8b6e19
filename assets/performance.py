"""``core/indicateurs`` and the other performance tables: objectives, indicators and their values (PAP, RAP).

Sources: the performance files of the Direction du budget (``PLF_2019_PAP.csv``, PAP 2019;
``Performance_Depense.csv``, RAP 2024, dataset ``performance-de-la-depense``), recognised
by their header with the column maps of ``schemas/families/performance.toml``. Tables and
vocabulary and rules: README, "Performance indicators".
"""

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.check_groups import check, grouped_checks
from assets.credits import DUCKDB_WRITER_POOL
from assets.metadata import check_result, column_schema, markdown
from assets.resources import WarehousePaths
from assets.sources import OTHER_FILES
from assets.versions import code_version
from schemas.catalogue import CatalogueEntry
from schemas.performance.families import is_performance_header
from schemas.performance.models import (
    INDICATEUR_KEY,
    VALEUR_KEY,
    IndicateurAtteintesPublieesModel,
    IndicateurCorrespondancesModel,
    IndicateurFichiersModel,
    IndicateursModel,
    IndicateurValeursModel,
    UnitesModel,
)
from schemas.validation import ValidationFailed, validate
from warehouse.ahead import ahead, taken
from warehouse.credits.files import SourceReadError
from warehouse.credits.roles import CopySetAside, set_aside_copies
from warehouse.credits.staging import write_reports
from warehouse.expected import is_absent
from warehouse.performance.files import (
    ATTEINTE_SCHEMA,
    INDICATEUR_SCHEMA,
    VALEUR_SCHEMA,
    PerformanceRead,
    read_performance_table,
    recognise_performance,
)
from warehouse.performance.tables import (
    FICHIER_SCHEMA,
    PERFORMANCE_TABLES,
    FileFailure,
    PerformanceTables,
    assemble_checked,
    previous_rows,
    write_performance,
)
from warehouse.reading.tables import TableReadError
from warehouse.sources import InventoryItem
from warehouse.store import duplicate_keys, reader, writer

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
GROUP = "performance"
VIEW = "indicateur_atteinte"
_SOURCES = dg.AssetKey(["raw", "sources"])

#: Each performance table with its Pandera model (for ``dagster/column_schema`` and the checks).
MODELS = {
    "indicateurs": IndicateursModel,
    "indicateur_valeurs": IndicateurValeursModel,
    "indicateur_atteintes_publiees": IndicateurAtteintesPublieesModel,
    "indicateur_correspondances": IndicateurCorrespondancesModel,
    "unites": UnitesModel,
    "indicateur_fichiers": IndicateurFichiersModel,
}
_SCHEMAS = {
    "indicateurs": INDICATEUR_SCHEMA,
    "indicateur_valeurs": VALEUR_SCHEMA,
    "indicateur_atteintes_publiees": ATTEINTE_SCHEMA,
    "indicateur_fichiers": FICHIER_SCHEMA,
}

_DESCRIPTIONS = {
    "indicateurs": (
        "The `indicateurs` table of `budget.duckdb` (README, 'The tables'): one row per sub-indicator of each "
        "performance document (`PAP 2019`, `RAP 2024`…), with its objective, indicator and unit. Codes "
        "normalised (`P352-1-1` for a programme, `MTR-1-1` for a mission; the source's spelling in "
        "`code_indicateur_source`); `niveau = 'mission'` for the indicators a mission states itself (no "
        "programme code). `sens_attendu`: the direction of improvement where the document reveals it."
    ),
    "indicateur_valeurs": (
        "The `indicateur_valeurs` table (README, 'The tables'): every value cell of every sub-indicator, one row per "
        "year and type (`realisation`, `prevision`, `prevision_actualisee`, `cible`), taken from the column "
        "header (`Prévision 2018 PAP 2019` → actualised forecast of 2018). `valeur` only where the cell states "
        "one number; bounds and ranges in `valeur_min`/`valeur_max`; trends in `sens`; `statut` says what the "
        "cell holds; `valeur_brute` keeps it exactly as published. No number is ever invented."
    ),
    "indicateur_atteintes_publiees": (
        "Whether each target was met, as the RAP publishes it beside the values (`Atteinte de la cible "
        "2024`: `cible atteinte`, `amélioration`, `absence amélioration`…), normalised in `atteinte`."
    ),
    "indicateur_correspondances": (
        "Links between the sub-indicators of different documents: by their numeric id where both carry "
        "it (`methode = 'identifiant'`), else by label similarity within the same programme or mission "
        "(`libelle`, rapidfuzz, score ≥ 90, one to one). Every link states its method and its label "
        "similarity score, and whether both sides carry the same `code_indicateur` (a code can name "
        "different indicators in different vintages)."
    ),
    "unites": (
        "The units of the sub-indicators: trimmed, case variants merged (`Nombre`/`nombre`), each with the "
        "number of sub-indicators using it and the spellings merged into it."
    ),
    "indicateur_fichiers": (
        "One read report per performance file: the document its value columns say (`type_document`, "
        "`millesime`, and `document_confirme_par` the name or catalogue that agree), each value column as "
        "published → (annee, type_valeur), rows read, kept and set aside by reason (`sans_indicateur`: PAP "
        "programmes without indicators), value cells read = values loaded + cells set aside by reason; `erreur` "
        "with a message naming the file, the row and the column (its last good rows stay in the tables)."
    ),
}


def _specs() -> list[dg.AssetSpec]:
    specs = [
        dg.AssetSpec(
            ["core", table],
            deps=[_SOURCES, OTHER_FILES],
            code_version=code_version(__file__),
            group_name=GROUP,
            kinds={"polars", "duckdb"},
            description=_DESCRIPTIONS[table],
        )
        for table in PERFORMANCE_TABLES
    ]
    specs.append(
        dg.AssetSpec(
            ["core", VIEW],
            deps=[_SOURCES, OTHER_FILES],
            code_version=code_version(__file__),
            group_name=GROUP,
            kinds={"duckdb"},
            description=(
                "The view `indicateur_atteinte`: for each sub-indicator and year with both a numeric result and "
                "a numeric target (number, bound or range) in the same document, whether the target was met "
                "(`atteinte_calculee`: `atteinte`, `non_atteinte`, `indeterminee` where the direction of a "
                "number target is unknown), beside the attainment the RAP publishes and whether they agree."
            ),
        )
    )
    return specs


def _catalogue_entry(item: InventoryItem) -> CatalogueEntry | None:
    """The catalogue entry that speaks for the file: of the same bytes, or the one it was downloaded for."""
    entry = item.source.entree
    if entry is None:
        return None
    if entry.sha256 == item.source.sha256 or (entry.url is not None and entry.url == item.source.url):
        return entry
    return None


@dataclass(frozen=True)
class _FileRead:
    """What reading one performance file gave: its family and its read, or why it was not read."""

    family: str | None = None
    read: PerformanceRead | None = None
    unreadable: TableReadError | OSError | None = None  # not read (a CSV's whole read refused; ``family``: its head's)
    refused: SourceReadError | None = None  # recognised, but a cell or column breaks the family's rules


def _to_read(item: InventoryItem) -> bool:
    """Whether :func:`_read_all` reads the file of ``item`` (:func:`_read_file`): a file there, without error,
    and of a performance header if a CSV (a CSV has one table, whose header the inventory read)."""
    if item.error or not item.source.chemin.is_file():
        return False
    return item.type_fichier != "csv" or is_performance_header(item.entete)


def _copies(sources: list[InventoryItem]) -> list[CopySetAside]:
    """The performance files of ``sources`` set aside unread as byte-identical copies of another (a browser's
    ``PLF_2019_PAP (1).csv``), by the credits' rule (:func:`warehouse.credits.roles.set_aside_copies`): read
    twice, their rows were twice in ``indicateurs`` and the step failed on its keys. CSV files of a performance
    header (those the inventory recognised as such). Run once per build (:func:`_read_step`); the step records
    them in its staged reports (``staging/performance/rapport.json``), which ``core/sources`` reads."""
    files = [i for i in sources if i.type_fichier == "csv" and _to_read(i) and is_performance_header(i.entete)]
    return set_aside_copies(files)[1] if len(files) > 1 else []


def _read_file(item: InventoryItem) -> _FileRead | None:
    """Recognise and read the performance file of ``item``, without its models (they run on the whole
    tables: ``assemble_checked``); None when it holds no performance table. Logs nothing, writes nothing:
    the build may do it ahead, during the credits (:func:`read_ahead`)."""
    try:
        found = recognise_performance(item.source.chemin, item.source.fichier)
    except (TableReadError, OSError) as exc:  # a CSV whose head was recognised keeps its family
        return _FileRead(family=getattr(exc, "famille", None), unreadable=exc)
    if found is None:
        return None
    match, table = found
    try:
        read = read_performance_table(table, match, item.source.source_id, _catalogue_entry(item), validated=False)
    except SourceReadError as exc:
        return _FileRead(family=match.family.id, refused=exc)
    return _FileRead(family=match.family.id, read=read)


@dataclass(frozen=True)
class _StepRead:
    """What ``performance_tables`` reads before it opens the warehouse: each file's read (by its item's
    ``repr``), and the tables assembled from them when that was done ahead and needed no rows of the
    warehouse (no file failed)."""

    files: dict[str, _FileRead | None]
    copies: list[CopySetAside]
    tables: PerformanceTables | None = None


class _NeedsWarehouse(Exception):
    """Assembling the tables needs the last good rows of a file that broke the models: done in the step."""


def _nothing_carried(source_ids: list[str]) -> None:
    if source_ids:
        raise _NeedsWarehouse
    return None  # as previous_rows of no file


def _read_step(sources: list[InventoryItem], assemble: bool) -> _StepRead:
    """Read every performance file of ``sources`` as :func:`_read_all` asks for them; with ``assemble``, also
    the tables (``assemble_checked``) when no file is in error, so none needs the rows the warehouse keeps
    (raises :class:`_NeedsWarehouse` when a file breaks the models). Logs nothing, writes nothing."""
    files: dict[str, _FileRead | None] = {}
    clean = True
    set_aside = _copies(sources)
    copies = {repr(c.item) for c in set_aside}
    for item in sources:
        if item.error and (item.kind == "performance" or item.holds("performance")):
            clean = False  # a failure of the step
        if not _to_read(item) or repr(item) in copies:
            continue
        done = files[repr(item)] = _read_file(item)
        if done is not None and (
            done.refused is not None or done.unreadable is not None and item.type_fichier == "csv"
        ):
            clean = False
    if not (assemble and clean):
        return _StepRead(files, set_aside)
    reads = [done.read for done in files.values() if done is not None and done.read is not None]
    tables, _ = assemble_checked(reads, [], _nothing_carried)
    return _StepRead(files, set_aside, tables)


def _step_key(sources: list[InventoryItem]) -> tuple:
    return ("performance", repr(sources))  # every file, its bytes (sha256), its catalogue entry, its recognition


def read_ahead(sources: list[InventoryItem]) -> None:
    """Queue the reads of the performance files of ``sources`` and the assembly of the tables that
    ``performance_tables`` makes (:mod:`warehouse.ahead`): the step takes them, the same as it would make them."""
    ahead(_step_key(sources), partial(_read_step, sources, True))


def _read_all(
    context: dg.AssetExecutionContext, sources: list[InventoryItem], step: _StepRead
) -> tuple[list[PerformanceRead], list[FileFailure]]:
    """The reads and the failures of the performance files of ``sources``, from ``step`` (:func:`_read_step`),
    each failure logged."""
    reads, failures = [], []
    files = step.files
    copies = {repr(c.item) for c in step.copies}  # not read: `sources` says them (statut 'doublon')
    for item in sources:
        if item.error and item.kind == "performance":  # expected, not got or not readable: kept
            statut = "absent" if is_absent(item) else "erreur"
            failures.append(
                FileFailure(
                    item.source.source_id,
                    item.source.fichier,
                    item.famille or "inconnue",  # unreadable: its family was never seen
                    item.error_message,
                    statut,
                )
            )
            continue
        if item.error or not item.source.chemin.is_file():
            if item.error and item.holds("performance"):  # named a performance file, cannot be read at all
                message = item.error_message
                context.log.error(f"not loaded: {message}")
                failures.append(FileFailure(item.source.source_id, item.source.fichier, "inconnue", message))
            continue
        if not _to_read(item) or repr(item) in copies:
            continue  # a CSV has one table, whose header the inventory read as this step would: not read again
        done = files[repr(item)]
        if done is None:
            continue
        if done.unreadable is not None:
            exc = done.unreadable
            if item.type_fichier == "csv":  # its head has a performance header: its whole read was refused
                message = str(exc) if isinstance(exc, TableReadError) else f"{item.source.fichier}: {exc}"
                context.log.error(f"not loaded: {message}")
                failures.append(
                    FileFailure(item.source.source_id, item.source.fichier, done.family or "inconnue", message)
                )
            continue
        if done.refused is not None:
            context.log.error(f"not loaded: {done.refused}")
            failures.append(FileFailure(item.source.source_id, item.source.fichier, done.family, str(done.refused)))
            continue
        read = done.read
        context.log.info(
            f"{item.source.fichier}: {read.document} (by {read.document_confirme_par}), {read.kept} sub-indicators, "
            f"{read.cells_read} cells read = {read.values_loaded} values loaded + "
            f"{sum(read.cells_set_aside.values())} set aside {read.cells_set_aside or ''}"
        )
        reads.append(read)
    return reads, failures


@dg.multi_asset(
    name="performance_tables",
    specs=_specs(),
    ins={"sources": dg.AssetIn(key=_SOURCES)},
    pool=DUCKDB_WRITER_POOL,
)
def performance_tables(
    context: dg.AssetExecutionContext, paths: WarehousePaths, duckdb: DuckDBResource, sources: list[InventoryItem]
) -> Iterator[dg.MaterializeResult]:
    """Read every performance file and replace the performance tables and the view in one transaction; record the
    copies set aside in ``staging/performance/rapport.json`` (``core/sources`` takes them, statut 'doublon')."""
    step = taken(_step_key(sources), partial(_read_step, sources, False))
    reads, failures = _read_all(context, sources, step)
    if not reads and not failures:
        context.log.warning("no performance file (PAP, RAP) in the sources: the performance tables are empty")
    with writer(Path(duckdb.database)) as connection:
        known = {f.source_id for f in failures}
        if step.tables is not None and not failures:  # assembled ahead: no file failed, nothing carried
            tables = step.tables
        else:
            tables, failures = assemble_checked(reads, failures, lambda ids: previous_rows(connection, ids))
        for failure in failures:
            if failure.source_id not in known:  # its rows break the models: its last good rows kept
                context.log.error(f"not loaded: {failure.message}")
        written = write_performance(connection, tables)
        view = connection.sql(f"SELECT * FROM {VIEW}").pl()
        view_columns = connection.execute(f"DESCRIBE {VIEW}").fetchall()
    write_reports(paths.staging_performance, [c.report() for c in step.copies])  # [] where none: none left from before
    frames = tables.frames()
    for table, rows in written.items():
        frame = frames[table]
        metadata = {
            "dagster/row_count": rows,
            "dagster/table_name": f"budget.main.{table}",
            "dagster/column_schema": column_schema(MODELS[table]),
            "apercu": markdown(frame.head(10)),
        }
        if "document" in frame.columns:
            metadata["lignes_par_document"] = markdown(frame.group_by("document").len("lignes").sort("document"))
        if table == "indicateur_valeurs":
            metadata["statuts"] = markdown(frame.group_by("statut").len("lignes").sort("lignes", descending=True))
        if table == "indicateur_fichiers":
            metadata["erreurs"] = "\n".join(f.message for f in failures) or "none"
        yield dg.MaterializeResult(asset_key=["core", table], metadata=metadata)
    yield dg.MaterializeResult(
        asset_key=["core", VIEW],
        metadata={
            "dagster/row_count": view.height,
            "dagster/table_name": f"budget.main.{VIEW}",
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name=name, type=str(kind)) for name, kind, *_ in view_columns]
            ),
            "atteintes": markdown(
                view.group_by("atteinte_calculee", "atteinte_publiee_normalisee", "concorde")
                .len("lignes")
                .sort("atteinte_calculee", "atteinte_publiee_normalisee", nulls_last=True)
            ),
        },
    )


# --- checks -------------------------------------------------------------------------------------


def _query(duckdb: DuckDBResource, sql: str) -> pl.DataFrame:
    with reader(Path(duckdb.database)) as connection:
        return connection.sql(sql).pl()


def _null_safe(left: str, right: str, columns: list[str]) -> str:
    return " AND ".join(f"{left}.{c} IS NOT DISTINCT FROM {right}.{c}" for c in columns)


@check(
    ["core", "indicateur_fichiers"],
    description="Every performance file of a known family was read; else the error names the file, row and column.",
)
def every_performance_file_readable(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    failed = _query(duckdb, "SELECT fichier, message FROM indicateur_fichiers WHERE statut = 'erreur' ORDER BY fichier")
    return check_result(failed, ERROR)


@check(
    ["core", "indicateur_fichiers"],
    description="For every performance file read: data rows = rows kept + rows set aside (by reason), and every "
    "kept row is a row of `indicateurs`.",
)
def performance_line_accounting_balances(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    broken = _query(
        duckdb,
        """
        SELECT f.fichier, f.lignes, f.lignes_retenues, f.lignes_ecartees, f.lignes_ecartees_par_motif,
               (SELECT count(*) FROM indicateurs i WHERE i.source_id = f.source_id) AS lignes_chargees
        FROM indicateur_fichiers f
        WHERE f.statut = 'lu' AND (f.lignes <> f.lignes_retenues + f.lignes_ecartees
           OR f.lignes_retenues <> (SELECT count(*) FROM indicateurs i WHERE i.source_id = f.source_id))
        ORDER BY f.fichier
        """,
    )
    return check_result(broken, ERROR)


@check(
    ["core", "indicateur_fichiers"],
    description="For every performance file read, its value cells balance: cells read = data rows × value and "
    "attainment columns = values loaded + cells set aside (the sum of the reasons), and the values loaded are "
    "the file's rows in `indicateur_valeurs` and `indicateur_atteintes_publiees`.",
)
def performance_cell_accounting_balances(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    broken = _query(
        duckdb,
        r"""
        WITH chargees AS (
            SELECT source_id, count(*) AS n FROM (
                SELECT source_id FROM indicateur_valeurs UNION ALL SELECT source_id FROM indicateur_atteintes_publiees
            ) GROUP BY source_id
        ), comptes AS (
            SELECT f.fichier, f.lignes, f.colonnes_valeurs, f.cellules_lues, f.valeurs_chargees, f.cellules_ecartees,
                   f.cellules_ecartees_par_motif, coalesce(c.n, 0) AS valeurs_dans_les_tables,
                   coalesce(list_sum(list_transform(
                       regexp_extract_all(coalesce(f.cellules_ecartees_par_motif, ''), ': (\d+)', 1),
                       lambda x: x::BIGINT)), 0) AS somme_des_motifs
            FROM indicateur_fichiers f LEFT JOIN chargees c USING (source_id)
            WHERE f.statut = 'lu'
        )
        SELECT * FROM comptes
        WHERE cellules_lues IS DISTINCT FROM lignes * colonnes_valeurs
           OR cellules_lues IS DISTINCT FROM valeurs_chargees + cellules_ecartees
           OR cellules_ecartees IS DISTINCT FROM somme_des_motifs
           OR valeurs_chargees IS DISTINCT FROM valeurs_dans_les_tables
        ORDER BY fichier
        """,
    )
    return check_result(broken, ERROR)


@check(
    ["core", "indicateur_valeurs"],
    description="Each value row's sub-indicator exists in `indicateurs` (same document, niveau, mission, "
    "programme, indicator and sub-indicator).",
)
def value_indicator_exists(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    columns = [*INDICATEUR_KEY, "code_indicateur"]
    orphans = _query(
        duckdb,
        f"""
        SELECT v.{", v.".join(columns)}, count(*) AS valeurs
        FROM indicateur_valeurs v
        WHERE NOT EXISTS (SELECT 1 FROM indicateurs i WHERE {_null_safe("i", "v", columns)})
        GROUP BY ALL ORDER BY ALL
        """,
    )
    return check_result(orphans, ERROR)


@check(
    ["core", "indicateur_valeurs"],
    blocking=True,
    description="No duplicate (document, niveau, code_mission, code_programme, code_sous_indicateur, annee, "
    "type_valeur) in `indicateur_valeurs`.",
)
def indicator_value_key_unique(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with reader(Path(duckdb.database)) as connection:
        return check_result(duplicate_keys(connection, "indicateur_valeurs", list(VALEUR_KEY)), ERROR)


@check(
    ["core", "indicateurs"],
    description="One row per sub-indicator of each document: no duplicate (document, niveau, code_mission, "
    "code_programme, code_sous_indicateur) in `indicateurs`.",
)
def indicator_key_unique(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with reader(Path(duckdb.database)) as connection:
        return check_result(duplicate_keys(connection, "indicateurs", list(INDICATEUR_KEY)), ERROR)


@check(
    ["core", "unites"],
    description="Units are normalised: trimmed, no two differing only by case, each unit of `indicateurs` listed "
    "in `unites` with its count of sub-indicators.",
)
def units_normalised(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    problems = _query(
        duckdb,
        """
        WITH comptes AS (SELECT unite, count(*) AS n FROM indicateurs WHERE unite IS NOT NULL GROUP BY unite)
        SELECT coalesce(c.unite, u.unite) AS unite, c.n AS dans_indicateurs, u.nb_sous_indicateurs AS dans_unites,
               'count differs or unit missing' AS probleme
        FROM comptes c FULL JOIN unites u ON c.unite = u.unite
        WHERE c.n IS DISTINCT FROM u.nb_sous_indicateurs
        UNION ALL
        SELECT unite, NULL, NULL, 'not trimmed' FROM unites WHERE unite <> trim(regexp_replace(unite, '\\s+', ' ', 'g'))
        UNION ALL
        SELECT string_agg(unite, ' | ' ORDER BY unite), NULL, NULL, 'case variants not merged'
        FROM unites GROUP BY lower(unite) HAVING count(*) > 1
        ORDER BY 1
        """,
    )
    return check_result(problems, ERROR)


@check(
    ["core", "indicateurs"],
    description="Every performance table passes its Pandera model (codes, vocabulary of `type_valeur`, "
    "`statut`, `comparateur`, `sens`, numbers consistent with the statut, unique keys).",
)
def performance_tables_match_models(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    failures = []
    counts = {}
    with reader(Path(duckdb.database)) as connection:
        for table, model in MODELS.items():
            frame = connection.sql(f"SELECT * FROM {table}").pl()
            schema = _SCHEMAS.get(table)
            if schema is not None:
                frame = frame.cast(schema)
            elif table == "unites":
                frame = frame.cast({"nb_variantes": pl.Int32})
            counts[table] = frame.height
            try:
                validate(model, frame)
            except ValidationFailed as exc:
                failures.append(exc.failures.with_columns(table=pl.lit(table)))
    offending = pl.concat(failures) if failures else pl.DataFrame()
    return check_result(offending, ERROR, **{f"lignes_{t}": n for t, n in counts.items()})


PERFORMANCE_ASSETS = [performance_tables]
PERFORMANCE_CHECKS = [
    grouped_checks(
        "performance_checks",
        [
            every_performance_file_readable,
            performance_line_accounting_balances,
            performance_cell_accounting_balances,
            value_indicator_exists,
            indicator_value_key_unique,
            indicator_key_unique,
            units_normalised,
            performance_tables_match_models,
        ],
    )
]
