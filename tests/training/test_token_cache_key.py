"""The tokenized-corpus caches are keyed by content: the corpus bytes, the document spans
and the tokenizer, not the manifest file (which also records the build's config and
times). Rebuilding the same corpus, or building it as shards, reuses the tokens; a
changed text, span or tokenizer does not."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from picochat.data import token_shards as fmt
from picochat.data.tokenize_shards import ensure_token_shards
from picochat.errors import InputError
from picochat.tokenizer import load_tokenizer
from picochat.training.token_data import CorpusSplit, build_token_data


@pytest.fixture
def inputs(tmp_path, doc_text) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        (folder / f"doc{i}.txt").write_text(doc_text(i, words=120), encoding="utf-8")
    (folder / "symbols.txt").write_text("#@!$ %^&* ()[] {}<> ~~~ |||| //// " * 20)
    return folder


def build(run_cli, inputs: Path, out: Path, *flags: str) -> tuple[Path, Path]:
    """`data build` into `out`; (corpus, manifest)."""
    code, _, err = run_cli("--quiet", "data", "build", "--input", inputs, "--out", out, *flags)
    assert code == 0, err
    return out, out.parent / "corpus_manifest.json"


def tokenize(run_cli, corpus: Path, manifest: Path, tokenizer: Path, *flags: str) -> str:
    """`data tokenize`; what it printed."""
    code, out, err = run_cli("data", "tokenize", "--corpus", corpus, "--tokenizer", tokenizer,
                             "--corpus-manifest", manifest, "--workers", "1", *flags)  # fmt: skip
    assert code == 0, err
    return out


def shard_files(root: Path) -> dict[str, int]:
    """Each token-shard file under `root` and its mtime (ns)."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.glob("tokens-*/*")}


@pytest.fixture
def tokenizer(run_cli, inputs, tmp_path) -> Path:
    corpus, _ = build(run_cli, inputs, tmp_path / "tok_source" / "corpus.txt")
    out = tmp_path / "tok.json"
    assert run_cli("--quiet", "tok", "train", "--input", corpus, "--out", out)[0] == 0
    return out


def test_rebuilding_the_same_corpus_reuses_its_token_shards(run_cli, inputs, tokenizer, tmp_path):
    corpus, manifest = build(run_cli, inputs, tmp_path / "data" / "corpus.txt")
    first = tokenize(run_cli, corpus, manifest, tokenizer)
    assert "tokenized in" in first and "wrote" in first
    root = corpus.parent / "token_shards"  # the default: beside the corpus
    files, before = shard_files(root), manifest.read_bytes()
    assert len(files) == 3  # shard, documents.npy, index.json
    # the same flags again, then other settings that leave the documents as they were:
    # the manifest's bytes differ (config, created_at, wall_seconds), its content does not
    for flags in ((), ("--near-duplicate-threshold", "0.95")):
        build(run_cli, inputs, corpus, *flags)
        out = tokenize(run_cli, corpus, manifest, tokenizer)
        assert "reused (already built)" in out and "tokenized in" not in out
        assert "wrote" not in out  # it names the folder as reused
        assert shard_files(root) == files  # no file written again, no second folder
    assert manifest.read_bytes() != before


def test_a_sharded_and_a_one_file_build_share_one_cache(run_cli, inputs, tokenizer, tmp_path):
    one, one_manifest = build(run_cli, inputs, tmp_path / "one" / "corpus.txt")
    shards, shards_manifest = build(run_cli, inputs, tmp_path / "big" / "corpus",
                                    "--shard-mb", "0.001")  # fmt: skip
    assert len(list(shards.iterdir())) >= 3
    cache = tmp_path / "cache"
    first = tokenize(run_cli, one, one_manifest, tokenizer, "--cache-dir", cache)
    files = shard_files(cache)
    second = tokenize(run_cli, shards, shards_manifest, tokenizer, "--cache-dir", cache)
    assert "tokenized in" in first and "reused (already built)" in second
    assert shard_files(cache) == files and len(files) == 3


def shards_of(corpus: Path, manifest: Path, tokenizer: Path, cache: Path):
    return ensure_token_shards(corpus, tokenizer, manifest, cache, workers=1, quiet=True)


def test_a_changed_text_span_or_tokenizer_misses_the_cache(
    run_cli, inputs, tokenizer, tmp_path, doc_text
):
    corpus, manifest = build(run_cli, inputs, tmp_path / "data" / "corpus.txt")
    cache = tmp_path / "cache"
    first = shards_of(corpus, manifest, tokenizer, cache)
    columns = [fmt.DOC_ID, fmt.CHAR_START, fmt.CHAR_END]
    assert first.shards.index["spans_sha256"] == fmt.spans_sha256(
        first.shards.documents[:, columns]
    )
    folders = {first.shards.folder}

    def misses(corpus: Path, manifest: Path, tokenizer: Path) -> None:
        result = shards_of(corpus, manifest, tokenizer, cache)
        assert result.built and result.shards.folder not in folders
        folders.add(result.shards.folder)

    # --min-score drops symbols.txt: another corpus and other spans
    dropped, dropped_manifest = build(run_cli, inputs, tmp_path / "d" / "corpus.txt",
                                      "--min-score", "60")  # fmt: skip
    assert json.loads(dropped_manifest.read_text())["filtered_by_min_score"]
    misses(dropped, dropped_manifest, tokenizer)
    # one character of a document changed: the same length, the same spans
    (inputs / "doc1.txt").write_text(doc_text(1, words=120).replace("document", "Document"))
    edited, edited_manifest = build(run_cli, inputs, tmp_path / "e" / "corpus.txt")
    assert len(edited.read_text()) == len(corpus.read_text())
    misses(edited, edited_manifest, tokenizer)
    # the same corpus, the first document's span one character shorter
    data = json.loads(manifest.read_text())
    data["documents"][0]["char_end"] -= 1
    manifest.write_text(json.dumps(data))
    misses(corpus, manifest, tokenizer)
    # the same corpus and spans, another tokenizer
    other = tmp_path / "tok_byte.json"
    assert run_cli("--quiet", "tok", "train", "--input", corpus, "--out", other,
                   "--type", "byte")[0] == 0  # fmt: skip
    assert load_tokenizer(other).sha256 != load_tokenizer(tokenizer).sha256
    misses(corpus, manifest, other)


def test_a_manifest_edited_outside_its_spans_still_hits(run_cli, inputs, tokenizer, tmp_path):
    corpus, manifest = build(run_cli, inputs, tmp_path / "data" / "corpus.txt")
    cache = tmp_path / "cache"
    first = shards_of(corpus, manifest, tokenizer, cache)
    data = json.loads(manifest.read_text())
    data["documents"][0]["source"] = "renamed.txt"
    data["created_at"] = "2000-01-01T00:00:00+0000"
    manifest.write_text(json.dumps(data, indent=1))  # laid out otherwise: parsed whole
    again = shards_of(corpus, manifest, tokenizer, cache)
    assert not again.built and again.shards.folder == first.shards.folder
    # a manifest naming another corpus is refused on a cache hit too
    data["corpus_sha256"] = "f" * 64
    manifest.write_text(json.dumps(data))
    with pytest.raises(Exception, match="another corpus"):
        shards_of(corpus, manifest, tokenizer, cache)


def in_memory(corpus: Path, manifest: Path, tokenizer: Path, cache: Path) -> Path:
    """The in-memory path's cached streams (cache_min_chars 0); the folder they are in."""
    split = CorpusSplit(corpus=corpus, manifest=manifest, split_mode="document",
                        val_fraction=0.2, seed=3, context_size=8)  # fmt: skip
    data = build_token_data(split, load_tokenizer(tokenizer), cache_dir=cache, cache_min_chars=0)
    assert isinstance(data.train, np.memmap)
    (folder,) = {Path(data.train.filename).parent}
    return folder


def test_the_in_memory_stream_cache_is_keyed_by_content(run_cli, inputs, tokenizer, tmp_path):
    corpus, manifest = build(run_cli, inputs, tmp_path / "data" / "corpus.txt")
    cache = tmp_path / "token_cache"
    folder = in_memory(corpus, manifest, tokenizer, cache)
    done = (folder / "done.json").stat().st_mtime_ns
    build(run_cli, inputs, corpus, "--near-duplicate-threshold", "0.95")  # same content
    assert in_memory(corpus, manifest, tokenizer, cache) == folder
    assert (folder / "done.json").stat().st_mtime_ns == done
    data = json.loads(manifest.read_text())
    data["documents"][1]["contained_in"] = 0  # the split changes: another key
    manifest.write_text(json.dumps(data))
    contained = in_memory(corpus, manifest, tokenizer, cache)
    data["documents"][1].pop("contained_in")
    data["documents"][0]["char_start"] += 1  # a span changes: another key
    manifest.write_text(json.dumps(data))
    shifted = in_memory(corpus, manifest, tokenizer, cache)
    assert len({folder, contained, shifted}) == 3


def test_a_stale_remembered_digest_is_caught_when_building(run_cli, inputs, tokenizer, tmp_path):
    """digests.json remembers the spans' digest by the manifest's size and mtime: a manifest
    changed with both kept gives the old key; building then refuses, naming digests.json."""
    corpus, manifest = build(run_cli, inputs, tmp_path / "data" / "corpus.txt")
    cache = tmp_path / "cache"
    shards_of(corpus, manifest, tokenizer, cache)
    stat = manifest.stat()
    end = json.loads(manifest.read_text())["documents"][0]["char_end"]
    assert len(str(end - 1)) == len(str(end))  # the same size
    manifest.write_text(
        manifest.read_text().replace(f'"char_end": {end}', f'"char_end": {end - 1}', 1)
    )
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert manifest.stat().st_size == stat.st_size
    with pytest.raises(InputError, match=fmt.DIGESTS) as caught:
        ensure_token_shards(corpus, tokenizer, manifest, cache, workers=1, quiet=True, rebuild=True)
    assert caught.value.file == str(manifest)
