"""Windows-1252 files decoded in large blocks (issue 11, item 4): line ends and error lines across blocks.

The stream decodes a Windows-1252 file in blocks of several MiB; a ``\\r\\n`` cut between two blocks,
and the line of an undefined byte far into the file, must come out as from a whole read.
"""

import io

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warehouse.reading import csv_files
from warehouse.reading.csv_files import _TRANSCODE_CHUNK, decode_text, file_encoding, stream_csv_table
from warehouse.reading.tables import TableReadError

_LINE = "Mission;Libellé;Montant\r\n".encode("cp1252")  # 25 bytes, one of them é


def _rows_past_a_block() -> int:
    """Data lines enough to cross the first block."""
    return _TRANSCODE_CHUNK // len(_LINE) + 10


def test_crlf_cut_between_two_blocks_is_one_line_end():
    head = "Mission;Libellé;Montant\n".encode("cp1252")
    filler = b"x" * (_TRANSCODE_CHUNK - len(head) - 2 - 1)
    data = head + b"a;" + filler + b"\r\n" + _LINE * 3
    assert data[_TRANSCODE_CHUNK - 1 : _TRANSCODE_CHUNK + 1] == b"\r\n"  # the block ends between \r and \n
    text, encoding = decode_text(data)
    assert encoding == "cp1252"
    assert "\r" not in text
    assert text.count("\n") == 5
    assert text.endswith("Mission;Libellé;Montant\n" * 3)


def test_lone_cr_line_ends_become_newlines_in_a_large_file():
    data = _LINE.replace(b"\r\n", b"\r") * _rows_past_a_block()
    text, _ = decode_text(data)
    assert text == "Mission;Libellé;Montant\n" * _rows_past_a_block()


def test_undefined_byte_far_into_a_windows_1252_file_names_its_line(tmp_path):
    rows = _rows_past_a_block()
    path = tmp_path / "loin.csv"
    path.write_bytes(_LINE * rows + b"\x81;2;3\r\n" + _LINE)
    expected = rf"^loin.csv: line {rows + 1}: byte b'\\x81' is not cp1252"
    with pytest.raises(TableReadError, match=expected):
        file_encoding(path, "loin.csv")
    with pytest.raises(TableReadError, match=expected), stream_csv_table(path, "loin.csv"):
        pass


def test_large_windows_1252_file_streams_every_line(tmp_path):
    rows = _rows_past_a_block()
    path = tmp_path / "grand.csv"
    path.write_bytes(
        "Mission;Libellé;Montant\r\n".encode("cp1252") + "Défense;Équipement’s;1\r\n".encode("cp1252") * rows
    )
    assert file_encoding(path, "grand.csv") == ("cp1252", 0)
    with stream_csv_table(path, "grand.csv") as stream:
        assert stream.table.header == ["Mission", "Libellé", "Montant"]
        assert stream.data_rows == rows
        cells = [c for _, c in stream.batches(50_000)]
    assert sum(c.height for c in cells) == rows
    assert set(cells[-1].row(-1)) == {"Défense", "Équipement’s", "1"}


# The bytes where UTF-8 sequences start, end or break (Unicode Table 3-7), Windows-1252's undefined ones, and text.
_BYTES = st.sampled_from(
    [0x0A, 0x3B, 0x41, 0x80, 0x81, 0x8F, 0x9D, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE9, 0xED, 0xEF]
    + [0xF0, 0xF1, 0xF4, 0xF5, 0xFF]
)
_TEXT = st.sampled_from(["é", "€", "\ufffd", "𝄞", "Libellé;"]).map(str.encode)


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(st.one_of(st.binary(max_size=3).map(bytes), st.lists(_BYTES, max_size=6).map(bytes), _TEXT)),
    chunk=st.sampled_from([1, 2, 3, 5, 1 << 22]),
)
def test_encoding_counts_without_decoding_are_those_of_the_decoder(parts, chunk):
    # file_encoding counts the ill-formed and the multi-byte sequences on arrays of the bytes above 127, in
    # chunks, where it decoded each chunk with Python's decoder (errors="replace"): the same counts, sequences cut
    # by a chunk's end included, and whether a byte is one Windows-1252 leaves undefined.
    data = b"".join(parts)
    text = data.decode("utf-8", "replace")
    high = len(data.translate(None, bytes(range(128))))
    replaced = text.count("\ufffd") - data.count("\ufffd".encode())
    expected = (replaced, len(text) - (len(data) - high) - replaced, high)
    assert csv_files._count_utf8(io.BytesIO(data), 0, chunk) == (
        *expected,
        any(b in data for b in (0x81, 0x8D, 0x8F, 0x90, 0x9D)),
    )


@pytest.mark.parametrize("before", [1, 2])
def test_a_literal_replacement_character_cut_by_a_chunk_is_utf8_for_the_inventory_and_the_read(tmp_path, before):
    # Found by the adversarial tester of wave 8: an ASCII file whose one non-ASCII character, a literal U+FFFD,
    # is cut by a chunk boundary of the encoding count. The read counted it as an ill-formed sequence (cp1252:
    # 'ï¿½') while the inventory's count said UTF-8. Both count alike now, and the read gives the character back.
    header = b"Programme;Libelle\n"
    line = b"101;" + b"a" * 59 + b"\n"
    lines = (csv_files._COUNT_CHUNK - before - len(header)) // len(line)
    body = header + line * lines
    body += b"1" * (csv_files._COUNT_CHUNK - before - len(body) - 4) + b";xxx"
    data = body + "\ufffd".encode() + b"Conduite\n" + line * 10
    assert data[csv_files._COUNT_CHUNK - before : csv_files._COUNT_CHUNK - before + 3] == b"\xef\xbf\xbd"
    path = tmp_path / "fffd.csv"
    path.write_bytes(data)
    assert file_encoding(path, "fffd.csv") == ("utf-8", 0)
    text, encoding = decode_text(data)
    assert encoding == "utf-8" and "xxx\ufffdConduite" in text and "ï¿½" not in text


def _facts_ahead_of(data: bytes, monkeypatch, tmp_path):
    """(facts computed while ``data`` is decoded, facts of a pass over its UTF-8 copy), blocks of 64 KiB."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(csv_files, "_FACTS_BLOCK_BYTES", 1 << 16)
    copy = tmp_path / "utf8.csv"
    with open(copy, "w+b") as file, ThreadPoolExecutor(max_workers=1) as pool:
        tap = csv_files._FactsAhead(file, pool)
        decoded = csv_files._transcode(io.BytesIO(data), tap)
        ahead = tap.facts() if decoded.plain else None
    structure = csv_files._structure(copy)
    if ahead is None or structure is None:
        return ahead, None
    layout, fields = structure
    return ahead, (layout, csv_files._line_facts(copy, layout[0], fields))


@pytest.mark.parametrize("late", [b"", "é".encode("cp1252"), b"\xc3\xa9"])
def test_line_facts_computed_while_decoding_are_those_of_the_copy(late, monkeypatch, tmp_path):
    """Blank lines, blank cells, lines longer or shorter than the header, a last line with no line end, across
    blocks; ``late``: a byte that is not UTF-8 past the first blocks (the decoding starts again as Windows-1252,
    the facts computed so far dropped), or UTF-8."""
    rows = [b"Titre", b"", b"Mission;Programme;Montant"]
    for i in range(100_000):
        rows.append(
            [b"A;1;2", b"", b"  ;  ;", b"B;2;3;x", b"C;3", b";;;", b"D;\xc2\xa0;4"][i % 7] if i % 5 else b"E;%d;5" % i
        )
    data = b"\r\n".join(rows[:80_000]) + b"\r\n" + late + b"\n".join(rows[80_000:])
    ahead, whole = _facts_ahead_of(data, monkeypatch, tmp_path)
    assert ahead is not None and whole is not None
    assert ahead[0] == whole[0]
    assert ahead[1].equals(whole[1])


def test_no_line_facts_ahead_for_a_text_with_quotes_or_a_short_text(monkeypatch, tmp_path):
    quoted = b"Mission;Montant\n" + b"A;1\n" * 100_000 + b'"B\nC";2\n' + b"A;1\n" * 10
    assert _facts_ahead_of(quoted, monkeypatch, tmp_path)[0] is None
    short = b"Mission;Montant\n" + b"A;1\n" * 100
    assert _facts_ahead_of(short, monkeypatch, tmp_path)[0] is None


def test_lines_opening_with_a_byte_order_mark_read_alike_wherever_a_block_starts(monkeypatch, tmp_path):
    """Polars drops a U+FEFF that opens what it reads: a line of U+FEFF and spaces opening a block was blank, or not,
    by where the block's cut fell (an adversarial tester). Every data line here opens with one, so every block does:
    the facts ahead and the cells read block by block are those of a read of the whole text."""
    bom = "\ufeff".encode()
    rows = [b"Mission;Programme;Montant"]
    for i in range(1_200_000):  # 8 MiB: three writes of the decoding (4 MiB each), each a block of facts
        rows.append(bom + [b"   ", b"A;1;2", b";;", b"B;2;3;x", b"\xc2\xa0"][i % 5])
    data = b"\n".join(rows) + b"\n"
    ahead, whole = _facts_ahead_of(data, monkeypatch, tmp_path)
    assert ahead is not None and whole is not None and ahead[0] == whole[0]
    assert ahead[1].equals(whole[1])
    assert not whole[1]["blank"][1:].any()  # no line is blank: each holds its U+FEFF

    path = tmp_path / "bom.csv"
    path.write_bytes(data)
    with csv_files.stream_csv_table(path, "bom.csv") as stream:
        at_once = pl.concat([cells for _, cells in stream.batches(2_000_000)])  # one batch: the whole copy read
        monkeypatch.setattr(csv_files, "_BLOCK_BYTES", 4096)
        by_blocks = pl.concat([cells for _, cells in stream.batches(100_000)])
    assert at_once.height == 1_200_000 and by_blocks.equals(at_once)
    assert by_blocks["c0"].str.starts_with("\ufeff").all()


@pytest.mark.parametrize("encoding", ["utf-16-be", "utf-16-le"])
def test_a_real_file_in_utf16_without_a_bom_reads_as_utf16_whole_streamed_and_as_a_head(tmp_path, encoding):
    """LFI_2020_Credits.csv re-encoded in UTF-16 with no BOM (a tester's find: big-endian was read as ASCII, a NUL
    between every two characters of every cell): decided from the NULs of the whole file, read as the original."""
    from tests.conftest import SOURCES
    from warehouse.reading.csv_files import read_csv_head, read_csv_table

    original = read_csv_table(SOURCES / "LFI_2020_Credits.csv", "LFI_2020_Credits.csv")
    path = tmp_path / "LFI_2020_Credits.csv"
    path.write_bytes((SOURCES / "LFI_2020_Credits.csv").read_bytes().decode("utf-8").encode(encoding))
    table = read_csv_table(path, path.name)
    assert (table.encoding, table.header, table.rows) == (encoding, original.header, original.rows)
    assert file_encoding(path, path.name) == (encoding, 0)
    for whole_encoding in (True, False):
        head, _ = read_csv_head(path, path.name, head_bytes=4096, whole_encoding=whole_encoding)
        assert (head.encoding, head.header, head.rows[0]) == (encoding, original.header, original.rows[0])
    with stream_csv_table(path, path.name) as stream:
        assert (stream.table.encoding, stream.data_rows) == (encoding, len(original.rows))
        rows = [row for _, batch in stream.batches(1000) for row in batch.rows()]
    assert [[c or None for c in row] for row in rows] == original.rows


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"Exercice;loi\n2020;LFI\x00\n2020;LFI\n", 2),  # ASCII with a NUL: no text of any encoding
        # UTF-16LE for its head, ASCII after it: the whole file has NULs on a quarter of its units
        ("Exercice;loi\n".encode("utf-16-le") + "2020;LFI\n".encode("utf-16-le") * 500 + b"2020;LFI\n" * 1200, 1),
    ],
    ids=["ascii with a NUL", "utf-16 head, ascii tail"],
)
def test_nul_bytes_that_are_not_utf16_throughout_are_an_error_naming_the_file_and_line(tmp_path, data, line):
    from warehouse.reading.csv_files import read_csv_table

    path = tmp_path / "nul.csv"
    path.write_bytes(data)
    expected = rf"^nul.csv: line {line}: byte b'\\x00' \(NUL\) at offset \d+: not text"
    with pytest.raises(TableReadError, match=expected):
        read_csv_table(path, path.name)
    with pytest.raises(TableReadError, match=expected):
        file_encoding(path, path.name)
    with pytest.raises(TableReadError, match=expected), stream_csv_table(path, path.name):
        pass
