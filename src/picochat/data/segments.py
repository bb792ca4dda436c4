"""A large source file read in segments, so memory holds one segment, not the file.

Read whole, a file costs about 6x its size in memory (bytes, decoded text, normalised
text, documents), so a file over twice `SEGMENT_BYTES` (32 MB) is read in segments of
at most about `SEGMENT_BYTES` (16 MB; `segment_size` makes them equal, so a file just
over the limit is not scored as one big part and a scrap):

- `.jsonl`: whole lines (`jsonl_segments`), rows numbered from the file start. A line
  over `_ROW_BYTES` (16 MB, e.g. a file with no newline) is an InputError naming it,
  read no further than that limit past its start.
- `.csv`: whole rows. A quoted cell may span lines, so a raw newline is not a row end:
  the csv module parses a block of whole lines (LF, CRLF or CR alone, never cut between
  a CR and its LF), and a row whose quote is still open at the block's end waits for
  the next one; rows numbered from the file start. A row over `_ROW_BYTES` (16 MB,
  e.g. a quote that never closes) is an InputError naming the line it starts on, read
  no further than that limit past it.
- any other file (`.txt`, `.md`, `.py`): cut after an empty line, else after a line end
  (a paragraph longer than a segment), else at a UTF-8 character boundary (a line
  longer than a segment); each segment is ONE document, and the file's manifest rows
  say so (a run of empty lines longer than a segment: segments of their own, skipped
  as whitespace only). A multi-GB text dump is a stream of text (nanoGPT reads it so),
  not one document: dedup, spans and document holdout then work on 16 MB pieces of it.

Decoding stays strict: a file whose first 8 KB hold a NUL is skipped whole (binary);
a segment with a byte that is not UTF-8 is skipped with the reason a whole file gets
(its file offset named); the BOM is dropped at the file start only; a cut never falls
between the CR and LF of a CRLF, so normalising each segment gives the whole file's
newlines. `data build` scores, filters and lists each segment as a file of its own
(`segment`: "lines A-B" in the manifest).

Not here: reading a small file (documents.py), scoring and placing (corpus_builder.py).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat.data.documents import (
    BINARY_SNIFF_BYTES,
    UNCLOSED_QUOTE_FIX,
    CsvRows,
    Document,
    FileDocuments,
    SkipFile,
    decode,
    normalise,
    not_utf8,
    read_documents,
    sniff_binary,
)
from picochat.data.jsonl import MAX_ROW_BYTES
from picochat.errors import InputError

SEGMENT_BYTES = 16 << 20
TEXT_NOTE = (
    f"one document: a text file over {2 * SEGMENT_BYTES >> 20} MB is read as documents "
    f"of at most {SEGMENT_BYTES >> 20} MB, cut at empty lines"
)
_READ_BYTES = 1 << 20  # hashing the rest of a skipped file
# A CSV block is parsed from an io.StringIO (4 bytes a character): blocks of 1 MB keep
# that small, and a segment gathers the rows of several blocks.
_CSV_BLOCK_BYTES = 1 << 20
# The most one row may hold (a JSONL line; a CSV row, whose quoted cell may span lines):
# past it, a file with no newline or a quote that never closes would make a segment
# grow to the rest of the file.
_ROW_BYTES = MAX_ROW_BYTES
_TEXT_START = re.compile(r"\S")


@dataclass
class Segment:
    """What one segment yielded; `lines` None: the whole file, skipped before segmenting."""

    found: FileDocuments
    lines: tuple[int, int] | None

    @property
    def label(self) -> str | None:
        return None if self.lines is None else f"lines {self.lines[0]}-{self.lines[1]}"


def segment_size(file_bytes: int, segment_bytes: int = SEGMENT_BYTES) -> int | None:
    """The size of equal segments of at most `segment_bytes` for a file over twice
    that; None for a smaller file (read whole)."""
    if file_bytes <= 2 * segment_bytes:
        return None
    count = -(-file_bytes // segment_bytes)
    return -(-file_bytes // count)


def read_segments(
    path: Path, text_column: str | None, segment_bytes: int, digest: Any
) -> Iterator[Segment]:
    """The segments of a large file (the rules above); `digest` (a hashlib object)
    receives every byte of the file."""
    with open(path, "rb") as handle:
        head = handle.read(BINARY_SNIFF_BYTES)
        handle.seek(0)
        try:
            sniff_binary(head)
        except SkipFile as skip:
            yield Segment(FileDocuments(skip_reason=str(skip)), None)
            _drain(handle, digest)
            return
        suffix = path.suffix.lower()
        if suffix == ".csv":
            yield from _csv_segments(path, handle, text_column, segment_bytes, digest)
            return
        if suffix == ".jsonl":
            byte_segments = jsonl_segments(handle, segment_bytes, path)
        else:
            byte_segments = text_segments(handle, segment_bytes)
        offset = 0
        for data, first_line in byte_segments:
            digest.update(data)
            if suffix == ".jsonl":
                found = read_documents(path, data, text_column, first_line, offset)
                last = first_line + data.count(b"\n") - data.endswith(b"\n")
            else:
                found = _text_document(data, offset, first_line)
                last = first_line + _line_breaks(data) - data.endswith((b"\n", b"\r"))
            offset += len(data)
            del data  # while the segment is placed, memory holds its documents, not its bytes
            yield Segment(found, (first_line, last))


def jsonl_segments(
    handle: io.BufferedIOBase, segment_bytes: int, path: Path | None = None
) -> Iterator[tuple[bytes, int]]:
    """(about `segment_bytes` of whole lines, the 1-based number of its first line); an
    InputError naming `path` (default: the handle's name) for a line over `_ROW_BYTES`."""
    first_line, carry = 1, b""
    while block := _jsonl_block(handle, segment_bytes, carry):
        data = carry + block
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # one line longer than a segment: keep reading until it ends
            if len(data) > _ROW_BYTES:
                raise _row_too_long(path or Path(handle.name), first_line, jsonl=True)
            carry = data
            continue
        segment, carry = [data[:cut]], data[cut:]
        del data, block
        first, first_line = first_line, first_line + segment[0].count(b"\n")
        yield segment.pop(), first  # popped: this frame holds no reference while it is read
    if carry:
        yield carry, first_line


def _jsonl_block(handle: io.BufferedIOBase, segment_bytes: int, carry: bytes) -> bytes:
    """The next `segment_bytes` of the file, read in two parts when the open line
    (`carry`, no newline in it) could pass `_ROW_BYTES` within them: first up to one
    byte past that limit; the rest only if the line ended there. The blocks, and so
    the segments, are those of one read."""
    head = min(segment_bytes, _ROW_BYTES + 1 - len(carry))
    if head >= segment_bytes:
        return handle.read(segment_bytes)
    first = handle.read(max(head, 1))
    if len(first) < head or b"\n" not in first:  # the end of the file, or a line too long
        return first
    return b"".join((first, handle.read(segment_bytes - len(first))))


def text_segments(handle: io.BufferedIOBase, segment_bytes: int) -> Iterator[tuple[bytes, int]]:
    """(at most `segment_bytes` of text cut by `_cut`, the number of its first line);
    a few bytes more when a segment would hold only newlines and part of a character; a
    segment of line ends only where a run of them is as long as a segment."""
    first_line, carry = 1, b""
    while True:
        wanted = max(segment_bytes - len(carry), 4)  # 4: at least a character more
        block = handle.read(wanted)
        data = carry + block
        if len(block) < wanted:  # the end of the file
            if data:
                yield data, first_line
            return
        cut = _cut(data) or _blank_run(data, segment_bytes)
        if cut == 0:
            carry = data
            continue
        segment, carry = [data[:cut]], data[cut:]
        del data, block
        first, first_line = first_line, first_line + _line_breaks(segment[0])
        yield segment.pop(), first  # popped: this frame holds no reference while it is read


def _cut(data: bytes) -> int:
    """Where a full text segment ends: after its last empty line, else its last line
    end, else before its last UTF-8 lead byte; 0 when no text would be in it yet (only
    newlines and part of a character). Only ends with a known next byte are taken, so
    a CRLF is never split."""
    end = len(data) - 1  # data[end] is the next segment's first byte if cut there
    start = len(data) - len(data.lstrip(b"\r\n"))  # a cut in leading newlines gives no text
    cut = 0
    for blank in (b"\n\n", b"\n\r\n", b"\r\r"):  # an empty line in LF, CRLF and CR files
        at = data.rfind(blank, start, end)
        cut = max(cut, at + len(blank) if at >= 0 else 0)
    if cut == 0:
        cut = max(data.rfind(b"\n", start, end), data.rfind(b"\r", start, end)) + 1
    if cut == 0:  # a line longer than a segment: before a character's first byte
        cut = end
        while cut > max(start, end - 3) and data[cut] & 0xC0 == 0x80:  # a continuation byte
            cut -= 1
        return cut if cut > start else 0
    return cut + 1 if data[cut - 1 : cut + 1] == b"\r\n" else cut


def _blank_run(data: bytes, segment_bytes: int) -> int:
    """Where a segment of line ends only stops, when `data` starts with a run of them
    as long as a segment: after the run, short of a last CR whose LF may come next; else
    0. Carried on instead, such a run would be held whole and read 4 bytes at a time
    (quadratic); as a segment of its own it is skipped as whitespace only."""
    run = len(data) - len(data.lstrip(b"\r\n"))
    if run < segment_bytes:
        return 0
    return run - (run == len(data) and data.endswith(b"\r"))


def _line_breaks(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _text_document(data: bytes, offset: int, first_line: int) -> FileDocuments:
    """A text segment as one document (`row`: the line it starts on)."""
    try:
        text = decode(data, offset)
    except SkipFile as skip:
        return FileDocuments(skip_reason=str(skip))
    content = normalise(text)
    starts = _TEXT_START.search(text)  # (a search, not an lstrip: no copy of the segment)
    if not content or starts is None:
        return FileDocuments(skip_reason="whitespace only")
    lead = text[: starts.start()]  # the blank lines before the text
    row = first_line + lead.count("\n") + lead.count("\r") - lead.count("\r\n")
    return FileDocuments([Document(content, row=row)], note=TEXT_NOTE)


def _drain(handle: io.BufferedIOBase, digest: Any) -> None:
    while block := handle.read(_READ_BYTES):
        digest.update(block)


def _decode(data: bytes, offset: int) -> tuple[str, UnicodeDecodeError | None]:
    """`data` decoded (BOM dropped at the file start), and the first decoding error; a
    byte that is not UTF-8 is kept as a surrogate escape, so the rows around it parse."""
    codec = "utf-8-sig" if offset == 0 else "utf-8"
    try:
        return data.decode(codec), None
    except UnicodeDecodeError as error:
        return data.decode(codec, "surrogateescape"), error


def _csv_segments(
    path: Path, handle: io.BufferedIOBase, text_column: str | None, segment_bytes: int, digest: Any
) -> Iterator[Segment]:
    """Segments of whole CSV rows, gathered from blocks (`_csv_blocks`) until about
    `segment_bytes` of the file is read."""
    found, first_line, size, bad = FileDocuments(), 1, 0, None
    block_bytes = min(segment_bytes, _CSV_BLOCK_BYTES)
    try:
        for block in _csv_blocks(path, handle, text_column, block_bytes, digest):
            for document in block.rows:
                _take(found, document)
            size, bad = size + block.consumed, bad or block.bad
            if size >= segment_bytes or (block.at_end and (size or first_line == 1)):
                found = FileDocuments(skip_reason=str(bad)) if bad else block.reader.summary(found)
                yield Segment(found, (first_line, block.last))
                found, first_line, size, bad = FileDocuments(), block.last + 1, 0, None
    except SkipFile as skip:  # no text column: the whole file
        yield Segment(FileDocuments(skip_reason=str(skip)), None)
        _drain(handle, digest)


@dataclass
class _CsvBlock:
    """The rows of one block of a CSV file: they end on line `last`; `consumed` bytes."""

    reader: CsvRows
    rows: list[Document | None]
    last: int
    consumed: int
    bad: SkipFile | None  # a byte in the block that is not UTF-8
    at_end: bool


def _csv_blocks(
    path: Path, handle: io.BufferedIOBase, text_column: str | None, block_bytes: int, digest: Any
) -> Iterator[_CsvBlock]:
    """A block of whole lines is parsed by the csv module; a row whose quoted cell is
    still open at the block's end waits for the next block. Raises SkipFile for no text
    column, InputError for a row over `_ROW_BYTES` (`_read_on`)."""
    header: CsvRows | None = None  # the first block's reader: the text column
    first_line, offset, carry, at_end = 1, 0, b"", False
    while not at_end:
        wanted = max(block_bytes - len(carry), len(carry), 1)  # a row over a block: x2
        wanted = min(wanted, _ROW_BYTES + 1 - len(carry))  # of one row, the limit + 1
        block = handle.read(wanted)
        digest.update(block)
        at_end, data = len(block) < wanted, carry + block
        cut = len(data) if at_end else _line_end(data)
        if cut == 0:  # one line longer than a block: read on
            carry = _read_on(path, data, first_line)
            continue
        text, error = _decode(data[:cut], offset)
        try:
            reader = CsvRows(path, text, text_column, header, first_line, final=at_end)
        except SkipFile as skip:
            raise (not_utf8(error.object[error.start], error.start) if error else skip) from None
        rows = list(reader)
        if reader.end == 0 and not at_end:  # no whole row yet (one row over a block): read on
            carry = _read_on(path, data, reader.open_row or first_line)
            continue
        header = header or reader
        held = text[reader.end :]  # a row with an open quote, left for the next block
        consumed = cut - len(held.encode("utf-8", "surrogateescape"))
        carry = data[consumed:]
        bad = None
        if error is not None and error.start < consumed:
            bad = not_utf8(error.object[error.start], offset + error.start)
        yield _CsvBlock(reader, rows, reader.last, consumed, bad, at_end)
        first_line, offset = reader.last + 1, offset + consumed


def _line_end(data: bytes) -> int:
    """After the last line end (LF, CRLF or a CR alone) in `data`; 0 for none. A CR as
    the last byte does not count: the next block may start with its LF."""
    return max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1


def _read_on(path: Path, data: bytes, line: int) -> bytes:
    """`data` (one row, not ended yet) to be read on, or an InputError when it holds
    more than `_ROW_BYTES`: a quote that never closes would otherwise make memory
    hold the rest of the file."""
    if len(data) <= _ROW_BYTES:
        return data
    raise _row_too_long(path, line, jsonl=False)


def _row_too_long(path: Path, line: int, *, jsonl: bool) -> InputError:
    """The error for a row (a JSONL line, a CSV row) over `_ROW_BYTES`."""
    limit = _ROW_BYTES
    size = f"{limit >> 20} MB" if limit >= 1 << 20 else f"{limit} bytes"
    most = f"the most a {'line of a JSONL' if jsonl else 'row of a CSV'} file over "
    most += f"{2 * SEGMENT_BYTES >> 20} MB may hold"
    if jsonl:
        return InputError(
            f"line {line} runs over {size} without a line end: a row is over {size}, "
            f"or the file is not JSON Lines (one object a line), {most}",
            file=path,
            line=line,
            fix=f"Write one JSON object a line, each under {size}: split a longer row, "
            "or save its text as .txt.",
        )
    return InputError(
        f"the row that starts on line {line} runs over {size} without ending: a quoted "
        f"cell opened there never closes, or a cell is over {size}, {most}",
        file=path,
        line=line,
        fix=f"{UNCLOSED_QUOTE_FIX} A cell over {size}: split it, or save it as .txt.",
    )


def _take(found: FileDocuments, document: Document | None) -> None:
    if document is None:
        found.rows_without_text += 1
    else:
        found.documents.append(document)
