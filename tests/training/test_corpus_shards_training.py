"""A sharded corpus (`data build --shard-mb`) trains exactly like the one-file corpus of the
same text: the same tokenizer from `tok train`, the same losses from `train base`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picochat.configs.data import CorpusConfig
from picochat.data.corpus import build_corpus

PACK = Path(__file__).resolve().parents[2] / "examples" / "tiny_dataset_pack.json"


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sharded_training")
    paths = {"one": root / "one" / "corpus.txt", "shards": root / "big" / "corpus"}
    build_corpus(CorpusConfig(dataset_pack=PACK, out=paths["one"]))
    build_corpus(CorpusConfig(dataset_pack=PACK, out=paths["shards"], shard_mb=0.008))
    assert len(list(paths["shards"].iterdir())) >= 3
    return paths


def test_tok_train_on_shards_writes_the_same_tokenizer(corpora, run_cli, tmp_path):
    written = []
    for name, corpus in corpora.items():
        out = tmp_path / f"{name}.json"
        args = ("--quiet", "tok", "train", "--input", corpus, "--out", out, "--type", "bpe")
        assert run_cli(*args, "--vocab-size", "300")[0] == 0
        written.append(out.read_bytes())
    assert written[0] == written[1]
    # a corpus larger than --max-train-chars is sampled through the same reader
    sampled = []
    for name, corpus in corpora.items():
        out = tmp_path / f"{name}-sampled.json"
        args = ("--quiet", "tok", "train", "--input", corpus, "--out", out, "--type", "bpe")
        assert run_cli(*args, "--vocab-size", "300", "--max-train-chars", "9000")[0] == 0
        sampled.append(json.loads(out.read_text())["model"]["picochat"]["training"])
    assert sampled[0] == sampled[1] and sampled[0]["sample"]["whole_corpus"] is False


@pytest.mark.parametrize("token_shards", ["off", "on"])
def test_train_base_on_shards_gives_the_same_losses(corpora, run_cli, tmp_path, token_shards):
    tok = tmp_path / "tok.json"
    assert run_cli("--quiet", "tok", "train", "--input", corpora["one"], "--out", tok)[0] == 0
    histories = []
    for name, corpus in corpora.items():
        out_dir = tmp_path / name
        code, _, err = run_cli(
            "--quiet", "train", "base", "--corpus", corpus,
            "--corpus-manifest", corpus.parent / "corpus_manifest.json", "--tokenizer", tok,
            "--out-dir", out_dir, "--preset", "smoke", "--context-size", "32",
            "--batch-size", "4", "--max-steps", "3", "--eval-every", "3", "--device", "cpu",
            "--token-shards", token_shards,
        )  # fmt: skip
        assert code == 0, err
        report = json.loads((out_dir / "train_report.json").read_text())
        assert report["dataset"]["split_mode"] == "document"
        histories.append(
            [(h["step"], h["train_loss"], h["val_loss"]) for h in report["history"]]
            + [report["dataset"]["train_tokens"], report["dataset"]["val_tokens"]]
        )
    assert histories[0] == histories[1] and len(histories[0]) >= 4


def test_train_base_reads_a_shared_token_cache(corpora, run_cli, tmp_path):
    """The one-file corpus tokenized into a cache folder; `train base --token-cache` on the
    shard folder of the same text reuses those shards (keyed by content)."""
    tok, cache = tmp_path / "tok.json", tmp_path / "cache"
    assert run_cli("--quiet", "tok", "train", "--input", corpora["one"], "--out", tok)[0] == 0
    manifests = {name: corpus.parent / "corpus_manifest.json" for name, corpus in corpora.items()}
    code, out, err = run_cli("data", "tokenize", "--corpus", corpora["one"], "--tokenizer", tok,
                             "--corpus-manifest", manifests["one"], "--cache-dir", cache)  # fmt: skip
    assert code == 0 and "tokenized in" in out, err
    (folder,) = cache.glob("tokens-*")
    written = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    beside = corpora["shards"].parent / "token_shards"  # other tests of the module write here
    before = sorted(beside.glob("tokens-*"))
    out_dir = tmp_path / "run"
    code, _, err = run_cli(
        "--quiet", "train", "base", "--corpus", corpora["shards"],
        "--corpus-manifest", manifests["shards"], "--tokenizer", tok, "--token-cache", cache,
        "--out-dir", out_dir, "--preset", "smoke", "--context-size", "32", "--batch-size", "4",
        "--max-steps", "1", "--eval-every", "1", "--device", "cpu", "--token-shards", "on",
    )  # fmt: skip
    assert code == 0, err
    reason = json.loads((out_dir / "train_report.json").read_text())["dataset"]["split_reason"]
    assert f"token shards in {folder} (reused)" in reason
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == written
    assert sorted(beside.glob("tokens-*")) == before  # nothing tokenized beside the corpus
