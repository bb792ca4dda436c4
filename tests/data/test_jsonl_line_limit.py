"""A JSONL line longer than a row may hold (no newline for megabytes) stops a segmented
read with an InputError naming file and line, read no further than the limit past the
line's start; lines up to the limit give the segments one plain read gives."""

from __future__ import annotations

import io
import json
import random

import pytest
from tests.data.test_corpus_segments import _rows

from picochat.data import corpus_builder
from picochat.data import segments as segments_module
from picochat.data.segments import jsonl_segments, read_segments
from picochat.errors import InputError

LIMIT = 2000  # _ROW_BYTES in these tests


class _Counting(io.RawIOBase):
    """A file read through `read`, counting the bytes it handed out."""

    def __init__(self, path) -> None:
        self.handle, self.bytes, self.name = open(path, "rb"), 0, str(path)  # noqa: SIM115

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.bytes += len(data)
        return data

    def close(self) -> None:
        self.handle.close()


def _plain_segments(data: bytes, segment_bytes: int) -> list[tuple[bytes, int]]:
    """The segments of the unlimited reader: blocks of `segment_bytes` after the carry,
    cut after their last newline."""
    out, first_line, carry, at = [], 1, b"", 0
    while block := data[at : at + segment_bytes]:
        at += len(block)
        joined = carry + block
        cut = joined.rfind(b"\n") + 1
        if cut == 0:
            carry = joined
            continue
        out.append((joined[:cut], first_line))
        first_line += joined[:cut].count(b"\n")
        carry = joined[cut:]
    return out + ([(carry, first_line)] if carry else [])


def _long_line_file(tmp_path, tail: bytes) -> tuple[object, int, int]:
    """40 good rows, then `tail` (a line with no end for a long way): the path, the
    1-based line and the byte offset where that line starts."""
    head = ("\n".join(_rows(random.Random(6), 60)) + "\n").encode()
    path = tmp_path / "big.jsonl"
    path.write_bytes(head + tail)
    return path, head.count(b"\n") + 1, len(head)


@pytest.mark.parametrize("segment_bytes", [300, 1000, 1999, LIMIT])
def test_an_over_long_line_stops_at_the_row_limit(tmp_path, monkeypatch, segment_bytes):
    tail = b'{"text": "' + b"word " * 40_000  # ~200 KB, no newline, no closing quote
    path, line, start = _long_line_file(tmp_path, tail + b'"}\n{"text": "after"}\n')
    monkeypatch.setattr(segments_module, "_ROW_BYTES", LIMIT)
    handle = _Counting(path)
    with pytest.raises(InputError) as error:
        list(jsonl_segments(handle, segment_bytes, path))
    handle.close()
    message = str(error.value)
    assert error.value.line == line and str(path) in message
    assert f"line {line} runs over {LIMIT} bytes without a line end" in message
    assert start < handle.bytes <= start + LIMIT + 1  # no further than the limit past it


def test_a_file_with_no_newline_names_line_1(tmp_path, monkeypatch):
    path = tmp_path / "one.jsonl"
    path.write_bytes(b"x" * 50_000)
    monkeypatch.setattr(segments_module, "_ROW_BYTES", LIMIT)
    read = _Counting(path)
    with pytest.raises(InputError) as error:
        list(jsonl_segments(read, 700))
    read.close()
    assert error.value.line == 1 and read.bytes == LIMIT + 1
    with pytest.raises(InputError, match="line 1 runs over"):  # through read_segments
        list(read_segments(path, None, 700, _Sink()))


class _Sink:
    def update(self, data: bytes) -> None:
        pass


@pytest.mark.parametrize("segment_bytes", [250, 777, 1999, LIMIT])
def test_lines_up_to_the_limit_give_the_plain_segments(tmp_path, monkeypatch, segment_bytes):
    rng = random.Random(segment_bytes)
    rows = _rows(rng, 60)
    for at, size in [(5, LIMIT), (6, LIMIT - 1), (17, LIMIT), (25, LIMIT - 7)]:
        pad = size - len(json.dumps({"text": ""}))  # a row of exactly `size` bytes
        rows[at] = json.dumps({"text": "y" * pad})
        assert len(rows[at].encode()) == size
    data = ("\n".join(rows) + "\n").encode()
    path = tmp_path / "near.jsonl"
    path.write_bytes(data)
    monkeypatch.setattr(segments_module, "_ROW_BYTES", LIMIT)
    with open(path, "rb") as handle:
        segments = list(jsonl_segments(handle, segment_bytes))
    assert segments == _plain_segments(data, segment_bytes)
    assert b"".join(s for s, _ in segments) == data
    texts = [
        d.text for s in read_segments(path, None, segment_bytes, _Sink()) for d in s.found.documents
    ]
    assert texts.count("y" * (LIMIT - len('{"text": ""}'))) == 2


def test_data_build_exits_2_on_an_over_long_line(tmp_path, monkeypatch, run_cli):
    folder = tmp_path / "in"
    folder.mkdir()
    path, line, _ = _long_line_file(folder, b'{"text": "' + b"z" * 30_000 + b'"}\n')
    monkeypatch.setattr(corpus_builder, "SEGMENT_BYTES", 4000)  # read in segments
    monkeypatch.setattr(segments_module, "_ROW_BYTES", LIMIT)
    code, _, err = run_cli("data", "build", "--input", folder, "--out", tmp_path / "out")
    assert code == 2 and f"{path.name}:{line}:" in err and f"runs over {LIMIT} bytes" in err
    assert "Fix:" in err and "Traceback" not in err


def test_a_chat_or_eval_file_line_over_the_limit_is_an_error_naming_it(tmp_path, monkeypatch):
    """`iter_jsonl` (chat, preference and eval files) reads at most the limit + 1 bytes of
    a line: a longer one is an InputError naming file and line, a line at the limit a row."""
    from picochat.data import jsonl

    monkeypatch.setattr(jsonl, "MAX_ROW_BYTES", 64)
    at_limit = json.dumps({"user": "u" * 40}).encode()
    at_limit += b" " * (63 - len(at_limit)) + b"\n"  # 64 bytes with its newline
    path = tmp_path / "chat.jsonl"
    path.write_bytes(at_limit + b'[{"user": "' + b"x" * 200)  # a JSON array, no newline
    rows = jsonl.iter_jsonl(path)
    assert next(rows).obj == {"user": "u" * 40}
    with pytest.raises(InputError) as caught:
        next(rows)
    assert caught.value.file == str(path) and caught.value.line == 2
    assert "64 bytes without a line end" in str(caught.value)
