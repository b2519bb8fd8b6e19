"""The nomenclature per exercice and its crosswalk, from the real files (issue: nomenclature)."""

import collections
import csv
import io
import json
import re
from dataclasses import replace

import polars as pl
import pytest

from schemas.families import Family, match_family
from schemas.labels import clean_label, label_key
from tests.conftest import CASES, SOURCES
from warehouse.credits.files import read_credit_table
from warehouse.nomenclature.resolution import (
    credit_elements,
    derive_events,
    known_events,
    resolve_nomenclature,
    stage_nomenclature,
)
from warehouse.reading.tables import read_tables
from warehouse.sources import discover_sources, take_inventory

# fichier, exercice, phase, lines per level (as its `Type ligne` column counts them)
REAL_NOMENCLATURE_FILES = [
    ("plf-2014-nomenclature-par-destination.csv", 2014, "PLF", {"action": 722}),
    ("PLF_2019_Nomenclature_destination.csv", 2019, "PLF", {"action": 720}),
    ("LFI_2020_Nomenclature.csv", 2020, "LFI", {"mission": 49, "programme": 174, "action": 755, "sous_action": 1467,
                                               "categorie": 19, "ministere": 17, "titre": 7}),
    ("PLF_2020_Nomenclature.csv", 2020, "PLF", {"mission": 49, "programme": 173, "action": 754, "sous_action": 1462,
                                               "categorie": 19, "ministere": 17, "titre": 7}),
    ("PLF_2021_Nomenclature.csv", 2021, "PLF", {"mission": 49, "programme": 184, "action": 788, "sous_action": 1444,
                                               "categorie": 19, "ministere": 17, "titre": 7}),
    ("LFI_2021_Nomenclature_Destination.csv", 2021, "LFI", {"mission": 49, "programme": 188, "action": 797,
                                                           "sous_action": 1461, "categorie": 19, "ministere": 17,
                                                           "titre": 7}),
    ("PLF_2022_Nomenclature.csv", 2022, "PLF", {"mission": 49, "programme": 190, "action": 804, "sous_action": 1476,
                                               "categorie": 19, "ministere": 17, "titre": 7}),
    ("LFI_2022_Nomenclature_Destination.csv", 2022, "LFI", {"mission": 49, "programme": 192, "action": 809,
                                                           "sous_action": 1478, "categorie": 19, "ministere": 17,
                                                           "titre": 7}),
    ("LFI_2023_Nomenclature_Destination.csv", 2023, "LFI", {"programme": 186, "action": 810, "sous_action": 1503}),
    ("2024_PLF/MiS_PGM_ACT_SSA.xls", 2024, "PLF", {"mission": 47, "programme": 186, "action": 819, "sous_action": 1542,
                                                  "categorie": 20, "ministere": 21, "titre": 7}),
    ("2024_PLRG/MiS_PGM_ACT_SSA.xls", 2024, "EXEC", {"mission": 47, "programme": 186, "action": 820,
                                                    "sous_action": 1542, "categorie": 20, "ministere": 21, "titre": 7}),
    ("2025_PLF/MiS_PGM_ACT_SSA.xls", 2025, "PLF", {"mission": 48, "programme": 191, "action": 813, "sous_action": 1565,
                                                  "categorie": 20, "ministere": 20, "titre": 7}),
]  # fmt: skip

_INVENTORY = take_inventory(discover_sources(SOURCES))
_ITEMS = {i.source.fichier: i for i in _INVENTORY}


_TYPES = {"MSN": "mission", "Mission": "mission", "PGM": "programme", "Programme": "programme", "ACT": "action",
          "SSA": "sous_action", "CAT": "categorie", "CategorieLolf": "categorie", "TTR": "titre",
          "TitreLolf": "titre", "MIN": "ministere", "Ministere": "ministere"}  # fmt: skip


def _level(value: str) -> str:
    if value.startswith("Sous action"):
        return "sous_action"
    return "action" if value.startswith("Action") else _TYPES[value.strip()]


def _type_ligne_counts(fichier: str) -> collections.Counter:
    """Independent count of a file's `Type ligne` values (Python's csv module, or the raw workbook)."""
    path = SOURCES / fichier
    if path.suffix == ".xls":
        rows = [[c or "" for c in r] for r in read_tables(path)[0].rows]
        return collections.Counter(_level(r[0]) for r in rows)
    encoding = "utf-8-sig" if path.read_bytes().startswith(b"\xef\xbb\xbf") else "cp1252"
    records = list(csv.reader(io.StringIO(path.read_text(encoding=encoding)), delimiter=";"))
    header = [h.strip().lower() for h in records[0]]
    column = next((i for i, h in enumerate(header) if h in ("type ligne", "type de ligne")), None)
    if column is None:
        return collections.Counter({"action": len(records) - 1})  # wide files: one line per action
    return collections.Counter(_level(r[column]) for r in records[1:])


@pytest.fixture(scope="module")
def staged():
    items = [i for i in _INVENTORY if i.holds("nomenclature")]
    elements, reports = stage_nomenclature(items)
    return elements, {r.fichier: r for r in reports}


@pytest.fixture(scope="module")
def tables(staged, built):
    from warehouse.credits.staged_lines import staged_files

    elements, _ = staged
    lines = pl.read_parquet(staged_files(built.out / "staging" / "credits"))
    everything = pl.concat([elements, credit_elements(lines)])
    resolved = resolve_nomenclature(everything, {i.source.source_id for i in _INVENTORY if i.holds("nomenclature")})
    resolved["nomenclature_evenements"] = derive_events(resolved, known_events())
    return resolved


def test_every_nomenclature_file_is_recognised():
    found = {f for f, i in _ITEMS.items() if i.holds("nomenclature")}
    assert found == {row[0] for row in REAL_NOMENCLATURE_FILES}


@pytest.mark.parametrize(("fichier", "exercice", "phase", "per_niveau"), REAL_NOMENCLATURE_FILES)
def test_reader_on_real_nomenclature_file(staged, fichier, exercice, phase, per_niveau):
    _, reports = staged
    report = reports[fichier]
    assert report.statut == "lu", report.message
    assert (report.exercice, report.phases) == (exercice, [phase])
    assert report.lignes == report.lignes_retenues == sum(per_niveau.values())
    assert report.message == "lignes par niveau: " + ", ".join(f"{k} {v}" for k, v in sorted(per_niveau.items()))
    independent = _type_ligne_counts(fichier)
    assert independent == per_niveau


def _programme(tables, code):
    return {
        r["exercice"]: r for r in tables["programmes"].filter(pl.col("code_programme") == code).iter_rows(named=True)
    }


def test_programme_352_labels_missions_and_absence(tables):
    years = _programme(tables, "352")
    old = "Fonds pour l'accélération du financement des start-up d'État"
    new = "Innovation et transformation numériques"
    assert {y: r["libelle_programme"] for y, r in years.items()} == {
        2019: old,
        2020: old,
        2021: new,
        2022: new,
        2023: new,
        2024: new,
    }
    assert {r["code_mission"] for r in years.values()} == {"TR"}
    assert 2025 in set(tables["programmes"]["exercice"].to_list()) and 2025 not in years


def test_programme_352_events(tables):
    events = tables["nomenclature_evenements"].filter(
        (pl.col("niveau") == "programme") & (pl.col("code_programme") == "352")
    )
    kinds = {(r["exercice"], r["type_evenement"]): r for r in events.iter_rows(named=True)}
    assert kinds[(2021, "renommage")]["ancien_libelle"].startswith("Fonds pour l'accélération")
    assert kinds[(2021, "renommage")]["nouveau_libelle"] == "Innovation et transformation numériques"
    assert (2025, "suppression") in kinds
    transfer = kinds[(2025, "transfert")]
    assert transfer["vers"] == "129-16" and transfer["origine"] != "derive" and "129" in transfer["origine"]


def test_no_false_renommage_from_code_prefixes(tables):
    raw = read_tables(SOURCES / "2025_PLF" / "MiS_PGM_ACT_SSA.xls")[0]
    prefixed = [r for r in raw.rows if r[0] == "PGM" and re.match(r"^\d{3} - ", r[5] or "")]
    assert len(prefixed) == 191
    labels_2024 = {
        r["code_programme"]: r["libelle_programme"]
        for r in tables["programmes"].filter(pl.col("exercice") == 2024).iter_rows(named=True)
    }
    same = [r for r in prefixed if label_key(r[5][6:]) == label_key(labels_2024.get(r[2].split(".")[0], ""))]
    assert len(same) > 170  # the prefix alone differs for most
    renamed_2025 = tables["nomenclature_evenements"].filter(
        (pl.col("exercice") == 2025) & (pl.col("niveau") == "programme") & (pl.col("type_evenement") == "renommage")
    )
    assert set(renamed_2025["code_programme"]).isdisjoint({r[2].split(".")[0] for r in same})
    for row in renamed_2025.iter_rows(named=True):  # the remaining renames are real ones
        assert label_key(row["ancien_libelle"]) != label_key(row["nouveau_libelle"])
        assert not re.match(r"^\d{3} - ", row["nouveau_libelle"])


def test_mission_tr_relabelled_once(tables):
    labels = {
        r["exercice"]: r["libelle_mission"]
        for r in tables["missions"].filter(pl.col("code_mission") == "TR").iter_rows(named=True)
    }
    assert labels[2019] == "Action et transformation publiques"
    assert labels[2023] == "Transformation et fonction publiques"
    assert labels[2021] == labels[2022]  # `fonction  publiques` (two spaces) in the PLF 2021 file
    events = tables["nomenclature_evenements"].filter(
        (pl.col("niveau") == "mission") & (pl.col("code_mission") == "TR") & (pl.col("type_evenement") == "renommage")
    )
    assert events.select("exercice", "ancien_libelle", "nouveau_libelle").rows() == [
        (2021, "Action et transformation publiques", "Transformation et fonction publiques")
    ]


def test_labels_cleaned():
    assert (
        clean_label("352 - Innovation et transformation numériques", "352") == "Innovation et transformation numériques"
    )
    assert clean_label("Transformation et fonction  publiques_x000D_") == "Transformation et fonction publiques"
    assert clean_label("  ") is None
    assert label_key("l’État") == label_key("l'Etat")


def test_deriving_twice_gives_the_same_rows(tables):
    again = derive_events({k: v for k, v in tables.items() if k != "nomenclature_evenements"}, known_events())
    assert again.equals(tables["nomenclature_evenements"])
    assert again.is_duplicated().sum() == 0


def test_category_and_titre_labels(tables):
    titres = dict(tables["titres"].rows())
    assert titres["2"] == "Dépenses de personnel" and len(titres) == 7
    categories = {r["code_categorie"]: r for r in tables["categories"].iter_rows(named=True)}
    assert categories["31"]["code_titre"] == "3"


B26_FAMILY = Family(
    id="cas_b26",
    description="generic columns of case B26",
    columns={
        "exercice": re.compile("annee"),
        "code_programme": re.compile("programme"),
        "libelle_programme": re.compile("libelleprogramme"),
    },
    amounts=(re.compile("(?P<grandeur>cp)"),),
    required=("code_programme",),
    authority={"PLF": 1},
    phase="PLF",
)


def test_case_b26_relabel_and_code_change():
    expected = json.loads((CASES / "B26" / "expected.json").read_text())
    table = read_tables(CASES / "B26" / "input.csv")[0]
    match = match_family(B26_FAMILY, table.header)
    # A credit file holds one exercice: the case's three years are read as three files.
    lines = pl.concat(
        read_credit_table(replace(table, rows=[r for r in table.rows if r[0] == year]), match, f"b26-{year}").lines
        for year in ("2022", "2023", "2024")
    )
    tables = resolve_nomenclature(credit_elements(lines), set())
    labels = {
        str(y): {
            r["code_programme"]: r["libelle_programme"]
            for r in tables["programmes"].filter(pl.col("exercice") == y).iter_rows(named=True)
        }
        for y in (2022, 2023, 2024)
    }
    assert labels == expected["labels_per_year"]
    events = derive_events(tables).filter(pl.col("niveau") == "programme")
    for event in expected["evenements"]:
        match = events.filter(
            (pl.col("exercice") == event["exercice"])
            & (pl.col("type_evenement") == event["type_evenement"])
            & (pl.col("code_programme") == event["code_programme"])
        )
        assert match.height == 1, event
        row = match.row(0, named=True)
        assert all(row[k] == v for k, v in event.items()), (row, event)
    # The code change is not also a suppression and a creation.
    assert events.filter(pl.col("exercice") == 2024)["type_evenement"].to_list() == ["changement_code"]
    assert events.filter(pl.col("type_evenement") == "changement_code")["score"].to_list() == [100.0]


@pytest.mark.parametrize(
    ("fichier", "line", "stated", "message"),
    [
        (
            "LFI_2020_Nomenclature.csv",
            700,
            "2021",
            "ligne 700, colonne 'Exercice': several exercices in one file: "
            "[2020, 2021]; 2021 on 1 row(s), the first here",
        ),
        (
            "PLF_2019_Nomenclature_destination.csv",
            300,
            "PLF 2018",
            "ligne 300, colonne 'Phase': several exercices in one file: [2018, 2019]; 2018 on 1 row(s), the first here",
        ),
        # A PLF line in an LFI file (its `Loi`): an error too, never read as the file's phase (the first in order).
        (
            "LFI_2020_Nomenclature.csv",
            5,
            "2020;PLF",
            "ligne 5, colonne 'Loi': several phases in one file: ['LFI', 'PLF']; PLF on 1 row(s), the first here",
        ),
    ],
    ids=["exercice column", "phase column", "another phase"],
)
def test_a_nomenclature_of_several_exercices_or_phases_names_the_line_and_the_column(
    tmp_path, fichier, line, stated, message
):
    # A tester's find: the error named no line (`several exercices in one file: [2020, 2021]`). As the credit
    # reader's: the first line of the exercice of fewest lines, and the column stating it (the exercice's, or the
    # phase's `PLF 2019`).
    from tests.conftest import changed_copy
    from warehouse.credits.files import SourceReadError
    from warehouse.nomenclature.resolution import read_nomenclature_file

    def other_year(number: int, fields: list[str]) -> None:
        if number == line:
            fields[: stated.count(";") + 1] = stated.split(";")

    (item,) = take_inventory(discover_sources(changed_copy(tmp_path / "sources", fichier, other_year)))
    with pytest.raises(SourceReadError) as raised:
        read_nomenclature_file(item)
    assert str(raised.value) == f"{fichier}, {message}"


def _with_a_second_libelle(tmp_path, differ_on: int | None):
    """The first 20 data rows of the real LFI 2021 nomenclature with a second `Libelle` column: the first's cells
    again, but `autre libellé` on data row ``differ_on``; its inventory item and that row's first `Libelle`."""
    fichier = "LFI_2021_Nomenclature_Destination.csv"
    header, *rows = (SOURCES / fichier).read_bytes().decode("cp1252").split("\r\n")[:21]
    said = [rows[differ_on - 1].split(";")[5]] if differ_on else []
    rows = [f"{r};{'autre libellé' if n == differ_on else r.split(';')[5]}" for n, r in enumerate(rows, 1)]
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / fichier).write_bytes("\r\n".join([header + ";Libelle", *rows, ""]).encode("cp1252"))
    (item,) = take_inventory(discover_sources(tmp_path / "sources"))
    return item, said


def test_a_second_nomenclature_column_of_a_field_that_differs_is_the_credit_readers_error(tmp_path):
    # A review's find (wave 17): the check was the credit reader's only; a nomenclature file with two columns of one
    # field read the first in silence. Now the credit reader's error, naming both columns and the first row.
    from warehouse.credits.files import SourceReadError
    from warehouse.nomenclature.resolution import read_nomenclature_file

    item, said = _with_a_second_libelle(tmp_path, differ_on=9)
    with pytest.raises(SourceReadError) as raised:
        read_nomenclature_file(item)
    assert str(raised.value) == (
        "LFI_2021_Nomenclature_Destination.csv, ligne 9, colonne 'Libelle': two columns hold the field libelle: "
        f"'Libelle' (column 6, F) and 'Libelle' (column 8, H), which differ on this line ('{said[0]}' against "
        "'autre libellé'): which one to read is unknown"
    )


def test_a_second_nomenclature_column_equal_to_the_first_on_every_row_reads_as_the_file(tmp_path):
    from warehouse.nomenclature.resolution import read_nomenclature_file

    item, _ = _with_a_second_libelle(tmp_path, differ_on=None)
    read = read_nomenclature_file(item)
    (tmp_path / "sources" / item.source.fichier).write_bytes(
        b"\r\n".join(line.rsplit(b";", 1)[0] for line in item.source.chemin.read_bytes().split(b"\r\n"))
    )  # the second column removed: the file as published (its first 20 rows)
    (alone,) = take_inventory(discover_sources(tmp_path / "sources"))
    expected = read_nomenclature_file(alone)
    assert read.elements.equals(expected.elements) and read.kept == expected.kept == 20
