"""Read a CSV file of any vintage as a :class:`warehouse.reading.tables.RawTable`: every cell as text.

The structure is found from the file, never assumed (``shared/cases/B22``, ``B27``,
``B31``, ``B39``):

- **Size.** A file above :func:`max_file_bytes` (512 MiB, or ``BUDGET_MAX_FILE_MB``)
  is refused with a :class:`TableReadError` naming it and its size. Below it the file
  is streamed in 1 MiB chunks into a UTF-8 copy (a temporary file) that Polars reads.
- **Encoding**, decided from the whole file: UTF-16 with a BOM; without one, where the head holds NULs,
  UTF-16 big- or little-endian from the NULs of the whole file (on half its 2-byte units at least, at even or odd
  offsets, under a tenth as many at the other), else an error naming the first NUL's line; else UTF-8 (any
  number of leading BOMs, all removed) where the bytes of valid
  multi-byte UTF-8 sequences outnumber the bytes that are not UTF-8: those bytes
  alone are decoded as Windows-1252 and the lines holding them are counted
  (``lignes_recodees``; ``B31``); else the whole file is Windows-1252 (``cp1252``),
  never Latin-1, which silently corrupts ``’ œ – €`` (``B05``). The real cp1252
  files hold a few byte runs that happen to be valid UTF-8 (``é\\xa0»`` reads as
  ``頻``), hence a share and not "any valid sequence". Line ends become ``\\n``.
- **Separator**: among ``;`` ``,`` tab ``|``, the one whose most frequent field count
  above 1 is that of the largest share (at least half) of the first 200 non-blank
  records that some candidate splits (a title line splits under none and votes for
  none: three titles above a header and one data line do not outvote them); a first
  line ``sep=X`` (Excel's hint) states it. With none, one column.
- **Header**: the first record with at least two filled cells that reaches the usual
  width of the records (the most frequent index of the last filled cell among records
  wider than one cell, so that title lines do not count). The lines
  above it (titles, blank lines, ``sep=;``) are set aside and counted
  (``lignes_preambule``). Blank lines and lines of one filled cell (titles) opening the file are skipped
  before the separator and the header are looked for, through its first :data:`_SKIP_CHARS` characters; a
  file going on past them with no line of two filled cells is an error. A first line of two cells above titles
  that fill the sample (its records or characters, but one line) is skipped with them where the table below is
  wider than it and they are not mostly rows of its field count. Titles are physical lines (a quote a title leaves
  open is its own, under a first line of two cells too): where they hold a quote, the records are read from the
  header's line, and whether quotes open fields (the text is plain) is decided from there on.
- **Irregular rows**: a data row that has fewer fields than the header names, or a
  filled field beyond the header's width, is recorded as (data line, field count) in
  ``lignes_irregulieres``, never padded or cut in silence; the family's reader raises
  :meth:`RawTable.irregular_rows_error` or sets those lines aside. Fields that are all
  empty lose no data: a line holding only separators (``;;;``, 111 of them in
  ``PLF_2019_BG_Destination.csv``) and trailing empty fields (the 153 empty columns of
  the PLF 2020–2022 files) are not irregular; trailing columns with no header and no
  value are dropped.
- **A file cut short**: its last record has no line end and fewer fields than the header
  and than every other data record (cut inside a line's trailing ``;;;``, no cell of it is
  lost, but the lines after it are): a :class:`TableReadError` naming the file and its last
  line (:func:`_cut_short`), whole or streamed; a head read to recognise the file keeps it
  in ``quote_error``. A complete last line with no line end reads.

Record boundaries follow RFC 4180 (quoted fields may hold separators and line breaks).
Cells are split by Polars; the field count of every record comes from Python's
``csv`` module (C code) over the same UTF-8 copy, and the two must agree on the number
of records or the file is read by ``csv`` alone (a slower path for quoting Polars
refuses). In a text whose quotes open fields, a quote inside a field it does not open (``ab"c``) is an error naming
its line and column in every read (:func:`_stray_quote`), and so are stray quotes merging lines into one record
(a field over lines holding a whole record's separators, in a file no other record of which spans lines); where no quote
opens a field it is a character.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np
import polars as pl

from warehouse.reading.tables import FrameRows, RawTable, TableReadError

__all__ = [
    "HEAD_BYTES",
    "MAX_FILE_MB_VARIABLE",
    "SEPARATORS",
    "CsvStream",
    "decode_text",
    "file_encoding",
    "max_file_bytes",
    "read_csv_head",
    "read_csv_table",
    "stream_csv_table",
]

#: Environment variable giving the largest text file read, in MiB (default 512).
MAX_FILE_MB_VARIABLE = "BUDGET_MAX_FILE_MB"
_DEFAULT_MAX_FILE_MB = 512
#: The separators tried, in order of preference when two fit equally well.
SEPARATORS = (";", ",", "\t", "|")
_SEP_HINT = re.compile(r"^sep=(.)\s*$", re.IGNORECASE)
_CHUNK = 1 << 20
#: Bytes decoded at once by :func:`_transcode_strict` (C codecs on large blocks: a quarter less CPU than 1 MiB).
_TRANSCODE_CHUNK = 1 << 22
#: What comes before a field: the start of the text, a line end or a separator; a quote after it opens the field.
_BEFORE_FIELD = frozenset(b"\n" + "".join(SEPARATORS).encode())
_SAMPLE_CHARS = 1 << 16
_SAMPLE_RECORDS = 200
#: Characters of a text's start looked through for the lines above its header that hold at most one filled cell
#: (blank lines, titles: left out of the sample, counted as preamble); within a 256 KiB head (:data:`HEAD_BYTES`)
#: even in UTF-16.
_SKIP_CHARS = 96 << 10
#: Characters from a title's line start in which a header whose first cell holds a quoted line break is looked for
#: (:func:`_title`): a bound on the work a title with an open quote costs (each reads up to there, under 4 separators).
_TITLE_RECORD_CHARS = 4 << 10
#: Characters of a text's start read for its layout: the lines skipped, then the sample.
_HEAD_CHARS = _SKIP_CHARS + _SAMPLE_CHARS
_FALLBACK_CHUNK_ROWS = 50_000
#: Files up to this size are decoded in memory by :func:`read_csv_table`; larger ones to a temporary file.
_IN_MEMORY_BYTES = 16 << 20
_ASCII = bytes(range(128))
#: The bytes Windows-1252 decodes (all but 0x81, 0x8D, 0x8F, 0x90 and 0x9D).
_CP1252_DEFINED = bytes(b for b in range(256) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D))
_HANDLER = "warehouse.cp1252"


def max_file_bytes() -> int:
    """The largest text file read, in bytes: ``BUDGET_MAX_FILE_MB`` MiB, 512 MiB when unset.

    Raises :class:`TableReadError` when the variable is not a positive number.
    """
    raw = os.environ.get(MAX_FILE_MB_VARIABLE, "").strip()
    if not raw:
        return _DEFAULT_MAX_FILE_MB << 20
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = -1.0
    if megabytes <= 0:
        raise TableReadError(f"{MAX_FILE_MB_VARIABLE}={raw!r} is not a positive number of MiB")
    return int(megabytes * (1 << 20))


# -- encoding ------------------------------------------------------------------------------


class _FallbackState:
    """The lines (by the offset of their start) where the Windows-1252 fallback decoded bytes."""

    def __init__(self) -> None:
        self.lines: set[int] = set()
        self.base = 0  # file offset of the first byte of the decoder's current input
        self.line_start = 0  # file offset of the line the current input starts in
        self.newlines = 0  # line breaks before the decoder's current input


_local = threading.local()


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: decode the bytes that are not UTF-8 as Windows-1252, and count them."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    state: _FallbackState = _local.state
    bad = error.object[error.start : error.end]
    try:
        text = bytes(bad).decode("cp1252")
    except UnicodeDecodeError:
        line = state.newlines + error.object.count(b"\n", 0, error.start) + 1
        raise TableReadError(f"line {line}: byte {bytes(bad)!r} is neither UTF-8 nor Windows-1252") from None
    newline = error.object.rfind(b"\n", 0, error.start)
    state.lines.add(state.base + newline + 1 if newline >= 0 else state.line_start)
    return text, error.end


codecs.register_error(_HANDLER, _cp1252_fallback)


@dataclass
class _Decoded:
    encoding: str
    lignes_recodees: int = 0
    plain: bool = False  # no quote opening a field and no \x1f in the text: every line is one record
    start: int = 0  # where the text starts (after byte order marks), for a file only checked


def _opens_a_field(head: bytes, data: bytes) -> bool:
    """Whether a quote of ``data`` opens a field; ``head``: the byte before ``data`` (none at the text's
    start) and its first byte. Quotes are rare: each one found (C search) is looked at."""
    if head == b'"' or (len(head) == 2 and head[1:] == b'"' and head[0] in _BEFORE_FIELD):
        return True
    at = data.find(b'"', 1)
    while at > 0:
        if data[at - 1] in _BEFORE_FIELD:
            return True
        at = data.find(b'"', at + 1)
    return False


class _LineEnds:
    """Writes UTF-8 with ``\\r\\n`` and lone ``\\r`` turned into ``\\n`` (across chunk boundaries).

    Notes whether the text holds a quote that opens a field (at a line's start or after one of
    :data:`SEPARATORS`) or a ``\\x1f`` (see :func:`_field_counts`): a quote inside a field is a
    character like any other, for Python's ``csv`` as for a split at the separators.
    """

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.reset()

    def reset(self) -> None:
        self.sink.seek(0)
        self.sink.truncate()
        self.pending_cr, self.plain, self.last = False, True, b""

    def write(self, data: str | bytes) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self.pending_cr:
            data, self.pending_cr = b"\r" + data, False
        if data.endswith(b"\r"):
            data, self.pending_cr = data[:-1], True
        if b"\r" in data:  # a C search; most files end their lines with \n alone
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if self.plain and data:
            self.plain = b"\x1f" not in data and not _opens_a_field(self.last + data[:1], data)
            self.last = data[-1:]
            if not self.plain and isinstance(self.sink, _FactsAhead):
                self.sink.stop()  # its line facts are not those of records: not worth computing
        self.sink.write(data)

    def close(self) -> None:
        if self.pending_cr:
            self.sink.write(b"\n")
            self.pending_cr = False


def _transcode(source: BinaryIO, sink: BinaryIO) -> _Decoded:
    """Stream ``source`` into ``sink`` as UTF-8 (line ends ``\\n``); return the encoding found.

    A first pass counts, with the C decoder, the byte sequences that are not UTF-8 and
    the valid multi-byte characters; a UTF-8 file is written in that same pass. Else a
    second pass decodes the file as Windows-1252, or as UTF-8 with the bytes that are
    not decoded one by one as Windows-1252 (the Python error handler then runs once
    per stray sequence, not per byte of the file).
    """
    out = _LineEnds(sink)
    decoded = _decode(source, out)
    decoded.plain = out.plain
    return decoded


#: Files found Windows-1252 by :func:`file_encoding` (by path, size and modification time): where their text
#: starts. Their transcoding (:func:`stream_csv_table`) then decodes them at once, without a UTF-8 pass first.
_CP1252_FILES: dict[tuple[str, int, int], int] = {}


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _transcode_cp1252(source: BinaryIO, sink: BinaryIO, start: int) -> _Decoded:
    """:func:`_transcode` of a file already found Windows-1252 (its text from ``start``)."""
    out = _LineEnds(sink)
    decoded = _transcode_strict(source, out, "cp1252", start)
    decoded.plain = out.plain
    return decoded


def _decode(source: BinaryIO, out: _LineEnds, check_only: bool = False) -> _Decoded:
    """The encoding of ``source`` (see :func:`_transcode`), its text written to ``out``; ``check_only``: ``out``
    discards the text, so a Windows-1252 file is only checked (no undefined byte), not decoded."""
    head = source.read(4096)
    boms = 0
    while head[boms * 3 : boms * 3 + 3] == codecs.BOM_UTF8:
        boms += 1
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _transcode_strict(source, out, "utf-16", 0)
    if 0 in head:  # NULs: UTF-16 without a BOM, decided from the whole file, or no text
        return _transcode_strict(source, out, _utf16_without_bom(source), 0)
    start = boms * 3
    invalid, multibyte, high_bytes, undefined = _count_utf8(source, start, out=None if check_only else out)
    suffix = "-sig" * boms
    if not invalid:
        return _Decoded("ascii" if not high_bytes and not boms else "utf-8" + suffix)
    out.reset()
    if multibyte <= invalid:
        if check_only and not undefined:
            return _Decoded("cp1252", start=start)
        return _transcode_strict(source, out, "cp1252", start)
    return _Decoded("utf-8" + suffix, lignes_recodees=_transcode_mixed(source, out, start))


def _utf16_without_bom(source: BinaryIO) -> str:
    """``utf-16-le`` or ``utf-16-be`` for a file with no BOM whose head holds NUL bytes, from the NULs of the whole
    file: a text of Latin script in UTF-16 has a NUL high byte in most of its 2-byte units, all at one parity (odd
    offsets little-endian, even ones big-endian). Those of one parity on at least half the units and those of the
    other under a tenth as many (``è`` written ``e`` + U+0300) decide it; else a :class:`TableReadError` names the
    line of the first NUL: never read as ASCII or Windows-1252 with NULs in its cells."""
    source.seek(0)
    even = odd = size = newlines = 0
    first = line = -1
    while chunk := source.read(_TRANSCODE_CHUNK):  # an even size: offsets keep their parity
        even, odd = even + chunk[0::2].count(0), odd + chunk[1::2].count(0)
        if first < 0:
            at = chunk.find(0)
            if at >= 0:
                first, line = size + at, newlines + chunk.count(b"\n", 0, at) + 1
            newlines += chunk.count(b"\n")
        size += len(chunk)
    units = size // 2
    more, fewer = max(even, odd), min(even, odd)
    if units and 2 * more >= units and 10 * fewer < more:
        return "utf-16-be" if even > odd else "utf-16-le"
    raise TableReadError(
        f"line {line}: byte b'\\x00' (NUL) at offset {first}: not text (no byte order mark, and {even} NUL(s) at "
        f"even offsets, {odd} at odd ones in {units} 2-byte units, where UTF-16 without a BOM has them in most "
        "units, at one parity)"
    )


#: Bytes read at once by :func:`_count_utf8`.
_COUNT_CHUNK = 1 << 22
_CP1252_UNDEFINED = np.array([0x81, 0x8D, 0x8F, 0x90, 0x9D], dtype=np.uint8)


def _count_utf8(
    source: BinaryIO, start: int, chunk_bytes: int = _COUNT_CHUNK, out: _LineEnds | None = None
) -> tuple[int, int, int, bool]:
    """(invalid UTF-8 sequences, valid multi-byte characters, bytes above 127) of ``source`` from ``start``,
    nothing decoded, and whether a byte is one Windows-1252 leaves undefined; in one read, in chunks of
    ``chunk_bytes``. With ``out``, the bytes are written to it while no invalid sequence has been met, and it
    is closed at the end.

    Only the bytes above 127 are looked at (a chunk of ASCII is skipped by a C test), as arrays: a sequence
    is counted as Python's UTF-8 decoder with ``errors="replace"`` counts it (one replacement character per
    maximal subpart of an ill-formed sequence, Unicode 15 section 3.9 "U+FFFD Substitution of Maximal
    Subparts"; :func:`_utf8_units`). A sequence cut by a chunk's end is counted with the next chunk."""
    source.seek(start)
    invalid = multibyte = high_bytes = 0
    undefined = False
    rest = b""
    while True:
        chunk = source.read(chunk_bytes)
        data = rest + chunk
        if not data:
            break
        if out is not None and not invalid:
            out.write(chunk)
        if data.isascii():
            rest = b""
        else:
            final = not chunk
            found_invalid, found_multibyte, found_high, end, found_undefined = _utf8_units(data, final)
            invalid, multibyte, high_bytes = (
                invalid + found_invalid,
                multibyte + found_multibyte,
                high_bytes + found_high,
            )
            undefined = undefined or found_undefined
            rest = data[end:]
        if not chunk:
            break
    if out is not None:
        out.close()
    return invalid, multibyte, high_bytes, undefined


def _utf8_units(data: bytes, final: bool) -> tuple[int, int, int, int, bool]:
    """(ill-formed subparts, valid multi-byte sequences, bytes above 127, end, a Windows-1252 undefined byte)
    of the sequences of ``data`` that start before ``end``: ``len(data)`` when ``final``, else the end of
    ``data`` less its last 3 bytes or the end of the last sequence counted that runs beyond (the bytes from
    ``end`` are counted with the next chunk)."""
    array = np.frombuffer(data, dtype=np.uint8)
    limit = len(data) if final else max(len(data) - 3, 0)
    high = np.flatnonzero(array[:limit] >= 0x80)
    last = len(data) - 1
    # 0 past the end: never a continuation byte
    b0, b1, b2, b3 = (np.where(high + k <= last, array[np.minimum(high + k, last)], 0) for k in range(4))
    cont1, cont2, cont3 = ((b >= 0x80) & (b <= 0xBF) for b in (b1, b2, b3))
    # The second byte's range depends on the first (Unicode Table 3-7, well-formed UTF-8 byte sequences).
    second = np.where(
        b0 == 0xE0,
        (b1 >= 0xA0) & (b1 <= 0xBF),
        np.where(
            b0 == 0xED,
            (b1 >= 0x80) & (b1 <= 0x9F),
            np.where(b0 == 0xF0, (b1 >= 0x90) & (b1 <= 0xBF), np.where(b0 == 0xF4, (b1 >= 0x80) & (b1 <= 0x8F), cont1)),
        ),
    )
    two = (b0 >= 0xC2) & (b0 <= 0xDF)
    three = (b0 >= 0xE0) & (b0 <= 0xEF)
    four = (b0 >= 0xF0) & (b0 <= 0xF4)
    lead = two | three | four
    # The length of the unit a lead starts: its valid sequence, or its maximal subpart (a valid prefix).
    length = np.where(
        two,
        np.where(second, 2, 1),
        np.where(
            three,
            np.where(second, np.where(cont2, 3, 2), 1),
            np.where(four, np.where(second, np.where(cont2, np.where(cont3, 4, 3), 2), 1), 1),
        ),
    )
    valid = (two & second) | (three & second & cont2) | (four & second & cont2 & cont3)
    # Continuation bytes a lead's unit takes in; the others each make an ill-formed subpart of their own.
    absorbed = np.concatenate([high[lead & (length > k)] + k for k in (1, 2, 3)])
    lone = ~lead & ~np.isin(high, absorbed)  # a continuation byte not taken, or C0, C1, F5 to FF
    units = lead | lone
    ends = high[units] + length[units]
    end = max(limit, int(ends.max())) if ends.size else limit
    past = high.size and end > limit  # high bytes between limit and end, taken in by a unit before limit
    extra = int(np.count_nonzero(array[limit:end] >= 0x80)) if past else 0
    undefined = bool(np.isin(b0, _CP1252_UNDEFINED).any() or np.isin(array[limit:end], _CP1252_UNDEFINED).any())
    return (
        int(np.count_nonzero(lead & ~valid) + np.count_nonzero(lone)),
        int(np.count_nonzero(valid)),
        int(high.size) + extra,
        end,
        undefined,
    )


def _transcode_mixed(source: BinaryIO, out: _LineEnds, start: int) -> int:
    """Decode UTF-8 with each invalid sequence as Windows-1252; return the number of lines holding one."""
    state = _FallbackState()
    state.base = state.line_start = start
    _local.state = state
    decoder = codecs.getincrementaldecoder("utf-8")(_HANDLER)
    source.seek(start)
    offset = start
    try:
        while chunk := source.read(_CHUNK):
            state.base = offset - len(decoder.buffer)
            out.write(decoder.decode(chunk))
            state.newlines += chunk.count(b"\n")
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                state.line_start = offset + newline + 1
            offset += len(chunk)
        state.base = offset - len(decoder.buffer)
        out.write(decoder.decode(b"", final=True))
        out.close()
    finally:
        del _local.state
    return len(state.lines)


def _transcode_strict(source: BinaryIO, out: _LineEnds, encoding: str, start: int) -> _Decoded:
    source.seek(start)
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    lines = 1
    # One byte per character: the line ends before a chunk are counted on the bytes, and only for an error (the
    # count of every chunk was a tenth of the transcoding's CPU).
    single_byte = encoding == "cp1252"
    chunk_at = start  # where the chunk being decoded starts
    try:
        while chunk := source.read(_TRANSCODE_CHUNK):
            text = decoder.decode(chunk)
            out.write(text)
            if single_byte:
                chunk_at += len(chunk)
            else:
                lines += text.count("\n")
        out.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        if single_byte:
            source.seek(start)
            while (left := chunk_at - source.tell()) > 0 and (block := source.read(min(_TRANSCODE_CHUNK, left))):
                lines += block.count(b"\n")
        line = lines + exc.object[: exc.start].decode(encoding, "replace").count("\n")
        bad = bytes(exc.object[exc.start : exc.end])
        raise TableReadError(f"line {line}: byte {bad!r} is not {encoding} ({exc.reason})") from exc
    out.close()
    return _Decoded(encoding)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode the bytes of a text file as :func:`read_csv_table` does; return ``(text, encoding name)``.

    Line ends come back as ``\\n``. Raises :class:`TableReadError` when no encoding fits.
    """
    sink = io.BytesIO()
    decoded = _transcode(io.BytesIO(data), sink)
    return sink.getvalue().decode("utf-8"), decoded.encoding


# -- structure -----------------------------------------------------------------------------


def _filled(record: list[str]) -> int:
    """The number of filled cells (not only white space) of ``record``."""
    return len(record) - list(map(str.strip, record)).count("")


def _any_filled(record: list[str]) -> bool:
    return any(map(str.strip, record))


def _width(record: list[str]) -> int:
    """Index of the last filled cell, plus one (0 for a blank record)."""
    for index in range(len(record) - 1, -1, -1):
        if record[index].strip():
            return index + 1
    return 0


def _sample_records(sample: str, separator: str) -> list[list[str]]:
    return list(islice(csv.reader(io.StringIO(sample, newline=""), delimiter=separator), _SAMPLE_RECORDS))


def _choose_separator(sample: str, parsed: dict[str, list[list[str]]] | None = None) -> str | None:
    """The separator giving one field count (above 1) on the largest share of the sample's non-blank
    records that some separator splits: a record no candidate splits (a title line) votes for none.
    ``parsed``: filled with the sample's records under each separator."""
    parsed = {} if parsed is None else parsed
    for separator in SEPARATORS:
        parsed[separator] = _sample_records(sample, separator)
    split = {separator: [len(r) for r in parsed[separator] if _any_filled(r)] for separator in SEPARATORS}
    lengths = {len(c) for c in split.values()}
    voters = sum(1 for fields in zip(*split.values(), strict=True) if max(fields) > 1) if len(lengths) == 1 else None
    best: tuple[tuple[float, int], str] | None = None
    for separator, counts in split.items():
        several = Counter(n for n in counts if n > 1)
        if not several:
            continue
        count, times = several.most_common(1)[0]
        share = times / (voters or len(counts))
        if share >= 0.5 and (best is None or (share, count) > best[0]):
            best = ((share, count), separator)
    return best[1] if best else None


def _find_header(records: list[list[str]], first: int) -> int:
    """Index of the header among ``records`` (from ``first``): see the module's docstring."""
    widths = [_width(r) for r in records[first:] if _any_filled(r)]
    if not widths:
        return first
    usual = Counter(w for w in widths if w > 1 or max(widths) == 1).most_common(1)[0][0]
    needed = min(2, usual)
    for index in range(first, len(records)):
        record = records[index]
        if _filled(record) >= needed and len(record) >= usual:
            return index
    return next(i for i in range(first, len(records)) if _filled(records[i]))


@dataclass(frozen=True)
class _Sample:
    """The start of a UTF-8 text as its layout is found from it: ``text``, the first line if it is a ``sep=X``
    hint, then the first :data:`_SAMPLE_CHARS` characters after the ``skipped`` lines that follow it (cut after
    their last complete line when the text is longer)."""

    text: str
    skipped: int = 0
    #: The first filled line, skipped with the titles under it: the sample is taken only if the table found in it
    #: is wider than that line (else the line is a header above blank or sparse lines).
    narrower: str | None = None
    #: The titles skipped under ``narrower``: where most have its field count (``0;``, ``1;`` under ``Code;Libelle``)
    #: they are its table's sparse rows, not titles.
    under: str = ""


_NO_SEPARATORS = str.maketrans("", "", "".join(SEPARATORS))


def _blank(line: str) -> bool:
    """Whether ``line`` holds no filled cell under any separator (white space and separators only)."""
    return not line.translate(_NO_SEPARATORS).strip()


def _quoted_record(line: str, separator: str) -> list[str] | None:
    """The cells of ``line`` (one physical line) read by a strict CSV reader under ``separator``; None if it is not
    one whole record so (a quote opening a field not closed on the line, or closed and followed by text)."""
    try:
        records = list(csv.reader([line], delimiter=separator, strict=True))
    except csv.Error:
        return None
    return records[0] if len(records) == 1 else None


def _title(line: str, record: str | None = None) -> bool:
    """Whether ``line`` holds at most one filled cell under every separator, read as CSV (``"a;b"`` one cell), and
    is one whole record: a blank line or a title (``Budget de l'État``, ``Titre;;;;``, ``"Budget"``,
    ``"Loi de finances; 2020"``), never a table's header (two filled cells at least).

    A line whose quotes do not make one whole record (a quote not closed on it, or closed and followed by text:
    ``"Loi de finances" 2020``, ``"Budget 2020``) is a title if it holds at most one filled cell with its quotes
    taken as characters, unless ``record`` (the text from the line's start) opens with a record that a strict
    CSV reader reads whole with two filled cells or more under some separator (a header whose first cell holds a
    quoted line break). Titles are physical lines: a quote a title leaves open does not run into the lines
    below it."""
    if '"' in line:
        cells = [_quoted_record(line, s) for s in SEPARATORS]
        if all(c is not None for c in cells):
            return all(_filled(c) <= 1 for c in cells)  # type: ignore[arg-type]
        if record is not None and any(_filled(c) > 1 for c in _strict_records(record)):
            return False
        if line.count('"') % 2:  # a quote left open: from it to the line's end, one cell (``"Crédits; LFI 2020``)
            return all(_open_quote_cells(line, s) <= 1 for s in SEPARATORS)
    return _blank(line) or all(sum(1 for c in line.split(s) if c.strip()) <= 1 for s in SEPARATORS)


def _open_quote_cells(line: str, separator: str) -> int:
    """The filled cells of ``line`` (an odd number of quotes) under ``separator``, its last quote opening a field
    (at the line's start or after a separator, spaces aside) taken as opening a cell that runs to the line's end;
    with no such quote, its quotes taken as characters."""
    fields = line.split(separator)
    for index in range(len(fields) - 1, -1, -1):
        if fields[index].lstrip().startswith('"') and separator.join(fields[index:]).count('"') % 2:
            return sum(1 for c in fields[:index] if c.strip()) + 1
    return sum(1 for c in fields if c.strip())


def _strict_records(text: str) -> Iterator[list[str]]:
    """The first record of ``text`` under each separator that a strict CSV reader reads whole there."""
    for separator in SEPARATORS:
        try:
            yield next(csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True))
        except (csv.Error, StopIteration):
            continue


def _skip(text: str, at: int, skippable, limit: int) -> tuple[int, int, bool]:
    """(where the lines of ``text`` from ``at`` that are ``skippable`` end, how many they are, whether they run
    through the text or past the character ``limit``): a C search for each line end. ``skippable`` takes the line
    and, for a line holding a quote, the text from its start (:data:`_TITLE_RECORD_CHARS`; see :func:`_title`)."""
    count = 0
    while at < len(text) and at <= limit:
        end = text.find("\n", at)
        if end < 0:
            break
        line = text[at:end]
        if not skippable(line, text[at : at + _TITLE_RECORD_CHARS] if '"' in line else None):
            break
        at, count = end + 1, count + 1
    return at, count, at >= len(text) or at > limit


def _read_samples(source: Path | bytes, complete: bool = True) -> tuple[_Sample, ...]:
    """The :class:`_Sample` s of a UTF-8 copy (on disk, or its bytes in memory; ``complete``: false for a head cut
    from a longer file) to find its layout from, in order: after the blank lines and titles of one cell that open
    it (when titles follow its blank lines), then after its blank lines alone. Where the first filled line is not
    a title and titles follow it filling the sample (its records or characters) but one line at most, first after
    that line and those titles: taken only where the table found there is wider than the line (``narrower``). The
    quotes of titles under such a line that are not one whole record are spaced out in the samples
    (:func:`_unquoted_titles`): each title stays one record there.

    :func:`_structure` takes the first that shows a table of two columns or more (the titles are then its
    preamble, counted), else the last (one column: its header is its first filled line, as ever). Blank lines are
    skipped through the whole head read (:data:`_HEAD_CHARS` characters): a file still blank past them is an error
    (:class:`TableReadError`), never read as empty. Titles are looked through for :data:`_SKIP_CHARS` characters;
    past them with no line of two filled cells, the text is one column from its first filled line, as ever (a
    document's prose with no separator: read as text, never refused)."""
    if isinstance(source, bytes):
        decoded = source[: 4 * _HEAD_CHARS + 4].decode("utf-8", errors="ignore")  # >= _HEAD_CHARS + 1 characters
        complete = complete and len(source) <= 4 * _HEAD_CHARS + 4 and len(decoded) <= _HEAD_CHARS
        text = decoded[: _HEAD_CHARS + 1]  # as from a file: the same layout from a head, a copy or its bytes
    else:
        with open(source, encoding="utf-8", errors="ignore", newline="") as handle:
            text = handle.read(_HEAD_CHARS + 1)
            complete = complete and len(text) <= _HEAD_CHARS
    newline = text.find("\n")
    hint = _SEP_HINT.match(text if newline < 0 else text[:newline])
    first = newline + 1 if hint else 0

    def goes_on(at: int) -> bool:
        return not complete or len(text) > at

    def sample(at: int, skipped: int) -> _Sample:
        cells = text[at : at + _SAMPLE_CHARS]
        if not complete or len(text) > at + _SAMPLE_CHARS:  # cut at the last complete line
            cells = cells[: cells.rfind("\n") + 1] or cells
        return _Sample(text[:first] + cells, skipped)

    blank_at, blanks, through = _skip(text, first, lambda line, _: _blank(line), len(text))
    if through or (blank_at > _SKIP_CHARS and "\n" not in text[blank_at:]):  # no complete filled line after them
        if goes_on(blank_at):
            hint = 1 if first else 0  # the `sep=X` line
            raise TableReadError(
                f"lines {hint + 1}-{hint + blanks}: blank lines only, and the text goes on: its header (two "
                f"filled cells at least) is looked for in its first {_HEAD_CHARS:,} characters only"
            )
        return (sample(first, 0),)  # nothing but blank lines: the text as it is (no filled cell)
    title_at, titles, through = _skip(text, blank_at, _title, _SKIP_CHARS)
    if titles and not through:
        return sample(title_at, blanks + titles), sample(blank_at, blanks)
    line_end = text.find("\n", blank_at)
    if not titles and line_end >= 0:  # a first line of two cells (`Loi de finances;2020`), then titles?
        title_at, titles, through = _skip(text, line_end + 1, _title, _SKIP_CHARS)
        if titles and not through and '"' in text[line_end:title_at]:  # titles are lines: their quotes are theirs
            text = text[: line_end + 1] + _unquoted_titles(text[line_end + 1 : title_at]) + text[title_at:]
        if titles and not through and _table_lines(sample(blank_at, blanks).text, first, 1 + titles) <= 1:
            # they fill the sample (its records or its characters): one table line at most would show in it
            below = sample(title_at, blanks + 1 + titles)
            narrower = _Sample(below.text, below.skipped, text[blank_at:line_end], text[line_end + 1 : title_at])
            return narrower, sample(blank_at, blanks)
    return (sample(blank_at, blanks),)


def _rows_of(first: list[str], under: str, separator: str) -> bool:
    """Whether most lines of ``under`` have the field count of the record ``first`` (two fields or more) under
    ``separator``: rows of the table ``first`` heads (``0;`` under ``Code;Libelle``), not titles."""
    lines = under.splitlines()
    fields = len(first) - 1
    return fields > 0 and 2 * sum(1 for line in lines if line.count(separator) == fields) > len(lines)


def _unquoted_titles(lines: str) -> str:
    """``lines`` (titles, each ending with ``\n``) with the quotes of those that are not one whole record (a quote
    left open, or closed and followed by text: :func:`_title`) turned into spaces: in a sample, each stays one
    record of one cell, its quote never running into the lines below it. The characters keep their places."""
    return "".join(
        line.replace('"', " ") if '"' in line and any(_quoted_record(line, s) is None for s in SEPARATORS) else line
        for line in lines.splitlines(keepends=True)
    )


def _table_lines(sample: str, first: int, above: int) -> int:
    """How many lines of ``sample`` (a :class:`_Sample`'s text, its ``sep=X`` line first if ``first``) are within its
    :data:`_SAMPLE_RECORDS` records below its first ``above`` lines (a first line and the titles under it), lines
    taken as records."""
    lines = sample.count("\n") + (not sample.endswith("\n"))
    return max(0, min(lines, _SAMPLE_RECORDS) - (1 if first else 0) - above)


def read_csv_table(path: Path, name: str) -> RawTable:
    """Read the CSV file at ``path`` (``name``: its name in messages) as one :class:`RawTable`.

    Rules in the module's docstring. Raises :class:`TableReadError` for a file above the
    size limit, bytes that fit no encoding, or quoting that cannot be read.
    """
    size = path.stat().st_size
    limit = max_file_bytes()
    if size > limit:
        raise TableReadError(
            f"{name}: {size} bytes ({size / (1 << 20):.1f} MiB), above the limit of {limit} bytes "
            f"({limit / (1 << 20):.1f} MiB; {MAX_FILE_MB_VARIABLE} sets it in MiB)"
        )
    start = _CP1252_FILES.get(_file_key(path))
    if size <= _IN_MEMORY_BYTES:  # a small file: its UTF-8 copy stays in memory (no temporary file)
        sink = io.BytesIO()
        with open(path, "rb") as source:
            try:
                decoded = _transcode(source, sink) if start is None else _transcode_cp1252(source, sink, start)
            except TableReadError as exc:
                raise TableReadError(f"{name}: {exc}") from exc
        return _read_utf8(sink.getvalue(), name, decoded)
    with tempfile.TemporaryDirectory(prefix="budget-csv-") as folder:
        utf8 = Path(folder) / "utf8.csv"
        with open(path, "rb") as source, open(utf8, "w+b") as sink:
            try:
                decoded = _transcode(source, sink) if start is None else _transcode_cp1252(source, sink, start)
            except TableReadError as exc:
                raise TableReadError(f"{name}: {exc}") from exc
        return _read_utf8(utf8, name, decoded)


def _layout(source: Path | bytes, complete: bool = True) -> tuple[str, int] | None:
    """(separator, record index of the header) found from the head of the UTF-8 copy (on disk, or its bytes in
    memory; ``complete``: as :func:`_read_samples` takes it); None if no record is filled."""
    structure = _structure(source, complete)
    return structure and structure[0]


def _structure(source: Path | bytes, complete: bool = True) -> tuple[tuple[str, int], int] | None:
    """(:func:`_layout`, the header's field count) of the UTF-8 copy ``source``; None if no record is filled."""
    found = _found(source, complete)
    if found is None:
        return None
    sample, (separator, header_at) = found
    return (separator, header_at + sample.skipped), len(_sample_records(sample.text, separator)[header_at])


def _found(source: Path | bytes, complete: bool = True) -> tuple[_Sample, tuple[str, int]] | None:
    """The :class:`_Sample` the layout of ``source`` is found in, and (separator, record index of the header in
    the sample); None if no record is filled."""
    *preambles, sample = _read_samples(source, complete)
    for titled in preambles:  # titles above the header of a table of two columns or more
        found = _layout_found(titled.text)
        if found is not None and found[0] is not None:
            if titled.narrower is not None:
                width = _width(_sample_records(titled.text, found[0])[found[1]])
                first = _sample_records(titled.narrower, found[0])[0]
                if width <= _width(first) or _rows_of(first, titled.under, found[0]):
                    continue  # not narrower than the table, or above rows of its own: the first line is a header
            sample, layout = titled, (found[0], found[1])
            break
    else:
        layout = _layout_of(sample.text)
        if layout is None:
            return None
    return sample, layout


def _layout_of(sample: str) -> tuple[str, int] | None:
    """(separator, record index of the header) of ``sample``, the text of a :class:`_Sample`; None if no record is
    filled."""
    found = _layout_found(sample)
    return None if found is None else (found[0] or SEPARATORS[0], found[1])


def _layout_found(sample: str) -> tuple[str | None, int] | None:
    """:func:`_layout_of`, the separator None where none splits the sample (one column)."""
    first_line = sample.split("\n", 1)[0]
    hint = _SEP_HINT.match(first_line)
    parsed: dict[str, list[list[str]]] = {}
    separator = hint.group(1) if hint else _choose_separator(sample, parsed)
    records = parsed.get(separator or SEPARATORS[0]) or _sample_records(sample, separator or SEPARATORS[0])
    first = 1 if hint else 0
    if not any(_any_filled(r) for r in records[first:]):
        return None
    if separator is None:  # one column: its header is the first filled line
        header_at = next(i for i in range(first, len(records)) if _filled(records[i]))
    else:
        header_at = _find_header(records, first)
    return separator, header_at


def _read_utf8(
    source: Path | bytes, name: str, decoded: _Decoded, complete: bool = True, lenient: bool = False, above: int = 0
) -> RawTable:
    """The table of a UTF-8 copy: on disk, or its bytes in memory (a head, or a small file; ``complete``: false
    for a head cut from a longer file).

    Its records are read strictly (Python's ``csv``, ``strict``): a quote opening a field that is not closed as
    a field ends, or not closed at all, is a :class:`TableReadError` naming the line it opens on
    (:func:`_refused_records`). A head cut from a longer file (not ``complete``) whose last record runs past its
    end (a quoted field holding line breaks) is read up to that record. ``lenient`` (a head read to recognise the
    file): a badly quoted field is not raised but read as before (``csv`` not strict) and its error kept in the
    table's ``quote_error``, raised where the head is taken as the whole table (:meth:`RawTable.checked`).

    The lines above the header (titles) are physical lines, whatever their quotes: where they hold a quote, the
    records are read strictly from the header's line on (:func:`_from_header`; ``above``: the lines above it,
    then), so that a quote a title leaves open neither refuses the file nor shifts its header."""
    try:
        layout = _layout(source, complete)
    except TableReadError as exc:
        raise TableReadError(f"{name}: {exc}") from exc
    if layout is None:
        return RawTable(name, "csv", decoded.encoding, [], [], lignes_recodees=decoded.lignes_recodees)
    separator, header_at = layout
    if header_at and not decoded.plain and not above:
        try:
            cut = _from_header(source, complete)
        except TableReadError as exc:
            raise TableReadError(f"{name}: {exc}") from exc
        if cut is not None:  # plain or not from the header on
            decoded = replace(decoded, plain=cut[2])
            return _read_utf8(cut[0], name, decoded, complete, lenient, above=cut[1])
    read = source  # what is read: the head up to the record its end cuts, if it cuts one
    try:
        try:
            counts, frame = _records(source, separator, decoded.plain)
        except csv.Error as exc:
            if complete or not isinstance(source, bytes) or not str(exc).startswith("unexpected end of data"):
                raise
            read = _before_last_record(source, separator)  # the head's end cuts its last record: left out
            counts, frame = _records(read, separator, decoded.plain)
        if counts.len() <= header_at:
            raise csv.Error("unexpected end of data")
        quoting = None if decoded.plain else _quote_fault(read, separator, int(counts[header_at]))
        if quoting is not None and quoting.fault is not None:  # as the stream decides it
            raise csv.Error("a quote inside a field it does not open")
    except (csv.Error, pl.exceptions.PolarsError) as exc:
        message = f"{name}: {_refused_records(source, above)}"
        if not lenient:
            raise TableReadError(message) from exc
        try:  # a field past csv's limit, or quoting Polars refuses, fails this read too: the file is in error
            counts, frame = _records(read, separator, decoded.plain, strict=False)
        except (csv.Error, pl.exceptions.PolarsError):
            raise TableReadError(message) from exc
        if counts.len() <= header_at:
            raise TableReadError(message) from exc
        table = _table(name, decoded, frame, counts, header_row=header_at, preamble=header_at + above)
        table.quote_error = message
        return table
    table = _table(name, decoded, frame, counts, header_row=header_at, preamble=header_at + above)
    if quoting is not None and quoting.over_lines.height:
        table.lignes_sur_plusieurs = _records_over_lines(quoting.over_lines, header_at)
    if complete and (
        cut := _cut_short(read, counts.slice(header_at + 1), int(counts[header_at]), _width(table.header), above)
    ):
        if not lenient:
            raise TableReadError(f"{name}: {cut}")
        table.quote_error = f"{name}: {cut}"  # a head read to recognise the file: raised where taken as the table
    return table


def _from_header(source: Path | bytes, complete: bool = True) -> tuple[Path | bytes, int, bool] | None:
    """The UTF-8 text of ``source`` from the physical line its header starts on, the number of physical lines above
    it, and whether that text is plain (no quote in it opens a field: :class:`_LineEnds`), where those lines
    (titles, blank lines) hold a quote; else None (their records are lines). A copy on disk gives a copy beside it
    (``…-from-header.csv``), bytes give bytes. Plainness is the text's from the header on: a title's quotes never
    make the data's quotes (a stray one inside a field) read as quoting.

    The titles were read as physical lines to find the header (:func:`_title`): a quote they leave open is theirs.
    A :class:`TableReadError` names the header's line where they leave one open and the header holds an odd number
    of quotes not making one record over its line breaks (``"Pro⏎gramme";Action`` does): a quote opening no field
    (``Programme;Action;AE"``), a title's quote closed in the header, is not a header to guess; nor one left open.
    Nor a record above the header read over a title's open quote with two filled cells or more whose quote closes
    inside what is the header's line (``"Budget 2020`` above ``Programme;Action";AE``: too narrow for the header, it
    would be set aside and a data row taken as the header; :func:`_closed_in_header`): an error names the line its
    quote closes on and the field. A title record of its own (``"Loi de finances⏎2020";Ministère``: its quote closes,
    and it ends, before the header's line) is preamble."""
    found = _found(source, complete)
    if found is None:
        return None
    sample, (separator, header_at) = found
    if not header_at and not sample.skipped:
        return None
    reader = csv.reader(io.StringIO(sample.text, newline=""), delimiter=separator)
    over_lines: tuple[int, int] | None = None  # a record over a title's open quote closing it in the header's line
    ended = 0
    for record in islice(reader, header_at):  # the records of the sample above the header, as they were read
        over = over_lines is None and reader.line_num > ended + 1 and _filled(record) > 1
        if over and _closed_in_header(sample.text, separator, header_at, ended + 1, reader.line_num):
            over_lines = (ended + 1, reader.line_num)
        ended = reader.line_num
    above = sample.skipped + reader.line_num
    if over_lines is not None:
        opened, closed = over_lines
        field = _misquoted_field(sample.text.split("\n")[closed - 1], separator)
        where = f"line {sample.skipped + closed} of the file" + ("" if field is None else f", field {field + 1}")
        raise TableReadError(
            f"{where}: a quote there closes the one the title on line {sample.skipped + opened} leaves open; the "
            "lines above the header (titles) leave a quote open: the header is not read across them"
        )
    with _text(source) as handle:  # the same physical lines as csv's (newline="": \n, \r\n or \r)
        lines = list(islice(handle, above))
        preamble = "".join(lines)
        if '"' not in preamble:
            return None
        header_line = next(handle, "")
        if preamble.count('"') % 2 and header_line.count('"') % 2:
            ahead = handle.read(_TITLE_RECORD_CHARS)
            misquoted = _misquoted(header_line.rstrip("\r\n"), separator)
            if misquoted is not None and not _record_over_lines(header_line + ahead, separator):
                field, opened = misquoted
                fault = "a quote opens a field there and is not closed" if opened else "a quote there opens no field"
                raise TableReadError(
                    f"line {above + 1} of the file, field {field + 1}: {fault}; the lines above the header (titles) "
                    f"leave a quote open: the header is not read across them"
                )
            header_line += ahead
        sink: BinaryIO = (
            io.BytesIO()
            if isinstance(source, bytes)
            else open(  # noqa: SIM115 (closed below)
                source.with_name(f"{source.stem}-from-header.csv"), "w+b"
            )
        )
        try:
            out = _LineEnds(sink)
            out.write(header_line)
            while block := handle.read(_CHUNK):
                out.write(block)
            out.close()
        finally:
            if not isinstance(sink, io.BytesIO):
                sink.close()
        if isinstance(sink, io.BytesIO):
            return sink.getvalue(), above, out.plain
        return Path(sink.name), above, out.plain


def _closed_in_header(text: str, separator: str, header_at: int, opened: int, closed: int) -> bool:
    """Whether the record of the physical lines ``opened`` to ``closed`` (counted from 1) of ``text`` (a sample read
    under ``separator``, its header the record ``header_at``), read over the quote its first line leaves open, runs
    into what is the header's line: its first line is a title leaving a quote open (:func:`_title`), and its lines
    below that title, read as physical lines (the title's quote its own), make one of them the header
    (:func:`_find_header`) above the table's records (from ``header_at``): ``Programme;Action";AE`` under
    ``"Budget 2020``, of the data's field count. A title record of its own (``"Loi de finances⏎2020";Ministère``
    above a wider header) closes its quote, and ends, before the header's line: it is no error."""
    lines = [line.rstrip("\r\n") for line in islice(io.StringIO(text, newline=""), closed)]
    first = lines[opened - 1]
    if not (first.count('"') % 2 and _title(first)):
        return False
    below = [next(csv.reader([line], delimiter=separator), []) for line in lines[opened:closed]]
    table = _sample_records(text, separator)[header_at:]
    return _find_header(below + table, 0) < len(below)


def _record_over_lines(text: str, separator: str) -> bool:
    """Whether ``text`` opens with a record that a strict CSV reader reads whole under ``separator`` across a line
    break (a quoted field holding one)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    try:
        next(reader)
    except (csv.Error, StopIteration):
        return False
    return reader.line_num > 1


def _records_over_lines(over_lines: pl.DataFrame, header_at: int) -> list[tuple[int, int]]:
    """(data line, line breaks) of each record holding quoted line breaks, from the fields over lines of its text
    (:attr:`_Quoting.over_lines`; the header the record ``header_at``): a field opening on the line the one before
    closes on is of the same record; a record's index is its first line's less the line breaks of the records
    above it."""
    ouvre, ferme = pl.col("ouvre"), pl.col("ferme")
    records = (
        over_lines.lazy()
        .sort("ouvre")
        .with_columns(record=(ouvre != ferme.shift(1)).fill_null(True).cum_sum())
        .group_by("record")
        .agg(debut=ouvre.min(), sauts=ferme.max() - ouvre.min())
        .sort("debut")
        .select(ligne=pl.col("debut") - 1 - (pl.col("sauts").cum_sum() - pl.col("sauts")) - header_at, sauts="sauts")
        .collect()
    )
    return list(records.iter_rows())


def _before_last_record(head: bytes, separator: str) -> bytes:
    """The lines of the UTF-8 ``head`` (cut from a longer text after a line end) before the record its end cuts:
    the one a quoted field opens and does not close before the head's end (Python's ``csv``, strict, raises
    ``unexpected end of data`` there). The whole ``head`` if no record is cut."""
    ended = 0
    with _text(head) as handle:
        reader = csv.reader(handle, delimiter=separator, strict=True)
        try:
            for _ in reader:
                ended = reader.line_num
        except csv.Error:
            pass
        else:
            return head
    with _text(head) as handle:  # the same physical lines as csv's (newline="": \n, \r\n or \r)
        return "".join(islice(handle, ended)).encode("utf-8")


def _text(source: Path | bytes) -> TextIO:
    """The UTF-8 text of ``source`` (a copy on disk, or its bytes in memory) for Python's ``csv``."""
    if isinstance(source, bytes):
        return io.StringIO(source.decode("utf-8"), newline="")
    return open(source, encoding="utf-8", newline="")  # noqa: SIM115 (the caller closes it)


def _field_counts(source: Path | bytes, separator: str, plain: bool, strict: bool = True) -> pl.Series:
    """The field count of every record (0 for an empty line) of the UTF-8 text ``source`` (a path, or bytes).

    With no quote in the file (``plain``) a record is a line: Polars counts its separators.
    Else Python's ``csv`` module (C code) parses the records, ``strict``: :class:`csv.Error` for a quote opening a
    field that is not closed as a field ends (``"label"x``: read ``labelx`` otherwise, or lines merged up to the
    next quote) or never closed.
    """
    if plain:
        lines = pl.scan_csv(
            source,
            separator="\x1f",
            quote_char=None,
            has_header=False,
            schema={"line": pl.String},
            raise_if_empty=False,
        )
        count = pl.col("line").str.count_matches(separator, literal=True).cast(pl.Int32) + 1
        # Bytes in memory (a head, a small file): Polars' in-memory engine, which starts faster.
        return lines.select(count.fill_null(0).alias("n")).collect(
            engine="in-memory" if isinstance(source, bytes) else "streaming"
        )["n"]
    with _text(source) as handle:
        records = csv.reader(handle, delimiter=separator, strict=strict)
        if isinstance(source, bytes):  # a head: a list is built faster than Polars takes an iterator
            return pl.Series("n", list(map(len, records)), dtype=pl.Int32)
        return pl.Series("n", map(len, records), dtype=pl.Int32)


def _records(source: Path | bytes, separator: str, plain: bool, strict: bool = True) -> tuple[pl.Series, pl.DataFrame]:
    """The field count of every record, and its cells (Polars, which gives an empty line as a row), ``c0…``,
    of the UTF-8 text ``source`` (a copy on disk, or a head's bytes in memory); ``strict``: see
    :func:`_field_counts`."""
    counts = _field_counts(source, separator, plain, strict)
    width = int(counts.max() or 1)
    schema = {f"c{i}": pl.String for i in range(width)}
    try:
        frame = pl.read_csv(
            source,
            separator=separator,
            quote_char=None if plain else '"',  # plain: a quote is a character of its field (see _LineEnds)
            has_header=False,
            infer_schema=False,
            schema=schema,
            missing_columns="insert",
            raise_if_empty=False,
        )
        if frame.height == counts.len():
            return counts, frame
    except pl.exceptions.PolarsError:
        pass
    return counts, _records_by_csv(source, separator, width, strict)


def _records_by_csv(source: Path | bytes, separator: str, width: int, strict: bool = True) -> pl.DataFrame:
    """The cells of every record read by ``csv`` alone, in chunks (quoting Polars refuses)."""
    frames = []
    with _text(source) as handle:
        reader = csv.reader(handle, delimiter=separator, strict=strict)
        while chunk := list(islice(reader, _FALLBACK_CHUNK_ROWS)):
            lists = pl.Series("r", chunk, dtype=pl.List(pl.String))
            frames.append(
                pl.select(
                    pl.lit(lists).list.get(i, null_on_oob=True).replace("", None).alias(f"c{i}") for i in range(width)
                )
            )
    return pl.concat(frames) if frames else pl.DataFrame(schema={f"c{i}": pl.String for i in range(width)})


def _cut_short(source: Path | bytes, fields: pl.Series, header_fields: int, named: int, above: int = 0) -> str | None:
    """Why the UTF-8 text ``source`` (a copy on disk, or its bytes in memory) looks cut short, or None: its last
    record has no line end and fewer fields than the header (``header_fields``) and than every other data record
    that is not an empty line (``fields``: the field count of each data record, in order; at least one other).
    A file cut inside a line's trailing empty fields (``;;;``) loses no cell of that line, only the lines after
    it: decided from the whole file, the last record against the others, never from its cells. A complete last
    line with no line end (as many fields as the header, or as another line) is not cut short. ``above``: the
    physical lines of the file above ``source`` (titles above a header it starts with), added to the line named.
    Nor is a last record of one field (a note, a space, a DOS end-of-file mark ``\x1a``: no separator in it) or of
    exactly the header's ``named`` fields (up to its last named cell: a line without the header's trailing ``;``);
    a cut there cannot be told from them (nor one inside the last cell of a complete line)."""
    if fields.len() < 2 or _ends_a_line(source):
        return None
    last = int(fields[-1])
    if last <= 1 or last == named:
        return None
    others = fields.head(-1).filter(fields.head(-1) > 0)
    if not others.len() or last >= min(header_fields, int(others.min())):  # type: ignore[arg-type]
        return None
    line = _line_ends(source) + 1 + above
    return (
        f"the file ends inside line {line}: {last} field(s) where the header has {header_fields}, and no line end: "
        "it looks cut short"
    )


def _ends_a_line(source: Path | bytes) -> bool:
    """Whether the UTF-8 text ``source`` is empty or ends with a line end (``\\n``: the copy's only one)."""
    if isinstance(source, bytes):
        return not source or source.endswith(b"\n")
    with open(source, "rb") as handle:
        if not handle.seek(0, os.SEEK_END):
            return True
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _line_ends(source: Path | bytes) -> int:
    """The number of line ends (``\\n``) of the UTF-8 text ``source``, counted in chunks."""
    if isinstance(source, bytes):
        return source.count(b"\n")
    with open(source, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(_CHUNK), b""))


def _table(
    name: str, decoded: _Decoded, frame: pl.DataFrame, counts: pl.Series, header_row: int, preamble: int
) -> RawTable:
    columns = frame.columns
    header_cells = [cell or "" for cell in frame.row(header_row)]
    header_fields = int(counts[header_row])
    named = _width(header_cells[:header_fields])
    data = frame.slice(header_row + 1)  # a view: no column is added to it, which would copy it

    def filled(column: str) -> pl.Expr:
        return pl.col(column).str.contains(r"\S").fill_null(False)

    # The columns with a cell somewhere: the others (PLF 2020–2022 CSVs carry 153 empty ones) hold no filled
    # cell and no blank one, and take no expression (building and planning them cost more than the data).
    nulls_before = data.null_count().row(0) if data.width else ()
    valued = {c for c, n in zip(columns, nulls_before, strict=True) if n < data.height}

    def any_filled(among: list[str]) -> pl.Expr:
        exprs = [filled(c) for c in among if c in valued]
        return pl.any_horizontal(exprs) if exprs else pl.repeat(False, data.height)

    extra = columns[header_fields:]
    kept = columns[:header_fields]
    # Polars gives empty cells as null; only columns holding blank cells ("  ") are rewritten. One query gives
    # the flags of each row and the number of blank cells of each kept column (broadcast over the rows).
    checked = [c for c in kept if c in valued]
    found = [(pl.col(c).is_not_null() & ~filled(c)).sum().alias(f"blank_{c}") for c in checked]
    flags = data.select(~any_filled(columns).alias("blank"), any_filled(extra).alias("beyond"), *found)
    fields = counts.slice(header_row + 1)
    irregular = ((~flags["blank"] & (fields < named)) | flags["beyond"]).arg_true()
    lignes_irregulieres = list(zip((irregular + 1).to_list(), fields.gather(irregular).to_list(), strict=True))

    sums = flags.select(pl.exclude("blank", "beyond")).row(0) if found and data.height else (0,) * len(checked)
    blank_cells = dict(zip(checked, sums, strict=True))
    header = [h.strip() for h in header_cells[:header_fields]]
    # Drop trailing columns with no header and no value (PLF 2020–2022 CSVs carry 153 of them): a column's
    # nulls once its blank cells are made null.
    nulls = [nulls_before[i] + blank_cells.get(c, 0) for i, c in enumerate(kept)]
    keep = len(header)
    while keep and not header[keep - 1] and nulls[keep - 1] == data.height:
        keep -= 1
    cells = data.select(
        pl.when(filled(c)).then(pl.col(c)).alias(c) if blank_cells.get(c) else pl.col(c) for c in kept[:keep]
    )
    return RawTable(
        name,
        "csv",
        decoded.encoding,
        header[:keep],
        FrameRows(cells),
        lignes_preambule=preamble,
        lignes_irregulieres=lignes_irregulieres,
        lignes_recodees=decoded.lignes_recodees,
    )


# -- head and streaming reads --------------------------------------------------------------

#: Bytes of a file's head read to recognise it (its header and the first lines).
HEAD_BYTES = 1 << 18


class _NullSink:
    """A binary sink that keeps nothing: an encoding pass over a file without a copy."""

    def write(self, data: bytes) -> int:
        return len(data)

    def seek(self, offset: int) -> int:
        return 0

    def truncate(self, size: int | None = None) -> int:
        return 0


def file_encoding(path: Path, name: str) -> tuple[str, int]:
    """(encoding, ``lignes_recodees``) of the whole file at ``path``, decided as :func:`read_csv_table` does.

    One streaming pass (two for a Windows-1252 or mixed file) in 1 MiB chunks; nothing is kept.
    Raises :class:`TableReadError` naming ``name`` and the line for bytes that fit no encoding.
    """
    with open(path, "rb") as source:
        try:
            decoded = _decode(source, _LineEnds(_NullSink()), check_only=True)  # type: ignore[arg-type]
        except TableReadError as exc:
            raise TableReadError(f"{name}: {exc}") from exc
    if decoded.encoding == "cp1252":
        _CP1252_FILES[_file_key(path)] = decoded.start
    return decoded.encoding, decoded.lignes_recodees


def read_csv_head(
    path: Path, name: str, head_bytes: int = HEAD_BYTES, whole_encoding: bool = True
) -> tuple[RawTable, bool]:
    """The head of the CSV file at ``path`` as a :class:`RawTable`, and whether it is the whole file.

    Reads at most ``head_bytes`` (cut after the last complete line): the header and the first
    rows, with the separator and preamble found as :func:`read_csv_table` finds them. For a
    file longer than its head, the encoding (``encoding``, ``lignes_recodees``) is still
    decided from the whole file, in a streaming pass (:func:`file_encoding`), unless
    ``whole_encoding`` is false (a caller that decodes the whole file itself next): then from the
    head, or from the whole file where the head alone fits no encoding.
    """
    with open(path, "rb") as handle:
        data = handle.read(head_bytes)
        whole = not handle.read(1)
    sink = io.BytesIO()  # a head is small: its UTF-8 copy stays in memory (no temporary file to write and delete)
    try:
        if whole or not whole_encoding:
            decoded = _head_or_whole(path, name, data, sink, whole)
        else:
            decoded = _transcode_head(data, sink, *file_encoding(path, name))
    except TableReadError as exc:
        raise TableReadError(exc if str(exc).startswith(f"{name}: ") else f"{name}: {exc}") from exc
    return _read_utf8(sink.getvalue(), name, decoded, complete=whole, lenient=True), whole


def _head_or_whole(path: Path, name: str, data: bytes, sink: BinaryIO, whole: bool) -> _Decoded:
    """``data`` (a file's head, or the whole file) decoded under its own encoding; a head that fits
    none is decoded under the whole file's."""
    try:
        return _transcode(io.BytesIO(data if whole else data[: data.rfind(b"\n") + 1] or data), sink)
    except TableReadError:
        if whole:
            raise
    return _transcode_head(data, sink, *file_encoding(path, name))


def _transcode_head(data: bytes, sink: BinaryIO, encoding: str, lignes_recodees: int) -> _Decoded:
    """The head ``data`` of a file written to ``sink`` as UTF-8 under the whole file's ``encoding``."""
    out = _LineEnds(sink)
    # Cut after the last line end; UTF-16 at an even length (its last line may be cut: the head is for recognition).
    cut = len(data) - len(data) % 2 if encoding.startswith("utf-16") else data.rfind(b"\n") + 1
    data = data[:cut] or data
    if encoding.startswith(("utf-8", "ascii")):
        boms = encoding.count("-sig")
        _transcode_mixed(io.BytesIO(data), out, 3 * boms)
    else:
        _transcode_strict(io.BytesIO(data), out, "utf-16" if encoding == "utf-16" else encoding, 0)
    return _Decoded(encoding, lignes_recodees, plain=out.plain)


@dataclass
class CsvStream:
    """A CSV file decoded to a temporary UTF-8 copy, its structure found, its data rows read in batches.

    ``table``: the file's :class:`RawTable` with no rows (``header``, ``encoding``,
    ``lignes_preambule``, ``lignes_irregulieres``, ``lignes_recodees`` as :func:`read_csv_table`
    gives them, decided from the whole file); ``data_rows``: the number of data records after the
    header. :meth:`batches` gives the cells of the data records, in order, as frames of text
    columns (the columns of the header), never the whole file at once.
    """

    table: RawTable
    data_rows: int
    path: Path | None = None  # the UTF-8 copy
    separator: str = ";"
    skip: int = 0  # records before the data (preamble and header)
    width: int = 0  # the widest record's field count
    keep: int = 0  # columns kept (the header's, less trailing unnamed empty ones)
    plain: bool = True  # no quote opening a field: every line is one record
    blank_cells: bool = True  # some data cell may be blank ("  "): cells are rewritten, blank ones empty

    def _chunks(self, rows: int) -> Iterator[pl.DataFrame]:
        """The data records, ``rows`` at a time, parsed by Polars' CSV reader (the parser of a whole read;
        quoted line breaks included: the structure pass checked it reads every record), blank cells ("  ")
        made empty (None) as in a whole read; memory holds about one batch whatever the file's size.

        A file of one batch is read at once. A file with no quote opening a field (every line a record, the
        common case) is read once, in blocks of whole lines (:data:`_BLOCK_BYTES`), each parsed on its own, cut
        and joined into batches: no copy of the cells. Else its records are sunk once (streaming) to a Parquet
        file beside the UTF-8 copy, in row groups of ``rows``, and each batch is a slice of it."""
        assert self.path is not None
        schema = {f"c{i}": pl.String for i in range(self.width)}

        def records(source: Path | io.BytesIO) -> pl.LazyFrame:
            return pl.scan_csv(
                source,
                separator=self.separator,
                quote_char=None if self.plain else '"',
                has_header=False,
                infer_schema=False,
                schema=schema,
                missing_columns="insert",
                raise_if_empty=False,
            ).select(
                pl.when(_filled_cells(c)).then(pl.col(c)).alias(c) if self.blank_cells else pl.col(c)
                for c in list(schema)[: self.keep]
            )

        if self.data_rows <= rows:  # one batch: read at once, no copy
            yield records(self.path).collect().slice(self.skip, self.data_rows)
            return
        if self.plain:
            blocks = (_inner_block(b) for b in _line_blocks(self.path, self.skip))
            yield from _rebatched((records(block).collect().slice(opened) for block, opened in blocks), rows)
            return
        cells = self.path.with_name(f"{self.path.stem}-{rows}.parquet")
        if not cells.exists():
            records(self.path).sink_parquet(
                cells, compression="lz4", statistics=False, row_group_size=rows, engine="streaming"
            )
        for offset in range(self.skip, self.skip + self.data_rows, rows):
            yield pl.scan_parquet(cells).slice(offset, rows).collect()

    def batches(self, rows: int) -> Iterator[tuple[int, pl.DataFrame]]:
        """``(data rows before the batch, cells)`` for batches of ``rows`` records, in file order.

        The next batch is read and parsed in a second thread while this one is used (:func:`_ahead`): memory
        holds two batches (the cells of ``rows`` records each), never the file.
        """
        if self.path is None or not self.data_rows:
            return
        offset = 0
        for batch in _ahead(self._chunks(rows)):
            if not batch.height:
                continue
            yield offset, batch
            offset += batch.height


_END = object()


def _ahead(items: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """The frames of ``items``, each next one made in a second thread while the one given is used (Polars'
    parser and the file's reads release the GIL). The items are made one at a time, in order; an error making
    one is raised where it is taken; closed early, the frame being made is waited for, and nothing more made."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="budget-warehouse-csv") as pool:
        making = pool.submit(next, items, _END)
        while (item := making.result()) is not _END:
            making = pool.submit(next, items, _END)
            yield item
            del item


#: Bytes of whole lines parsed at once by :meth:`CsvStream._chunks` (a file with no quote opening a field).
_BLOCK_BYTES = 4 << 20


def _line_blocks(path: Path, skip: int) -> Iterator[bytes]:
    """The bytes of the file at ``path`` after its first ``skip`` lines, in blocks of whole lines of about
    :data:`_BLOCK_BYTES` (the last one as the file ends). A block is copied once at most (a line cut by the end
    of a read is joined to the next one's start)."""
    with open(path, "rb") as handle:
        rest = b""
        while chunk := handle.read(_BLOCK_BYTES):
            if skip:  # the lines before the data: `skip` line ends, the first of them maybe in later reads
                parts = chunk.split(b"\n", skip)
                if len(parts) <= skip:
                    skip -= len(parts) - 1
                    continue
                chunk, skip = parts[-1], 0
            cut = chunk.rfind(b"\n") + 1
            if not cut:
                rest += chunk
                continue
            if rest:
                yield b"".join((rest, memoryview(chunk)[:cut]))
            else:
                yield chunk if cut == len(chunk) else chunk[:cut]
            rest = chunk[cut:]
        if rest:
            yield rest


def _inner_block(block: bytes) -> tuple[io.BytesIO, int]:
    """A block of whole lines from inside a text, as Polars is to read it, and the rows to drop first. Polars
    drops a byte-order mark (U+FEFF) that opens what it reads: a block opening with one (a line of the text that
    starts with U+FEFF, not the text's start) is read after an empty line, whose row is dropped, so that its first
    line keeps its U+FEFF as a read of the whole text keeps it (an adversarial tester's line of U+FEFF and spaces
    was blank, or not, by where the block cut fell)."""
    if block.startswith(codecs.BOM_UTF8):
        return io.BytesIO(b"\n" + block), 1
    return io.BytesIO(block), 0


def _rebatched(frames: Iterator[pl.DataFrame], rows: int) -> Iterator[pl.DataFrame]:
    """The rows of ``frames``, in order, in frames of ``rows`` rows (the last one shorter)."""
    held: list[pl.DataFrame] = []
    count = 0
    for frame in frames:
        held.append(frame)
        count += frame.height
        while count >= rows:
            joined = pl.concat(held, rechunk=False) if len(held) > 1 else held[0]
            yield joined.slice(0, rows).rechunk()
            rest = joined.slice(rows)
            held, count = ([rest] if rest.height else []), rest.height
    if count:
        yield pl.concat(held).rechunk() if len(held) > 1 else held[0]


def _filled_cells(column: str) -> pl.Expr:
    """Whether each cell of ``column`` holds a character that is not white space."""
    return pl.col(column).str.contains(r"\S").fill_null(False)


def _lines(path: Path | io.BytesIO) -> pl.LazyFrame:
    """The lines of the UTF-8 copy at ``path`` (or of a block of its lines), one text column ``line`` (a streaming
    scan)."""
    return pl.scan_csv(
        path, separator="\x1f", quote_char=None, has_header=False, schema={"line": pl.String}, raise_if_empty=False
    )


def _line_facts(path: Path | io.BytesIO, separator: str, header_fields: int) -> pl.DataFrame:
    """For a file with no quote opening a field: per line, its field count ``n``, ``blank`` (no filled
    cell), ``beyond`` (a filled cell past the first ``header_fields``) and ``blank_cell`` (a cell of white
    space only, "  "), in one streaming pass over the lines.

    The pattern of a blank cell is tried only on the lines where a separator is followed by white space or
    that start with it (a search for literal pairs: a third of the pattern's cost over every line)."""
    sep = re.escape(separator)
    line = pl.col("line")
    n = (line.str.count_matches(separator, literal=True).cast(pl.Int32) + 1).fill_null(0)
    pairs = "|".join(re.escape(separator + space) for space in _WHITE_SPACE)
    maybe = line.str.contains(pairs) | line.str.slice(0, 1).str.contains(r"^\s")
    # The lines longer than the header, kept for the test of a filled cell beyond it (few, if any); the lines
    # that may hold a blank cell, for its pattern (few).
    longer = pl.when(pl.col("n") > header_fields).then(line)
    spaced = pl.when(maybe.fill_null(False)).then(line)
    return (
        _lines(path)
        .select(n=n, blank=~line.str.contains(rf"[^{sep}\s]").fill_null(False), line=line, spaced=spaced)
        .select(
            "n",
            "blank",
            beyond=longer.str.contains(rf"^(?:[^{sep}]*{sep}){{{header_fields}}}[^{sep}]*[^{sep}\s]").fill_null(False),
            blank_cell=pl.col("spaced").str.contains(rf"(?:^|{sep})[^\S{sep}]+(?:{sep}|$)").fill_null(False),
        )
        .collect(engine="streaming")
    )


#: Bytes of whole lines whose facts :class:`_FactsAhead` computes at once.
_FACTS_BLOCK_BYTES = 4 << 20


class _FactsAhead:
    """The binary file of the UTF-8 copy being written, whose :func:`_line_facts` are computed block by block of
    whole lines, in a second thread while the decoding goes on (Polars releases the GIL; the decoding is
    Python's): the pass over the copy that followed its writing now overlaps it. The second thread reads each
    block back from the file (flushed first; ``os.pread``): the decoding thread copies nothing.

    The separator and header width come from the head of the text (:func:`_structure` of its first
    ``_HEAD_CHARS + 1`` characters or more, what :func:`_read_samples` reads of a file); a text shorter than that gets
    no facts here. A rewind (``seek(0)``, the decoding starting again under another encoding) drops every
    fact; :meth:`stop` (the text is not plain: its lines are not its records) ends the work. :meth:`facts`
    gives the facts of every line, with the layout they were computed under, or None."""

    def __init__(self, file: BinaryIO, pool: ThreadPoolExecutor) -> None:
        self.file, self.pool = file, pool
        self._restart()

    def _restart(self) -> None:
        self.head: list[bytes] | None = []  # the text's head while the layout is not decided
        self.head_bytes = 0
        self.layout: tuple[str, int] | None = None
        self.header_fields = 0
        self.written = 0  # bytes of the text written
        self.lines_end = 0  # the end of its last complete line
        self.submitted = 0  # the end of the lines whose facts are computed (or being computed)
        self.futures: list[Future] = []
        self.stopped = False

    def stop(self) -> None:
        self.stopped, self.head, self.futures = True, None, []

    def write(self, data: bytes) -> int:
        written = self.file.write(data)
        if self.stopped or not data:
            return written
        newline = data.rfind(b"\n")
        if newline >= 0:
            self.lines_end = self.written + newline + 1
        self.written += len(data)
        if self.head is not None:
            self.head.append(data)
            self.head_bytes += len(data)
            if self.head_bytes > _HEAD_CHARS:  # what _read_samples reads of the copy: _HEAD_CHARS + 1 characters
                head = b"".join(self.head)
                if self.head_bytes >= 4 * _HEAD_CHARS + 4 or len(head.decode("utf-8", errors="ignore")) > _HEAD_CHARS:
                    self._decide(head)
                else:
                    self.head = [head]
        if self.layout is not None and self.lines_end - self.submitted >= _FACTS_BLOCK_BYTES:
            self._submit(self.lines_end)
        return written

    def seek(self, offset: int) -> int:
        self._restart()
        return self.file.seek(offset)

    def truncate(self, size: int | None = None) -> int:
        return self.file.truncate(size)

    def _decide(self, head: bytes) -> None:
        self.head = None
        try:
            structure = _structure(head, complete=False)
        except TableReadError:  # no header where it is looked for: the read names the error
            structure = None
        if structure is None:
            self.stop()
            return
        self.layout, self.header_fields = structure

    def _submit(self, end: int) -> None:
        assert self.layout is not None
        self.file.flush()
        start, self.submitted = self.submitted, end
        self.futures.append(self.pool.submit(self._facts_of, start, end, self.layout[0], self.header_fields))

    def _facts_of(self, start: int, end: int, separator: str, header_fields: int) -> pl.DataFrame:
        block = os.pread(self.file.fileno(), end - start, start)
        if not start:  # the text's start: read as the pass over the whole copy reads it
            return _line_facts(io.BytesIO(block), separator, header_fields)
        inner, opened = _inner_block(block)
        return _line_facts(inner, separator, header_fields).slice(opened)

    def facts(self) -> tuple[tuple[str, int], pl.DataFrame] | None:
        """(layout, facts of every line) once the text is written, or None (no facts here)."""
        if self.stopped or self.layout is None:
            return None
        if self.written > self.submitted:
            self._submit(self.written)
        try:
            frames = [future.result() for future in self.futures]
        except pl.exceptions.PolarsError:
            return None  # the pass over the whole copy reads it again (and names its error)
        layout = self.layout
        self.stop()
        return layout, pl.concat(frames)


#: The characters of the Unicode ``White_Space`` property (``\s`` of Polars' regular expressions).
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)


def _stream_utf8(
    path: Path,
    name: str,
    decoded: _Decoded,
    ahead: tuple[tuple[str, int], pl.DataFrame] | None = None,
    above: int = 0,
) -> CsvStream:
    """Structure of the UTF-8 copy at ``path`` from streaming passes (the rules of :func:`_table`).

    A file with no quote (every line a record): one pass over its lines gives each record's
    field count and whether it is blank or has a filled cell past the header's width (``ahead``: those facts,
    computed while the copy was written (:class:`_FactsAhead`), with the layout they were computed under; used
    where it is the copy's). Else the field counts come from ``csv`` and the flags from a pass over the cells.
    """
    try:
        structure = _structure(path)
    except TableReadError as exc:
        raise TableReadError(f"{name}: {exc}") from exc
    if structure is None:
        empty = RawTable(name, "csv", decoded.encoding, [], [], lignes_recodees=decoded.lignes_recodees)
        return CsvStream(empty, 0)
    layout, header_fields = structure
    separator, header_at = layout
    if header_at and not decoded.plain and not above:  # titles holding a quote: the records from the header on
        try:
            cut = _from_header(path)
        except TableReadError as exc:
            raise TableReadError(f"{name}: {exc}") from exc
        if cut is not None:
            below, lines, plain = cut
            assert isinstance(below, Path)
            try:
                return _stream_utf8(below, name, replace(decoded, plain=plain), above=lines)
            except pl.exceptions.PolarsError as exc:
                raise TableReadError(f"{name}: {_refused_records(below, lines)}") from exc
    blank_cells = True  # some cell may be blank: for a file with quotes, their rewrite is not looked into
    quotes_open_fields = not decoded.plain
    if decoded.plain:
        facts = ahead[1] if ahead is not None and ahead[0] == layout else _line_facts(path, separator, header_fields)
        # Over every line (the header's and the preamble's too): a blank cell there only costs the rewrite.
        blank_cells = bool(facts["blank_cell"].any())
        # The widest line of all, the preamble's too (a title `Titre;;;;` wider than the table): the scan of the
        # records below reads them all, and Polars refuses a record wider than its schema.
        width = max(int(facts["n"].max() or 0), header_fields)
        facts = facts.slice(header_at + 1)
        counts = facts["n"]
    else:
        try:
            all_counts = _field_counts(path, separator, plain=False)
        except csv.Error as exc:
            raise TableReadError(f"{name}: {_refused_records(path, above)}") from exc
        header_fields = int(all_counts[header_at])
        quoting = _quote_fault(path, separator, header_fields)
        if quoting.fault is not None:  # as the whole read decides it
            raise TableReadError(f"{name}: {_refused_records(path, above)}")
        quotes_open_fields = quoting.opens_fields
        counts, width = all_counts.slice(header_at + 1), int(all_counts.max() or 1)
    columns = [f"c{i}" for i in range(width)]
    # Where no quote opens a field under the separator (a text not plain for a `\x1f`, or a quote after another
    # separator), its quotes are characters and its lines its records, as Python's csv reads them.
    plain_cells = decoded.plain or not quotes_open_fields
    records = pl.scan_csv(
        path,
        separator=separator,
        quote_char=None if plain_cells else '"',
        has_header=False,
        infer_schema=False,
        schema=dict.fromkeys(columns, pl.String),
        missing_columns="insert",
        raise_if_empty=False,
    )
    header_cells = [cell or "" for cell in records.slice(header_at, 1).collect().row(0)]
    data = records.slice(header_at + 1)
    extra, kept = columns[header_fields:], columns[:header_fields]
    if not decoded.plain:
        # Over every record, then sliced: a slice of the scan would hold the records in Polars' streaming engine.
        facts = (
            records.select(
                blank=~pl.any_horizontal(_filled_cells(c) for c in columns),
                beyond=pl.any_horizontal(_filled_cells(c) for c in extra) if extra else pl.lit(False),
            )
            .collect(engine="streaming")
            .slice(header_at + 1)
        )
        if facts.height != counts.len():
            raise TableReadError(f"{name}: records could not be read in a streaming pass (quoting Polars refuses)")
    named = _width(header_cells[:header_fields])
    cut = _cut_short(path, counts, header_fields, named, above)
    if cut is not None:
        raise TableReadError(f"{name}: {cut}")
    irregular = ((~facts["blank"] & (counts < named)) | facts["beyond"]).arg_true()
    lignes_irregulieres = list(zip((irregular + 1).to_list(), counts.gather(irregular).to_list(), strict=True))
    header = [h.strip() for h in header_cells[:header_fields]]
    keep = len(header)
    if keep and not header[keep - 1]:  # trailing columns with no header: dropped where they hold no value
        unnamed = [c for c, h in zip(kept, header, strict=True) if not h]
        used = data.select(_filled_cells(c).any() for c in unnamed).collect(engine="streaming").row(0, named=True)
        while keep and not header[keep - 1] and not used[kept[keep - 1]]:
            keep -= 1
    table = RawTable(
        name,
        "csv",
        decoded.encoding,
        header[:keep],
        [],
        lignes_preambule=header_at + above,
        lignes_irregulieres=lignes_irregulieres,
        lignes_recodees=decoded.lignes_recodees,
    )
    return CsvStream(table, counts.len(), path, separator, header_at + 1, width, keep, plain_cells, blank_cells)


@contextmanager
def stream_csv_table(path: Path, name: str) -> Iterator[CsvStream]:
    """The CSV file at ``path`` as a :class:`CsvStream`, its UTF-8 copy deleted on exit.

    Memory: the decoding streams in 1 MiB chunks; the structure comes from the head and from
    streaming aggregate passes; one field count per record (4 bytes) and two flags per record are
    held. No size limit applies (:func:`max_file_bytes` bounds whole reads only). Raises
    :class:`TableReadError` as :func:`read_csv_table` does.
    """
    with tempfile.TemporaryDirectory(prefix="budget-csv-") as folder:
        utf8 = Path(folder) / "utf8.csv"
        start = _CP1252_FILES.get(_file_key(path))  # found Windows-1252 by file_encoding: decoded at once
        with (
            open(path, "rb") as source,
            open(utf8, "w+b") as file,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="budget-warehouse-facts") as pool,
        ):
            tap = _FactsAhead(file, pool)  # the line facts computed while the copy is written
            sink: BinaryIO = tap  # type: ignore[assignment]
            try:
                decoded = _transcode(source, sink) if start is None else _transcode_cp1252(source, sink, start)
            except TableReadError as exc:
                tap.stop()
                raise TableReadError(f"{name}: {exc}") from exc
            ahead = tap.facts() if decoded.plain else None
            tap.stop()
        try:
            stream = _stream_utf8(utf8, name, decoded, ahead)
        except pl.exceptions.PolarsError as exc:  # records Polars' CSV reader refuses: name the file and where
            raise TableReadError(f"{name}: {_refused_records(utf8)}") from exc
        yield stream


def _refused_records(source: Path | bytes, above: int = 0) -> str:
    """Why the records of the UTF-8 CSV ``source`` (a copy on disk, or its bytes in memory) could not be read,
    naming the line a quote opens on (Python's ``csv``, strict, gives where each record starts) and, where that
    line shows it, the column (:func:`_misquoted_field`, named by the header):

    - a quote that opens a field and is not closed before the end of the file (the last record runs to it);
    - a quote that opens a field whose closing quote is followed by other characters than a separator
      (``"label"x``, or a second quote opening a field further down closing the first one), or that no field
      limit holds;
    - else (Python's ``csv`` reads every record, Polars does not: a lone quote inside a field of a file whose
      quotes open fields elsewhere) the first line of an odd number of quotes outside a quoted line break.

    ``above``: the physical lines of the file above ``source`` (the titles above a header it starts with), added
    to the lines named."""
    layout = _layout(source)  # the separator the read decided
    separator, header_at = layout if layout else (SEPARATORS[0], 0)
    spans: list[tuple[int, int]] = []  # the lines of the records holding a line break (a quoted one)
    header: list[str] | None = None
    with _text(source) as handle:
        reader = csv.reader(handle, delimiter=separator, strict=True)
        ended = 0
        try:
            for index, record in enumerate(reader):
                if index == header_at:
                    header = record
                if reader.line_num > ended + 1:
                    spans.append((ended + 1, reader.line_num))
                ended = reader.line_num
        except csv.Error as exc:
            stray = _stray_quote(source, separator, None if header is None else len(header))
            if stray is not None and stray.ligne <= ended:  # a quote inside a field above: the first fault
                return _stray_message(source, stray, separator, header, above)
            where = _quote_place(source, ended + 1, separator, header, above)
            if str(exc).startswith("unexpected end of data"):
                return f"{where}: a quote opens a field there and is not closed before the end of the file"
            if str(exc).startswith("field larger than field limit"):  # no closing quote in reach: likely none
                return (
                    f"{where}: a quote opens a field there and is not closed within {csv.field_size_limit():,} "
                    f"characters (read up to line {reader.line_num + above})"
                )
            return (
                f"{where}: a quote opens a field there and is not closed as a field ends "
                f"(found on line {reader.line_num + above}: {exc})"
            )
    stray = _stray_quote(source, separator, None if header is None else len(header))
    if stray is not None:
        return _stray_message(source, stray, separator, header, above)
    return "records that no CSV reading accepts (unbalanced quotes?)"


def _stray_message(
    source: Path | bytes, fault: _QuoteFault, separator: str, header: list[str] | None, above: int
) -> str:
    """The error of ``fault`` (:func:`_stray_quote`): a quote inside a field it does not open, or stray quotes
    merging lines into one record."""
    where = _quote_place(source, fault.ligne, separator, header, above)
    if fault.ferme is None:
        fault_text = "a quote inside a field it does not open, in a file whose quotes open fields"
        return f"{where}: an unbalanced quote ({fault_text})"
    breaks = f"{fault.sauts} line break{'s' if fault.sauts > 1 else ''}"
    return (
        f"{where}: a quote opens a field there and closes it on line {fault.ferme + above}, the field holding {breaks} "
        f"and {fault.separateurs} separators (a whole record's: the header has {fault.champs} fields) where no other "
        "record spans lines: stray quotes merging lines"
    )


def _quote_place(source: Path | bytes, ligne: int, separator: str, header: list[str] | None, above: int = 0) -> str:
    """``line N of the file``, with ``, column '<header>'`` where :func:`_misquoted_field` finds the field on that
    line (``field <n>`` where the header is not read yet or is shorter); ``above``: the physical lines of the file
    above ``source`` (its titles), added to N."""
    with _text(source) as handle:
        line = next(islice(handle, ligne - 1, None), "")
    field = _misquoted_field(line.rstrip("\r\n"), separator)
    ligne += above
    if field is None:
        return f"line {ligne} of the file"
    if header is not None and field < len(header) and header[field].strip():
        return f"line {ligne} of the file, column {header[field].strip()!r}"
    return f"line {ligne} of the file, field {field + 1}"


def _misquoted_field(line: str, separator: str) -> int | None:
    """The index of the first field of ``line`` (one physical line, its end removed) whose quotes a CSV reader
    cannot take: a quote opening the field and not closed on the line, closed then followed by other characters
    than a separator, or a quote inside a field it does not open. None if every field of the line is well quoted
    (the fault is on another line of the record)."""
    misquoted = _misquoted(line, separator)
    return None if misquoted is None else misquoted[0]


def _misquoted(line: str, separator: str) -> tuple[int, bool] | None:
    """:func:`_misquoted_field`, and whether its quote opens the field and is not closed on the line."""
    field, at = 0, 0
    while True:
        if line.startswith('"', at):  # a quoted field: its closing quote, `""` an escaped one
            end = at + 1
            while True:
                close = line.find('"', end)
                if close < 0:
                    return field, True
                if not line.startswith('""', close):
                    break
                end = close + 2
            at = close + 1
            if at < len(line) and line[at] != separator:
                return field, False
        else:
            following = line.find(separator, at)
            stop = len(line) if following < 0 else following
            if '"' in line[at:stop]:
                return field, False
            at = stop
        if at >= len(line):
            return None
        at, field = at + 1, field + 1


@dataclass(frozen=True)
class _QuoteFault:
    """The first fault of a text's quotes (:func:`_quote_fault`): its physical line (1-based); for a field merging
    lines (``ferme`` not None), the line its quote closes on, its line breaks and separators and the header's field
    count."""

    ligne: int
    ferme: int | None = None
    sauts: int = 0
    separateurs: int = 0
    champs: int = 0


@dataclass(frozen=True)
class _Quoting:
    """What :func:`_quote_fault` finds: whether a quote opens a field under the separator, the first fault (None if
    none) and the fields holding a line break (``ouvre``, ``ferme``: the physical lines their quote opens and closes
    on; ``separateurs``), in line order."""

    opens_fields: bool
    fault: _QuoteFault | None
    over_lines: pl.DataFrame


_NO_FIELD_OVER_LINES = pl.DataFrame(schema={"ouvre": pl.Int64, "ferme": pl.Int64, "separateurs": pl.Int64})


def _stray_quote(source: Path | bytes, separator: str, fields: int | None = None) -> _QuoteFault | None:
    """The first fault of :func:`_quote_fault`, or None."""
    return _quote_fault(source, separator, fields).fault


def _quote_fault(source: Path | bytes, separator: str, fields: int | None = None) -> _Quoting:
    """The first physical line (1-based) of the UTF-8 text ``source`` whose quotes are not those of well-formed CSV
    under ``separator`` (RFC 4180: a quote only opens a field, at its start, closes it, or is doubled inside it; and
    Excel's ``="0101"``), or None. Python's ``csv`` reads a quote inside a field it does not open (``ab"c``) as a
    character, Polars' parser by where its chunks fall (a whole read took it, a stream refused it): in a text whose
    quotes open fields (not plain) it is an error, decided from the whole text, whatever the read.

    Whether a line starts inside a quoted field is the parity of the quotes above it (well-formed CSV toggles the
    state at each quote, a doubled one twice): each line holding a quote is matched against the form its start and
    end states give it (whole fields; then a field opened and not closed; a field's end, then whole fields; ...).
    Lines are right up to the first wrong one, so that line is the first fault. One streaming pass of Polars keeps a
    row index, the quote count and two flags per line holding a quote (whole fields, the common form, tried on each);
    the lines that start or end inside a quoted field (few: quoted line breaks) are matched in a second pass, with
    the lines between them (inside a field, holding no quote).

    Stray quotes merging lines (``fields``: the header's field count, 2 or more): two stray quotes, one opening a
    field (``"label``) and one closing a field as it ends (``label"``) on a line below, are well-formed CSV: one
    record whose field holds the line breaks and, at least, the separators of a whole record (as many as the
    header's, less one). Where every field of the text holding a line break is such a field (no record of the file
    spans lines legitimately), the first is the fault (:class:`_QuoteFault` with ``ferme``); in a text holding
    another field over lines, it cannot be told from a real one and reads.

    Returns whether a quote opens a field under ``separator`` (a text not plain for a ``\x1f``, or for a quote after
    another separator, may have none: its quotes are characters, its lines its records), the first fault and the
    fields over lines (:class:`_Quoting`)."""
    sep = re.escape(separator)
    inside = r'(?:[^"]|"")*'
    # A field: quoted; Excel's text formula `="0101"` (case B36: Python's csv and Polars read it whole, its quotes
    # characters); or holding no quote.
    field = rf'(?:"{inside}"|="[^"{sep}]*"|[^"{sep}]*)'
    line = pl.col("line")
    engine = "in-memory" if isinstance(source, bytes) else "streaming"  # bytes: small, that engine starts faster

    def lines() -> pl.LazyFrame:
        return pl.scan_lines(io.BytesIO(source) if isinstance(source, bytes) else source).with_row_index(
            "ligne", offset=1
        )

    quoted = (
        lines()
        .with_columns(n=line.str.count_matches('"', literal=True).cast(pl.Int64))
        .filter(pl.col("n") > 0)
        .select(
            "ligne",
            "n",
            field_opened=line.str.contains(rf'(?:^|{sep})"'),
            whole=line.str.contains(rf"^{field}(?:{sep}{field})*$"),
        )
        .collect(engine=engine)
    )
    if not quoted["field_opened"].any():  # no quote opens a field under ``separator``: its quotes are characters
        return _Quoting(False, None, _NO_FIELD_OVER_LINES)
    opened = (quoted["n"].cum_sum() - quoted["n"]) % 2 == 1  # the line starts inside a quoted field
    odd = quoted["n"] % 2 == 1  # ... and ends in the other state
    wrong = quoted["ligne"].filter(~opened & ~odd & ~quoted["whole"])
    across = quoted.select("ligne", opened=opened, odd=odd).filter(pl.col("opened") | pl.col("odd"))
    over_lines = _NO_FIELD_OVER_LINES
    if across.height:
        # The lines holding no quote between a line ending inside a field and the next line holding a quote: inside
        # that field, start to end (``^inside$``).
        ligne = pl.col("ligne").cast(pl.Int64)
        between = (
            across.lazy()
            .select(ligne=pl.int_ranges(ligne + 1, ligne.shift(-1)).filter(pl.col("opened") != pl.col("odd")))
            .explode("ligne")
            .drop_nulls()
            .select(pl.col("ligne").cast(across["ligne"].dtype), opened=pl.lit(True), odd=pl.lit(False))
            .collect()
        )
        if between.height:
            across = pl.concat([across, between]).sort("ligne")
        closing = rf'^({inside})"(?:{sep}{field})*$'  # a line closing the field it starts in
        continued = rf"^({inside})$"  # a line inside a field from start to end
        reopening = rf'^({inside})"(?:{sep}{field})*{sep}"({inside})$'  # closing it, then opening another
        opening = rf'^(?:{field}{sep})*"({inside})$'  # a line opening a field it does not close
        forms = {  # by the line's start and end states
            (False, True): opening,
            (True, True): closing,
            (True, False): f"{continued}|{reopening}",
        }
        o, d = pl.col("opened"), pl.col("odd")
        runs_on = o & ~d & line.str.contains(continued)  # neither closes nor opens a field
        head = (  # the part of a line starting inside a field that is in that field
            pl.when(o & d)
            .then(line.str.extract(closing, 1))
            .when(runs_on)
            .then(line)
            .when(o)
            .then(line.str.extract(reopening, 1))
        )
        tail = (
            pl.when(~o & d)
            .then(line.str.extract(opening, 1))
            .when(o & ~d & ~runs_on)
            .then(line.str.extract(reopening, 2))
        )
        checked = (
            lines()
            .join(across.lazy(), on="ligne", how="inner", maintain_order="left")
            .select(
                "ligne",
                "opened",
                right=pl.coalesce(
                    pl.when(o == so, d == sd).then(line.str.contains(form)) for (so, sd), form in forms.items()
                ),
                closes=o & ~runs_on,
                head=head.str.count_matches(separator, literal=True).fill_null(0).cast(pl.Int64),
                tail=tail.str.count_matches(separator, literal=True).cast(pl.Int64),
            )
            .collect(engine=engine)
        )
        wrong = pl.concat([wrong, checked.filter(~pl.col("right"))["ligne"]])
        # Each field over lines: the separators of the line it opens on (after its quote), of the lines inside it
        # and of the line it closes on (before its quote).
        opens = pl.col("tail").is_not_null().cast(pl.Int64)
        numbered = checked.with_columns(champ=opens.cum_sum(), ligne=ligne).with_columns(
            debut=pl.col("champ") - opens  # the field a line starting inside one continues
        )
        over_lines = (
            pl.concat(
                [
                    numbered.filter(pl.col("tail").is_not_null()).select(
                        "champ", ouvre="ligne", ferme=pl.lit(None, pl.Int64), separateurs="tail"
                    ),
                    numbered.filter("opened").select(
                        champ="debut",
                        ouvre=pl.lit(None, pl.Int64),
                        ferme=pl.when("closes").then("ligne"),
                        separateurs="head",
                    ),
                ]
            )
            .group_by("champ")
            .agg(pl.col("ouvre").min(), pl.col("ferme").max(), pl.col("separateurs").sum())
            .drop_nulls(["ouvre", "ferme"])
            .sort("ouvre")
            .drop("champ")
        )
    fault = _QuoteFault(int(wrong.min())) if wrong.len() else None  # type: ignore[arg-type]
    if fields is not None and fields > 1 and over_lines.height:
        merging = over_lines["separateurs"] >= fields - 1
        if merging.all() and (fault is None or over_lines["ouvre"][0] < fault.ligne):
            ouvre, ferme, separateurs = over_lines.row(0)
            fault = _QuoteFault(ouvre, ferme, ferme - ouvre, separateurs, fields)
    return _Quoting(True, fault, over_lines)
