"""The nomenclature built from the staged files in bounded memory (issue 11): the credit elements written
per exercice by DuckDB, and actions and sous-actions resolved by DuckDB, give exactly the tables the
in-memory path gives (``credit_elements`` of every line read whole, then ``resolve_nomenclature``), on
the warehouse built from the real files."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from warehouse.credits.staged_lines import staged_files
from warehouse.credits.staging import read_reports, read_unpartitioned_staging
from warehouse.nomenclature import resolution as nomenclature
from warehouse.nomenclature.resolution import (
    credit_elements,
    credit_elements_version,
    read_elements,
    resolve_nomenclature,
    resolve_staged_nomenclature,
    staged_credit_elements,
    write_credit_elements,
)


@pytest.fixture(scope="module")
def staging(built):
    out = built.out
    return out / "staging" / "nomenclature", out / "staging" / "credit_elements", out / "staging" / "credits"


@pytest.fixture(scope="module")
def in_memory(staging):
    """The tables as the build made them before issue 11's bounded path: every line read into memory."""
    nomenclature, _, credits = staging
    lines = pl.read_parquet(staged_files(credits))
    everything = pl.concat([read_unpartitioned_staging(nomenclature), credit_elements(lines)])
    return resolve_nomenclature(everything, {r.source_id for r in read_reports(nomenclature)})


def test_the_bounded_path_gives_the_same_tables_as_the_in_memory_one(staging, in_memory):
    nomenclature, elements, credits = staging
    sources = {r.source_id for r in read_reports(nomenclature)}
    bounded = resolve_staged_nomenclature(nomenclature / "part-0.parquet", elements, credits, sources)
    assert bounded.keys() == in_memory.keys()
    for name, frame in in_memory.items():
        assert bounded[name].schema == frame.schema, name
        assert bounded[name].equals(frame), name
    # Facts of shared/data/README.md ("Nomenclature"), on the tables the bounded path gave.
    programmes, missions, actions = bounded["programmes"], bounded["missions"], bounded["actions"]
    p352 = programmes.filter((pl.col("exercice") == 2024) & (pl.col("code_programme") == "352"))
    assert p352["libelle_programme"].to_list() == ["Innovation et transformation numériques"]
    assert programmes.filter(pl.col("libelle_programme").str.contains(r"^\d+ - |  ")).is_empty()  # `352 - `
    held_2021 = missions.filter(pl.col("exercice") == 2021)  # LFI 2021 leaves mission labels empty
    assert held_2021.height == 49 and held_2021["libelle_mission"].null_count() == 0
    assert actions.height == 6919 and bounded["sous_actions"].height == 9437
    assert dict(actions.group_by("exercice").len().iter_rows())[2021] == 797


def test_credit_elements_per_exercice_are_the_elements_of_the_whole_staging(staging, tmp_path):
    _, written, credits = staging
    root = tmp_path / "elements"
    exercices = sorted({int(p.parent.name.split("=")[1]) for p in staged_files(credits)})
    counts = write_credit_elements(credits, root, exercices)
    assert counts[2020] == 3534 and sum(counts.values()) == 37106
    assert read_elements(None, root, credits).equals(staged_credit_elements(credits))
    # The data version: the same whatever the exercices a run writes, and the build's.
    version = credit_elements_version(root, credits)
    assert version == credit_elements_version(written, credits)
    write_credit_elements(credits, root, [2020])
    assert credit_elements_version(root, credits) == version
    # An exercice whose elements change changes it; one no longer staged drops out of it.
    shutil.copyfile(root / "exercice=2019" / "elements.parquet", root / "exercice=2020" / "elements.parquet")
    assert credit_elements_version(root, credits) != version
    staged_2020 = credits / "exercice=2020"
    moved = tmp_path / "moved"
    shutil.copytree(credits, moved)
    shutil.rmtree(moved / staged_2020.name)
    assert 2020 not in read_elements(None, root, moved)["exercice"].to_list()


def test_the_lines_order_is_a_bigint_even_without_statistics(staging):
    """The files staged batch by batch carry no statistics (``write_staging``): with a connection, ``_ordered_lines`` finds the
    largest ``ordre_lecture`` by a scan of that column and gives ``_ordre`` as a ``BIGINT``, in the order of the
    ``HUGEINT`` of ``_in_order`` (file by file, each in reading order); without one, it gives that ``HUGEINT``."""
    import duckdb
    import pyarrow.parquet as pq

    _, _, credits = staging
    files = staged_files(credits)
    assert len(files) > 1
    metadata = [pq.read_metadata(f) for f in files]
    without = [m for m in metadata if m.row_group(0).column(m.schema.names.index("ordre_lecture")).statistics is None]
    assert without  # LFI 2021 and the other CSV files staged alone, batch by batch
    connection = duckdb.connect()
    ordered = nomenclature._ordered_lines(files, connection)
    assert connection.execute(f"SELECT DISTINCT typeof(_ordre) FROM {ordered}").fetchall() == [("BIGINT",)]
    assert nomenclature._ordered_lines(files) == nomenclature._in_order(files)
    keys = "source_id, exercice, source_ligne, phase, code_programme, code_action, code_sous_action, ae, cp"
    ranked = [
        connection.execute(f"SELECT {keys} FROM {relation} ORDER BY _ordre").fetchall()
        for relation in (ordered, nomenclature._in_order(files))
    ]
    assert ranked[0] == ranked[1]


def test_labels_cleaned_by_duckdb_are_those_clean_label_gives():
    """The credit elements' labels are cleaned in DuckDB (no element comes into Python): the SQL rule gives
    what ``schemas.labels.clean_label`` gives, on every white space character Python splits on, the Excel
    artefacts, and labels that clean to nothing."""
    import duckdb

    from schemas.labels import clean_label
    from warehouse.nomenclature.resolution import clean_label_sql

    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    labels = [
        "352 - Innovation et transformation  numériques_x000D_",
        "_x000A_Transformation et fonction  publiques_x000d_ ",
        "l’État\u00a0\u2009stratège\u3000",
        "Aide_x000B_publique",  # not an artefact: kept
        "_x000D_",
        "",
        *[f"{s}a{s}{s}b{s}" for s in spaces],
        "".join(spaces),
    ]
    connection = duckdb.connect()
    got = connection.execute(
        f"SELECT {clean_label_sql('libelle')} FROM unnest(?::VARCHAR[]) WITH ORDINALITY t(libelle, n) ORDER BY n",
        [labels],
    ).fetchall()
    assert [row[0] for row in got] == [clean_label(label) for label in labels]
    assert got[6][0] == "a b"


def test_a_large_table_file_is_validated_in_batches_as_pandera_validates_it_whole(staging, tmp_path):
    """``sous_actions`` is validated from its file in batches (``validate_file``): the real table passes; a
    bad code is reported at its row of the file; a duplicate key split between two batches is still found,
    reported as Pandera reports it on the whole table."""
    from schemas.nomenclature import SousActionsModel
    from schemas.validation import ValidationFailed, validate
    from warehouse.nomenclature.resolution import resolve_staged_nomenclature_files, validate_file

    nomenclature, elements, credits = staging
    sources = {r.source_id for r in read_reports(nomenclature)}
    _, files = resolve_staged_nomenclature_files(nomenclature / "part-0.parquet", elements, credits, sources, tmp_path)
    path = files["sous_actions"]
    assert validate_file(SousActionsModel, path, batch_rows=1000) == 9437
    table = pl.read_parquet(path)

    bad = table.with_columns(
        code_sous_action=pl.when(pl.int_range(pl.len()) == 2500).then(pl.lit("1A")).otherwise("code_sous_action")
    )
    bad.write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValidationFailed) as raised:
        validate_file(SousActionsModel, tmp_path / "bad.parquet", batch_rows=1000)
    assert raised.value.failures.rows() == [("code_sous_action", "str_matches('^\\d{2}$')", 2500, "1A")]

    doubled = pl.concat([table.slice(0, 1000), table.slice(999, 1)])  # row 999 ends batch 1, row 1000 starts 2
    doubled.write_parquet(tmp_path / "doubled.parquet")
    with pytest.raises(ValidationFailed) as raised:
        validate_file(SousActionsModel, tmp_path / "doubled.parquet", batch_rows=1000)
    with pytest.raises(ValidationFailed) as whole:
        validate(SousActionsModel, doubled)
    assert raised.value.failures.equals(whole.value.failures)
    assert raised.value.failures["index"].to_list() == [999, 1000]


def test_labels_too_large_for_an_enum_are_grouped_as_text_with_the_same_elements(staging, tmp_path, monkeypatch):
    """Where the distinct labels of a level do not fit an ``ENUM`` within ``ELEMENTS_MEMORY_LIMIT``
    (100,000 distinct labels of 770 characters did not, at 256 MB), the level is grouped as text within the
    store's limit: the same elements, in the same order, as the in-memory path. Here a 1 MB limit makes
    the real files' labels too large for it."""
    _, _, credits = staging
    monkeypatch.setattr(nomenclature, "ELEMENTS_MEMORY_LIMIT", "1MB")
    root = tmp_path / "elements"
    counts = write_credit_elements(credits, root, [2020, 2021])
    assert counts == {2020: 3534, 2021: counts[2021]} and counts[2021] > 0
    expected = staged_credit_elements(credits).filter(pl.col("exercice").is_in([2020, 2021]))
    assert read_elements(None, root, credits).equals(expected)


def test_a_table_file_failing_a_rule_in_sql_is_judged_by_pandera(staging, tmp_path):
    """``validate_file`` first runs the model's rules as SQL over the whole file; where they fail, or where the
    file's types are not the model's, Pandera decides, as it does on the whole table: a code of two Arabic-Indic
    digits fails the SQL ``GLOB`` (ASCII digits) but is a digit for Pandera's ``\\d``; an ``exercice`` stored as
    Int64 is Pandera's ``dtype`` failure."""
    from schemas.nomenclature import SousActionsModel
    from schemas.validation import ValidationFailed, validate
    from warehouse.nomenclature.resolution import resolve_staged_nomenclature_files, validate_file

    nomenclature, elements, credits = staging
    sources = {r.source_id for r in read_reports(nomenclature)}
    _, files = resolve_staged_nomenclature_files(nomenclature / "part-0.parquet", elements, credits, sources, tmp_path)
    table = pl.read_parquet(files["sous_actions"])
    arabic = table.with_columns(
        code_sous_action=pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("\u0661\u0662")).otherwise("code_sous_action")
    )
    arabic.write_parquet(tmp_path / "arabic.parquet")
    validate(SousActionsModel, arabic)  # Pandera passes it
    assert validate_file(SousActionsModel, tmp_path / "arabic.parquet", batch_rows=1000) == 9437

    wide = table.with_columns(pl.col("exercice").cast(pl.Int64))
    wide.write_parquet(tmp_path / "wide.parquet")
    with pytest.raises(ValidationFailed) as raised:
        validate_file(SousActionsModel, tmp_path / "wide.parquet", batch_rows=100_000)
    with pytest.raises(ValidationFailed) as whole:
        validate(SousActionsModel, wide)
    assert raised.value.failures.equals(whole.value.failures)
    assert raised.value.failures["check"].to_list() == ["dtype('Int16')"]
