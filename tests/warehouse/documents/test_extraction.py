"""Figures of the real RAP 2021 text of programme 352, read through the project's reading code."""

from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import SOURCES
from warehouse.documents.extraction import extract_figures, indicator_list
from warehouse.documents.linking import Candidate, link
from warehouse.documents.texts import DocumentError, narratives, read_document
from warehouse.sources import discover_sources, recognise

RAP = "documents/RAP_2021_P352_presentation_strategique.txt"


def _rap(tmp_path: Path | None = None, text: str | None = None):
    path = SOURCES / RAP
    if text is not None:
        path = tmp_path / "RAP_2021_P352_copie.txt"
        path.write_text(text, encoding="utf-8")
    return read_document(path, path.name if text is not None else RAP, "rap")


def test_rap_text_is_a_document_of_programme_352():
    doc = _rap()
    assert (doc.document, doc.code_programme, doc.responsable) == ("RAP 2021", "352", "Xavier ALBOUY")
    assert doc.libelle_programme == "Innovation et transformation numériques"


def test_credit_declarations_of_the_rap_text():
    credits = [
        (f.exercice, f.phase, f.grandeurs, f.valeur, f.precision) for f in extract_figures(_rap()) if f.grandeurs
    ]
    assert credits == [
        (2021, "LFI", ("ae", "cp"), Decimal("10600000"), Decimal("50000")),
        (2021, "LFI", ("titre2",), Decimal("3000000"), Decimal("500000")),
        (2022, "LFI", ("ae",), Decimal("10600000"), Decimal("50000")),
        (2022, "LFI", ("cp",), Decimal("12100000"), Decimal("50000")),
        (2022, "LFI", ("titre2",), Decimal("3000000"), Decimal("500000")),
    ]


def test_spans_are_exact():
    doc = _rap()
    for figure in extract_figures(doc):
        assert doc.texte[figure.debut : figure.fin] == figure.texte


def test_indicator_list_and_links():
    doc = _rap()
    listed = indicator_list(doc.texte)
    assert [(i.objectif, i.indicateur) for i in listed] == [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (2, 3)]
    assert listed[0].libelle == "Nombre de problèmes investigués"
    figures = extract_figures(doc)
    counts = [(n, f.phrase, f.phrase_entiere) for n, f in enumerate(figures) if f.kind == "nombre"]
    links = link(counts, [Candidate((i.objectif, i.indicateur), i.libelle) for i in listed])
    linked = {int(figures[n].valeur): c.key for n, (c, _) in links.items()}
    assert linked == {115: (1, 1), 50: (1, 2), 11: (1, 3), 5: (1, 4), 60: (2, 1), 24: (2, 2), 180: (2, 3)}
    # "38 EIG" of the promotion and the "3 M€" of FAST co-financing are no indicator and no credit
    assert not any(figures[n].valeur == 38 for n in links)
    fast = [f for f in figures if f.texte == "3 M€" and "co-financement" in f.phrase_entiere]
    assert len(fast) == 1 and fast[0].grandeurs == ()


def test_text_with_no_figures_gives_nothing(tmp_path):
    doc = _rap(tmp_path, "Responsable du programme n° 352 : Innovation\nLe programme soutient des projets.\n")
    assert extract_figures(doc) == []


def test_narrative_of_352_in_the_plrg_2024_workbook():
    source = next(s for s in discover_sources(SOURCES) if s.fichier == "2024_PLRG/MiS_PGM_ACT_SSA.xls")
    found = recognise(source)
    docs = {d.code_programme: d for d in narratives(found.table, source.source_id, 2024, "EXEC")}
    doc = docs["352"]
    assert doc.document == "RAP 2024 commentFP"
    figures = extract_figures(doc)
    assert [(f.valeur, f.grandeurs, f.exercice, f.phase) for f in figures if f.grandeurs] == [
        (Decimal("74100000"), ("ae", "cp"), 2024, None)
    ]
    assert {int(f.valeur) for f in figures if f.kind == "nombre"} == {16, 25, 29, 10, 217, 63, 20}


def test_budget_gouv_page_reads_like_the_text(tmp_path):
    """A programme page of budget.gouv.fr (made here from the real text, one paragraph per line)."""
    text = (SOURCES / RAP).read_text(encoding="utf-8")
    body = "".join(f"<p>{line.replace('&', '&amp;')}</p>\n" for line in text.splitlines())
    page = tmp_path / "FR_2021_PLR_BG_PGM_352_STRAT.html"
    page.write_text(f"<html><head><style>p {{}}</style></head><body>{body}</body></html>", encoding="utf-8")
    doc = read_document(page, page.name, "page")
    assert (doc.document, doc.format, doc.code_programme) == ("RAP 2021", "document_html", "352")
    expected = [(f.exercice, f.phase, f.grandeurs, f.valeur) for f in extract_figures(_rap()) if f.grandeurs]
    assert [(f.exercice, f.phase, f.grandeurs, f.valeur) for f in extract_figures(doc) if f.grandeurs] == expected
    assert len(indicator_list(doc.texte)) == 7


def test_text_of_unknown_kind_is_an_error(tmp_path):
    path = tmp_path / "presentation.txt"
    path.write_text("Responsable du programme n° 352 : Innovation\n", encoding="utf-8")
    with pytest.raises(DocumentError, match="presentation.txt"):
        read_document(path, path.name, "x")
