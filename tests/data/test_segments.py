"""Large CSV and text files read in segments: the documents the whole file gives."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import random
import re

import pytest
from tests.data.test_corpus_segments import _build  # the manifest without run-specific keys

from picochat.data import corpus_builder
from picochat.data import segments as segments_module
from picochat.data.documents import normalise, read_documents
from picochat.data.segments import TEXT_NOTE, read_segments, segment_size

WORDS = ["alpha", "beta", "gamma", "délta", "€uro", "😀", "zeta", "eta"]


def _segments(path, size, text_column=None):
    digest = hashlib.sha256()
    segments = list(read_segments(path, text_column, size, digest))
    assert digest.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    return segments


def _csv_bytes(rng: random.Random, rows: int, newline: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(["id", "text"])
    for i in range(rows):
        lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9))) for _ in range(3)]
        cell = "" if i % 7 == 3 else newline.join(lines[: rng.randint(1, 3)])  # some span lines
        writer.writerow([i, cell + (' with "quotes", and commas' if i % 5 == 0 else "")])
    return out.getvalue().encode("utf-8")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_segments_give_the_whole_files_rows(tmp_path, monkeypatch, newline):
    path = tmp_path / "rows.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _csv_bytes(random.Random(1), 80, newline))
    whole = read_documents(path, path.read_bytes())
    assert whole.rows_without_text > 0 and len(whole.documents) > 60
    for block, size in [(1 << 20, 40), (1 << 20, 200), (1 << 20, 777), (30, 400), (100, 1000)]:
        monkeypatch.setattr(segments_module, "_CSV_BLOCK_BYTES", block)  # several blocks a segment
        segments = _segments(path, size)
        assert len(segments) > 2
        docs = [d for s in segments for d in s.found.documents]
        assert [(d.text, d.row) for d in docs] == [(d.text, d.row) for d in whole.documents]
        assert sum(s.found.rows_without_text for s in segments) == whole.rows_without_text
        spans = [s.lines for s in segments]
        assert spans[0][0] == 1 and all(a[1] + 1 == b[0] for a, b in itertools.pairwise(spans))
        assert all(d.row <= s.lines[1] for s in segments for d in s.found.documents)


def test_csv_segment_with_a_bad_byte_is_skipped_with_its_file_offset(tmp_path):
    data = _csv_bytes(random.Random(2), 60)
    path = tmp_path / "rows.csv"
    path.write_bytes(data)
    clean = read_documents(path, data).documents
    bad = data.index(b"gamma", len(data) // 2)
    data = data[:bad] + b"\xff" + data[bad + 1 :]
    path.write_bytes(data)
    line = data[:bad].count(b"\n") + 1
    for size in (60, 150, 300, 777):
        segments = _segments(path, size)
        skipped = [s for s in segments if "UTF-8" in (s.found.skip_reason or "")]
        assert len(skipped) == 1 and skipped[0].lines[0] <= line <= skipped[0].lines[1]
        assert skipped[0].found.skip_reason == (
            f"not valid UTF-8 (byte 0xff at offset {bad}); re-save the file as UTF-8"
        )
        assert read_documents(path, data).skip_reason == skipped[0].found.skip_reason
        low, high = skipped[0].lines  # the other segments' rows are kept
        kept = [(d.text, d.row) for s in segments for d in s.found.documents]
        assert kept == [(d.text, d.row) for d in clean if not low <= d.row <= high]


def test_csv_without_a_text_column_is_skipped_once(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("id,body\n" + "".join(f"{i},words here\n" for i in range(50)))
    segments = _segments(path, 64)
    assert [s.lines for s in segments] == [None]
    assert segments[0].found.skip_reason == read_documents(path, path.read_bytes()).skip_reason
    body = _segments(path, 64, text_column="body")
    assert len(body) > 3 and sum(len(s.found.documents) for s in body) == 50


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    return [
        "\n".join(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
            for _ in range(rng.randint(1, 4))
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_text_segments_are_documents_cut_at_empty_lines(tmp_path, newline):
    text = "\n\n".join(_paragraphs(random.Random(3), 60))
    path = tmp_path / "book.txt"
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    longest = max(len(p.encode()) + 2 * p.count("\n") for p in text.split("\n\n"))
    for size in [*range(7, 60, 13), *range(longest + 4, 1400, 97)]:
        segments = _segments(path, size)
        docs = [s.found.documents for s in segments]
        assert all(len(d) == 1 for d in docs) and len(docs) > 1
        assert all(len(d[0].text.encode()) <= size + 4 for d in docs)  # 4: see text_segments
        joined = "\n\n".join(d[0].text for d in docs)
        assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", text)  # nothing lost or added
        if size > longest:  # every paragraph fits: every cut is at an empty line
            assert joined == normalise(text)
        assert all(s.found.note == TEXT_NOTE for s in segments)
        lines = text.split("\n")
        for segment in segments:  # `row` is the line the document starts on
            row = segment.found.documents[0].row
            assert segment.found.documents[0].text.split("\n")[0] in lines[row - 1]
            assert segment.lines[0] <= row <= segment.lines[1]


def test_text_falls_back_to_line_ends_then_utf8_characters(tmp_path):
    lines = [" ".join(random.Random(i).choices(WORDS, k=9)) for i in range(40)]
    path = tmp_path / "one_paragraph.md"
    path.write_text("\n".join(lines))
    segments = _segments(path, 150)
    assert "\n".join(s.found.documents[0].text for s in segments) == "\n".join(lines)
    path = tmp_path / "one_line.txt"
    line = "é€😀a" * 50  # 10 bytes per 4 characters: cuts fall inside characters
    path.write_text(line)
    for size in (7, 10, 13):
        segments = _segments(path, size)
        assert "".join(s.found.documents[0].text for s in segments) == line  # no byte lost
        assert all(s.found.skip_reason is None for s in segments)


def test_text_decoding_stays_strict(tmp_path):
    text = "\n\n".join(_paragraphs(random.Random(4), 40)).encode()
    path = tmp_path / "a.txt"
    path.write_bytes(b"\x00" + text)
    assert [(s.lines, s.found.skip_reason) for s in _segments(path, 100)] == [
        (None, "binary file (contains NUL bytes)")
    ]
    bad = text.index(b"beta", len(text) // 2)
    path.write_bytes(b"\xef\xbb\xbf" + text[:bad] + b"\xfe" + text[bad + 1 :])
    segments = _segments(path, 100)
    reasons = [s.found.skip_reason for s in segments if s.found.skip_reason]
    assert reasons == [
        f"not valid UTF-8 (byte 0xfe at offset {bad + 3}); re-save the file as UTF-8"
    ]
    assert not segments[0].found.documents[0].text.startswith("\ufeff")  # BOM dropped at start


def test_segment_size_is_equal_parts_over_twice_the_limit():
    assert segment_size(32 << 20) is None
    assert segment_size((32 << 20) + 1) == 11184811  # three equal parts, not 16 + 16 + 1 B
    assert segment_size(512 << 20) == 16 << 20
    assert segment_size(600 << 20) == -(-(600 << 20) // 38)  # 37.5 -> 38 parts


def test_data_build_reads_large_csv_and_text_in_segments(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "rows.csv").write_bytes(_csv_bytes(random.Random(5), 200))
    text = "\n\n".join(_paragraphs(random.Random(6), 200))
    (folder / "book.txt").write_text(text)
    whole = _build(folder, tmp_path / "whole")
    monkeypatch.setattr(corpus_builder, "SEGMENT_BYTES", 1000)
    parts = _build(folder, tmp_path / "parts")
    assert parts["inputs"] == whole["inputs"]
    rows = lambda m: [(d["row"], d["char_end"] - d["char_start"]) for d in m["documents"]]  # noqa: E731
    book = [f for f in parts["files"] if f["path"].endswith("book.txt")]
    assert rows(parts)[len(book) :] == rows(whole)[1:]  # the CSV's rows, exactly
    assert len(book) > 5 and all(f["documents"] == 1 and TEXT_NOTE in f["reason"] for f in book)
    assert parts["stats"]["files_included"] == whole["stats"]["files_included"] == 2
    corpus_text = (tmp_path / "parts/corpus.txt").read_text()
    assert corpus_text.startswith(normalise(text))  # the book, its pieces joined at empty lines
    report = (tmp_path / "parts/corpus_report.md").read_text()
    assert "book.txt (lines 1-" in report


def test_a_binary_file_is_skipped_once_whatever_its_type(tmp_path):
    for name in ("a.jsonl", "a.csv", "a.py"):
        path = tmp_path / name
        path.write_bytes(b"text\n" + b"\x00\x01" * 500 + b'\n{"text": "x"}\n' * 50)
        assert [(s.lines, s.found.skip_reason) for s in _segments(path, 64)] == [
            (None, "binary file (contains NUL bytes)")
        ]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_a_run_of_empty_lines_longer_than_a_segment_is_cut(tmp_path, newline):
    before = [" ".join(random.Random(i).choices(WORDS, k=9)) for i in range(30)]
    after = [" ".join(random.Random(-i).choices(WORDS, k=9)) for i in range(1, 30)]
    text = "\n".join(before) + "\n" * 5000 + "\n".join(after) + "\n"
    path = tmp_path / "blank.txt"
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    with open(path, "rb") as handle:  # held whole before: one segment of 5,000+ line ends
        assert max(len(data) for data, _ in segments_module.text_segments(handle, 300)) <= 304
    segments = _segments(path, 300)
    skipped = [s for s in segments if s.found.skip_reason]
    assert len(skipped) > 10 and {s.found.skip_reason for s in skipped} == {"whitespace only"}
    docs = [d for s in segments for d in s.found.documents]
    assert re.sub(r"\s", "", "".join(d.text for d in docs)) == re.sub(r"\s", "", text)
    first_after = next(d for d in docs if d.text.startswith(after[0]))
    assert first_after.row == len(before) + 5000  # its line, counted over the skipped run
    assert all(b.lines[0] == a.lines[1] + 1 for a, b in itertools.pairwise(segments))
