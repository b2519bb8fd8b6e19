"""End to end: ``budget-warehouse build`` on the real files, then queries of its outputs."""

import csv
import io
from decimal import Decimal

import dagster as dg
import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
from python_calamine import CalamineWorkbook

from tests.conftest import SOURCES, TABLES
from warehouse.credits.rules import witness_differences
from warehouse.credits.staged_lines import staged_files

M = Decimal


def _query(build, sql, params=()):
    with duckdb.connect(str(build.database), read_only=True) as connection:
        return connection.execute(sql, list(params)).fetchall()


def _p352(build, exercice, phase, extra=""):
    (row,) = _query(
        build,
        f"SELECT sum(ae), sum(cp), sum(ae) FILTER (code_titre = '2'), sum(cp) FILTER (code_titre = '2') "
        f"FROM credits WHERE code_programme = '352' AND exercice = ? AND phase = ? {extra}",
        (exercice, phase),
    )
    return row


def test_build_exits_zero_and_summarises(built):
    assert "== summary ==" in built.stdout
    assert "checks:" in built.stdout and " 0 failed" in built.stdout
    assert "warn: core/ecarts_sources:temoin (6 row(s))" in built.stdout
    assert "PLF_2023_Associations.csv" in built.stdout  # listed as not loaded


def test_programme_352_facts(built):
    assert _p352(built, 2021, "LFI") == (M("10600000"), M("10600000"), M("3000000"), M("3000000"))
    assert _p352(built, 2022, "PLF") == (M("10600000"), M("12100000"), M("3000000"), M("3000000"))
    ae, cp, t2_ae, _ = _p352(built, 2024, "EXEC")
    assert (ae, cp) == (M("35047974.62"), M("32092600.90"))
    assert t2_ae is None  # no titre 2 line: titre 2 is 0
    for exercice, phase in ((2021, "LFI"), (2022, "PLF")):
        assert _p352(built, exercice, phase, "AND code_action = '01'")[0] == M("7300000")
    assert _query(built, "SELECT DISTINCT code_mission FROM credits WHERE code_programme = '352'") == [("TR",)]


def test_the_same_facts_from_parquet(built):
    frame = pl.read_parquet(built.parquet / "credits.parquet")
    assert frame.schema["ae"] == pl.Decimal(18, 2) and frame.schema["exercice"] == pl.Int16
    p352 = frame.filter(
        (pl.col("code_programme") == "352") & (pl.col("exercice") == 2024) & (pl.col("phase") == "EXEC")
    )
    assert (p352["ae"].sum(), p352["cp"].sum()) == (M("35047974.62"), M("32092600.90"))
    lfi = frame.filter((pl.col("code_programme") == "352") & (pl.col("exercice") == 2021) & (pl.col("phase") == "LFI"))
    assert lfi.filter(pl.col("code_titre") == "2")["ae"].sum() == M("3000000")


def test_tables_columns_and_types(built):
    columns = dict(
        _query(built, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'credits'")
    )
    assert columns["ae"] == columns["cp"] == columns["ae_fdc_adp"] == "DECIMAL(18,2)"
    assert columns["exercice"] == "SMALLINT" and columns["source_ligne"] == "INTEGER"
    assert columns["calcule"] == "BOOLEAN"
    sources = {
        c for (c,) in _query(built, "SELECT column_name FROM information_schema.columns WHERE table_name = 'sources'")
    }
    assert {"source_id", "url", "fichier", "sha256", "octets", "lignes", "format", "charge_le"} <= sources


def test_every_exercice_and_phase_is_loaded(built):
    loaded = _query(
        built, "SELECT exercice, string_agg(DISTINCT phase, ',' ORDER BY phase) FROM credits GROUP BY 1 ORDER BY 1"
    )
    assert loaded == [
        (2018, "EXEC"), (2019, "LFI,PLF"), (2020, "LFI,PLF"), (2021, "AMD,LFI,PLF"), (2022, "PLF"),
        (2023, "AMD,LFI,PLF"), (2024, "EXEC,PLF"), (2025, "PLF"),
    ]  # fmt: skip
    assert _query(built, "SELECT count(*) FROM credits WHERE phase = 'AMD' AND ae = 0 AND cp = 0") == [(0,)]
    assert _query(built, "SELECT DISTINCT exercice FROM credits WHERE calcule") == [(2023,)]
    duplicates = _query(
        built,
        "SELECT count(*) FROM (SELECT 1 FROM credits GROUP BY exercice, phase, type_budget, code_programme, "
        "code_action, code_sous_action, code_categorie, code_titre HAVING count(*) > 1)",
    )
    assert duplicates == [(0,)]


def test_repeated_keys_are_summed(built):
    rows = _query(
        built,
        "SELECT source_id, count(*), sum(nb_lignes_source) FROM credits WHERE nb_lignes_source > 1 GROUP BY 1 ORDER BY 1",
    )
    assert rows == [("plf-2021", 12, 48), ("plf-2022", 13, 51)]


# Independent oracle: the authoritative files' own columns, summed with Python's csv module.
_TYPES = {
    "BG": "BG", "Budget général": "BG", "CAS": "CAS", "Comptes d'affectation spéciale": "CAS", "CCF": "CCF",
    "Comptes de concours financiers": "CCF", "BA": "BA", "Budgets annexes": "BA",
}  # fmt: skip
# fichier -> (encoding, type column, {phase: ([AE columns], [CP columns])})
_AUTHORITATIVE = {
    "PLR_2018_Credits.csv": ("utf-8-sig", "Type de Budget (Hors Budgets annexes)",
                             {"EXEC": (["EXEC AE 2018\nRAP 2018"], ["EXEC CP 2018\nRAP 2018"])}),
    "PLF_2019_BG_Nature.csv": ("cp1252", "Type de Budget", {"PLF": (["AE PLF 2019"], ["CP PLF 2019"])}),
    "PLF_2019_CS_Nature.csv": ("cp1252", "Type de Budget", {"PLF": (["AE PLF 2019"], ["CP PLF 2019"])}),
    "PLF_2019_CCF_Nature.csv": ("cp1252", "Type de Budget", {"PLF": (["AE PLF 2019"], ["CP PLF 2019"])}),
    "PLF_2019_BA_Destination.csv": ("cp1252", "Type de mission", {"PLF": (["AE PLF 2019"], ["CP PLF 2019"])}),
    "LFI_2019_Credits.csv": ("utf-8-sig", "Type de Budget (Hors Budgets annexes)",
                             {"LFI": (["AE LFI 2019"], ["CP LFI 2019"])}),
    "PLF_2020_Credits.csv": ("ascii", "typeBudget", {"PLF": (["aePlfNp1"], ["cpPlfNp1"])}),
    "LFI_2020_Credits.csv": ("ascii", "typeBudget", {"LFI": (["AE LFI 2020"], ["CP LFI 2020"])}),
    "PLF_2021_Credits.csv": ("ascii", "typeBudget", {"PLF": (["AE PLF"], ["CP PLF"])}),
    "LFI_2021_Credits.csv": ("cp1252", "Type Mission", {
        "AMD": (["AE T2 AMD", "AE HT2 amd"], ["CP T2 AMD", "CP HT2 AMD"]),
        "LFI": (["AE ( T2 + HT2) LFI"], ["CP ( T2 + HT2) LFI"])}),
    "PLF_2022_Credits_Destination_Nature.csv": ("ascii", "typeBudget", {"PLF": (["ae"], ["cp"])}),
    "PLF_2023_Credits_Destination_Nature.csv": ("utf-8-sig", "typeBudget", {"PLF": (["ae"], ["cp"])}),
    "LFI_2023_Credits_Destination_Nature.csv": ("utf-8-sig", "Type Mission", {
        "AMD": (["AE T2 Amendements 2023", "AE Hors T2 Amendements 2023"],
                ["CP T2 Amendements 2023", "CP Hors T2 Amendements 2023"]),
        "LFI": (["AE T2 PLF 2023", "AE Hors T2 PLF 2023", "AE T2 Amendements 2023", "AE Hors T2 Amendements 2023"],
                ["CP T2 PLF 2023", "CP Hors T2 PLF 2023", "CP T2 Amendements 2023", "CP Hors T2 Amendements 2023"])}),
    "plf-2024-depenses-2024-selon-nomenclatures-destination-et-nature.csv": ("utf-8-sig", "Type Mission",
                                                                            {"PLF": (["AE  PLF"], ["CP PLF"])}),
    "PLF_2025_Depenses_Destination.csv": ("utf-8-sig", "typeBudget",
                                          {"PLF": (["autorisation engagement"], ["credit de paiement"])}),
    "2024_PLRG/Credits_Destination_Nature_YC_RetD.xls": (None, "typeBudget", {"EXEC": (["AE EXEC"], ["CP EXEC"])}),
}  # fmt: skip


def _oracle_rows(fichier, encoding):
    path = SOURCES / fichier
    if encoding is None:
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        text = [[c.replace("\x00", "") if isinstance(c, str) else c for c in row] for row in sheet]
        return text[0], text[1:]
    content = path.read_bytes().decode(encoding).lstrip("\ufeff")
    records = [r for r in csv.reader(io.StringIO(content), delimiter=";") if any(c.strip() for c in r)]
    return records[0], records[1:]


def _euros(cell) -> Decimal:
    if isinstance(cell, float):
        return Decimal(repr(cell)).quantize(M("0.01"))
    text = "".join(str(cell).split()).replace(",", ".")
    return Decimal(text or "0").quantize(M("0.01"))


@pytest.mark.parametrize("fichier", sorted(_AUTHORITATIVE))
def test_totals_equal_the_authoritative_file_to_the_cent(built, fichier):
    encoding, type_column, phases = _AUTHORITATIVE[fichier]
    header, rows = _oracle_rows(fichier, encoding)
    (source_id,) = _query(built, "SELECT source_id FROM sources WHERE fichier = ?", (fichier,))[0]
    for phase, (ae_columns, cp_columns) in phases.items():
        expected: dict[str, list[Decimal]] = {}
        for row in rows:
            totals = expected.setdefault(_TYPES[row[header.index(type_column)].strip()], [M(0), M(0)])
            totals[0] += sum((_euros(row[header.index(c)]) for c in ae_columns), M(0))
            totals[1] += sum((_euros(row[header.index(c)]) for c in cp_columns), M(0))
        loaded = _query(
            built,
            "SELECT type_budget, sum(ae), sum(cp) FROM credits WHERE source_id = ? AND phase = ? GROUP BY 1",
            (source_id, phase),
        )
        nonzero = {t: v for t, v in expected.items() if v != [0, 0]}  # AMD rows exist only where not zero
        assert {t: [ae, cp] for t, ae, cp in loaded if [ae, cp] != [0, 0]} == nonzero, (fichier, phase)


def test_line_accounting_of_the_sources_table(built):
    rows = _query(
        built,
        "SELECT s.fichier, s.lignes, s.lignes_retenues, s.lignes_ecartees, s.role, "
        "(SELECT max(n) FROM (SELECT sum(c.nb_lignes_source) AS n FROM credits c "
        " WHERE c.source_id = s.source_id GROUP BY c.phase)) "
        "FROM sources s WHERE s.statut = 'lu' AND s.format LIKE 'credits%'",
    )
    assert len(rows) == 23
    for fichier, lignes, retenues, ecartees, role, loaded in rows:
        assert lignes == retenues + ecartees, fichier
        if role == "A":
            assert loaded == retenues, fichier  # every kept line is in credits, once per phase
        if role == "W":
            assert loaded is None, fichier


def test_sources_table_lists_every_file(built):
    files = sum(1 for p in SOURCES.rglob("*") if p.is_file())
    assert _query(built, "SELECT count(*) FROM sources") == [(files,)]
    (row,) = _query(built, "SELECT statut, format, entete FROM sources WHERE fichier = 'PLF_2023_Associations.csv'")
    assert row[0] == "non_reconnu" and row[1] is None and row[2].startswith("recordid | _record_id")
    (row,) = _query(
        built,
        "SELECT sha256, octets, lignes, format, role, charge_le IS NOT NULL FROM sources WHERE source_id = 'lfi-2021'",
    )
    assert row == ("0e4721892dc2539cc20ffc44a95127da7c7d04a2c8c2135ba3a18246ed5f3533", 583949, 2333,
                   "credits_t2_ht2", "A+W", True)  # fmt: skip


def test_witness_differences_are_the_known_ones(built):
    differences = witness_differences(pl.read_parquet(staged_files(built.out / "staging" / "credits")))
    assert sorted(set(zip(differences["exercice"], differences["code_programme"], strict=True))) == [
        (2024, "382"),
        (2025, "833"),
    ]
    assert set(differences.filter(pl.col("exercice") == 2025)["ecart_ae"]) == {M("420243")}
    assert set(differences.filter(pl.col("exercice") == 2024)["ecart_ae"]) == {M("-1000000")}


def test_parquet_files_are_complete(built):
    for table in TABLES:
        path = built.parquet / f"{table}.parquet"
        assert pq.ParquetFile(path).metadata.num_rows == _query(built, f"SELECT count(*) FROM {table}")[0][0]
    assert sorted(p.name for p in built.parquet.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)
    assert pq.ParquetFile(built.parquet / "credits.parquet").metadata.row_group(0).column(0).compression == "ZSTD"


def test_runs_are_recorded_in_the_dagster_instance(built):
    with dg.DagsterInstance.from_config(str(built.out / "dagster")) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1  # a first build: the 8 exercices (raw/sources first), then the publication, in one run
        assert all(r.is_success for r in runs)
        assert sorted(instance.get_dynamic_partitions("exercice")) == [str(y) for y in range(2018, 2026)]


def test_view_programmes_historique(built):
    rows = _query(
        built,
        "SELECT exercice, libelle_programme, code_mission, ae_lfi, cp_lfi, ae_plf, cp_plf, ae_exec, cp_exec "
        "FROM programmes_historique WHERE code_programme = '352' ORDER BY exercice",
    )
    by_year = {r[0]: r for r in rows}
    assert sorted(by_year) == [2019, 2020, 2021, 2022, 2023, 2024]
    assert by_year[2021][1:5] == ("Innovation et transformation numériques", "TR", M("10600000"), M("10600000"))
    assert by_year[2022][5:7] == (M("10600000"), M("12100000"))
    assert by_year[2024][7:9] == (M("35047974.62"), M("32092600.90"))
    assert by_year[2019][1].startswith("Fonds pour l'accélération")


def test_view_credits_derniere_phase(built):
    phases = _query(
        built, "SELECT exercice, string_agg(DISTINCT phase) FROM credits_derniere_phase GROUP BY 1 ORDER BY 1"
    )
    assert phases == [
        (2018, "EXEC"), (2019, "LFI"), (2020, "LFI"), (2021, "LFI"), (2022, "PLF"), (2023, "LFI"), (2024, "EXEC"),
        (2025, "PLF"),
    ]  # fmt: skip
    (count,) = _query(built, "SELECT count(*) FROM credits_derniere_phase WHERE exercice = 2024")[0]
    assert count == _query(built, "SELECT count(*) FROM credits WHERE exercice = 2024 AND phase = 'EXEC'")[0][0]


def test_nomenclature_tables_published(built):
    frame = pl.read_parquet(built.parquet / "programmes.parquet")
    row = frame.filter((pl.col("exercice") == 2025) & (pl.col("code_programme") == "129")).row(0, named=True)
    assert row["libelle_programme"] == "Coordination du travail gouvernemental"  # no `129 - ` prefix
    events = pl.read_parquet(built.parquet / "nomenclature_evenements.parquet")
    transfer = events.filter(pl.col("type_evenement") == "transfert").row(0, named=True)
    assert (transfer["exercice"], transfer["code_programme"], transfer["vers"]) == (2025, "352", "129-16")
    statuses = _query(built, "SELECT statut, count(*) FROM sources WHERE format LIKE 'nomenclature%' GROUP BY 1")
    assert statuses == [("lu", 12)]


def test_mission_codes_filled_from_the_nomenclature(built):
    assert _query(built, "SELECT count(*) FROM credits WHERE code_mission IS NULL") == [(0,)]
    rows = _query(
        built,
        "SELECT DISTINCT code_programme, code_mission FROM credits "
        "WHERE exercice = 2019 AND phase = 'PLF' AND type_budget = 'BA' ORDER BY 1",
    )
    assert rows and all(mission is not None for _, mission in rows)
    assert ("613", "XC") in rows  # Contrôle et exploitation aériens
