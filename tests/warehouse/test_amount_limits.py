"""Amounts at the edges (a tester's finds, wave 15): a figure is exact or an error naming the file, the line and
the column, never a crash of a step nor a silent rounding.

Every test reads real files of the snapshot (copies, changed) through the real reading code: the in-memory reader
(:func:`read_credit_table`), the streamed one (:func:`read_credit_stream`) and the staging of an exercice
(:func:`stage_exercice_to`), whose file in error keeps its last good lines.
"""

from pathlib import Path

import polars as pl
import pytest

from tests.conftest import SOURCES, changed_copy, sources_with
from tests.credit_reads import credit_read_error
from tests.workbook_files import Sheet, write_xlsx
from warehouse.credits import files as credit_files
from warehouse.credits.files import SourceReadError, read_credit_stream, read_credit_table
from warehouse.credits.roles import stage_exercice_to
from warehouse.credits.staged_lines import staged_files
from warehouse.reading.csv_files import stream_csv_table
from warehouse.sources import discover_sources, recognise, take_inventory


def _changed(tmp_path: Path, name: str, change, extra: bytes = b"") -> Path:
    """A folder holding a copy of the real file ``name`` whose data lines ``change`` (number, fields) rewrote,
    ``extra`` appended; the folder."""
    return changed_copy(tmp_path / "sources", name, change, extra)


def _reads(folder: Path, tmp_path: Path, batch_rows: int = 97) -> tuple[str, str]:
    """The errors of the file of ``folder`` read whole and streamed (in batches of ``batch_rows`` lines)."""
    (source,) = discover_sources(folder)
    found = recognise(source)
    with pytest.raises(SourceReadError) as whole:
        read_credit_table(found.table, found.match, source.source_id, found.exercice_hint)
    with stream_csv_table(source.chemin, source.fichier) as stream, pytest.raises(SourceReadError) as streamed:
        read_credit_stream(
            stream, found.match, source.source_id, tmp_path / "parts", found.exercice_hint, batch_rows=batch_rows
        ).lines.collect()
    return str(whole.value), str(streamed.value)


def _in_error_read_and_staged(tmp_path: Path, monkeypatch, name: str, exercice: int, message: str, change, extra=b""):
    """The copy of the real ``name`` (exercice ``exercice``) that ``change`` and ``extra`` alter (:func:`_changed`) is
    in error with ``message`` read whole and streamed; staged (in batches of 100 lines) after the real ``name``, the
    file is in error with ``message``, its lines of the first staging carried over."""
    changed = _changed(tmp_path, name, change, extra)
    assert _reads(changed, tmp_path) == (message, message)
    monkeypatch.setattr(credit_files, "BATCH_ROWS", 100)
    good = sources_with(tmp_path / "good", name)
    root = tmp_path / "staging" / "credits"
    rows, _ = stage_exercice_to(root, exercice, take_inventory(discover_sources(good)))
    again, (report,) = stage_exercice_to(root, exercice, take_inventory(discover_sources(changed)))
    assert (report.statut, report.message) == ("erreur", message)
    staged = pl.read_parquet(staged_files(root, exercice))
    assert again == rows == staged.height and staged["repris"].all()


def test_repeated_keys_whose_sum_is_out_of_range_are_the_file_in_error(tmp_path, monkeypatch):
    # Two lines appended to LFI 2020 repeating the key of its line 1 (each 9 999 999 999 999 999: in range): summed
    # at load into one row out of DECIMAL(18,2), which crashed the load (`core__credits: ConversionException`). The
    # sum is now checked exactly at staging: the file in error naming the lines summed and the column.
    line = "2020;LFI;BG;10;JA;101;101-01;;31;3;9 999 999 999 999 999;1\n"
    message = (
        "LFI_2020_Credits.csv, ligne 1, colonne 'AE LFI 2020': lines 1, 2241, 2242 (one business key, summed "
        "into one row) sum to 20000000000049998.00: amount out of DECIMAL(18,2) range"
    )
    _in_error_read_and_staged(
        tmp_path, monkeypatch, "LFI_2020_Credits.csv", 2020, message, lambda n, f: None, (line * 2).encode()
    )


def test_t2_and_ht2_whose_sum_is_out_of_range_are_the_file_in_error(tmp_path, monkeypatch):
    # AE T2 PLF and AE HT2 PLF of LFI 2021's line 1, 9 000 000 000 000 000 each (in range): their sum, the PLF row's
    # AE, is not; it crashed the staging (`InvalidOperationError: conversion from decimal[38,2]`).
    def big(number: int, fields: list[str]) -> None:
        if number == 1:
            fields[13] = fields[14] = "9 000 000 000 000 000"

    message = (
        "LFI_2021_Credits.csv, ligne 1, colonne 'AE T2 PLF': AE T2 PLF + AE HT2 PLF = 18000000000000000.00: "
        "amount out of DECIMAL(18,2) range"
    )
    _in_error_read_and_staged(tmp_path, monkeypatch, "LFI_2021_Credits.csv", 2021, message, big)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("1 224 736 519,125", "more than two decimals '1 224 736 519,125': an amount has at most two decimals"),
        ("4 11 91 06 1", "irregular grouping '4 11 91 06 1': a group of thousands has three digits"),
        ("12 34 5", "irregular grouping '12 34 5': a group of thousands has three digits"),
    ],
)
def test_an_amount_losing_digits_or_grouped_irregularly_is_an_error(value, error, tmp_path):
    # PLF 2019's budgets annexes, line 1's AE: published 1224736519.13 (a third decimal rounded away), or read as
    # 41191061 from `4 11 91 06 1`. The column's decimal mark is `,` (its other values), kept.
    def changed(number: int, fields: list[str]) -> None:
        if number == 1:
            fields[9] = value

    folder = _changed(tmp_path, "PLF_2019_BA_Destination.csv", changed)
    message = f"PLF_2019_BA_Destination.csv, ligne 1, colonne 'AE PLF 2019': {error}"
    assert _reads(folder, tmp_path) == (message, message)


def test_a_file_of_several_exercices_names_the_first_line_of_the_fewest_and_the_column(tmp_path):
    # LFI 2020 whose line 1500 says 2019: the line of the exercice of fewest lines, and the exercice's column.
    def other_year(number: int, fields: list[str]) -> None:
        if number == 1500:
            fields[0] = "2019"

    folder = _changed(tmp_path, "LFI_2020_Credits.csv", other_year)
    message = (
        "LFI_2020_Credits.csv, ligne 1500, colonne 'Exercice': several exercices in one file: [2019, 2020]; "
        "2019 on 1 row(s), the first here"
    )
    assert _reads(folder, tmp_path) == (message, message)


@pytest.mark.parametrize("stated", ["PLF", "PLR"])
def test_a_line_of_another_phase_than_the_headers_is_an_error_naming_the_phase_column(tmp_path, stated):
    # A tester's find: LFI 2020 whose line 5 says `PLF` in its `loi` column was loaded as LFI (the phase of its
    # header, `AE LFI 2020`), the line silently re-labelled. `LFI 2020` (the same phase) still reads.
    def other_phase(number: int, fields: list[str]) -> None:
        if number == 5:
            fields[1] = stated

    folder = _changed(tmp_path, "LFI_2020_Credits.csv", other_phase)
    message = (
        f"LFI_2020_Credits.csv, ligne 5, colonne 'loi': phase '{stated}' on a line of a file whose amount columns "
        "are LFI ('AE LFI 2020')"
    )
    assert _reads(folder, tmp_path) == (message, message)


def _renamed_with_header(folder: Path, name: str, header: tuple[str, str], as_name: str) -> Path:
    """``folder``'s copy of ``name`` with its header's text ``header[0]`` replaced by ``header[1]``, named
    ``as_name``; the folder."""
    path = folder / name
    data = path.read_bytes()
    first, rest = data.split(b"\n", 1)
    path.unlink()
    (folder / as_name).write_bytes(first.replace(header[0].encode(), header[1].encode()) + b"\n" + rest)
    return folder


@pytest.mark.parametrize("as_name", ["LFI_2020_Credits.csv", "credits_export.csv"])
def test_an_amount_column_of_another_phase_than_the_lines_is_an_error_naming_the_line_and_the_phase_column(
    tmp_path, as_name
):
    # A tester's find: `AE PLF 2020;CP LFI 2020` over lines whose `loi` is LFI published 2240 rows of a phantom 2020
    # PLF (AE only) beside 2240 of LFI (CP only), exit 0, under the catalogued name too (whose phases are LFI).
    folder = _changed(tmp_path, "LFI_2020_Credits.csv", lambda number, fields: None)
    folder = _renamed_with_header(folder, "LFI_2020_Credits.csv", ("AE LFI 2020", "AE PLF 2020"), as_name)
    message = f"{as_name}, ligne 1, colonne 'loi': phase 'LFI' on a line holding an amount of phase PLF ('AE PLF 2020')"
    assert _reads(folder, tmp_path) == (message, message)


def test_lines_of_one_phase_each_holding_only_its_columns_still_read(tmp_path):
    # The header states two phases and the `loi` column each line's: a line that fills only the columns of its own
    # phase is read, its phase the column's (each line one row), as before.
    def stacked(number: int, fields: list[str]) -> None:
        if number <= 1120:
            fields[1], fields[11] = "PLF", ""
        else:
            fields[10] = ""

    folder = _changed(tmp_path, "LFI_2020_Credits.csv", stacked)
    folder = _renamed_with_header(folder, "LFI_2020_Credits.csv", ("AE LFI 2020", "AE PLF 2020"), "credits_export.csv")
    (source,) = discover_sources(folder)
    found = recognise(source)
    read = read_credit_table(found.table, found.match, source.source_id, found.exercice_hint)
    by_phase = read.lines.group_by("phase").agg(pl.len(), pl.col("source_ligne").min()).sort("phase")
    assert by_phase.rows() == [("LFI", 1120, 1121), ("PLF", 1120, 1)]


@pytest.mark.parametrize("as_name", ["LFI_2020_Credits.csv", "credits_export.csv"])
def test_an_exercice_column_disagreeing_with_the_header_is_an_error_naming_the_first_line_and_the_column(
    tmp_path, as_name
):
    # A tester's find: every line's `Exercice` 2021 under `AE LFI 2020;CP LFI 2020` was loaded as 2021 LFI, exit 0
    # (the column won, silently). Lines of two exercices are still "several exercices" (the test above).
    def next_year(number: int, fields: list[str]) -> None:
        fields[0] = "2021"

    folder = _renamed_with_header(_changed(tmp_path, "LFI_2020_Credits.csv", next_year), "LFI_2020_Credits.csv",
                                  ("", ""), as_name)  # fmt: skip
    message = (
        f"{as_name}, ligne 1, colonne 'Exercice': exercice 2021 on every line, where the header states 2020 "
        "('AE LFI 2020')"
    )
    assert _reads(folder, tmp_path) == (message, message)


def test_a_line_stating_the_headers_phase_otherwise_still_reads(tmp_path):
    def same_phase(number: int, fields: list[str]) -> None:
        if number == 5:
            fields[1] = "LFI 2020"

    (source,) = discover_sources(_changed(tmp_path, "LFI_2020_Credits.csv", same_phase))
    found = recognise(source)
    read = read_credit_table(found.table, found.match, source.source_id, found.exercice_hint)
    assert read.phases == ("LFI",) and read.lines.filter(pl.col("source_ligne") == 5)["phase"].to_list() == ["LFI"]


def test_a_workbook_number_out_of_range_is_said_out_of_range(tmp_path):
    # A numeric cell <v>1e+17</v> is an exact number (the reader writes its repr, `1e+17`): out of DECIMAL(18,2)'s
    # range, not "digits were lost".
    header = ["exercice", "loi", "typeBudget", "ministere", "mission", "programme", "action", "sous-action",
              "categorie", "titre", "ae", "cp"]  # fmt: skip
    rows = [header, [2023, "PLF", "BG", 50, "TR", 352, "352-01", None, 31, 3, 1e17, 2000],
            [2023, "PLF", "BG", 50, "TR", 352, "352-02", None, 21, 2, 3000, 3000]]  # fmt: skip
    path = write_xlsx(tmp_path / "PLF_2023_Credits.xlsx", [Sheet("Credits", rows)])
    assert credit_read_error(tmp_path) == (
        f"{path.name}, ligne 1, colonne 'ae' (feuille 'Credits', cellule K2): amount out of DECIMAL(18,2) range: "
        "'1e+17' (an exact number of the workbook)"
    )


def test_a_file_whose_phase_column_states_several_phases_names_the_first_line_of_the_fewest(tmp_path):
    # A tester's find (H3): PLF 2022, whose phase is each line's (`loi`; the header states none), with line 6 saying
    # `LFI`: loaded as a phantom LFI 2022 of one row, the line lost from PLF 2022, exit 0. As for several exercices.
    def other_phase(number: int, fields: list[str]) -> None:
        if number == 6:
            fields[1] = "LFI"

    folder = _changed(tmp_path, "PLF_2022_Credits_Destination_Nature.csv", other_phase)
    message = (
        "PLF_2022_Credits_Destination_Nature.csv, ligne 6, colonne 'loi': several phases in one file: ['LFI', 'PLF']; "
        "LFI on 1 row(s), the first here"
    )
    assert _reads(folder, tmp_path) == (message, message)


@pytest.mark.parametrize("header_again", [False, True], ids=["lines again", "file again"])
def test_a_line_repeated_in_every_cell_is_an_error_naming_both_lines(tmp_path, monkeypatch, header_again):
    # A tester's find (H5): LFI 2020's data lines appended again (or the whole file, its header set aside as
    # `en_tete_repete`) were summed, every amount doubled, exit 0. No real credit file has two detail lines equal in
    # every cell (only blank ones, set aside); lines repeating a business key, their amounts differing, still sum.
    real = (SOURCES / "LFI_2020_Credits.csv").read_bytes()
    extra = real if header_again else real.split(b"\n", 1)[1]
    later = 2242 if header_again else 2241
    message = (
        f"LFI_2020_Credits.csv, ligne {later}: the same cells as line 1, every one: a line repeated (its amounts "
        "would be counted twice)"
    )
    _in_error_read_and_staged(tmp_path, monkeypatch, "LFI_2020_Credits.csv", 2020, message, lambda n, f: None, extra)
