"""`data build --shard-mb`: the bundled pack as shards is the one-file corpus, cut between
documents, and every reader (`picochat.corpus_files`) sees the same text, hash and spans."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from picochat.configs.data import CorpusConfig
from picochat.corpus_files import corpus_files, corpus_sha256, corpus_size, open_corpus_text
from picochat.data.corpus import build_corpus
from picochat.data.corpus_stream import iter_pieces, read_spans

PACK = Path(__file__).resolve().parents[2] / "examples" / "tiny_dataset_pack.json"
SHARD_MB = 0.008  # 8,000 bytes: the pack's 13 documents (~2-3 KB each) in 5 shards


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The bundled pack built once as corpus.txt and once as shards of 8,000 bytes."""
    root = tmp_path_factory.mktemp("shards")
    one = root / "one" / "corpus.txt"
    folder = root / "big" / "corpus"
    build_corpus(CorpusConfig(dataset_pack=PACK, out=one))
    build_corpus(CorpusConfig(dataset_pack=PACK, out=folder, shard_mb=SHARD_MB))
    return {"one": one, "folder": folder}


def _manifest(corpus: Path) -> dict:
    return json.loads((corpus.parent / "corpus_manifest.json").read_text(encoding="utf-8"))


def test_shards_concatenate_to_the_one_file_corpus_cut_between_documents(built):
    one, folder = built["one"], built["folder"]
    single, sharded = _manifest(one), _manifest(folder)
    assert "shards" not in single  # a one-file manifest is laid out as before
    shards = sharded["shards"]
    assert len(shards) >= 3
    assert [s["path"] for s in shards] == sorted(p.name for p in folder.iterdir())
    data = [(folder / s["path"]).read_bytes() for s in shards]
    assert b"".join(data) == one.read_bytes()
    assert sharded["corpus_sha256"] == single["corpus_sha256"]
    assert sharded["documents"] == single["documents"] and sharded["stats"] == single["stats"]
    text = one.read_text(encoding="utf-8")
    spans = sharded["documents"]
    expected_first, start = 0, 0
    for shard, raw in zip(shards, data, strict=True):
        first, end = shard["documents"]
        assert first == expected_first and end > first
        assert shard["bytes"] == len(raw) and shard["chars"] == len(raw.decode("utf-8"))
        assert shard["sha256"] == hashlib.sha256(raw).hexdigest()
        # The shard starts where its first document starts and holds its last one whole.
        assert spans[first]["char_start"] == start
        assert start + shard["chars"] >= spans[end - 1]["char_end"]
        if end < len(spans):  # and the next document starts right after it
            assert start + shard["chars"] == spans[end]["char_start"]
        if end - first > 1:  # only a lone document may exceed the limit
            assert len(raw) <= SHARD_MB * 1e6
        start += shard["chars"]
        expected_first = end
    assert expected_first == len(spans) and start == len(text)


def test_every_reader_sees_the_same_text_hash_and_pieces(built):
    one, folder = built["one"], built["folder"]
    with open_corpus_text(one) as a, open_corpus_text(folder) as b:
        assert a.read() == b.read()
    with open_corpus_text(folder) as handle:  # line iteration across shard ends
        assert list(handle) == one.read_text(encoding="utf-8").splitlines(keepends=True)
    assert corpus_sha256(folder) == corpus_sha256(one) == _manifest(folder)["corpus_sha256"]
    assert corpus_size(folder) == one.stat().st_size
    assert len(corpus_files(folder)) == len(_manifest(folder)["shards"])
    spans, _ = read_spans(folder.parent / "corpus_manifest.json")
    pieces = [list(iter_pieces(c, spans, 700)) for c in (one, folder)]
    assert pieces[0] == pieces[1] and len(pieces[0]) > len(spans)
    assert np.array_equal(spans, read_spans(one.parent / "corpus_manifest.json")[0])


def test_eval_starter_support_index_and_contamination_read_shards(built, run_cli, tmp_path):
    from picochat.data.contamination import check_contamination
    from picochat.evaluation.support import CorpusIndex

    starters = []
    for name in ("one", "folder"):
        out = tmp_path / f"{name}.jsonl"
        assert (
            run_cli("--quiet", "data", "eval-starter", "--input", built[name], "--out", out)[0] == 0
        )
        starters.append(out.read_text(encoding="utf-8"))
    assert starters[0] == starters[1] and starters[0].count("\n") >= 10
    indexes = [CorpusIndex.from_file(built[name]) for name in ("one", "folder")]
    assert indexes[0].distinct_ngrams == indexes[1].distinct_ngrams > 1000
    # a corpus sentence as an eval prompt is found in both
    sentence = built["one"].read_text(encoding="utf-8").split("\n")[2]
    items = [(sentence, 1, "heldout")]
    leaks = [check_contamination(items, corpus_path=built[n]).leaks for n in ("one", "folder")]
    assert leaks[0] == leaks[1] and len(leaks[0]) == 1


def _broken(built, tmp_path, how: str) -> Path:
    root = tmp_path / "broken"
    shutil.copytree(built["folder"].parent, root)
    shard = root / "corpus" / "shard-00002.txt"
    if how == "truncated":
        shard.write_bytes(shard.read_bytes()[:-10])
    elif how == "missing":
        shard.unlink()
    else:  # same size, one byte changed: only the sha256 tells
        raw = bytearray(shard.read_bytes())
        raw[5] = ord("X") if raw[5] != ord("X") else ord("Y")
        shard.write_bytes(bytes(raw))
    return root / "corpus"


@pytest.mark.parametrize("how", ["truncated", "missing", "changed"])
def test_a_bad_shard_is_exit_2_naming_it(built, tmp_path, run_cli, how):
    corpus = _broken(built, tmp_path, how)
    code, _, err = run_cli("tok", "train", "--input", corpus, "--out", tmp_path / "tok.json")
    assert code == 2 and "Traceback" not in err
    assert "shard-00002.txt" in err and "--shard-mb" in err
    assert {"truncated": "truncated", "missing": "missing", "changed": "sha256"}[how] in err
    assert not (tmp_path / "tok.json").exists()


def test_a_missing_shard_stops_train_base_and_tokenize(built, tmp_path, run_cli):
    corpus = _broken(built, tmp_path, "missing")
    tok = tmp_path / "tok.json"
    assert run_cli("--quiet", "tok", "train", "--input", built["one"], "--out", tok)[0] == 0
    for args in (
        ("train", "base", "--corpus", corpus, "--tokenizer", tok, "--out-dir", tmp_path / "r"),
        ("data", "tokenize", "--corpus", corpus, "--tokenizer", tok),
        ("data", "eval-starter", "--input", corpus, "--out", tmp_path / "e.jsonl"),
    ):
        code, _, err = run_cli(*args)
        assert code == 2 and "shard-00002.txt" in err and "missing" in err, (args, err)


@pytest.mark.parametrize(
    ("out", "mb", "message"),
    [
        ("x/corpus.txt", "1", "names a file"),
        ("x/corpus", "0", "must be > 0"),
        ("x/corpus", "-3", "must be > 0"),
        ("occupied", "1", "holding other files"),
    ],
)
def test_shard_flag_contradictions_are_exit_2(tmp_path, run_cli, out, mb, message):
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "notes.txt").write_text("keep me\n", encoding="utf-8")
    code, _, err = run_cli(
        "data", "build", "--dataset-pack", PACK, "--out", tmp_path / out, "--shard-mb", mb
    )
    assert code == 2 and message in err and "Fix:" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists() and (tmp_path / "occupied" / "notes.txt").is_file()


def test_shards_are_not_read_back_as_sources_but_a_named_folder_is(built):
    preview = build_corpus(CorpusConfig(input=built["folder"].parent), write=False)
    reasons = {f["path"]: f["reason"] for f in preview.manifest["files"]}
    shard_reasons = [r for p, r in reasons.items() if "shard-" in p]
    assert shard_reasons and all("earlier `data build`" in r for r in shard_reasons)
    named = build_corpus(CorpusConfig(input=built["folder"]), write=False)
    assert named.stats["files_included"] == len(_manifest(built["folder"])["shards"])
