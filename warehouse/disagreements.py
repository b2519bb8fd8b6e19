"""Where the official sources disagree with each other: the rows of ``ecarts_sources``.

The warehouse is faithful to its sources; the sources do not always agree. Each
rule below is a function ``rule(evidence) -> frame`` returning one row per
disagreement in :data:`ECARTS_SCHEMA` (README, ``ecarts_sources``); an empty
frame when the sources agree. :data:`RULES` lists them by ``regle``: the asset
``core/ecarts_sources`` concatenates their rows and reports one WARN check per
rule, so a rule is added in one line. Amounts are euros, ``Decimal(18, 2)``;
``ecart`` = found − expected.

Sources of the rules: ``shared/data/README.md`` ("Credits"); README, "`ecarts_sources`".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

import duckdb
import polars as pl

from schemas.labels import label_key
from warehouse.credits.rules import lfi_plf_amd_mismatches, t2_ht2_mismatches, witness_differences
from warehouse.credits.staging import SourceReport
from warehouse.store import memory_limit, quote_literal

__all__ = ["ECARTS_SCHEMA", "RULES", "Evidence", "collect", "empty", "to_ecarts"]

#: Columns of ``ecarts_sources``, in order (README, "The tables").
ECARTS_SCHEMA: dict[str, pl.DataType] = {
    "regle": pl.String,
    "exercice": pl.Int16,
    "phase": pl.String,
    "type_budget": pl.String,
    "cle": pl.String,
    "valeur_attendue": pl.String,
    "valeur_trouvee": pl.String,
    "ecart": pl.Decimal(18, 2),
    "ecart_valeur": pl.Float64,
    "source_attendue": pl.String,
    "source_trouvee": pl.String,
}

#: The order ``ecarts_sources`` is written in.
ECARTS_ORDER = "regle, exercice, phase, type_budget, cle, source_trouvee, valeur_trouvee"

_LINE_KEY = ["code_programme", "code_action", "code_sous_action", "code_categorie"]


@dataclass
class Evidence:
    """What the rules read: the staged credit lines (with ``role``; a frame, or a lazy scan of the
    staging area, ``warehouse.credits.staged_lines.scan_staged_lines``) and read reports, the Parquet files
    of the nomenclature elements every file states (``warehouse.nomenclature.resolution.element_files``), and a
    read-only connection to the warehouse."""

    connection: duckdb.DuckDBPyConnection
    lines: pl.DataFrame | pl.LazyFrame | None = None
    reports: list[SourceReport] = field(default_factory=list)
    element_files: list[Path] = field(default_factory=list)

    def has(self, relation: str) -> bool:
        """Whether the warehouse holds a table or view named ``relation``."""
        return bool(
            self.connection.execute(
                "SELECT count(*) FROM (SELECT table_name FROM duckdb_tables() UNION ALL "
                "SELECT view_name FROM duckdb_views()) WHERE table_name = ?",
                [relation],
            ).fetchall()[0][0]
        )


def empty() -> pl.DataFrame:
    """An ``ecarts_sources`` frame with no row."""
    return pl.DataFrame(schema=ECARTS_SCHEMA)


def to_ecarts(frame: pl.DataFrame, regle: str) -> pl.DataFrame:
    """``frame`` in the ``ecarts_sources`` schema: missing columns null, ``regle`` set."""
    columns = [
        pl.lit(regle).alias(c)
        if c == "regle"
        else (pl.col(c) if c in frame.columns else pl.lit(None, t).alias(c)).cast(t)
        for c, t in ECARTS_SCHEMA.items()
    ]
    return frame.select(columns)


def _money_text(column: str) -> pl.Expr:
    """A ``Decimal(18, 2)`` column as text with its two decimals (``1578160545.00``)."""
    return pl.col(column).cast(pl.Decimal(18, 2)).cast(pl.String)


def _line_key(prefix: list[str] | None = None) -> pl.Expr:
    """``352-01-31``: the line's codes present, joined by ``-``, then ``/grandeur``."""
    codes = pl.concat_str([*(prefix or []), *_LINE_KEY], separator="-", ignore_nulls=True)
    return pl.concat_str([codes, pl.col("grandeur")], separator="/")


def _same_line(found: pl.DataFrame, attendu: str, trouve: str, regle: str, **extra: pl.Expr) -> pl.DataFrame:
    """Money disagreements within the lines of one file: ``attendu`` against ``trouve`` (columns of
    ``found``), the line's codes as ``cle``, the file as both sources."""
    return to_ecarts(
        found.with_columns(
            cle=_line_key(),
            valeur_attendue=_money_text(attendu),
            valeur_trouvee=_money_text(trouve),
            ecart=pl.col(trouve) - pl.col(attendu),
            source_attendue="source_id",
            source_trouvee="source_id",
            **extra,
        ),
        regle,
    )


def t2_plus_ht2(evidence: Evidence) -> pl.DataFrame:
    """Lines where T2 + HT2 ≠ the total the same file publishes (LFI 2021). cle: ``352-01-31/ae``;
    expected the published total, found T2 + HT2."""
    if evidence.lines is None:
        return empty()
    return _same_line(t2_ht2_mismatches(evidence.lines), "total", "somme", "t2_plus_ht2")


def lfi_egale_plf_plus_amd(evidence: Evidence) -> pl.DataFrame:
    """Lines where the published LFI ≠ PLF + AMD of the same line (the LFI total is rounded to
    the euro in some files). Expected PLF + AMD, found the LFI."""
    if evidence.lines is None:
        return empty()
    found = lfi_plf_amd_mismatches(evidence.lines)
    return _same_line(found, "attendu", "lfi", "lfi_egale_plf_plus_amd", phase=pl.lit("LFI"))


def temoin(evidence: Evidence) -> pl.DataFrame:
    """Programmes where a witness file states other AE or CP than the authoritative one (lines,
    for a partial witness). cle: ``382/ae`` (``372-01-62/ae``); expected the authoritative file's
    sum, found the witness's."""
    if evidence.lines is None:
        return empty()
    found = witness_differences(evidence.lines)
    parts = [
        found.filter(pl.col(f"ecart_{g}") != 0).select(
            "exercice",
            "phase",
            "type_budget",
            cle=pl.concat_str([pl.col("cle"), pl.lit(g)], separator="/"),
            valeur_attendue=_money_text(f"{g}_autorite"),
            valeur_trouvee=_money_text(f"{g}_temoin"),
            ecart=pl.col(f"ecart_{g}"),
            source_attendue="source_id_autorite",
            source_trouvee="source_id",
        )
        for g in ("ae", "cp")
    ]
    return to_ecarts(pl.concat(parts), "temoin")


def _decimal(text: object) -> Decimal | None:
    try:
        return Decimal(str(text)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None


def total_publie(evidence: Evidence) -> pl.DataFrame:
    """Total and subtotal lines a file publishes that differ from the sum of their detail lines.

    From each read report's ``controle_totaux``: one dict per mismatch, with keys
    ``ligne`` (data row of the total line), ``libelle``, ``colonne``, ``attendu``
    (the published total) and ``trouve`` (the sum of the detail lines), amounts as
    text with two decimals. cle: ``ligne 12 Total général/ae``.
    """
    rows = []
    for report in evidence.reports:
        for mismatch in report.controle_totaux:
            if not isinstance(mismatch, dict):  # a report staged by an earlier version: one text
                rows.append({"exercice": report.exercice, "cle": str(mismatch), "source": report.source_id})
                continue
            attendu, trouve = _decimal(mismatch.get("attendu")), _decimal(mismatch.get("trouve"))
            rows.append(
                {
                    "exercice": report.exercice,
                    "cle": f"ligne {mismatch.get('ligne')} {mismatch.get('libelle') or ''}".strip()
                    + f"/{mismatch.get('colonne')}",
                    "valeur_attendue": None if attendu is None else str(attendu),
                    "valeur_trouvee": None if trouve is None else str(trouve),
                    "ecart": None if attendu is None or trouve is None else trouve - attendu,
                    "source": report.source_id,
                }
            )
    if not rows:
        return empty()
    frame = pl.DataFrame(
        rows,
        schema={
            "exercice": pl.Int16,
            "cle": pl.String,
            "valeur_attendue": pl.String,
            "valeur_trouvee": pl.String,
            "ecart": pl.Decimal(18, 2),
            "source": pl.String,
        },
    )
    return to_ecarts(frame.with_columns(source_attendue="source", source_trouvee="source"), "total_publie")


def atteinte_publiee(evidence: Evidence) -> pl.DataFrame:
    """Where the RAP's published attainment disagrees with the one computed from the result, the
    target and the direction (view ``indicateur_atteinte``, ``concorde = false``). exercice: the
    year; cle: ``RAP 2024 30421``; expected the computed attainment, found the published one."""
    if not evidence.has("indicateur_atteinte"):
        return empty()
    frame = evidence.connection.sql(
        """
        SELECT annee AS exercice, document || ' ' || code_sous_indicateur AS cle,
               atteinte_calculee AS valeur_attendue, atteinte_publiee AS valeur_trouvee,
               source_id AS source_attendue, source_id AS source_trouvee
        FROM indicateur_atteinte WHERE NOT concorde
        """
    ).pl()
    return to_ecarts(frame, "atteinte_publiee")


#: The table and label column each level of the nomenclature keeps per exercice, keyed by the level's codes
#: (``warehouse.nomenclature.resolution.LEVEL_KEYS``; categories and titres: one label for all years).
_RETAINED = {
    "mission": ("missions", "libelle_mission"),
    "programme": ("programmes", "libelle_programme"),
    "action": ("actions", "libelle_action"),
    "sous_action": ("sous_actions", "libelle_sous_action"),
    "ministere": ("ministeres", "libelle_ministere"),
}


_PAIR = {"libelle": pl.String, "libelle_garde": pl.String}
#: label_key of a label, each distinct label folded once per process.
_folded = cache(label_key)


def libelle(evidence: Evidence) -> pl.DataFrame:
    """Elements to which a file gives another label than the one the warehouse keeps for that year
    (compared folded: case, accents, spaces, punctuation). cle: ``ministere 06``; expected the
    label kept (and a file giving it), found the other label and its file.

    Computed by DuckDB over the staged elements' Parquet files (``Evidence.element_files``) and the
    warehouse's tables, within :data:`LIBELLE_MEMORY_LIMIT`: the elements (millions at 10 M credit
    lines) and the labels kept never come into Python; only the distinct labels compared (folded by
    :func:`schemas.labels.label_key`, each once) and the disagreements do."""
    files = evidence.element_files
    if not files or not all(evidence.has(t) for t in ("missions", "programmes", "actions")):
        return empty()
    with memory_limit(evidence.connection, LIBELLE_MEMORY_LIMIT):
        return _libelle(evidence.connection, files)


#: DuckDB's memory limit while the rule ``libelle`` joins the elements to the labels kept: at 10 M synthetic
#: lines, 256 MB spill a little more than 512 (1.4 -> 2.0 s user) for ~265 MiB less peak RSS.
LIBELLE_MEMORY_LIMIT = "256MB"


@contextmanager
def _joined_as_written(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB's joins in the order written for the block, each built on its right side (its optimizers
    ``join_order`` and ``build_side_probe_side`` disabled), then its setting as it was."""
    before = connection.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0]
    connection.execute("SET disabled_optimizers = 'join_order,build_side_probe_side'")
    try:
        yield
    finally:
        connection.execute(f"SET disabled_optimizers = {quote_literal(before)}")


def _libelle(connection: duckdb.DuckDBPyConnection, files: list[Path]) -> pl.DataFrame:
    from warehouse.nomenclature.resolution import LEVEL_KEYS

    listed = ", ".join(quote_literal(f) for f in files)
    frames = []
    for niveau, (table, label) in _RETAINED.items():
        keys = LEVEL_KEYS[niveau]
        codes = ", ".join(keys)
        # Joined on the codes themselves (``code``, their text joined by ``-``, is made only where used).
        joined = f"""
            SELECT s.exercice, s.phase, concat_ws('-', {", ".join(f"s.{k}" for k in keys)}) AS code, s.libelle,
                   s.source_id, r.libelle AS libelle_garde
            FROM (
                SELECT exercice::SMALLINT AS exercice, phase, {codes}, libelle, source_id
                FROM read_parquet([{listed}], union_by_name = true)
                WHERE niveau = '{niveau}' AND libelle IS NOT NULL AND {" AND ".join(f"{k} IS NOT NULL" for k in keys)}
            ) s JOIN (
                SELECT exercice::SMALLINT AS exercice, {codes}, {label} AS libelle
                FROM {table} WHERE {label} IS NOT NULL
            ) r USING (exercice, {codes})
        """
        # The pairs of labels that differ as published, each folded once by label_key (Python): the pairs
        # that still differ folded are the disagreements; most elements give the label kept, spelled alike.
        # The labels kept (at most one per code) are the join's build side, the elements (one per code, phase
        # and source) stream past them: chosen by its estimates, DuckDB built on the elements (1 M synthetic
        # lines: 1.9 M elements against 0.9 M sous-actions kept, 0.62 s user and spilling, against 0.31).
        with _joined_as_written(connection):
            pairs = connection.sql(
                f"SELECT DISTINCT libelle, libelle_garde FROM ({joined}) WHERE libelle <> libelle_garde"
            ).fetchall()
        differing = [(found, kept) for found, kept in pairs if _folded(found) != _folded(kept)]
        if not differing:
            continue
        connection.register("paires_differentes", pl.DataFrame(differing, orient="row", schema=_PAIR).to_arrow())
        try:
            frame = connection.sql(
                f"""
                WITH compares AS NOT MATERIALIZED ({joined}),
                autres AS (SELECT * FROM compares JOIN paires_differentes USING (libelle, libelle_garde)),
                donnant AS (
                    SELECT exercice, code, min(source_id) AS source_attendue FROM compares
                    WHERE (exercice, code) IN (SELECT exercice, code FROM autres)
                      AND (libelle, libelle_garde) NOT IN (SELECT (libelle, libelle_garde) FROM paires_differentes)
                    GROUP BY exercice, code
                )
                SELECT DISTINCT exercice, phase, '{niveau} ' || code AS cle, libelle_garde AS valeur_attendue,
                       libelle AS valeur_trouvee, source_attendue, source_id AS source_trouvee
                FROM autres LEFT JOIN donnant USING (exercice, code)
                """
            ).pl()
        finally:
            connection.unregister("paires_differentes")
        frames.append(frame)
    if not frames:
        return empty()
    return to_ecarts(pl.concat(frames), "libelle")


def code_inconnu(evidence: Evidence) -> pl.DataFrame:
    """Codes of ``credits`` that the nomenclature does not label: (exercice, programme, action)
    that no nomenclature of that year labels (cle ``352-01``), and catégories and titres with no
    label in ``categories`` / ``titres`` (cle ``categorie 31``, ``titre 3``). Found the code,
    nothing expected; source_trouvee the credit file."""
    frames = []
    if evidence.has("actions"):
        frames.append(
            evidence.connection.sql(
                """
                SELECT DISTINCT c.exercice, c.phase, c.type_budget, c.code_programme || '-' || c.code_action AS cle,
                       c.code_programme || '-' || c.code_action AS valeur_trouvee, c.source_id AS source_trouvee
                FROM credits c
                WHERE c.code_action IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM actions a WHERE a.exercice = c.exercice AND a.code_programme = c.code_programme
                      AND a.code_action = c.code_action AND a.libelle_action IS NOT NULL)
                """
            ).pl()
        )
    levels = [(n, table) for n, table in (("categorie", "categories"), ("titre", "titres")) if evidence.has(table)]
    if levels:
        # One scan of credits for both levels: its few distinct (scope, catégorie, titre, source), then each level's
        # codes looked up among them (the same rows as from credits itself, at a fraction of a scan each).
        evidence.connection.register(
            "codes_credits",
            evidence.connection.sql(
                "SELECT DISTINCT exercice, phase, type_budget, code_categorie, code_titre, source_id FROM credits"
            ).to_arrow_table(),
        )
        try:
            for niveau, table in levels:
                frames.append(
                    evidence.connection.sql(
                        f"""
                        SELECT DISTINCT c.exercice, c.phase, c.type_budget, '{niveau} ' || c.code_{niveau} AS cle,
                               c.code_{niveau} AS valeur_trouvee, c.source_id AS source_trouvee
                        FROM codes_credits c
                        WHERE c.code_{niveau} IS NOT NULL AND c.code_{niveau} NOT IN (
                            SELECT code_{niveau} FROM {table} WHERE libelle_{niveau} IS NOT NULL)
                        """
                    ).pl()
                )
        finally:
            evidence.connection.unregister("codes_credits")
    return to_ecarts(pl.concat([to_ecarts(f, "code_inconnu") for f in frames]), "code_inconnu") if frames else empty()


def declaration(evidence: Evidence) -> pl.DataFrame:
    """Figures a report's text states (RAP, PAP, ``commentFP`` narratives) that disagree with the
    data at the precision stated (table ``rapprochements``, ``statut = 'discorde'``). cle:
    ``RAP 2021 352 ae``; expected the warehouse's figure, found the text's."""
    from warehouse.documents.ecarts import declaration_discrepancies

    if not evidence.has("rapprochements"):
        return empty()
    return declaration_discrepancies(evidence.connection.sql("SELECT * FROM rapprochements").pl())


#: The rules, by ``regle``: each gives the disagreements it finds as ``ecarts_sources`` rows.
RULES: dict[str, Callable[[Evidence], pl.DataFrame]] = {
    "t2_plus_ht2": t2_plus_ht2,
    "lfi_egale_plf_plus_amd": lfi_egale_plf_plus_amd,
    "temoin": temoin,
    "total_publie": total_publie,
    "atteinte_publiee": atteinte_publiee,
    "libelle": libelle,
    "code_inconnu": code_inconnu,
    "declaration": declaration,
}


def collect(evidence: Evidence, rules: dict[str, Callable[[Evidence], pl.DataFrame]] = RULES) -> pl.DataFrame:
    """Every rule's rows, in one ``ecarts_sources`` frame (sorted)."""
    frames = [to_ecarts(rule(evidence), regle) for regle, rule in rules.items()]
    return pl.concat(frames).sort("regle", "exercice", "phase", "type_budget", "cle", "source_trouvee", nulls_last=True)
