"""Windows-1252 files decoded in large blocks (issue 11, item 4): line ends and error lines across blocks.

The stream decodes a Windows-1252 file in blocks of several MiB; a ``\\r\\n`` cut between two blocks,
and the line of an undefined byte far into the file, must come out as from a whole read.
"""

import pytest

from warehouse.csv_files import _TRANSCODE_CHUNK, decode_text, file_encoding, stream_csv_table
from warehouse.tables import TableReadError

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
