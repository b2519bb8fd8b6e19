"""Documents, declarations and reconciliation in the warehouse built from the real files."""

import shutil
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from tests.conftest import SOURCES, run_build
from warehouse.documents.ecarts import ECART_SCHEMA, declaration_discrepancies
from warehouse.documents.store import build_from_warehouse, read_documents
from warehouse.sources import discover_sources, take_inventory


def _rows(db, sql):
    with duckdb.connect(str(db), read_only=True) as connection:
        return connection.sql(sql).pl()


def test_rap_2021_reconciles_with_credits(built):
    rows = _rows(
        built.database,
        "SELECT exercice, phase, grandeur, valeur_declaree, valeur_donnees, phase_donnees, statut FROM rapprochements "
        "WHERE document = 'RAP 2021' AND grandeur IN ('ae', 'cp', 'titre2') ORDER BY exercice, debut, grandeur",
    )
    assert rows.rows() == [
        (2021, "LFI", "ae", Decimal("10600000.00"), Decimal("10600000.00"), "LFI", "concorde"),
        (2021, "LFI", "cp", Decimal("10600000.00"), Decimal("10600000.00"), "LFI", "concorde"),
        (2021, "LFI", "titre2", Decimal("3000000.00"), Decimal("3000000.00"), "LFI", "concorde"),
        (2022, "LFI", "ae", Decimal("10600000.00"), Decimal("10600000.00"), "PLF", "sans_donnee"),
        (2022, "LFI", "cp", Decimal("12100000.00"), Decimal("12100000.00"), "PLF", "sans_donnee"),
        (2022, "LFI", "titre2", Decimal("3000000.00"), Decimal("3000000.00"), "PLF", "sans_donnee"),
    ]


def test_rap_2021_indicators_and_results(built):
    indicateurs = _rows(
        built.database, "SELECT code_indicateur, libelle_indicateur FROM indicateurs WHERE document = 'RAP 2021'"
    )
    assert sorted(indicateurs["code_indicateur"]) == [f"P352-{o}-{i}" for o, i in
                                                      [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (2, 3)]]  # fmt: skip
    valeurs = _rows(
        built.database,
        "SELECT code_indicateur, valeur FROM indicateur_valeurs WHERE document = 'RAP 2021' AND annee = 2021 "
        "AND type_valeur = 'realisation' ORDER BY code_indicateur",
    )
    assert valeurs["valeur"].to_list() == [115, 50, 11, 5, 60, 24, 180]
    statuts = _rows(
        built.database, "SELECT statut FROM rapprochements WHERE document = 'RAP 2021' AND grandeur LIKE 'P352-%'"
    )
    assert statuts["statut"].to_list() == ["sans_donnee"] * 7
    autres = _rows(
        built.database,
        "SELECT texte FROM declarations WHERE document = 'RAP 2021' AND type_declaration = 'autre' ORDER BY debut",
    )
    assert {"3 M€", "38"} <= set(autres["texte"])


def test_narrative_of_352_in_2024(built):
    rows = _rows(
        built.database,
        "SELECT grandeur, code_sous_indicateur, valeur_declaree, statut, phase FROM rapprochements "
        "WHERE document = 'RAP 2024 commentFP' AND code_programme = '352' ORDER BY debut, grandeur",
    )
    assert rows.rows() == [
        ("ae", None, Decimal("74100000.00"), "concorde", "PLF"),
        ("cp", None, Decimal("74100000.00"), "concorde", "PLF"),
        ("P352-1-2", "30884", Decimal("16.00"), "concorde", None),
        ("P352-2-1", "30461", Decimal("25.00"), "concorde", None),
        ("P352-1-3", "30886", Decimal("10.00"), "concorde", None),
        ("P352-2-3", "30160", Decimal("217.00"), "concorde", None),
    ]
    autre = _rows(
        built.database,
        "SELECT type_declaration FROM declarations WHERE document = 'RAP 2024 commentFP' AND code_programme = '352' "
        "AND texte = '29'",
    )
    assert autre["type_declaration"].to_list() == ["autre"]


def test_ambiguous_link_stays_autre(built):
    """« 3 267 personnes tuées sur les routes de France métropolitaine » is as like the men's as the women's
    sub-indicator of P207-1-1 (30513, 30514): no link."""
    rows = _rows(
        built.database,
        "SELECT type_declaration, exercice FROM declarations WHERE document = 'PAP 2024 commentFP' "
        "AND code_programme = '207' AND texte = '3 267'",
    )
    assert rows.rows() == [("autre", 2022)]


def test_every_narrative_pinned(built):
    """Over every commentFP of the snapshot's nomenclature files (README, "Documents and reconciliation")."""
    declarations = _rows(built.database, "SELECT type_declaration FROM declarations WHERE document LIKE '%commentFP'")
    statuts = _rows(built.database, "SELECT statut FROM rapprochements WHERE document LIKE '%commentFP'")
    # The 148 narratives of 2022 that the LFI and PLF nomenclature files both carry, identical, read once (a
    # fresh user's find: 669 declarations, 6 `discorde` for 3 distinct ones, each disagreement published twice).
    assert declarations.height == 553
    assert dict(declarations.group_by("type_declaration").len().iter_rows()) == {
        "autre": 511, "credits": 38, "indicateur": 4}  # fmt: skip
    assert dict(statuts.group_by("statut").len().iter_rows()) == {"concorde": 36, "discorde": 3, "sans_donnee": 3}


def test_a_narrative_two_files_carry_is_one_document(built):
    """The same text of the same document for the same programme, in two source files (the LFI 2022 and PLF 2022
    nomenclature files), is one document, kept under the source whose id sorts first; the other file's report
    says so. Each disagreement is published once."""
    copies = _rows(
        built.database,
        "SELECT count(*) AS n FROM documents a JOIN documents b USING (document, code_programme, texte) "
        "WHERE a.source_id < b.source_id",
    )
    assert copies["n"].to_list() == [0]
    per_source = _rows(
        built.database,
        "SELECT source_id, count(*) AS n FROM documents WHERE exercice = 2022 GROUP BY ALL ORDER BY ALL",
    )
    assert per_source.rows() == [("fichier-lfi-2022-nomenclature-destination", 148)]
    report = _rows(
        built.database,
        "SELECT statut, message, documents FROM document_fichiers WHERE source_id = 'fichier-plf-2022-nomenclature'",
    )
    assert report.rows() == [
        ("lu", "148 document(s) identical to those of fichier-lfi-2022-nomenclature-destination, kept once under it", 0)
    ]
    ecarts = _rows(built.database, "SELECT cle, ecart FROM ecarts_sources WHERE regle = 'declaration' ORDER BY cle")
    assert ecarts.rows() == [
        ("PAP 2022 commentFP 131 cp", Decimal("-874024.00")),
        ("PAP 2022 commentFP 180 ae", Decimal("-62259363.00")),
        ("PAP 2022 commentFP 180 cp", Decimal("-62259363.00")),
    ]


def test_discordances_become_ecarts_sources(built):
    rapprochements = _rows(built.database, "SELECT * FROM rapprochements")
    ecarts = declaration_discrepancies(rapprochements)
    assert ecarts.schema == pl.Schema(ECART_SCHEMA)
    assert ecarts.height == rapprochements.filter(pl.col("statut") == "discorde").height
    row = ecarts.filter(pl.col("cle") == "PAP 2022 commentFP 131 cp").row(0, named=True)
    assert (row["regle"], row["valeur_attendue"], row["valeur_trouvee"], row["ecart"]) == (
        "declaration", "914874024.00", "914000000.00", Decimal("-874024.00"))  # fmt: skip


def test_changed_figure_gives_discorde(built, tmp_path):
    text = (SOURCES / "documents/RAP_2021_P352_presentation_strategique.txt").read_text(encoding="utf-8")
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "RAP_2021_P352_variante.txt").write_text(text.replace("2021 de 10,6 M€", "2021 de 11,6 M€", 1))
    items = take_inventory(discover_sources(tmp_path))
    with duckdb.connect(str(built.database), read_only=True) as connection:
        tables = build_from_warehouse(connection, read_documents(items))
    rows = tables.rapprochements.filter(pl.col("exercice") == 2021, pl.col("grandeur").is_in(["ae", "cp"]))
    assert rows["statut"].to_list() == ["discorde", "discorde"]
    assert rows["ecart"].to_list() == [Decimal("1000000.00")] * 2


def test_sources_lists_the_rap_text(built):
    row = _rows(built.database, "SELECT statut, format FROM sources WHERE fichier LIKE 'documents/RAP_2021%'")
    assert row.rows() == [("lu", "document_texte")]


def test_execution_view(built):
    rows = _rows(
        built.database,
        "SELECT phase_reference, sum(ae_vote) ae, sum(cp_execute) cp FROM execution_credits "
        "WHERE code_programme = '352' AND exercice = 2024 GROUP BY ALL",
    )
    assert rows.rows() == [("PLF", Decimal("74100000.00"), Decimal("32092600.90"))]


def test_lfi_2022_file_turns_sans_donnee_into_concorde(tmp_path):
    """The real sources plus an LFI 2022 credit file made from the PLF 2022 lines of programme 352,
    in the family of ``LFI_2020_Credits.csv``: the LFI 2022 declarations become `concorde`."""
    sources = tmp_path / "sources"
    shutil.copytree(SOURCES, sources)
    lines = (SOURCES / "PLF_2022_Credits_Destination_Nature.csv").read_text(encoding="utf-8").splitlines()
    body = [line.split(";")[:12] for line in lines[1:] if line.split(";")[5:6] == ["352"]]
    header = (
        "Exercice;loi;typeBudget;ministere;mission;programme;action;sous_action;categorie;titre;AE LFI 2022;CP LFI 2022"
    )
    rows = [";".join(["2022", "LFI", *cells[2:]]) for cells in body]
    assert len(rows) == 3
    (sources / "LFI_2022_Credits_352.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    build = run_build(sources, tmp_path / "out")
    assert build.returncode == 0, build.stdout + build.stderr
    statuts = _rows(
        build.database,
        "SELECT grandeur, statut, phase_donnees FROM rapprochements WHERE document = 'RAP 2021' AND exercice = 2022 "
        "AND grandeur IN ('ae', 'cp', 'titre2') ORDER BY grandeur",
    )
    assert statuts.rows() == [("ae", "concorde", "LFI"), ("cp", "concorde", "LFI"), ("titre2", "concorde", "LFI")]


def test_a_nomenclature_file_refused_by_size_is_skipped_by_the_documents(tmp_path, monkeypatch):
    # The real LFI_2023_Nomenclature_Destination.csv (656,645 bytes) under a limit of 0.5 MiB: recognised
    # from its head, its whole read is refused (the nomenclature's step reports it in error); the documents
    # skip it instead of failing the step (it failed the build, nothing published).
    shutil.copyfile(
        SOURCES / "LFI_2023_Nomenclature_Destination.csv", tmp_path / "LFI_2023_Nomenclature_Destination.csv"
    )
    monkeypatch.setenv("BUDGET_MAX_FILE_MB", "0.5")
    (item,) = take_inventory(discover_sources(tmp_path))
    assert item.kind == "nomenclature" and item.error is None
    read = read_documents([item])
    assert read.documents == [] and read.fichiers.height == 0


@pytest.mark.parametrize("form", ["blank head", "no separator"])
def test_a_programme_text_with_a_long_blank_head_or_no_separator_is_read_as_a_document(form, tmp_path):
    # An adversarial tester's regression: once the CSV reading skipped blank lines and titles above a header, it
    # refused a text still blank, or with no line of two cells, past 98,304 characters; the inventory then held
    # the file in error and the documents step skipped it (documents 0, main 1). The real RAP text of programme
    # 352, opened by 100,000 blank lines, or without its separators (`,` `;` `|` tab) and repeated past 98 KB.
    text = (SOURCES / "documents" / "RAP_2021_P352_presentation_strategique.txt").read_bytes()
    if form == "blank head":
        text = b"\n" * 100_000 + text
    else:
        text = text.translate(None, b",;|\t") * 25
        assert len(text) > 98_304
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "RAP_2021_P352_presentation_strategique.txt").write_bytes(text)
    (item,) = take_inventory(discover_sources(tmp_path))
    assert item.error is None and item.kind is None
    read = read_documents([item])
    assert [(d.document, d.code_programme) for d in read.documents] == [("RAP 2021", "352")]
