"""A large JSONL file read in segments gives the corpus the whole file gives."""

from __future__ import annotations

import json
import random

import pytest

from picochat.configs import CorpusConfig
from picochat.data import corpus, corpus_builder
from picochat.data.segments import jsonl_segments
from picochat.errors import InputError


def _rows(rng: random.Random, count: int) -> list[str]:
    words = [f"w{i}" for i in range(400)]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 60))) for _ in range(count)]
    texts[30] = texts[3]  # an exact duplicate, in a later segment
    texts[50] = texts[7] + " tail"  # a near duplicate, in a later segment
    rows = [json.dumps({"text": t}) for t in texts]
    rows[20] = json.dumps({"label": "no text"})  # a row left out, counted
    return rows


def _build(folder, out) -> dict:
    manifest = corpus.build_corpus(CorpusConfig(input=folder, out=out / "corpus.txt")).manifest
    for key in ("wall_seconds", "created_at", "config", "corpus_path"):
        manifest.pop(key)
    return manifest


def test_segments_give_the_same_corpus_and_documents(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "big.jsonl").write_text("\n".join(_rows(random.Random(3), 60)) + "\n")
    whole = _build(folder, tmp_path / "whole")
    monkeypatch.setattr(corpus_builder, "SEGMENT_BYTES", 1500)  # ~6 segments
    parts = _build(folder, tmp_path / "parts")
    assert (tmp_path / "parts/corpus.txt").read_bytes() == (
        tmp_path / "whole/corpus.txt"
    ).read_bytes()
    assert parts["documents"] == whole["documents"]
    assert parts["inputs"] == whole["inputs"]  # the file's hash, over every segment
    for key in ("documents", "duplicate_documents", "near_duplicate_documents", "chars"):
        assert parts["stats"][key] == whole["stats"][key]
    assert whole["stats"]["duplicate_documents"] == 1
    assert whole["stats"]["near_duplicate_documents"] == 1
    segments = [f["segment"] for f in parts["files"]]
    assert len(segments) > 3 and segments[0].startswith("lines 1-")
    assert parts["stats"]["files_included"] == whole["stats"]["files_included"] == 1
    assert parts["labels"] == whole["labels"]
    assert "segment" not in whole["files"][0]  # small files keep today's manifest


def test_segments_keep_line_numbers(tmp_path, monkeypatch):
    rows = _rows(random.Random(4), 60)
    rows[33] = "{not json"
    (tmp_path / "in").mkdir()
    (tmp_path / "in/big.jsonl").write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(corpus_builder, "SEGMENT_BYTES", 700)
    with pytest.raises(InputError, match="line 34 is not valid JSON"):
        corpus.build_corpus(CorpusConfig(input=tmp_path / "in", out=tmp_path / "o/corpus.txt"))
    assert not (tmp_path / "o/corpus.txt").exists()


def test_a_line_longer_than_a_segment_stays_whole(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"short\n" + b"x" * 50 + b"\nend")
    with open(path, "rb") as handle:
        segments = list(jsonl_segments(handle, 16))
    assert segments == [(b"short\n", 1), (b"x" * 50 + b"\n", 2), (b"end", 3)]


def test_manifest_documents_stream_line_by_line(tmp_path):
    from picochat.data.corpus_stream import read_manifest, stream_manifest_documents

    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.jsonl").write_text("\n".join(_rows(random.Random(5), 60)) + "\n")
    corpus.build_corpus(CorpusConfig(input=tmp_path / "in", out=tmp_path / "o/corpus.txt"))
    path = tmp_path / "o/corpus_manifest.json"
    listed = list(stream_manifest_documents(path))
    assert listed == read_manifest(path)["documents"] and len(listed) > 50
    lines = path.read_text().split("\n")
    broken = next(i for i, line in enumerate(lines) if '"char_start"' in line) + 3
    lines[broken] = lines[broken][:-5]  # a cut entry
    path.write_text("\n".join(lines))
    with pytest.raises(InputError) as error:
        list(stream_manifest_documents(path))
    assert error.value.line == broken + 1
