"""Loading ``credits`` and checking it from the staged Parquet files, in DuckDB and lazy Polars (issue 11, item 4),
on the staging area of a real build: the same rows and figures as the build's, and errors that name the file,
the line and the column."""

import shutil
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from schemas.credits import BUSINESS_KEY, CreditsModel
from warehouse.coverage import credit_coverage
from warehouse.credits import load as credits_load
from warehouse.credits.load import (
    InvalidStagedLine,
    credits_model_failures,
    credits_not_summing_to_kept_lines,
    lines_loaded,
    load_exercice,
    model_rules,
    repeated_keys_not_summed,
    rule_failures,
)
from warehouse.credits.rules import witness_differences
from warehouse.credits.staged_lines import scan_staged_lines, staged_files
from warehouse.nomenclature.resolution import credit_elements, staged_credit_elements
from warehouse.store import duplicate_keys, schema_sql

M = Decimal


@pytest.fixture(scope="module")
def loaded(built, tmp_path_factory):
    """A new warehouse whose ``credits`` is loaded by :func:`load_exercice` from the build's staging area."""
    staging = built.out / "staging" / "credits"
    connection = duckdb.connect(str(tmp_path_factory.mktemp("load") / "w.duckdb"))
    connection.execute(schema_sql())
    exercices = sorted(int(p.parent.name.split("=")[1]) for p in staged_files(staging))
    assert exercices == list(range(2018, 2026))
    inserted = {e: load_exercice(connection, staging, e) for e in exercices}
    yield connection, staging, inserted
    connection.close()


def test_loaded_credits_equal_the_builds(built, loaded):
    connection, _, inserted = loaded
    connection.execute(f"ATTACH '{built.database}' AS construit (READ_ONLY)")
    try:
        for a, b in (("credits", "construit.credits"), ("construit.credits", "credits")):
            # all but code_mission, which the build fills afterwards from the nomenclature where the source has none
            columns = "SELECT * EXCLUDE (code_mission)"
            query = f"SELECT count(*) FROM (FROM {a} {columns} EXCEPT ALL FROM {b} {columns})"
            assert connection.execute(query).fetchall()[0] == (0,)
        (missions,) = connection.execute(
            "SELECT count(*) FROM credits c JOIN construit.credits b USING (exercice, phase, code_programme, "
            "source_ligne, source_id) WHERE c.code_mission IS NOT NULL AND c.code_mission <> b.code_mission"
        ).fetchall()[0]
        assert missions == 0
        (rows,) = connection.execute("SELECT count(*) FROM credits").fetchall()[0]
        assert (
            rows
            == sum(inserted.values())
            == connection.execute("SELECT count(*) FROM construit.credits").fetchall()[0][0]
        )
    finally:
        connection.execute("DETACH construit")


@pytest.mark.parametrize(
    ("exercice", "phase", "ae", "cp", "titre_2"),
    [
        (2021, "LFI", M("10600000.00"), M("10600000.00"), M("3000000.00")),
        (2022, "PLF", M("10600000.00"), M("12100000.00"), M("3000000.00")),
        (2024, "EXEC", M("35047974.62"), M("32092600.90"), None),
    ],
)
def test_facts_of_programme_352(loaded, exercice, phase, ae, cp, titre_2):
    connection = loaded[0]
    row = connection.execute(
        "SELECT sum(ae), sum(cp), sum(ae) FILTER (code_titre = '2'), sum(cp) FILTER (code_titre = '2') "
        "FROM credits WHERE code_programme = '352' AND exercice = ? AND phase = ?",
        [exercice, phase],
    ).fetchall()[0]
    assert row == (ae, cp, titre_2, titre_2)
    (action_01,) = connection.execute(
        "SELECT sum(ae) FROM credits WHERE code_programme = '352' AND code_action = '01' AND exercice = ? "
        "AND phase = ?",
        [exercice, phase],
    ).fetchall()[0]
    if exercice in (2021, 2022):
        assert action_01 == M("7300000.00")


def test_checks_computed_in_duckdb_pass_on_the_real_files(loaded):
    connection, staging, _ = loaded
    wrong, summary = repeated_keys_not_summed(connection, staging)
    assert wrong.is_empty()
    counts = {r["source_id"]: (r["cles"], r["lignes"]) for r in summary.iter_rows(named=True)}
    assert counts["plf-2021"] == (12, 48) and counts["plf-2022"] == (13, 51)
    wrong, scopes = credits_not_summing_to_kept_lines(connection, staging)
    assert wrong.is_empty() and scopes > 8
    assert credits_model_failures(connection).is_empty()
    eager = pl.read_parquet(staged_files(staging)).filter(pl.col("role") == "A")
    per_source = dict(eager.group_by("source_id").agg(pl.col("source_ligne").n_unique()).iter_rows())
    assert per_source["lfi-2021"] == 2327  # its AMD and LFI rows share their source lines
    assert lines_loaded(staging) == per_source


def test_repeated_keys_found_by_the_load_are_the_checks(loaded, monkeypatch):
    """The repeated keys :func:`load_exercice` found (one search in the load) answer for the check as its own
    search of the staged lines does; and through them the check still sees a row that does not count its lines."""
    connection, staging, _ = loaded
    by_load = repeated_keys_not_summed(connection, staging)
    assert len(credits_load._REPEATED_KEYS) >= 8  # one entry per exercice loaded
    monkeypatch.setattr(credits_load, "_REPEATED_KEYS", {})
    searched = repeated_keys_not_summed(connection, staging)
    assert by_load[1].equals(searched[1]) and by_load[0].equals(searched[0])
    assert by_load[1].rows() == [("plf-2021", 12, 48), ("plf-2022", 13, 51)]  # not an empty comparison
    monkeypatch.undo()
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute(
            "UPDATE credits SET nb_lignes_source = 1 WHERE source_id = 'plf-2021' AND nb_lignes_source > 1 "
            "AND code_programme = (SELECT min(code_programme) FROM credits WHERE source_id = 'plf-2021' "
            "AND nb_lignes_source > 1)"
        )
        wrong, _ = repeated_keys_not_summed(connection, staging)
    finally:
        connection.execute("ROLLBACK")
    assert wrong.height >= 1 and set(wrong["source_id"]) == {"plf-2021"}
    assert (wrong["nb_lignes"] > 1).all() and (wrong["nb_lignes_source"].is_null()).all()


def test_both_ways_of_the_load_give_the_rows_of_a_group_by_of_every_line(loaded):
    """Each exercice's rows are those of a plain ``GROUP BY`` of its authoritative lines by the business key, whether
    no key repeats there (every line its row: 2018-2020, 2023-2025) or some do (PLF 2021, 2022: the lines of a
    repeated hash grouped); and a table whose keys are unique has no duplicate key, in the columns of the key."""
    connection, staging, _ = loaded
    without_repeats = []
    for exercice in range(2018, 2026):
        relation = credits_load._authoritative(staged_files(staging, exercice))
        grouped = credits_load._SELECT_CREDITS.format(relation=relation, key=credits_load._KEY)
        mine = f"SELECT * EXCLUDE (code_mission) FROM credits WHERE exercice = {exercice}"
        plain = f"SELECT * EXCLUDE (code_mission) FROM ({grouped})"
        for a, b in ((mine, plain), (plain, mine)):
            assert connection.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchall() == [(0,)]
        lines, distinct = connection.execute(
            f"SELECT count(*), count(DISTINCT ({credits_load._KEY})) FROM {relation}"
        ).fetchall()[0]
        if lines == distinct:
            without_repeats.append(exercice)
    assert without_repeats == [2018, 2019, 2020, 2023, 2024, 2025]
    unique = duplicate_keys(connection, "credits", BUSINESS_KEY)
    assert unique.is_empty() and unique.columns == [*BUSINESS_KEY, "n"]


def test_lazy_readers_give_what_the_eager_ones_gave(loaded):
    _, staging, _ = loaded
    eager = pl.read_parquet(staged_files(staging))  # read whole, without the lazy readers
    lazy = scan_staged_lines(staging)
    assert lazy.collect(engine="streaming").equals(eager)
    assert staged_credit_elements(staging).equals(credit_elements(eager))
    counts = pl.DataFrame(
        {"exercice": [2021], "phase": ["LFI"], "type_budget": ["BG"], "lignes": [1]},
        schema={"exercice": pl.Int16, "phase": pl.String, "type_budget": pl.String, "lignes": pl.Int64},
    )
    assert credit_coverage(lazy, counts).equals(credit_coverage(eager, counts))
    assert witness_differences(lazy).equals(witness_differences(eager))


def test_an_invalid_staged_value_names_the_file_line_and_column(built, loaded, tmp_path):
    connection = loaded[0]
    staging = tmp_path / "credits"
    shutil.copytree(built.out / "staging" / "credits" / "exercice=2022", staging / "exercice=2022")
    (path,) = staged_files(staging, 2022)
    lines = pl.read_parquet(path)
    target = lines.filter((pl.col("role") == "A") & (pl.col("code_programme") == "352")).row(1, named=True)
    broken = pl.col("source_ligne") == target["source_ligne"]
    lines.with_columns(
        code_programme=pl.when(broken).then(pl.lit("35X")).otherwise(pl.col("code_programme"))
    ).write_parquet(path)
    before = connection.execute("SELECT count(*), sum(ae) FROM credits WHERE exercice = 2022").fetchall()[0]
    with pytest.raises(InvalidStagedLine) as error:
        load_exercice(connection, staging, 2022)
    assert str(error.value).startswith(
        f"PLF_2022_Credits_Destination_Nature.csv, ligne {target['source_ligne']}, colonne 'code_programme': "
        "str_matches failed on '35X'"
    )
    assert connection.execute("SELECT count(*), sum(ae) FROM credits WHERE exercice = 2022").fetchall()[0] == before


def test_rule_failures_found_in_one_scan_where_other_rules_are_null():
    """The scan for any failing rule (the rules joined by OR) finds a row that breaks one rule while the
    others are null there, and finds nothing where every rule is null or passes: as each rule's count."""
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE t AS FROM (VALUES ('s', 1, NULL, '9'), ('s', 2, '31', '3'), ('s', 3, NULL, NULL), "
        "('s', 4, '41', '3')) v(source_id, source_ligne, code_categorie, code_titre)"
    )
    rules = model_rules(CreditsModel, ["code_categorie", "code_titre"])
    failures = rule_failures(connection, "t", rules)
    assert failures.select("source_ligne", "colonne", "regle", "valeur", "nb_echecs").rows() == [
        (1, "code_titre", "str_matches", "9", 1),
        (4, "code_titre", "titre_is_first_digit_of_categorie", "3", 1),
    ]
    assert rule_failures(connection, "(FROM t WHERE source_ligne IN (2, 3))", rules).is_empty()


_PATTERNS = {
    n: c.statistics["pattern"]
    for n, col in CreditsModel.to_schema().columns.items()
    for c in col.checks
    if c.name == "str_matches"
}


@pytest.mark.parametrize("column", sorted(n for n, c in CreditsModel.to_schema().columns.items() if n in _PATTERNS))
def test_a_code_pattern_as_glob_answers_as_the_regular_expression(column):
    """Each code pattern of the model runs as a GLOB (cheaper on millions of rows), with the regular expression's
    answer on strings at its edges: other digits and letters, a newline, a character of two bytes, GLOB's signs."""
    (rule,) = [r for r in model_rules(CreditsModel, [column]) if r.check == "str_matches"]
    assert "GLOB" in rule.failing and "regexp" not in rule.failing
    values = ["", "1", "12", "123", "1234", "a1", "AB", "ab", "ABC", "A", "0", "8", "9", "１２", "٠١", "12\n", "\n12"]
    values += [" 12", "12 ", "É1", "ÀB", "É", "1\x002", "[1", "*", "?", "1*", "A?", "Z", "@", "Z[", "7", "07", "999"]
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t (v VARCHAR)")
    connection.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
    rows = connection.execute(
        f"SELECT v, regexp_full_match(v, ?), NOT ({rule.failing}) FROM (SELECT v AS {column} , v FROM t)",
        [_PATTERNS[column]],
    ).fetchall()
    assert [v for v, regex, glob in rows if regex != glob] == []
    assert any(regex for _, regex, _ in rows) and not all(regex for _, regex, _ in rows)


def test_a_repeated_business_key_is_found_nulls_equal(loaded):
    """A key held by two rows (one with a null code, nulls equal) is found by ``business_key_unique``'s query and
    by the model check, through the rows sharing a hash of the key; ``unique=False`` leaves it to the former."""
    connection = duckdb.connect()
    connection.execute(schema_sql())
    rows = loaded[0].sql("SELECT * FROM credits WHERE exercice = 2022 ORDER BY ALL LIMIT 2000").pl()
    connection.register("lignes", rows.to_arrow())
    connection.execute("INSERT INTO credits SELECT * FROM lignes")
    connection.execute(
        "INSERT INTO credits SELECT * FROM lignes WHERE code_sous_action IS NULL ORDER BY ALL LIMIT 1 OFFSET 7"
    )
    (repeated,) = duplicate_keys(connection, "credits", BUSINESS_KEY).iter_rows(named=True)
    expected = rows.filter(pl.col("code_sous_action").is_null()).sort(rows.columns).row(7, named=True)
    assert repeated == {c: expected[c] for c in BUSINESS_KEY} | {"n": 2}
    failures = credits_model_failures(connection)
    assert failures.select("source_ligne", "regle", "nb_echecs").rows() == [(expected["source_ligne"], "unique", 2)]
    assert credits_model_failures(connection, unique=False).is_empty()


def test_lines_loaded_counted_by_bits_as_by_distinct_values(loaded, monkeypatch):
    """``lines_loaded`` sets one bit per line number; beyond its bound it counts distinct values: the same counts."""
    staging = loaded[1]
    by_bits = lines_loaded(staging)
    monkeypatch.setattr("warehouse.credits.load._LINE_BITS", 0)
    assert lines_loaded(staging) == by_bits
    assert by_bits["plf-2021"] == 2353 and by_bits["plrg-2024-xls"] == 3560
