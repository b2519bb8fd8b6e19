"""CSV quoting on the real reading code: a badly quoted field is an error naming the file, the line its quote
opens on and the column, in whole reads as in the stream; legitimate quoting reads as CSV says (issue 11, wave 12).
"""

import re
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import SOURCES, sources_with
from warehouse.nomenclature.resolution import stage_nomenclature
from warehouse.performance.files import recognise_performance
from warehouse.reading import csv_files
from warehouse.reading.csv_files import read_csv_head, read_csv_table, stream_csv_table
from warehouse.reading.tables import TableReadError
from warehouse.sources import discover_sources, recognise, take_inventory

_NOMENCLATURE = "LFI_2020_Nomenclature.csv"  # Windows-1252, CRLF, ';', 2,488 data lines, no quote


def _nomenclature_lines(folder: Path) -> list[str]:
    return (folder / _NOMENCLATURE).read_bytes().decode("cp1252").split("\r\n")


def _write(folder: Path, lines: list[str]) -> None:
    (folder / _NOMENCLATURE).write_bytes("\r\n".join(lines).encode("cp1252"))


def _label(lines: list[str], index: int, edit) -> None:
    fields = lines[index].split(";")
    fields[5] = edit(fields[5])
    lines[index] = ";".join(fields)


def test_two_stray_quotes_100_lines_apart_in_a_nomenclature_file_stop_it_and_keep_its_last_elements(tmp_path):
    # A reviewer's find: a quote opening the label of line 101 and one inside the label of line 201 merged 100
    # lines into one label (csv not strict: the second quote closes the field, the text after it is appended);
    # sous_actions fell from 1,467 to 1,385, the build passed. The whole read is strict: the file is in error,
    # named with the line the quote opens on and its column; its elements of the build before are kept.
    folder = sources_with(tmp_path / "sources", _NOMENCLATURE)
    before, (report,) = stage_nomenclature(take_inventory(discover_sources(folder)))
    assert report.statut == "lu" and report.lignes_retenues == 2488
    lines = _nomenclature_lines(folder)
    _label(lines, 100, lambda label: '"' + label)
    _label(lines, 200, lambda label: label[:5] + '"' + label[5:])
    _write(folder, lines)
    message = (
        f"{_NOMENCLATURE}: line 101 of the file, column 'Libelle': a quote opens a field there and is not closed as "
        "a field ends (found on line "
    )
    with pytest.raises(TableReadError, match="^" + re.escape(message)):
        read_csv_table(folder / _NOMENCLATURE, _NOMENCLATURE)
    items = take_inventory(discover_sources(folder))
    assert [i.famille for i in items] == ["nomenclature_type_ligne"]  # recognised from its head, as before
    elements, (report,) = stage_nomenclature(items, previous=before)
    assert report.statut == "erreur" and report.message.startswith(message), report.message
    assert elements.equals(before)


def test_a_quoted_label_followed_by_text_is_an_error_not_the_text_appended(tmp_path):
    # `"label"x` was read `labelx`.
    folder = sources_with(tmp_path / "sources", _NOMENCLATURE)
    lines = _nomenclature_lines(folder)
    _label(lines, 100, lambda label: f'"{label}"x')
    _write(folder, lines)
    with pytest.raises(TableReadError) as raised:
        recognise(next(iter(discover_sources(folder)))).table  # noqa: B018 (the whole table, read now)
    assert str(raised.value) == (
        f"{_NOMENCLATURE}: line 101 of the file, column 'Libelle': a quote opens a field there and is not closed as "
        """a field ends (found on line 101: ';' expected after '"')"""
    )


def test_a_quote_never_closed_in_a_file_read_whole_from_its_head_is_an_error(tmp_path):
    # A nomenclature file shorter than its head (read once, its head taken as the whole table): the quote opening
    # the label of its last record runs to the end of the file: line 2,491 of the file as an editor counts (a lone
    # `\r` and a lone `\n` break two of its labels).
    folder = sources_with(tmp_path / "sources", _NOMENCLATURE)
    lines = _nomenclature_lines(folder)
    assert lines[2488] and not lines[2489]
    _label(lines, 2488, lambda label: '"' + label)
    _write(folder, lines)
    head, whole = read_csv_head(folder / _NOMENCLATURE, _NOMENCLATURE)
    assert whole and head.header[-1] == "Libelle"
    message = (
        f"{_NOMENCLATURE}: line 2491 of the file, column 'Libelle': a quote opens a field there and is not closed "
        "before the end of the file"
    )
    assert head.quote_error == message
    (source,) = discover_sources(folder)
    with pytest.raises(TableReadError, match="^" + re.escape(message) + "$"):
        recognise(source).table  # noqa: B018
    with pytest.raises(TableReadError, match="^" + re.escape(message) + "$"):
        read_csv_table(source.chemin, source.fichier)


def test_a_badly_quoted_performance_file_is_an_error(tmp_path):
    # The performance CSV (UTF-8, longer than its head: read whole when recognised) with `"label"x` on line 31.
    folder = sources_with(tmp_path / "sources", "Performance_Depense.csv")
    path = folder / "Performance_Depense.csv"
    lines = path.read_bytes().decode("utf-8").split("\n")
    fields = lines[30].split(";")
    fields[4] = f'"{fields[4]}"x'
    lines[30] = ";".join(fields)
    path.write_bytes("\n".join(lines).encode("utf-8"))
    with pytest.raises(TableReadError, match="^Performance_Depense.csv: line 31 of the file, column 'Mission': "):
        recognise_performance(path, path.name)


_LEGIT = [
    "Code;Libelle;Montant",
    '1;"a;b";10',
    '2;"say ""hi""";20',
    '3;"deux\r\nlignes";30',
    '"4";"";"40"',
    "5;plain;50",
]


def test_legitimate_quoting_reads_as_csv_says(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("\r\n".join(_LEGIT).encode("cp1252"))
    rows = [["1", "a;b", "10"], ["2", 'say "hi"', "20"], ["3", "deux\nlignes", "30"], ["4", None, "40"]]
    rows.append(["5", "plain", "50"])
    assert list(read_csv_table(path, "t.csv").rows) == rows
    head, whole = read_csv_head(path, "t.csv")
    assert whole and list(head.rows) == rows and head.quote_error is None
    with stream_csv_table(path, "t.csv") as stream:
        assert pl.concat(cells for _, cells in stream.batches(2)).rows() == [tuple(r) for r in rows]


def test_a_head_cut_inside_a_quoted_field_is_read_up_to_that_record(tmp_path, monkeypatch):
    # The head (256 KiB, cut after its last line end) ends inside a quoted label of 1,000 lines: strictness does
    # not refuse it (the quote closes past the head's end); the head's rows stop before that record. The whole
    # file reads every record.
    body = [f"{i};label {i};{i}" for i in range(20_000)]
    at = next(i for i in range(20_000) if sum(len(line) + 1 for line in body[: i + 1]) > csv_files.HEAD_BYTES - 3000)
    body[at] = f'{at};"' + "\n".join(f"suite {k}" for k in range(1000)) + f'";{at}'
    path = tmp_path / "t.csv"
    path.write_bytes(("Code;Libelle;Montant\n" + "\n".join(body) + "\n").encode())
    head, whole = read_csv_head(path, "t.csv")
    assert not whole and head.quote_error is None and head.header == ["Code", "Libelle", "Montant"]
    assert [row[0] for row in head.rows] == [str(i) for i in range(at)]
    table = read_csv_table(path, "t.csv")
    assert len(table.rows) == 20_000 and table.rows[at][1].count("\n") == 999


def test_the_stream_keeps_a_label_of_100_lines_and_the_lines_after_it(tmp_path):
    # The brief's item 2 (a quoted label of 100 line breaks in a credit file said to lose lines in the stream):
    # the real LFI 2021 file, such a label on data line 10: every record streams, in batches cut anywhere, as the
    # whole read gives them; the data line numbers of the records after it (source_ligne) are the whole read's.
    lines = (SOURCES / "LFI_2021_Credits.csv").read_bytes().decode("cp1252").split("\n")
    fields = lines[10].split(";")
    fields[6] = '"' + fields[6] + "\n" + "\n".join(f"suite {k}" for k in range(100)) + '"'
    lines[10] = ";".join(fields)
    path = tmp_path / "LFI_2021_Credits.csv"
    path.write_bytes("\n".join(lines).encode("cp1252"))
    table = read_csv_table(path, path.name)
    assert len(table.rows) == 2333 and table.rows[9][6].count("\n") == 100
    for rows in (7, 97, 5000):
        with stream_csv_table(path, path.name) as stream:
            cells = pl.concat(batch for _, batch in stream.batches(rows))
        assert cells.height == stream.data_rows == 2333
        assert cells.rows() == [tuple(row) for row in table.rows]


def test_a_quote_never_closed_past_csv_field_limit_in_the_head_is_the_file_in_error(tmp_path, default_field_limit):
    # An adversarial tester's find: a quote opening a field of line 31 of the real PLF_2021_Credits.csv, with no
    # other quote after it, ran past csv's field limit (131,072 characters) in the recognition head: the lenient
    # read of the head raised csv's own error, which stopped the whole build (`raw__sources`) naming no file.
    fichier = "PLF_2021_Credits.csv"
    folder = sources_with(tmp_path / "sources", fichier)
    text = (folder / fichier).read_text(encoding="utf-8-sig").split("\n")
    fields = text[30].split(";")
    fields[3] = '"' + fields[3]
    text[30] = ";".join(fields)
    (folder / fichier).write_text("\n".join(text), encoding="utf-8")
    (item,) = take_inventory(discover_sources(folder))
    assert item.error is not None and item.in_error and item.holds("credits"), item
    assert item.error.startswith(
        f"{fichier}: line 31 of the file, column 'ministere': a quote opens a field there and is not closed within "
        "131,072 characters (read up to line "
    ), item.error


@pytest.mark.parametrize("title", ['"Loi de finances" 2020', '"Loi de finances", "2020"'], ids=repr)
def test_a_badly_quoted_title_above_the_header_is_no_data_and_the_file_reads(title, tmp_path):
    # An adversarial tester's find: with the whole read strict, a title above the header quoted and followed by
    # text put the file in error ("line 1 of the file, field 1: a quote opens a field there…"), where it was read
    # before: the lines above the header are titles, read as they were to find it; the data from the header on is
    # read strictly.
    folder = sources_with(tmp_path / "sources", _NOMENCLATURE)
    lines = _nomenclature_lines(folder)
    expected = read_csv_table(folder / _NOMENCLATURE, _NOMENCLATURE)
    _write(folder, [title, *lines])
    table = read_csv_table(folder / _NOMENCLATURE, _NOMENCLATURE)
    assert (table.header, table.lignes_preambule) == (expected.header, 1)
    assert table.to_frame().equals(expected.to_frame())
    (source,) = discover_sources(folder)
    found = recognise(source)
    assert found.famille == "nomenclature_type_ligne" and found.table.to_frame().equals(expected.to_frame())
    lines[101] = lines[101].replace(";", ';"', 1)  # a quote error in the data is still one
    _write(folder, [title, *lines])
    with pytest.raises(TableReadError, match=re.escape(f"{_NOMENCLATURE}: line 103 of the file")):
        read_csv_table(folder / _NOMENCLATURE, _NOMENCLATURE)


@pytest.mark.parametrize(
    "titles",
    [
        ['"Loi de finances 2020'],
        ["Budget de l'Etat", '"Loi de finances 2020', ""],
        ['"Crédits votés; LFI 2020'],  # a fresh user's: a separator after the open quote hid the file (one cell)
    ],
    ids=repr,
)
def test_a_title_leaving_a_quote_open_is_no_data_and_the_file_reads(titles, tmp_path):
    # A tester's find: a quote opened in a title above the header and never closed put the whole file in error
    # ("line 1 of the file, field 1: a quote opens a field there and is not closed before the end of the file"), in
    # the whole read, the head and the stream alike. Titles are physical lines: a quote a title leaves open is the
    # title's; the header and the data below it are read (strictly), and a quote error there is still one.
    folder = sources_with(tmp_path / "sources", _NOMENCLATURE)
    lines = _nomenclature_lines(folder)
    expected = read_csv_table(folder / _NOMENCLATURE, _NOMENCLATURE)
    _write(folder, [*titles, *lines])
    table = read_csv_table(folder / _NOMENCLATURE, _NOMENCLATURE)
    assert (table.header, table.lignes_preambule) == (expected.header, len(titles))
    assert table.to_frame().equals(expected.to_frame())
    (source,) = discover_sources(folder)
    found = recognise(source)
    assert found.famille == "nomenclature_type_ligne" and found.table.to_frame().equals(expected.to_frame())
    with stream_csv_table(folder / _NOMENCLATURE, _NOMENCLATURE) as stream:
        assert (stream.table.header, stream.table.lignes_preambule) == (expected.header, len(titles))
        cells = pl.concat(batch for _, batch in stream.batches(500))
    assert cells.rows() == [tuple(row) for row in expected.rows]
    lines[101] = lines[101].replace(";", ';"', 1)  # a quote error in the data is still one, on its line
    _write(folder, [*titles, *lines])
    message = re.escape(f"{_NOMENCLATURE}: line {102 + len(titles)} of the file, column ")
    with pytest.raises(TableReadError, match=message):
        read_csv_table(folder / _NOMENCLATURE, _NOMENCLATURE)
    with pytest.raises(TableReadError, match=message), stream_csv_table(folder / _NOMENCLATURE, _NOMENCLATURE):
        pass


def _reads(path: Path) -> list:
    """The header and rows of ``path`` read whole, by its head and streamed; or the error of each."""
    reads = []
    for read in (lambda: read_csv_table(path, path.name), lambda: read_csv_head(path, path.name)[0].checked()):
        try:
            table = read()
            reads.append((table.header, table.lignes_preambule, [tuple(row) for row in table.rows]))
        except TableReadError as exc:
            reads.append(str(exc))
    try:
        with stream_csv_table(path, path.name) as stream:
            cells = pl.concat(batch for _, batch in stream.batches(7))
            reads.append((stream.table.header, stream.table.lignes_preambule, cells.rows()))
    except TableReadError as exc:
        reads.append(str(exc))
    return reads


def test_a_quote_opened_in_a_title_and_closed_in_the_header_never_makes_a_data_row_the_header(tmp_path):
    # A tester's find: `"Budget 2020` above `Programme;Action;AE"` is one quoted field to Python's csv (the title's
    # quote closes at the header's end): the first data row was taken as the header, in silence. Titles are physical
    # lines: the header is looked for below the title; its odd quote closes no field of its own, so the file is an
    # error naming the header's line and field, never a guess. A header quoted as it should be, below such a title,
    # is read.
    path = tmp_path / "credits.csv"
    rows = [f"352;{i};1 000" for i in range(20)]
    path.write_text("\n".join(['"Budget 2020', 'Programme;Action;AE"', *rows, ""]), encoding="utf-8")
    message = "credits.csv: line 2 of the file, field 3: a quote there opens no field; the lines above the header"
    assert all(isinstance(read, str) and read.startswith(message) for read in _reads(path)), _reads(path)
    path.write_text("\n".join(['"Budget 2020', '"Programme";"Action";"AE"', *rows, ""]), encoding="utf-8")
    expected = (["Programme", "Action", "AE"], 1, [tuple(row.split(";")) for row in rows])
    assert _reads(path) == [expected] * 3
    # A header whose first cell holds a quoted line break (one record, three cells) is no title: it stays the header.
    path.write_text("\n".join(['"Code', 'programme";Action;AE', *rows, ""]), encoding="utf-8")
    expected = (["Code\nprogramme", "Action", "AE"], 0, [tuple(row.split(";")) for row in rows])
    assert _reads(path) == [expected] * 3


@pytest.mark.parametrize("titles", [[], ["Budget 2020"], ['"Budget 2020"'], ['"Budget 2020']], ids=repr)
def test_a_quote_inside_a_field_of_a_file_whose_quotes_open_fields_is_an_error_in_every_read(titles, tmp_path):
    # A tester's find: `352;ab"c;1 000` in a file quoting other fields (`352;"quoted";1 000`) was read as `ab"c` by the
    # whole read and the head (Python's csv), refused by the stream (Polars: "an unbalanced quote"), with titles above
    # the header or not. A quote inside a field it does not open is no CSV where quotes open fields (decided from the
    # header on): every read names its line and column, also past a few thousand lines and with two of them (even).
    path = tmp_path / "credits.csv"
    rows = [f"352;{i};1 000" for i in range(3000)]
    rows[3] = '352;"quoted; with a separator";1 000'
    above = len(titles) + 1
    for stray, line, column in (
        ({8: '352;ab"c;1 000'}, 10, "Action"),
        ({2500: '352;1;2 000"', 2600: '352;d"e;1'}, 2502, "AE"),
    ):
        edited = [stray.get(i, row) for i, row in enumerate(rows)]
        path.write_text("\n".join([*titles, "Programme;Action;AE", *edited, ""]), encoding="utf-8")
        message = (
            f"credits.csv: line {line - 1 + above} of the file, column {column!r}: an unbalanced quote (a quote inside a "
            "field it does not open, in a file whose quotes open fields)"
        )
        assert _reads(path) == [message] * 3, titles
    # Excel's text formulas (`="0101"`, case B36) in a file quoting fields are no stray quotes: read in every read.
    edited = [f'="352";="{i:04}";"1 000"' for i in range(3000)]
    path.write_text("\n".join([*titles, "Programme;Action;AE", *edited, ""]), encoding="utf-8")
    cells = [('="352"', f'="{i:04}"', "1 000") for i in range(3000)]
    assert _reads(path) == [(["Programme", "Action", "AE"], len(titles), cells)] * 3, titles
    # With no quote opening a field from the header on, the quote is a character of its field, in every read.
    edited = [rows[i] if i != 3 else "352;3;1 000" for i in range(3000)]
    edited[8] = '352;ab"c;1 000'
    path.write_text("\n".join([*titles, "Programme;Action;AE", *edited, ""]), encoding="utf-8")
    expected = (["Programme", "Action", "AE"], len(titles), [tuple(row.split(";")) for row in edited])
    assert _reads(path) == [expected] * 3, titles


@pytest.mark.parametrize("odd", ['352;a,"b;1 000', "352;a\x1fb;1 000"], ids=["quote after a comma", "unit separator"])
def test_quotes_that_open_no_field_under_the_separator_are_characters_in_every_read(odd, tmp_path):
    # Found with the fix above: a quote after a `,` in a `;` file, or a `\x1f` anywhere, made the text "not plain"
    # (decided before the separator is known), and the stream (Polars quoting) refused `Pouce 12"` that the whole
    # read and the head read as a character. No quote opens a field under `;`: quotes are characters in every read.
    path = tmp_path / "credits.csv"
    rows = [f"352;{i};1 000" for i in range(40)]
    rows[3], rows[8] = odd, '352;Pouce 12";1 000'
    path.write_text("\n".join(["Programme;Action;AE", *rows, ""]), encoding="utf-8")
    expected = (["Programme", "Action", "AE"], 0, [tuple(row.split(";")) for row in rows])
    assert _reads(path) == [expected] * 3


@pytest.mark.parametrize("titles", [['"Budget 2020'], ["Budget de l'Etat", '"Budget 2020']], ids=repr)
def test_a_quote_opened_in_a_title_and_closed_inside_the_header_is_an_error_naming_the_header_line(titles, tmp_path):
    # A tester's find: `"Budget 2020` above `Programme;Action";AE` (the title's quote closed inside the header, not at
    # its end) is one record of two cells to Python's csv (`Budget 2020⏎Programme;Action`, `AE`): too narrow for the
    # header, it was set aside as a title and the first data row read as the header, with no error. Such a record is
    # neither a title nor the header: the file is an error naming the header's line and the field its quote is in.
    path = tmp_path / "credits.csv"
    rows = [f"352;{i};1 000" for i in range(20)]
    path.write_text("\n".join([*titles, 'Programme;Action";AE', *rows, ""]), encoding="utf-8")
    line = len(titles) + 1
    message = (
        f"credits.csv: line {line} of the file, field 2: a quote there closes the one the title on line {line - 1} "
        "leaves open; the lines above the header (titles) leave a quote open: the header is not read across them"
    )
    assert _reads(path) == [message] * 3


@pytest.mark.parametrize(
    ("titles", "end"),
    [(['"Budget', "2020", 'Programme;Action";AE'], "\n"), (['"Budget 2020', 'Programme;Action";AE'], "\r\n")],
    ids=["three lines", "CRLF"],
)
def test_a_title_quote_closed_inside_the_header_over_lines_or_crlf_is_an_error(titles, end, tmp_path):
    # The error above holds for a title of two lines and for CRLF line ends: the quote closes inside the line that
    # is the header's (of the data's field count), never a title record of its own.
    path = tmp_path / "credits.csv"
    rows = [f"352;{i};1 000" for i in range(20)]
    path.write_bytes(end.join([*titles, *rows, ""]).encode("utf-8"))
    message = (
        f"credits.csv: line {len(titles)} of the file, field 2: a quote there closes the one the title on line 1 "
        "leaves open; the lines above the header (titles) leave a quote open: the header is not read across them"
    )
    assert _reads(path) == [message] * 3


_TITLE_RECORDS = {  # a title record of its own, its quoted cell holding line breaks, above a real credit file
    "two lines": ("LFI_2020_Credits.csv", '"Loi de finances\n2020";Ministère de l\'économie\n', "utf-8", "\n"),
    "three lines": ("LFI_2020_Credits.csv", '"Loi de finances\npour 2020\nde l\'État";Ministère\n', "utf-8", "\n"),
    "CRLF": ("LFI_2020_Credits.csv", '"Loi de finances\n2020";Ministère de l\'économie\n', "utf-8", "\r\n"),
    "Windows-1252": ("LFI_2020_Credits.csv", '"Loi de finances\n2020";Ministère de l\'économie\n', "cp1252", "\n"),
    "quoted data below": ("LFI_2021_Credits.csv", '"Loi de finances\n2021";Ministère\n', "cp1252", "\n"),
}


@pytest.mark.parametrize(("fichier", "title", "encoding", "end"), _TITLE_RECORDS.values(), ids=_TITLE_RECORDS.keys())
def test_a_quoted_title_record_over_lines_above_the_header_is_preamble(fichier, title, encoding, end, tmp_path):
    # A tester's find: `"Loi de finances⏎2020";Ministère de l'économie` above the header of LFI_2020_Credits.csv (a
    # title record of its own: its quote closes, and it ends, before the header's line) was refused ("line 2 of the
    # file, field 1: a quote there closes the one the title on line 1 leaves open") in every read and the build,
    # where it was read before. Only a quote closing inside what is the header's line (above) is an error: this
    # file reads as the one without the title, its lines preamble, in the whole, head and streamed reads.
    original = tmp_path / fichier
    data = (SOURCES / fichier).read_bytes()
    original.write_bytes(data.replace(b"\n", end.encode()) if end != "\n" else data)
    expected = _reads(original)
    assert all(isinstance(read, tuple) for read in expected), expected
    path = tmp_path / "titled" / fichier
    path.parent.mkdir()
    path.write_bytes(title.replace("\n", end).encode(encoding) + original.read_bytes())
    lines = title.count("\n")
    assert _reads(path) == [(header, above + lines, rows) for header, above, rows in expected]
    if fichier == "LFI_2020_Credits.csv":
        assert len(expected[0][2]) == 2240


@pytest.mark.parametrize("title", ["\"Budget de l'Etat", '"Budget" 2020', "Budget de l'Etat"], ids=repr)
def test_a_title_leaving_a_quote_open_under_a_first_line_of_two_cells_is_preamble(title, tmp_path):
    # A tester's find: `Loi de finances;2020` then `"Budget de l'Etat` above the header refused the file in every
    # read ("line 2 of the file, column 'Loi de finances': a quote opens a field there and is not closed before the
    # end of the file"): the title's quote ran into the lines below it. A title stays a title wherever it sits.
    path = tmp_path / "credits.csv"
    rows = [f"352;{i};1 000" for i in range(20)]
    path.write_text("\n".join(["Loi de finances;2020", title, "Programme;Action;AE", *rows, ""]), encoding="utf-8")
    expected = (["Programme", "Action", "AE"], 2, [tuple(row.split(";")) for row in rows])
    assert _reads(path) == [expected] * 3


def test_a_title_leaving_a_quote_open_leaves_the_data_plain_when_no_quote_there_opens_a_field(tmp_path):
    # A tester's find: whether a file's quotes open fields was decided over the whole file, its titles too: under a
    # title leaving a quote open, the records from the header on were read with quoting, and a stray quote inside a
    # field (`0"1`, `2 000"`), read as a character in the same file without that title, refused the file; the whole
    # read (in memory) and the stream (a copy on disk) disagreed. Plainness is the text's from the header on.
    path = tmp_path / "credits.csv"
    rows = [f"352;{i};1 000" for i in range(20)]
    rows[5], rows[12] = '352;0"1;1 000', '352;12;2 000"'
    expected = (["Programme", "Action", "AE"], 0, [tuple(row.split(";")) for row in rows])
    path.write_text("\n".join(["Programme;Action;AE", *rows, ""]), encoding="utf-8")
    assert _reads(path) == [expected] * 3
    for titles in (['"Budget 2020'], ['"Budget', 'Etat"']):
        path.write_text("\n".join([*titles, "Programme;Action;AE", *rows, ""]), encoding="utf-8")
        assert _reads(path) == [(expected[0], len(titles), expected[2])] * 3, titles


def test_a_header_record_over_a_line_break_below_a_title_leaving_a_quote_open_is_read(tmp_path):
    # A tester's find: `"Budget 2020` above `"Pro⏎gramme";Action;AE` (a header whose cell holds a quoted line
    # break) refused the file with "field 1: a quote there opens no field", which was false: the header's record
    # runs over its line break and is read. A header's quote opening a field never closed names that fault.
    path = tmp_path / "credits.csv"
    rows = [f"352;{i};1 000" for i in range(20)]
    expected = [tuple(row.split(";")) for row in rows]
    headers = {
        '"Pro\ngramme";Action;AE': ["Pro\ngramme", "Action", "AE"],
        'Programme;"Act\nion";AE': ["Programme", "Act\nion", "AE"],
    }
    for header, cells in headers.items():
        path.write_text("\n".join(['"Budget 2020', header, *rows, ""]), encoding="utf-8")
        assert _reads(path) == [(cells, 1, expected)] * 3, header
    path.write_text("\n".join(['"Budget 2020', 'Programme;"Action;AE', *rows, ""]), encoding="utf-8")
    message = "credits.csv: line 2 of the file, field 2: a quote opens a field there and is not closed; the lines"
    assert all(isinstance(read, str) and read.startswith(message) for read in _reads(path)), _reads(path)


def test_stray_quotes_merging_lines_into_one_record_are_an_error_in_every_read(tmp_path):
    # An adversarial tester's find: a stray quote opening the label of a credit line and one closing the label of the
    # next line make one valid CSV record of both (its label holding a line break and the separators of a whole
    # record, its width the header's): two credit lines merged in silence, only a WARN on the label showing it. In a
    # file no other record of which spans lines, a field holding a line break and a whole record's separators (the
    # header's count less one) is an error naming the line its quote opens on and the column, in every read.
    path = tmp_path / "credits.csv"
    header = "Programme;Action;Libelle;Categorie;AE;CP"
    rows = [f"352;{i:02};Action {i};3;1 000;900" for i in range(40)]
    rows[4] = '352;04;"Action ""quoted""";3;1 000;900'  # quotes open fields in this file
    merged = {10: '352;10;"Action 10;3;1 000;900', 11: '352;11;Action 11";3;1 000;900'}
    edited = [merged.get(i, row) for i, row in enumerate(rows)]
    path.write_text("\n".join([header, *edited, ""]), encoding="utf-8")
    message = (
        "credits.csv: line 12 of the file, column 'Libelle': a quote opens a field there and closes it on line 13, the "
        "field holding 1 line break and 5 separators (a whole record's: the header has 6 fields) where no other "
        "record spans lines: stray quotes merging lines"
    )
    assert _reads(path) == [message] * 3
    # Over three lines (a whole record inside the field), the same.
    merged = {10: '352;10;"Action 10;3;1 000;900', 12: '352;12;Action 12";3;1 000;900'}
    edited = [merged.get(i, row) for i, row in enumerate(rows)]
    path.write_text("\n".join([header, *edited, ""]), encoding="utf-8")
    three = message.replace("on line 13", "on line 14").replace("1 line break and 5", "2 line breaks and 10")
    assert _reads(path) == [three] * 3
    # A label over lines holding fewer separators than a record (a title over three lines) reads, in every read.
    edited = list(rows)
    edited[10] = '352;10;"Action 10:\nsuite; fin\net fin";3;1 000;900'
    path.write_text("\n".join([header, *edited, ""]), encoding="utf-8")
    cells = [tuple(None if c == "" else c for c in row.split(";")) for row in rows]
    cells[4] = ("352", "04", 'Action "quoted"', "3", "1 000", "900")
    cells[10] = ("352", "10", "Action 10:\nsuite; fin\net fin", "3", "1 000", "900")
    assert _reads(path) == [(header.split(";"), 0, cells)] * 3


def test_a_stray_quote_in_a_head_whose_quotes_open_no_field_is_the_same_error_wherever_the_file_is_taken(tmp_path):
    # A tester's note: the head (256 KiB) of a file whose first quote opening a field lies past it is plain, so its
    # stray quote (`ab"c`) is a character there, where the whole and stream reads refuse it. It cannot matter: a head
    # shorter than its file is never taken as its table (its `quote_error` is raised only where it is whole), and its
    # header and rows are those a head that sees the file's quoting reads (leniently); the file is read whole or
    # streamed, and every read that takes it names the same line and column.
    folder = tmp_path / "sources"
    folder.mkdir()
    path = folder / "credits.csv"
    rows = [f"352;{i};1 000" for i in range(30_000)]
    rows[8] = '352;ab"c;1 000'
    message = (
        "credits.csv: line 10 of the file, column 'Action': an unbalanced quote (a quote inside a field it does not "
        "open, in a file whose quotes open fields)"
    )
    heads = []
    for quoted in (25_000, 20):  # the first quote opening a field past the head, then inside it
        edited = [row if i != quoted else '352;"quoted; field";1 000' for i, row in enumerate(rows)]
        path.write_text("\n".join(["Programme;Action;AE", *edited, ""]), encoding="utf-8")
        head, whole = read_csv_head(path, path.name)
        assert not whole and (head.quote_error is None) == (quoted == 25_000)
        heads.append((head.header, list(head.rows)[:20]))
        for read in (lambda: read_csv_table(path, path.name), lambda: recognise(discover_sources(folder)[0]).table):
            with pytest.raises(TableReadError, match="^" + re.escape(message) + "$"):
                read()
        with pytest.raises(TableReadError, match="^" + re.escape(message) + "$"), stream_csv_table(path, path.name):
            pass
    assert heads[0] == heads[1] and heads[0][1][8] == ["352", 'ab"c', "1 000"]
