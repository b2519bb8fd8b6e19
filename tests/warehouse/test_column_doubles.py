"""Two columns of one field, and an amount column empty on every line, in real credit files (modified copies).

An adversarial tester's finds (wave 16): a second `AE LFI 2020` column appended to `LFI_2020_Credits.csv`, or a
column of the PLRG 2024 workbook renamed `AE EXEC`, was read in place of the first (the last column of a field won,
silently); an AE column blanked on every line was published as zeros. Each is now the file in error.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import SOURCES, changed_copy, sources_with
from tests.credit_reads import credit_read_error
from tests.workbook_files import Sheet, write_xlsx
from warehouse.credits import files as credit_files
from warehouse.credits.files import SourceReadError, read_credit_stream, read_credit_table
from warehouse.credits.roles import stage_exercice_to
from warehouse.reading.csv_files import stream_csv_table
from warehouse.reading.tables import read_tables
from warehouse.sources import discover_sources, recognise, take_inventory

LFI_2020 = "LFI_2020_Credits.csv"
AE = 10  # the column `AE LFI 2020` of LFI_2020_Credits.csv


def _lfi_2020(tmp_path: Path, change, header: str | None = None) -> Path:
    """A copy of the real LFI 2020 file whose data lines ``change`` rewrote (and ``header`` replaced); its folder."""
    folder = changed_copy(tmp_path / "sources", LFI_2020, change)
    if header is not None:
        path = folder / LFI_2020
        lines = path.read_bytes().split(b"\n")
        path.write_bytes(b"\n".join([header.encode("cp1252"), *lines[1:]]))
    return folder


def _errors(folder: Path, tmp_path: Path, monkeypatch) -> list[str]:
    """The error of the one credit file of ``folder`` read whole, streamed in two passes (batches of 97 lines), and
    staged as the build does (batches of 100 lines, read once with the decisions of the first batch)."""
    (source,) = discover_sources(folder)
    found = recognise(source)
    whole = credit_read_error(folder)
    with stream_csv_table(source.chemin, source.fichier) as stream, pytest.raises(SourceReadError) as raised:
        read_credit_stream(
            stream, found.match, source.source_id, tmp_path / "parts", found.exercice_hint, batch_rows=97
        )
    monkeypatch.setattr(credit_files, "BATCH_ROWS", 100)
    _, (report,) = stage_exercice_to(tmp_path / "staging", 2020, take_inventory(discover_sources(folder)))
    assert report.statut == "erreur"
    return [whole, str(raised.value), report.message]


def _read(folder: Path, name: str):
    (source,) = [s for s in discover_sources(folder) if s.fichier == name]
    found = recognise(source)
    return read_credit_table(found.table, found.match, source.source_id, found.exercice_hint)


def _header() -> str:
    return (SOURCES / LFI_2020).read_bytes().split(b"\n")[0].decode("cp1252").rstrip("\r")


def test_a_second_column_of_an_amount_that_differs_is_an_error_naming_both(tmp_path, monkeypatch):
    def one(number: int, fields: list[str]) -> None:
        fields.append("1")

    folder = _lfi_2020(tmp_path, one, header=_header() + ";AE LFI 2020")
    message = (
        "LFI_2020_Credits.csv, ligne 1, colonne 'AE LFI 2020': two columns hold the amount ae (LFI): "
        "'AE LFI 2020' (column 11, K) and 'AE LFI 2020' (column 13, M), which differ on this line ('50 000' "
        "against '1'): which one to read is unknown"
    )
    assert _errors(folder, tmp_path, monkeypatch) == [message] * 3


def test_a_second_column_of_a_code_that_differs_is_an_error(tmp_path):
    # `Programme` folds to `programme`, the field code_programme of the family: a second one must repeat the first.
    def other(number: int, fields: list[str]) -> None:
        fields.append("999" if number == 7 else fields[5])

    folder = _lfi_2020(tmp_path, other, header=_header() + ";Programme")
    assert credit_read_error(folder).startswith(
        "LFI_2020_Credits.csv, ligne 7, colonne 'Programme': two columns hold the field code_programme: "
        "'programme' (column 6, F) and 'Programme' (column 13, M), which differ on this line"
    )


def test_a_second_column_equal_to_the_first_on_every_line_reads_as_the_file(tmp_path):
    # The same amounts (spelt otherwise: no thousands space) and the same codes again: nothing is lost either way.
    def again(number: int, fields: list[str]) -> None:
        fields.extend([fields[AE].replace(" ", ""), fields[5]])

    folder = _lfi_2020(tmp_path, again, header=_header() + ";ae_lfi_2020;PROGRAMME")
    read, real = _read(folder, LFI_2020), _read(SOURCES, LFI_2020)
    assert read.lines.equals(real.lines) and read.lines["ae"].sum() == Decimal("714225632524.00")


def test_a_workbook_column_renamed_as_another_amount_is_an_error_naming_its_cell(tmp_path):
    # The tester's workbook: the real PLRG 2024 sheet (an .xlsx copy under the .xls name), M1 = `AE EXEC` and
    # column M set to 0: the EXEC AE of 2024 was published as 0.00.
    name = "Credits_Destination_Nature_YC_RetD.xls"
    (table,) = read_tables(SOURCES / "2024_PLRG" / name)
    assert table.header[10:12] == ["AE EXEC", "CP EXEC"] and table.lignes_preambule == 0
    rows = [[*table.header[:12], "AE EXEC"], *([*row[:12], "0"] for row in table.rows)]
    folder = tmp_path / "sources"
    (folder / "2024_PLRG").mkdir(parents=True)
    write_xlsx(folder / "2024_PLRG" / name, [Sheet(table.sheet, rows)])
    assert credit_read_error(folder) == (
        f"2024_PLRG/{name}, ligne 1, colonne 'AE EXEC' (feuille {table.sheet!r}, cellule M2): two columns hold the "
        f"amount ae (EXEC): 'AE EXEC' (column 11, K) and 'AE EXEC' (column 13, M), which differ on this line "
        f"('{table.rows[0][10]}' against '0'): which one to read is unknown"
    )


def test_an_amount_column_empty_on_every_line_is_an_error(tmp_path, monkeypatch):
    def blank(number: int, fields: list[str]) -> None:
        fields[AE] = ""

    folder = _lfi_2020(tmp_path, blank)
    message = (
        "LFI_2020_Credits.csv, colonne 'AE LFI 2020': amount column 'AE LFI 2020' (column 11, K) is empty on every "
        "line, where the other amount columns of its lines are not: a column with no amount is not read as zeros"
    )
    assert _errors(folder, tmp_path, monkeypatch) == [message] * 3


@pytest.mark.parametrize("spellings", [(" ", ""), ("", " - ", "\u00a0", "--")])
def test_an_amount_column_of_blank_cells_spelt_in_several_ways_is_empty_on_every_line(tmp_path, monkeypatch, spellings):
    # A review's find (wave 17): a column mixing `" "` and `""` escaped the rule (its cells were not all the same);
    # every spelling of no amount counts as empty, in the whole read, the streamed read and the staging.
    def blank(number: int, fields: list[str]) -> None:
        fields[AE] = spellings[number % len(spellings)]

    folder = _lfi_2020(tmp_path, blank)
    message = (
        "LFI_2020_Credits.csv, colonne 'AE LFI 2020': amount column 'AE LFI 2020' (column 11, K) is empty on every "
        "line, where the other amount columns of its lines are not: a column with no amount is not read as zeros"
    )
    assert _errors(folder, tmp_path, monkeypatch) == [message] * 3


def test_an_amount_column_empty_but_on_one_line_reads_its_empty_cells_as_zero(tmp_path):
    # The documented rule stands for a column with an amount somewhere: its empty cells count as 0, and are counted.
    def blank(number: int, fields: list[str]) -> None:
        if number != 2000:
            fields[AE] = ""

    read = _read(_lfi_2020(tmp_path, blank), LFI_2020)
    assert read.lines.filter(pl.col("ae") != 0)["source_ligne"].to_list() == [2000]
    assert read.empty_amounts == read.kept - 1


def test_a_fdc_adp_column_empty_on_every_line_still_reads(tmp_path):
    # The FDC/ADP forecasts may be absent from a file (no fund expected): such a column empty everywhere is read.
    name = "plf-2024-depenses-2024-selon-nomenclatures-destination-et-nature.csv"
    real = _read(SOURCES, name)
    (source,) = [s for s in discover_sources(SOURCES) if s.fichier == name]
    header = recognise(source).match
    fdc = [a.index for a in header.amounts if a.partie == "fdc_adp"]
    assert len(fdc) == 2
    path = sources_with(tmp_path / "sources", name) / name
    text = path.read_bytes()
    assert text.count(b"\r\n") == 0  # lines end with \n: cut the fields of each data line
    lines = text.split(b"\n")
    separator = b";" if lines[0].count(b";") > lines[0].count(b",") else b","
    for number in range(1, len(lines)):
        fields = lines[number].split(separator)
        if len(fields) > max(fdc):
            for index in fdc:
                fields[index] = b""
            lines[number] = separator.join(fields)
    path.write_bytes(b"\n".join(lines))
    read = _read(tmp_path / "sources", name)
    assert read.lines["ae_fdc_adp"].null_count() == read.lines.height
    assert read.lines.drop("ae_fdc_adp", "cp_fdc_adp").equals(real.lines.drop("ae_fdc_adp", "cp_fdc_adp"))


def _blanked(folder: Path, name: str) -> Path:
    """``folder`` (made) holding a copy of the real file ``name`` whose AE and CP cells (columns 11 and 12) are blank
    on every data line, in several spellings, and whose later lines repeating the ten code cells of an earlier one are
    dropped (no repeated line: the file as a user blanking its amounts would leave it); the file."""
    path = sources_with(folder, name) / name
    lines, seen, spellings = path.read_bytes().decode("cp1252").split("\n"), set(), ("", " ", "-", "")
    kept = [lines[0]]
    for number, line in enumerate(lines[1:], 1):
        fields = line.split(";")
        if len(fields) > 11 and any(fields[:10]):
            key = tuple(fields[:10])
            if key in seen:
                continue
            seen.add(key)
            fields[10] = fields[11] = spellings[number % len(spellings)]
        kept.append(";".join(fields))
    path.write_bytes("\n".join(kept).encode("cp1252"))
    return path


@pytest.mark.parametrize(
    ("name", "exercice", "columns"),
    [
        ("PLF_2022_Credits_Destination_Nature.csv", 2022, "'ae' (column 11, K), 'cp' (column 12, L)"),
        ("PLF_2021_Credits.csv", 2021, "'AE PLF' (column 11, K), 'CP PLF' (column 12, L)"),
    ],
)
def test_a_file_with_no_amount_on_any_line_is_an_error_naming_its_amount_columns(
    tmp_path, monkeypatch, name, exercice, columns
):
    # A fresh user's find (wave 17): AE and CP blanked on every line of a file were read as a file with no credit,
    # every line set aside `sans_montant`, 0 lines kept, statut 'lu' (the exercice's credits lost, exit 0): the rule
    # of an empty column looked only at groups where another column has amounts. Now the whole read, the streamed
    # read (two passes, batches of 97 lines) and the staging (read once, batches of 100 lines) are in error.
    path = _blanked(tmp_path / "sources", name)
    folder = path.parent
    (source,) = discover_sources(folder)
    found = recognise(source)
    rows = sum(1 for line in path.read_text("cp1252").split("\n")[1:] if line.replace(";", "").strip())
    message = (
        f"{name}: no amount on any of its {rows} data lines: every amount column ({columns}) is empty on every line: "
        "a file with no amount is not read as a file with no credit"
    )
    assert credit_read_error(folder) == message
    with stream_csv_table(source.chemin, source.fichier) as stream, pytest.raises(SourceReadError) as raised:
        read_credit_stream(
            stream, found.match, source.source_id, tmp_path / "parts", found.exercice_hint, batch_rows=97
        )
    assert str(raised.value) == message
    monkeypatch.setattr(credit_files, "BATCH_ROWS", 100)
    _, (report,) = stage_exercice_to(tmp_path / "staging", exercice, take_inventory(discover_sources(folder)))
    assert (report.statut, report.message) == ("erreur", message)
