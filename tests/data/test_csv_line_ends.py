"""CSV line ends (LF, CRLF, CR alone, mixed) and quotes that never close, read whole and
in segments at tiny block/segment sizes: the same rows, row numbers and errors."""

from __future__ import annotations

import random
import re

import pytest
from tests.data.test_segments import _csv_bytes, _segments

from picochat.data import corpus_builder
from picochat.data import segments as segments_module
from picochat.data.documents import read_documents
from picochat.data.segments import read_segments
from picochat.errors import InputError

ENDS = [b"\n", b"\r\n", b"\r"]


def _line_ends(data: bytes, style: str) -> bytes:
    """`data` (LF) with every line end CR alone, or each one LF, CRLF or CR at random."""
    if style == "cr":
        return data.replace(b"\n", b"\r")
    rng = random.Random(4)
    return re.sub(b"\n", lambda _: rng.choice(ENDS), data)  # no blank lines: no CR+LF merges


def _rows(found) -> list[tuple[str, int]]:
    return [(d.text, d.row) for d in found.documents]


@pytest.mark.parametrize("style", ["cr", "mixed"])
def test_cr_and_mixed_line_ends_give_the_lf_files_rows(tmp_path, monkeypatch, style):
    lf = _csv_bytes(random.Random(1), 60)
    data = _line_ends(lf, style)
    assert style == "cr" or all(end in data.replace(b"\r\n", b"") for end in (b"\r", b"\n"))
    path = tmp_path / "rows.csv"
    path.write_bytes(lf)
    expected = read_documents(path, lf)
    path.write_bytes(data)
    whole = read_documents(path, data)
    assert whole.skip_reason is None and len(whole.documents) > 40
    assert _rows(whole) == _rows(expected)  # same texts (LF) and universal line numbers
    assert whole.rows_without_text == expected.rows_without_text > 0
    lines = len(re.findall(rb"\r\n|\r|\n", data))  # the file ends with a line end
    # every block size from 20 to 59 bytes: some cut between a CR and its LF
    for block in range(20, 60):
        monkeypatch.setattr(segments_module, "_CSV_BLOCK_BYTES", block)
        segments = _segments(path, 3 * block)
        assert len(segments) > 5
        docs = [(d.text, d.row) for s in segments for d in s.found.documents]
        assert docs == _rows(expected)
        assert sum(s.found.rows_without_text for s in segments) == expected.rows_without_text
        assert segments[0].lines[0] == 1 and segments[-1].lines[1] == lines


def _unclosed(tail_rows: int) -> tuple[bytes, int]:
    """A CSV whose row after 40 good ones opens a quote that never closes, then
    `tail_rows` more lines; and the line that row starts on."""
    head = _csv_bytes(random.Random(3), 40)
    line = head.count(b"\n") + 1
    tail = b"".join(b"%d,more words with no quote\n" % i for i in range(tail_rows))
    return head + b'99,"this quote never closes\n' + tail, line


@pytest.mark.parametrize("style", ["lf", "cr", "mixed"])
def test_a_quote_open_at_the_end_is_the_same_error_whole_and_in_segments(
    tmp_path, monkeypatch, style
):
    data, line = _unclosed(5)
    data = data if style == "lf" else _line_ends(data, style)
    path = tmp_path / "rows.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as whole:
        read_documents(path, data)
    assert whole.value.line == line and "never closes" in str(whole.value)
    for block, size in [(30, 90), (64, 200), (1 << 20, 500)]:
        monkeypatch.setattr(segments_module, "_CSV_BLOCK_BYTES", block)
        with pytest.raises(InputError) as parts:
            _segments(path, size)
        assert str(parts.value) == str(whole.value)


class _Counter:
    bytes = 0

    def update(self, data: bytes) -> None:
        self.bytes += len(data)


def test_an_open_quote_stops_a_segment_at_the_row_limit(tmp_path, monkeypatch):
    data, line = _unclosed(5000)  # about 150 KB after the open quote
    path = tmp_path / "rows.csv"
    path.write_bytes(data)
    opened = data.index(b'99,"this')
    monkeypatch.setattr(segments_module, "_ROW_BYTES", 2000)
    monkeypatch.setattr(segments_module, "_CSV_BLOCK_BYTES", 100)
    read = _Counter()  # the digest sees every byte read
    with pytest.raises(InputError) as error:
        list(read_segments(path, None, 400, read))
    message = str(error.value)
    assert error.value.line == line and str(path) in message
    assert f"starts on line {line} runs over 2000 bytes" in message and '""' in message
    assert opened < read.bytes <= opened + 2001  # no further than the limit past the quote


def test_a_multiline_cell_under_the_row_limit_is_read(tmp_path, monkeypatch):
    head = _csv_bytes(random.Random(3), 30)
    cell = "\r\n".join(f"line {i} of a long quoted cell" for i in range(50))  # ~1.6 KB
    data = head + f'7,"{cell}"\n'.encode() + _csv_bytes(random.Random(4), 30).split(b"\n", 1)[1]
    path = tmp_path / "rows.csv"
    path.write_bytes(data)
    whole = read_documents(path, data)
    monkeypatch.setattr(segments_module, "_ROW_BYTES", 2000)
    monkeypatch.setattr(segments_module, "_CSV_BLOCK_BYTES", 100)
    docs = [(d.text, d.row) for s in _segments(path, 400) for d in s.found.documents]
    assert docs == _rows(whole) and any(text.count("\n") == 49 for text, _ in docs)


def test_data_build_exits_2_on_an_open_quote(tmp_path, monkeypatch, run_cli):
    folder = tmp_path / "in"
    folder.mkdir()
    data, line = _unclosed(3000)
    (folder / "rows.csv").write_bytes(data)
    code, _, err = run_cli("data", "build", "--input", folder, "--out", tmp_path / "whole")
    assert code == 2 and f"rows.csv:{line}:" in err and "never closes" in err
    assert "Traceback" not in err
    monkeypatch.setattr(corpus_builder, "SEGMENT_BYTES", 4000)  # read in segments
    monkeypatch.setattr(segments_module, "_ROW_BYTES", 2000)
    code, _, err = run_cli("data", "build", "--input", folder, "--out", tmp_path / "parts")
    assert code == 2 and f"rows.csv:{line}:" in err and "runs over 2000 bytes" in err
    assert "Fix:" in err and "Traceback" not in err
