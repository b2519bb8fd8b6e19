"""From documents to the tables ``documents``, ``declarations``, ``rapprochements`` (README, "The tables").

Rules (issue 9):

- a credit declaration is compared with ``credits`` of its programme, exercice and phase at the
  precision the text states: ``10,6 M€`` (± 50 000) agrees with 10 550 000 ≤ x < 10 650 000. The
  phase is the one the text names, else the latest voted phase the warehouse holds for that
  exercice (:data:`VOTED_PHASES`: LFI, else PLF), named in the row. ``titre2`` is compared with the
  CP of titre 2 (AE = CP for personnel credits). No data for that phase: ``sans_donnee``, with the
  nearest phase the warehouse has (:data:`NEAREST_PHASES`) shown in ``valeur_donnees`` /
  ``phase_donnees`` for information;
- a count linked to an indicator is compared with the realisation of the same year in the
  performance files (a sub-indicator of the programme, linked by label, see
  :mod:`warehouse.documents.linking`), where the cell states one number;
- ``statut``: ``concorde``, ``discorde`` (``ecart`` = declared − data) or ``sans_donnee``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from warehouse.documents.extraction import Figure, extract_figures, indicator_list
from warehouse.documents.linking import Candidate, link
from warehouse.documents.texts import Document

__all__ = [
    "DECLARATION_SCHEMA",
    "DOCUMENT_SCHEMA",
    "NEAREST_PHASES",
    "RAPPROCHEMENT_SCHEMA",
    "VOTED_PHASES",
    "DocumentTables",
    "build_document_tables",
    "reconcile_credits",
]

#: The voted phases, latest first: a figure whose text names no phase is compared with the first held.
VOTED_PHASES = ("LFI", "PLF")
#: For a named phase the warehouse lacks, the phases shown instead for information, nearest first.
NEAREST_PHASES = {
    "LFI": ("PLF", "LFR", "EXEC"),
    "PLF": ("LFI", "LFR", "EXEC"),
    "LFR": ("LFI", "PLF", "EXEC"),
    "EXEC": ("LFR", "LFI", "PLF"),
    None: ("EXEC", "LFR", "LFI", "PLF"),
}
_MONEY = pl.Decimal(18, 2)
_CENT = Decimal("0.01")

DOCUMENT_SCHEMA = {
    "document": pl.String,
    "type_document": pl.String,
    "exercice": pl.Int16,
    "code_programme": pl.String,
    "libelle_programme": pl.String,
    "responsable": pl.String,
    "source_id": pl.String,
    "source_ligne": pl.Int32,
    "format": pl.String,
    "texte": pl.String,
    "nb_declarations": pl.Int32,
}
DECLARATION_SCHEMA = {
    "document": pl.String,
    "code_programme": pl.String,
    "type_declaration": pl.String,
    "exercice": pl.Int16,
    "phase": pl.String,
    "grandeur": pl.String,
    "valeur": _MONEY,
    "unite": pl.String,
    "precision": pl.Decimal(18, 3),
    "texte": pl.String,
    "debut": pl.Int32,
    "fin": pl.Int32,
    "code_sous_indicateur": pl.String,
    "document_indicateur": pl.String,
    "libelle_indicateur": pl.String,
    "score": pl.Float64,
    "source_id": pl.String,
}
RAPPROCHEMENT_SCHEMA = {
    "document": pl.String,
    "code_programme": pl.String,
    "exercice": pl.Int16,
    "phase": pl.String,
    "grandeur": pl.String,
    "valeur_declaree": _MONEY,
    "valeur_donnees": _MONEY,
    "phase_donnees": pl.String,
    "ecart": _MONEY,
    "statut": pl.String,
    "code_sous_indicateur": pl.String,
    "document_donnees": pl.String,
    "precision": pl.Decimal(18, 3),
    "debut": pl.Int32,
    "source_id": pl.String,
    "source_donnees": pl.String,
}


@dataclass
class DocumentTables:
    """The three tables, and the rows a RAP/PAP text adds to ``indicateurs`` / ``indicateur_valeurs``."""

    documents: pl.DataFrame
    declarations: pl.DataFrame
    rapprochements: pl.DataFrame
    indicateurs: pl.DataFrame
    indicateur_valeurs: pl.DataFrame


def _money(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(_CENT, rounding=ROUND_HALF_UP)


def _is_count_unit(unite: str | None) -> bool:
    return unite is None or unite.strip().lower().startswith(("nb", "nombre"))


class _Data:
    """The warehouse's figures to compare with: credits per (exercice, phase, programme), realisations."""

    def __init__(self, credits: pl.DataFrame, sub_indicators: pl.DataFrame, realisations: pl.DataFrame) -> None:
        self.credits = {(r["exercice"], r["phase"], r["code_programme"]): r for r in credits.iter_rows(named=True)}
        self.phases = {(exercice, phase) for exercice, phase, _ in self.credits}
        self.sub_indicators = sub_indicators
        self.by_programme: dict[str, list[dict]] | None = None
        self.realisations = {}
        self.with_year = {}
        for r in realisations.iter_rows(named=True):
            self.realisations[(r["document"], r["code_sous_indicateur"], r["annee"])] = r
            self.with_year.setdefault((r["code_programme"], r["annee"]), set()).add(
                (r["document"], r["code_sous_indicateur"])
            )

    def credit(self, exercice: int, phase: str, programme: str, grandeur: str) -> tuple[Decimal | None, str | None]:
        row = self.credits.get((exercice, phase, programme))
        if row is None:
            return None, None
        value = row[grandeur]
        return value, row["source_id"]

    def candidates(self, programme: str, annee: int) -> list[Candidate]:
        """Count sub-indicators of ``programme`` with a realisation for ``annee``, the latest document's."""
        held = self.with_year.get((programme, annee), set())
        if self.by_programme is None:  # the sub-indicators of each programme, the latest document's first
            self.by_programme = {}
            for row in self.sub_indicators.sort("document", descending=True, maintain_order=True).iter_rows(named=True):
                self.by_programme.setdefault(row["code_programme"], []).append(row)
        seen, found = set(), []
        for row in self.by_programme.get(programme, []):
            key = (row["document"], row["code_sous_indicateur"])
            if key not in held or row["code_sous_indicateur"] in seen or not _is_count_unit(row["unite"]):
                continue
            seen.add(row["code_sous_indicateur"])
            found.append(
                Candidate((row["document"], row["code_indicateur"], row["code_sous_indicateur"]), row["libelle"])
            )
        return found


def _compare(declared: Decimal, precision: Decimal, data: Decimal | None) -> tuple[str, Decimal | None]:
    if data is None:
        return "sans_donnee", None
    ecart = declared - data
    inside = declared - precision <= data < declared + precision
    return ("concorde" if inside else "discorde"), ecart


def _credit_rows(doc: Document, figure: Figure, data: _Data | None) -> tuple[list[dict], list[dict]]:
    """The declarations of a credit figure, one per grandeur, and their rapprochements (none when ``data``
    is None: :func:`reconcile_credits` makes them from the declarations)."""
    declarations, rapprochements = [], []
    for grandeur in figure.grandeurs:
        declaration = {
            "document": doc.document,
            "code_programme": doc.code_programme,
            "exercice": figure.exercice,
            "type_declaration": "credits",
            "phase": figure.phase,
            "grandeur": grandeur,
            "valeur": figure.valeur,
            "unite": "€",
            "precision": figure.precision,
            "texte": figure.texte,
            "debut": figure.debut,
            "fin": figure.fin,
            "source_id": doc.source_id,
        }
        declarations.append(declaration)
        if data is not None:
            rapprochements.append(_credit_rapprochement(declaration, data))
    return declarations, rapprochements


def _credit_rapprochement(declaration: dict, data: _Data) -> dict:
    """The rapprochement of one credit declaration (a row of ``declarations``) with the warehouse's credits."""
    exercice, named, grandeur = declaration["exercice"], declaration["phase"], declaration["grandeur"]
    programme = declaration["code_programme"]
    phase = named or next((p for p in VOTED_PHASES if (exercice, p) in data.phases), None)
    value, source = (None, None)
    shown_phase = phase
    if phase is not None and (exercice, phase) in data.phases:
        value, source = data.credit(exercice, phase, programme, grandeur)
        statut, ecart = _compare(declaration["valeur"], declaration["precision"], value)
    else:
        statut, ecart, shown_phase = "sans_donnee", None, None
        for other in NEAREST_PHASES[phase]:
            if (exercice, other) in data.phases:
                value, source = data.credit(exercice, other, programme, grandeur)
                if value is not None:
                    shown_phase = other
                    break
    return {
        "document": declaration["document"],
        "code_programme": programme,
        "exercice": exercice,
        "phase": phase,
        "grandeur": grandeur,
        "valeur_declaree": declaration["valeur"],
        "valeur_donnees": value,
        "phase_donnees": shown_phase if value is not None else None,
        "ecart": ecart,
        "statut": statut,
        "precision": declaration["precision"],
        "debut": declaration["debut"],
        "source_id": declaration["source_id"],
        "source_donnees": source if value is not None else None,
    }


def reconcile_credits(declarations: pl.DataFrame, credits: pl.DataFrame, others: pl.DataFrame) -> pl.DataFrame:
    """The ``rapprochements`` table: the credit declarations of ``declarations`` (``type_declaration =
    'credits'``) compared with ``credits`` (as in :func:`build_document_tables`), with ``others``, the
    rapprochements of the indicator declarations (:func:`build_document_tables` without credits).

    The same rows, in the same order, as :func:`build_document_tables` with the credits: what compares
    the documents with the credits, apart from reading the documents, which does not depend on them."""
    data = _Data(credits, pl.DataFrame(), pl.DataFrame())
    rows = [
        _credit_rapprochement(d, data)
        for d in declarations.filter(pl.col("type_declaration") == "credits").iter_rows(named=True)
    ]
    made = pl.DataFrame([{c: r.get(c) for c in RAPPROCHEMENT_SCHEMA} for r in rows], schema=RAPPROCHEMENT_SCHEMA)
    return pl.concat([others.cast(RAPPROCHEMENT_SCHEMA), made]).sort("document", "code_programme", "debut", "grandeur")


def _own_indicators(doc: Document, code_mission: str | None) -> tuple[list[dict], list[Candidate]]:
    """The indicator list of a RAP/PAP text as ``indicateurs`` rows, and as link candidates."""
    rows, candidates = [], []
    for line in indicator_list(doc.texte):
        code = f"P{doc.code_programme}-{line.objectif}-{line.indicateur}"
        rows.append(
            {
                "document": doc.document,
                "type_document": doc.type_document,
                "millesime": doc.exercice,
                "niveau": "programme",
                "code_mission": code_mission,
                "code_programme": doc.code_programme,
                "code_objectif": f"P{doc.code_programme}-{line.objectif}",
                "libelle_objectif": line.libelle_objectif,
                "code_indicateur": code,
                "code_indicateur_source": f"{line.objectif}.{line.indicateur}",
                "libelle_indicateur": line.libelle,
                "code_sous_indicateur": f"{code}-1",
                "source_id": doc.source_id,
                "source_ligne": line.ligne,
            }
        )
        candidates.append(Candidate((doc.document, code, f"{code}-1"), line.libelle))
    return rows, candidates


def _indicator_rows(
    doc: Document, figures: list[tuple[int, Figure]], data: _Data, code_mission: str | None
) -> tuple[list[dict], list[dict], list[dict], list[dict], set[int]]:
    indicateurs, own = _own_indicators(doc, code_mission) if doc.format != "commentaire_nomenclature" else ([], [])
    counts = [(n, f.phrase, f.phrase_entiere) for n, f in figures if f.kind == "nombre"]
    year_of = {n: (f.annee_citee or doc.exercice) for n, f in figures}
    linked_own = link(counts, own) if own else {}
    declarations, rapprochements, valeurs = [], [], []
    by_year: dict[int, list] = {}
    for n, phrase, sentence in counts:
        by_year.setdefault(doc.exercice if own else year_of[n], []).append((n, phrase, sentence))
    linked_data: dict[int, tuple[Candidate, float]] = {}
    for annee, group in by_year.items():
        linked_data |= link(group, data.candidates(doc.code_programme, annee))
    done = set()
    for n, figure in figures:
        own_link, data_link = linked_own.get(n), linked_data.get(n)
        if own and own_link is None:
            continue
        if not own and data_link is None:
            continue
        annee = doc.exercice if own else year_of[n]
        chosen, score = own_link if own else data_link
        document_indicateur, code_indicateur, code_sous = chosen.key
        declarations.append(
            {
                "document": doc.document,
                "code_programme": doc.code_programme,
                "type_declaration": "indicateur",
                "exercice": annee,
                "phase": None,
                "grandeur": code_indicateur,
                "valeur": figure.valeur,
                "unite": None,
                "precision": figure.precision,
                "texte": figure.texte,
                "debut": figure.debut,
                "fin": figure.fin,
                "code_sous_indicateur": code_sous,
                "document_indicateur": document_indicateur,
                "libelle_indicateur": chosen.libelle,
                "score": round(score, 1),
                "source_id": doc.source_id,
            }
        )
        if own:
            valeurs.append(
                {
                    "document": doc.document,
                    "niveau": "programme",
                    "code_mission": code_mission,
                    "code_programme": doc.code_programme,
                    "code_indicateur": code_indicateur,
                    "code_sous_indicateur": code_sous,
                    "annee": annee,
                    "type_valeur": "realisation",
                    "valeur": float(figure.valeur),
                    "comparateur": "=",
                    "statut": "ok",
                    "valeur_brute": figure.texte,
                    "colonne_source": "texte",
                    "source_id": doc.source_id,
                    "source_ligne": doc.texte.count("\n", 0, figure.debut) + 1,
                }
            )
        value = source = document_donnees = code_donnees = None
        if data_link is not None:
            document_donnees, _, code_donnees = data_link[0].key
            row = data.realisations.get((document_donnees, code_donnees, annee))
            if row is not None and row["statut"] == "ok" and row["valeur"] is not None:
                value, source = _money(row["valeur"]), row["source_id"]
        statut, ecart = _compare(figure.valeur, figure.precision, value)
        rapprochements.append(
            {
                "document": doc.document,
                "code_programme": doc.code_programme,
                "exercice": annee,
                "phase": None,
                "grandeur": code_indicateur,
                "valeur_declaree": figure.valeur,
                "valeur_donnees": value,
                "phase_donnees": None,
                "ecart": ecart,
                "statut": statut,
                "code_sous_indicateur": code_donnees if own else code_sous,
                "document_donnees": document_donnees if value is not None or not own else None,
                "precision": figure.precision,
                "debut": figure.debut,
                "source_id": doc.source_id,
                "source_donnees": source,
            }
        )
        done.add(n)
    return declarations, rapprochements, indicateurs, valeurs, done


def _other_row(doc: Document, figure: Figure) -> dict:
    return {
        "document": doc.document,
        "code_programme": doc.code_programme,
        "type_declaration": "autre",
        "exercice": figure.annee_citee or figure.exercice or doc.exercice,
        "phase": None,
        "grandeur": None,
        "valeur": figure.valeur,
        "unite": figure.unite,
        "precision": figure.precision,
        "texte": figure.texte,
        "debut": figure.debut,
        "fin": figure.fin,
        "source_id": doc.source_id,
    }


def build_document_tables(
    documents: Iterable[Document],
    credits: pl.DataFrame,
    sub_indicators: pl.DataFrame,
    realisations: pl.DataFrame,
    missions: dict[tuple[int, str], str] | None = None,
    *,
    with_credits: bool = True,
) -> DocumentTables:
    """Read every document's figures and reconcile them with the warehouse.

    ``credits``: one row per (exercice, phase, code_programme) with ``ae``, ``cp``, ``titre2``
    (Decimal; ``titre2`` null where the phase's rows state no titre) and ``source_id``.
    ``sub_indicators``: the performance files' sub-indicators (document, code_programme,
    code_indicateur, code_sous_indicateur, libelle, unite); ``realisations``: their ``realisation``
    values (document, code_programme, code_sous_indicateur, annee, valeur, statut, source_id).
    ``missions``: the mission code of each (exercice, programme), for the text's own indicators.
    ``with_credits=False``: the credit declarations are not reconciled (no ``rapprochements`` row for them;
    ``credits`` is not read): :func:`reconcile_credits` does it from ``declarations``.
    """
    data = _Data(credits, sub_indicators, realisations)
    docs, declarations, rapprochements, indicateurs, valeurs = [], [], [], [], []
    for doc in documents:
        figures = list(enumerate(extract_figures(doc)))
        mission = (missions or {}).get((doc.exercice, doc.code_programme))
        decl, rapp, ind, val, done = _indicator_rows(doc, figures, data, mission)
        for n, figure in figures:
            if figure.grandeurs:
                d, r = _credit_rows(doc, figure, data if with_credits else None)
                decl += d
                rapp += r
            elif n not in done:
                decl.append(_other_row(doc, figure))
        docs.append(
            {
                "document": doc.document,
                "type_document": doc.type_document,
                "exercice": doc.exercice,
                "code_programme": doc.code_programme,
                "libelle_programme": doc.libelle_programme,
                "responsable": doc.responsable,
                "source_id": doc.source_id,
                "source_ligne": doc.source_ligne,
                "format": doc.format,
                "texte": doc.texte,
                "nb_declarations": len(decl),
            }
        )
        declarations += decl
        rapprochements += rapp
        indicateurs += ind
        valeurs += val

    def frame(rows: list[dict], schema: dict) -> pl.DataFrame:
        return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema, orient="row")

    return DocumentTables(
        frame(docs, DOCUMENT_SCHEMA),
        frame(declarations, DECLARATION_SCHEMA).sort("document", "code_programme", "debut", "grandeur"),
        frame(rapprochements, RAPPROCHEMENT_SCHEMA).sort("document", "code_programme", "debut", "grandeur"),
        pl.DataFrame(indicateurs, infer_schema_length=None),
        pl.DataFrame(valeurs, infer_schema_length=None),
    )
