"""The performance files read into ``indicateurs`` and ``indicateur_valeurs``: real-file facts, new vintages, errors."""

import csv
from collections import Counter

import polars as pl
import pytest

from schemas.catalogue import CatalogueEntry
from schemas.performance.families import best_performance_family
from schemas.performance.models import VALEUR_KEY
from tests.conftest import SOURCES
from warehouse.credits.files import SourceReadError
from warehouse.performance.files import read_performance_file, read_performance_table, recognise_performance
from warehouse.performance.tables import assemble_performance
from warehouse.reading.tables import read_tables

PAP, RAP = "PLF_2019_PAP.csv", "Performance_Depense.csv"


@pytest.fixture(scope="module")
def reads():
    return {name: read_performance_file(SOURCES / name, name, f"test-{name}") for name in (PAP, RAP)}


@pytest.fixture(scope="module")
def tables(reads):
    return assemble_performance(list(reads.values()))


def _values(tables, document, sous_indicateur, type_valeur):
    rows = tables.indicateur_valeurs.filter(
        (pl.col("code_sous_indicateur") == sous_indicateur)
        & (pl.col("type_valeur") == type_valeur)
        & (pl.col("document") == document)
    ).sort("annee")
    return {r["annee"]: r for r in rows.iter_rows(named=True)}


def test_the_two_files_are_recognised_with_their_document(reads):
    assert reads[PAP].document == "PAP 2019" and reads[PAP].famille == "performance_pap"
    assert reads[RAP].document == "RAP 2024" and reads[RAP].famille == "performance_rap"


def test_rap_2024_programme_352_national_impact_services(tables):
    row = tables.indicateurs.filter(pl.col("code_sous_indicateur") == "30157").row(0, named=True)
    assert (row["document"], row["niveau"], row["code_mission"], row["code_programme"]) == (
        "RAP 2024",
        "programme",
        "TR",
        "352",
    )
    assert (row["code_objectif"], row["code_indicateur"], row["unite"]) == ("P352-1", "P352-1-1", "Nb")
    realisations = _values(tables, "RAP 2024", "30157", "realisation")
    assert {a: r["valeur"] for a, r in realisations.items()} == {2022: 6.0, 2023: 6.0, 2024: 7.0}
    assert {a: r["valeur"] for a, r in _values(tables, "RAP 2024", "30157", "cible").items()} == {2024: 7.0, 2025: 5.0}
    assert realisations[2024]["colonne_source"] == "Exec 2024" and realisations[2024]["statut"] == "ok"
    published = tables.indicateur_atteintes_publiees.filter(pl.col("code_sous_indicateur") == "30157")
    assert published.select("annee", "atteinte_publiee", "atteinte").rows() == [(2024, "cible atteinte", "atteinte")]


def test_rap_2024_programme_352_share_of_women_with_sans_objet(tables):
    values = _values(tables, "RAP 2024", "30462", "realisation")
    assert values[2022]["valeur"] == 45.0 and values[2022]["statut"] == "ok"
    assert values[2023]["valeur"] is None and values[2023]["statut"] == "sans_objet"
    assert values[2023]["valeur_brute"] == "Sans objet"
    assert values[2024]["valeur"] == 17.4 and values[2024]["valeur_brute"] == "17,4"
    indicator = tables.indicateurs.filter(pl.col("code_sous_indicateur") == "30462").row(0, named=True)
    assert indicator["unite"] == "%" and indicator["code_indicateur"] == "P352-2-1"
    # Published "absence amélioration" (not met) with 17.4 below a target of 50: higher is better.
    assert indicator["sens_attendu"] == "hausse" and indicator["sens_origine"] == "atteinte_publiee"


def _independent_pap_counts():
    """Rows per programme of PLF_2019_PAP.csv counted with Python's csv module (rows that name an indicator)."""
    with open(SOURCES / PAP, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    per_programme = Counter(r["COD_PGM"] for r in rows if r["Numéro indicateur"].strip())
    without = sum(1 for r in rows if not r["Numéro indicateur"].strip())
    return len(rows), per_programme, without


def test_pap_2019_row_counts_per_programme_equal_the_file(tables, reads):
    total, per_programme, without = _independent_pap_counts()
    loaded = tables.indicateurs.filter(pl.col("document") == "PAP 2019")
    counted = Counter(loaded["code_programme"].to_list())
    expected = Counter({(str(int(k[1:])).zfill(3) if k else None): v for k, v in per_programme.items()})
    assert counted == expected
    assert counted["129"] == 30 and counted["141"] == 71 and counted[None] == 286
    assert reads[PAP].data_rows == total == 1965
    assert reads[PAP].set_aside == {"sans_indicateur": without} == {"sans_indicateur": 35}
    assert reads[PAP].kept + without == total


def test_pap_2019_codes_are_normalised(tables):
    pap = tables.indicateurs.filter(pl.col("document") == "PAP 2019")
    assert pap.filter(pl.col("code_programme").str.starts_with("P")).is_empty()
    row = pap.filter(pl.col("code_sous_indicateur") == "15682").row(0, named=True)
    assert (row["code_programme"], row["code_objectif"], row["code_indicateur"], row["code_indicateur_source"]) == (
        "129",
        "P129-1",
        "P129-1-2",
        "P129.1.2",
    )
    assert row["type_budget"] == "BG" and row["unite"] == "%"


def test_pap_2019_the_two_2018_forecasts(tables):
    prevision = _values(tables, "PAP 2019", "7842", "prevision")
    actualisee = _values(tables, "PAP 2019", "7842", "prevision_actualisee")
    assert prevision[2018]["valeur"] == 3.0 and prevision[2018]["colonne_source"] == "Prévision 2018 PAP 2018"
    assert actualisee[2018]["valeur"] == 2.7 and actualisee[2018]["colonne_source"] == "Prévision 2018 PAP 2019"
    assert prevision[2019]["colonne_source"] == "Prévision 2019 PAP 2019"
    first = _values(tables, "PAP 2019", "15682", "prevision_actualisee")[2018]
    assert (first["statut"], first["valeur"], first["valeur_brute"]) == (
        "non_numerique",
        None,
        "A renseigner le 10 décembre 2018",
    )
    cible = _values(tables, "PAP 2019", "15682", "cible")
    assert list(cible) == [2020] and cible[2020]["valeur"] == 1.0 and cible[2020]["colonne_source"] == "Valeur cible"
    per_type = Counter(tables.indicateur_valeurs.filter(pl.col("document") == "PAP 2019")["type_valeur"].to_list())
    assert per_type == {"realisation": 2 * 1930, "prevision": 2 * 1930, "prevision_actualisee": 1930, "cible": 1930}


def test_mission_level_rows(tables):
    missions = tables.indicateurs.filter(pl.col("niveau") == "mission")
    per_document = dict(missions.group_by("document").len().iter_rows())
    assert per_document == {"PAP 2019": 286, "RAP 2024": 336}
    assert missions["code_programme"].null_count() == missions.height
    assert missions["code_mission"].null_count() == 0
    rap = missions.filter(pl.col("code_sous_indicateur") == "21046").row(0, named=True)
    assert (rap["code_mission"], rap["code_indicateur"], rap["code_programme_repris"]) == ("AA", "MAA-1-1", "105")
    # PAP 2019: a mission's own indicator, and one repeating programme 150's (whose code the source keeps).
    own = missions.filter(pl.col("code_sous_indicateur") == "25103").row(0, named=True)
    assert (own["code_mission"], own["code_objectif"], own["code_indicateur"], own["code_programme_repris"]) == (
        "RA",
        "MRA-1",
        "MRA-1-1",
        None,
    )
    repeated = missions.filter(pl.col("code_sous_indicateur") == "8265").row(0, named=True)
    assert (repeated["code_objectif"], repeated["code_indicateur"], repeated["code_programme_repris"]) == (
        "MRA-1",
        "P150-1-1",
        "150",
    )


def test_no_duplicate_values_and_every_value_has_its_indicator(tables):
    values = tables.indicateur_valeurs
    assert values.height == 1930 * 6 + 2177 * 5
    assert values.select(VALEUR_KEY).is_duplicated().sum() == 0
    keys = ["document", "niveau", "code_mission", "code_programme", "code_indicateur", "code_sous_indicateur"]
    orphans = values.join(tables.indicateurs, on=keys, how="anti", nulls_equal=True)
    assert orphans.is_empty()


def test_a_sub_indicator_without_id_is_numbered_within_its_indicator(tables):
    row = tables.indicateurs.filter(pl.col("code_indicateur") == "P848-1-1").row(0, named=True)
    assert row["code_sous_indicateur"] == "P848-1-1-1" and row["libelle_sous_indicateur"] is None


def test_labels_lose_the_export_artefact(tables):
    assert tables.indicateurs.filter(pl.col("libelle_indicateur").str.contains("_x000D_")).is_empty()
    assert tables.indicateurs.filter(pl.col("libelle_sous_indicateur").str.contains("_x000D_")).is_empty()


def test_units_are_trimmed_and_case_variants_merged(tables):
    units = {r["unite"]: r for r in tables.unites.iter_rows(named=True)}
    assert units["Nombre"]["variantes"] == "Nombre (166) | nombre (37)"
    assert units["Nombre"]["nb_sous_indicateurs"] == 203 and "nombre" not in units
    assert units["%"]["nb_sous_indicateurs"] == tables.indicateurs.filter(pl.col("unite") == "%").height
    assert len({u.casefold() for u in units}) == len(units)
    assert sum(r["nb_sous_indicateurs"] for r in units.values()) == tables.indicateurs["unite"].drop_nulls().len()


def test_correspondences_state_their_method_and_score(tables):
    links = tables.indicateur_correspondances
    assert set(links["methode"].unique()) == {"identifiant", "libelle"}
    by_id = links.filter(pl.col("methode") == "identifiant")
    assert (by_id["code_sous_indicateur_a"] == by_id["code_sous_indicateur_b"]).all()
    assert by_id.height > 1000
    by_label = links.filter(pl.col("methode") == "libelle")
    assert (by_label["score"] >= 90).all()
    assert by_label.select("document_a", "code_sous_indicateur_a", "niveau_a").is_duplicated().sum() == 0
    # The same id over another indicator code and a diverging label: linked, and the link says so.
    moved = links.filter(pl.col("code_sous_indicateur_a") == "20929").row(0, named=True)
    assert (moved["document_a"], moved["document_b"], moved["code_indicateur_a"], moved["code_indicateur_b"]) == (
        "PAP 2019",
        "RAP 2024",
        "P164-5-1",
        "P164-4-1",
    )
    assert moved["meme_code_indicateur"] is False and moved["score"] < 50
    # A renumbered sub-indicator found by its label ("Ratio SUN" became "Ratio SUB").
    relabelled = by_label.filter(pl.col("code_sous_indicateur_a") == "16011").row(0, named=True)
    assert relabelled["code_sous_indicateur_b"] == "31218" and relabelled["score"] == pytest.approx(98.9, abs=0.1)


PAP_2025 = (
    "Type de Mission;Mission;COD_PGM;Programme;Numéro Objectif;Objectif;Numéro indicateur;Indicateur;"
    "Identifiant sous indicateur;Sous-indicateur;Unité;2022 Réalisation;2023 Réalisation;"
    "2024 Prévision PAP 2024;2024 Prévision actualisée;2025 Prévision;2027 Cible\n"
    "Budget général;Écologie;P140;Enseignement scolaire public du premier degré;P140.1;Conduire tous les élèves;"
    "P140.1.1;Proportion d'élèves;12345;En CE1;%;85,2;86.1;≥ 87;86;<=88;90\n"
)
RAP_2025 = (
    "code_mission;mission;code_programme;programme;code_objectif;libelle_objectif;code_indicateur;"
    "libelle_indicateur;code_sous_indicateur;libelle_sous_indicateur;unite;exec_2023;exec_2024;2025_cible;"
    "exec_2025;atteinte_de_la_cible_2025;2026_cible\n"
    "AA;Action extérieure de l'État;105;Action de la France;P105-1;Objectif;P105-1-1;Indicateur;21046.0;Sous;Nb;"
    "21\u00a0883 082;22 000 000;25 000 000;23 000 000;amélioration;25 000 000\n"
)


def test_other_vintages_read_with_no_code_change(tmp_path):
    pap = tmp_path / "pap.csv"
    pap.write_text(PAP_2025, encoding="utf-8")
    read = read_performance_file(pap, "pap.csv", "pap")
    assert read.document == "PAP 2025"
    row = read.indicateurs.row(0, named=True)
    assert (row["code_programme"], row["code_indicateur"], row["code_sous_indicateur"]) == ("140", "P140-1-1", "12345")
    got = {(r["annee"], r["type_valeur"]): r["valeur_brute"] for r in read.valeurs.iter_rows(named=True)}
    assert got == {
        (2022, "realisation"): "85,2",
        (2023, "realisation"): "86.1",
        (2024, "prevision"): "≥ 87",
        (2024, "prevision_actualisee"): "86",
        (2025, "prevision"): "<=88",
        (2027, "cible"): "90",
    }
    rap = tmp_path / "rap.csv"
    rap.write_text(RAP_2025, encoding="utf-8")
    read = read_performance_file(rap, "rap.csv", "rap")
    assert read.document == "RAP 2025" and read.famille == "performance_rap"
    values = {(r["annee"], r["type_valeur"]): r["valeur"] for r in read.valeurs.iter_rows(named=True)}
    assert values[(2023, "realisation")] == 21883082.0 and values[(2026, "cible")] == 25_000_000.0
    assert read.atteintes.select("annee", "atteinte").rows() == [(2025, "non_atteinte")]


def test_a_bad_code_names_the_file_the_row_and_the_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(RAP_2025.replace("P105-1-1", "indicateur un"), encoding="utf-8")
    with pytest.raises(SourceReadError) as raised:
        read_performance_file(bad, "bad.csv", "bad")
    assert str(raised.value).startswith("bad.csv, ligne 1, colonne 'code_indicateur': not an objective or indicator")


def test_a_budget_type_naming_none_is_an_error_naming_the_file_the_row_and_the_column(tmp_path):
    # The real RAP 2024 file (Budget: BG, BA, CAS, CCF) with its first row's type made "XX": it was
    # loaded as an empty type_budget, silently.
    lines = (SOURCES / RAP).read_text(encoding="utf-8-sig").splitlines()
    assert lines[1].startswith("AA-MAA-1-1;Mission;BG;")
    lines[1] = lines[1].replace(";BG;", ";XX;", 1)
    bad = tmp_path / RAP
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SourceReadError) as raised:
        read_performance_file(bad, RAP, "bad")
    assert str(raised.value) == (f"{RAP}, ligne 1, colonne 'Budget': not a budget type (BA, BG, CAS, CCF, CS): 'XX'"), (
        str(raised.value)
    )


def _rap_read_error(tmp_path, lines: list[str]) -> str:
    """The error of the RAP file of ``lines`` (the real file's, altered), written in ``tmp_path`` and read (it must
    raise :class:`SourceReadError`)."""
    bad = tmp_path / RAP
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SourceReadError) as raised:
        read_performance_file(bad, RAP, "bad")
    return str(raised.value)


@pytest.mark.parametrize(
    ("edit", "which", "count"),
    [
        (lambda fields: fields.insert(5, "en trop"), "more", 25),  # one field too many, inside the row
        (lambda fields: fields.append("en trop"), "more", 25),  # one filled field past the header's last
        (lambda fields: fields.pop(5), "fewer", 23),
    ],
    ids=["inserted", "appended", "missing"],
)
def test_a_row_with_more_or_fewer_fields_than_the_header_is_an_error_naming_its_line_and_field_count(
    edit, which, count, tmp_path
):
    # A tester's find: the real RAP 2024 file with one field added to a row (line 31 of the file) gave "ligne 30,
    # colonne 'Exec 2022': values on a row that names no indicator" (a value column blamed for the shift), or was read
    # with the added field dropped in silence. The row has more fields than the header: that is the error.
    lines = (SOURCES / RAP).read_text(encoding="utf-8-sig").splitlines()
    fields = lines[30].split(";")
    edit(fields)
    lines[30] = ";".join(fields)
    error = _rap_read_error(tmp_path, lines)
    assert error == (
        f"{RAP}, ligne 30: the row has {which} fields than the header ({count} where the header has 24; line 31 of "
        "the file)"
    ), error


def test_the_line_of_the_file_of_an_irregular_row_counts_quoted_line_breaks_above_it(tmp_path):
    # An adversarial tester's find: the line of the file in the error above was the data line plus the header's,
    # wrong by the line breaks a quoted field above holds (a label over three lines on line 11: the row of data
    # line 30 starts on line 33 of the file, not 31).
    lines = (SOURCES / RAP).read_text(encoding="utf-8-sig").splitlines()
    fields = lines[10].split(";")
    fields[8] = f'"{fields[8]}\nsuite\nfin"'
    lines[10] = ";".join(fields)
    fields = lines[30].split(";")
    fields.insert(5, "en trop")
    lines[30] = ";".join(fields)
    error = _rap_read_error(tmp_path, lines)
    assert error == (
        f"{RAP}, ligne 30: the row has more fields than the header (25 where the header has 24; line 33 of the file)"
    ), error


def test_a_value_without_its_target_year_is_an_error(tmp_path):
    table = read_tables(SOURCES / PAP)[0]
    header = ";".join(table.header)
    row = ";".join(c or "" for c in table.rows[0])
    broken = row.replace(";2020;1;MIN12", ";;1;MIN12")
    assert broken != row
    path = tmp_path / "pap.csv"
    path.write_text(header + "\n" + broken + "\n", encoding="utf-8")
    with pytest.raises(SourceReadError, match=r"pap\.csv, ligne 1, colonne 'Année cible': value '1' without its year"):
        read_performance_file(path, "pap.csv", "pap")


def test_credit_and_nomenclature_files_are_not_performance_files():
    for name in ("PLF_2019_BG_Nature.csv", "LFI_2023_Nomenclature_Destination.csv", "PLF_2020_Credits.csv"):
        assert best_performance_family(read_tables(SOURCES / name)[0].header) is None, name


# --- which document a file is, from its value columns; no column dropped; cell accounting -------------

PAP_2023_COLUMNS = [
    "2020 Réalisation",
    "2021 Réalisation",
    "2022 Cible (PAP 2022)",
    "2023 Cible",
    "2024 Cible",
    "2025 Cible",
]
RAP_2024_VALUE_COLUMNS = [
    "Exec 2022",
    "Exec 2023",
    "2024 Cible",
    "Exec 2024",
    "Atteinte de la cible 2024",
    "2025 Cible",
]


def _rewrite_header(source, target, renames: dict[str, str]) -> None:
    """Copy ``source`` to ``target`` with its header cells renamed; every data row left as it is."""
    text = source.read_text(encoding="utf-8-sig")
    header, rest = text.split("\n", 1)
    cells = header.rstrip("\r").split(";")
    assert set(renames) <= set(cells)
    target.write_text(";".join(renames.get(c, c) for c in cells) + "\n" + rest, encoding="utf-8")


def test_the_rap_2024_rows_under_pap_columns_load_as_pap_2023(tmp_path):
    path = tmp_path / "Performance_Depense.csv"
    _rewrite_header(SOURCES / RAP, path, dict(zip(RAP_2024_VALUE_COLUMNS, PAP_2023_COLUMNS, strict=True)))
    read = read_performance_file(path, "Performance_Depense.csv", "pap-2023")
    assert (read.document, read.type_document, read.millesime) == ("PAP 2023", "PAP", 2023)
    assert read.atteintes.is_empty()
    got = {(r["annee"], r["type_valeur"]) for r in read.valeurs.select("annee", "type_valeur").unique().to_dicts()}
    assert got == {
        (2020, "realisation"),
        (2021, "realisation"),
        (2022, "cible"),
        (2023, "cible"),
        (2024, "cible"),
        (2025, "cible"),
    }
    assert sorted(read.valeurs["colonne_source"].unique()) == sorted(PAP_2023_COLUMNS)
    # Every cell under the six columns, read independently with Python's csv module, is a value row.
    with open(SOURCES / RAP, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    expected = {
        (line, new): (row[old] or None)
        for line, row in enumerate(rows, start=1)
        for old, new in zip(RAP_2024_VALUE_COLUMNS, PAP_2023_COLUMNS, strict=True)
    }
    loaded = {(r["source_ligne"], r["colonne_source"]): r["valeur_brute"] for r in read.valeurs.to_dicts()}
    assert loaded == expected and len(loaded) == 2177 * 6
    targets = _values(assemble_performance([read]), "PAP 2023", "30157", "cible")
    assert {a: r["valeur"] for a, r in targets.items()} == {2022: 7.0, 2023: 7.0, 2024: None, 2025: 5.0}
    assert targets[2022]["colonne_source"] == "2022 Cible (PAP 2022)"  # the restated 2022 target
    assert (targets[2024]["statut"], targets[2024]["valeur_brute"]) == ("non_numerique", "cible atteinte")
    assert (read.cells_read, read.values_loaded, read.cells_set_aside) == (2177 * 6, 2177 * 6, {})


def test_the_real_files_say_their_document_and_balance_their_cells(reads):
    pap, rap = reads[PAP], reads[RAP]
    assert (pap.type_document, pap.millesime, pap.document_confirme_par) == ("PAP", 2019, "colonnes, nom du fichier")
    assert (rap.type_document, rap.millesime, rap.document_confirme_par) == ("RAP", 2024, "colonnes")
    # PAP 2019: 1965 rows × 6 value columns; the 35 rows without an indicator hold no value.
    assert (pap.cells_read, pap.values_loaded, pap.cells_set_aside) == (
        1965 * 6,
        1930 * 6,
        {"ligne_sans_indicateur": 210},
    )
    # RAP 2024: 2177 rows × (5 value columns + 1 attainment); 37 attainments left blank.
    with open(SOURCES / RAP, encoding="utf-8-sig", newline="") as handle:
        blank = sum(1 for r in csv.DictReader(handle, delimiter=";") if not r["Atteinte de la cible 2024"].strip())
    assert blank == 37
    assert (rap.cells_read, rap.values_loaded, rap.cells_set_aside) == (
        2177 * 6,
        2177 * 5 + 2177 - 37,
        {"atteinte_vide": 37},
    )
    assert "Prévision 2018 PAP 2019 → 2018 prevision_actualisee" in pap.colonnes
    assert "Valeur cible → <Année cible> cible" in pap.colonnes
    assert "Atteinte de la cible 2024 → 2024 atteinte" in rap.colonnes
    fichiers = assemble_performance([pap, rap]).indicateur_fichiers
    assert fichiers.select(
        "cellules_lues", "valeurs_chargees", "cellules_ecartees", "cellules_ecartees_par_motif"
    ).rows() == [
        (11790, 11580, 210, "ligne_sans_indicateur: 210"),
        (13062, 13025, 37, "atteinte_vide: 37"),
    ]


def test_an_unknown_value_column_is_reported_by_name(tmp_path):
    path = tmp_path / "Performance_Depense.csv"
    _rewrite_header(SOURCES / RAP, path, {"2025 Cible": "2026 Estimation"})
    with pytest.raises(SourceReadError) as raised:
        read_performance_file(path, "Performance_Depense.csv", "x")
    assert str(raised.value).startswith("Performance_Depense.csv: column(s) '2026 Estimation' mapped neither")


def test_a_name_saying_rap_over_pap_columns_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "RAP_2019_performance.csv"
    path.write_bytes((SOURCES / PAP).read_bytes())
    with pytest.raises(SourceReadError) as raised:
        read_performance_file(path, "RAP_2019_performance.csv", "x")
    assert str(raised.value).startswith(
        "RAP_2019_performance.csv: its nom du fichier says RAP 2019, its value columns say PAP 2019"
    )
    # A name stating the right kind but another year is an error too.
    path = tmp_path / "PLF_2020_PAP.csv"
    path.write_bytes((SOURCES / PAP).read_bytes())
    with pytest.raises(SourceReadError, match=r"^PLF_2020_PAP\.csv: its nom du fichier says PAP 2020"):
        read_performance_file(path, "PLF_2020_PAP.csv", "x")


def test_a_catalogue_entry_saying_rap_over_pap_columns_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "Performance_Depense.csv"
    _rewrite_header(SOURCES / RAP, path, dict(zip(RAP_2024_VALUE_COLUMNS, PAP_2023_COLUMNS, strict=True)))
    entry = CatalogueEntry(id="rap-2024", fichier="Performance_Depense.csv", exercice=2024, phases=("EXEC",))
    match, table = recognise_performance(path, "Performance_Depense.csv")
    with pytest.raises(SourceReadError) as raised:
        read_performance_table(table, match, "rap-2024", entry)
    assert str(raised.value).startswith(
        "Performance_Depense.csv: its catalogue says RAP 2024, its value columns say PAP 2023"
    )
    agreeing = CatalogueEntry(id="pap-2023", fichier="Performance_Depense.csv", exercice=2023, phases=("PLF",))
    assert read_performance_table(table, match, "pap-2023", agreeing).document_confirme_par == "colonnes, catalogue"


HEAD = "code_programme;code_objectif;code_indicateur;libelle_indicateur;code_sous_indicateur;libelle_sous_indicateur;"


def _small(tmp_path, name: str, columns: str, *rows: str):
    path = tmp_path / name
    path.write_text(
        HEAD + columns + "\n" + "".join(f"105;P105-1;P105-1-1;Ind;{i};Sous;{r}\n" for i, r in enumerate(rows, 1))
    )
    return read_performance_file(path, name, "x")


def test_a_rap_is_known_by_its_latest_realisation_with_a_target(tmp_path):
    read = _small(
        tmp_path, "perf.csv", "Réalisation 2019;Réalisation 2020;Réalisation 2021;Cible 2021;Cible 2023", "1;2;3;4;5"
    )
    assert read.document == "RAP 2021" and read.document_confirme_par == "colonnes"


def test_an_attainment_of_another_year_than_the_latest_realisation_is_an_error(tmp_path):
    with pytest.raises(SourceReadError, match=r"'Atteinte de la cible 2020' publishes the attainment of 2020"):
        _small(tmp_path, "perf.csv", "Exec 2020;Exec 2021;2021 Cible;Atteinte de la cible 2020", "1;2;3;atteinte")


def test_value_columns_that_fit_no_document_are_an_error_naming_them(tmp_path):
    with pytest.raises(SourceReadError) as raised:
        _small(tmp_path, "perf.csv", "2022 Réalisation;2023 Cible;2024 Réalisation", "1;2;3")
    assert "'2024 Réalisation' needs a PAP of 2026 or later, '2023 Cible' a PAP of 2023 or earlier" in str(raised.value)


def test_columns_that_leave_the_year_open_take_it_from_the_name_or_fail(tmp_path):
    with pytest.raises(SourceReadError, match=r"say PAP of a year in 2019–… .* neither its name nor the catalogue"):
        _small(tmp_path, "perf.csv", "Réalisation 2016;Réalisation 2017", "1;2")
    assert _small(tmp_path, "PAP_2020.csv", "Réalisation 2016;Réalisation 2017", "1;2").document == "PAP 2020"
    with pytest.raises(SourceReadError, match=r"^PAP_2018\.csv: its nom du fichier says PAP 2018"):
        _small(tmp_path, "PAP_2018.csv", "Réalisation 2016;Réalisation 2017", "1;2")


def test_two_columns_holding_the_same_year_and_type_are_an_error(tmp_path):
    with pytest.raises(SourceReadError, match=r"columns '2023 Cible' and 'Cible 2023' both hold the cible of 2023"):
        _small(tmp_path, "perf.csv", "2021 Réalisation;2023 Cible;Cible 2023", "1;2;3")


def test_a_column_without_header_is_read_only_when_empty(tmp_path):
    read = _small(tmp_path, "perf.csv", "2021 Réalisation;2023 Cible;", "1;2;", "3;4;")
    assert read.document == "PAP 2023" and read.values_loaded == 4
    with pytest.raises(SourceReadError, match=r"column\(s\) column 9 \(no header, a value on data row 2\)"):
        _small(tmp_path, "perf.csv", "2021 Réalisation;2023 Cible;", "1;2;", "3;4;oublie")


def test_every_cell_set_aside_is_counted_by_reason(tmp_path):
    path = tmp_path / "pap.csv"
    table = read_tables(SOURCES / PAP)[0]
    first = ";".join(c or "" for c in table.rows[0])
    no_year = first.replace(";2020;1;MIN12", ";;;MIN12").replace(";15682;", ";15683;")
    no_indicator = ";".join("" if i in (7, 8) or i >= 15 else (c or "") for i, c in enumerate(table.rows[0]))
    lines = [";".join(table.header), first, no_year, ";" * (len(table.header) - 1), no_indicator]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    read = read_performance_file(path, "pap.csv", "x")
    assert read.cells_set_aside == {"cible_sans_annee_ni_valeur": 1, "ligne_vide": 6, "ligne_sans_indicateur": 6}
    assert (read.cells_read, read.values_loaded) == (4 * 6, 6 + 5)
    assert read.cells_read == read.values_loaded + sum(read.cells_set_aside.values())


def test_the_models_run_once_on_the_whole_tables_and_a_breaking_file_is_named_alone(reads):
    """The build reads each file without its models and validates the whole tables once
    (``assemble_checked``): the same tables as validating each file; a file whose rows break the models
    is set aside with the message reading it alone gives (file, row, column), its last good rows carried,
    the other file kept."""
    from dataclasses import replace

    from warehouse.performance.files import validate_read
    from warehouse.performance.tables import FileFailure, assemble_checked

    unvalidated = []
    for name in (PAP, RAP):
        (table,) = read_tables(SOURCES / name, name)
        match = best_performance_family(table.header)
        unvalidated.append(read_performance_table(table, match, f"test-{name}", validated=False))
    asked = []

    def carried(ids):
        asked.append(ids)
        return None

    whole, failures = assemble_checked(unvalidated, [], carried)
    expected = assemble_performance(list(reads.values()))
    assert failures == [] and asked == [[]]
    for name, frame in expected.frames().items():
        assert whole.frames()[name].equals(frame), name

    pap, rap = unvalidated
    broken = rap.valeurs.with_columns(
        statut=pl.when(pl.col("source_ligne") == 12).then(pl.lit("inconnu")).otherwise("statut")
    )
    rap_broken = replace(rap, valeurs=broken)
    with pytest.raises(SourceReadError) as alone:
        validate_read(rap_broken)
    assert "Performance_Depense.csv" in str(alone.value) and "ligne 12, colonne 'statut'" in str(alone.value)
    tables, failures = assemble_checked([pap, rap_broken], [], carried)
    assert failures == [FileFailure(rap.source_id, RAP, rap.famille, str(alone.value))]
    assert asked[-1] == [rap.source_id]
    assert set(tables.indicateurs["source_id"].unique()) == {pap.source_id}
    assert tables.indicateur_fichiers.filter(pl.col("statut") == "erreur")["fichier"].to_list() == [RAP]
