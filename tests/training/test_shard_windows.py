"""The split of token shards: seeded document holdout, lazy views equal to the in-memory
streams, fixed validation rows, and `train base` on shards (resume, canaries, reports)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from picochat.configs import BaseTrainConfig
from picochat.data import token_shards as fmt
from picochat.data.tokenize_shards import ensure_token_shards
from picochat.training.pretrain import train_base
from picochat.training.shard_windows import (
    fixed_window_count,
    fixed_window_rows,
    holdout_mask,
    split_shards,
)
from picochat.training.windows import RandomWindows, fixed_windows


def test_holdout_rule_is_seeded_close_to_the_fraction_and_leaves_both_sides():
    ids = np.arange(20_000)
    mask = holdout_mask(ids, 0.1, seed=5)
    assert 0.09 < mask.mean() < 0.11
    np.testing.assert_array_equal(mask, holdout_mask(ids, 0.1, seed=5))
    assert (mask != holdout_mask(ids, 0.1, seed=6)).any()
    # The rule looks at each id alone: a document's side does not depend on the others.
    np.testing.assert_array_equal(holdout_mask(ids[5000:], 0.1, seed=5), mask[5000:])
    for fraction in (1e-9, 0.999999):
        small = holdout_mask(np.arange(3), fraction, seed=1)
        assert 0 < small.sum() < 3


@pytest.fixture
def shards(make_inputs, doc_text, tmp_path):
    paths = make_inputs(documents=[doc_text(i) for i in range(30)])
    result = ensure_token_shards(
        paths["corpus"], paths["tokenizer"], paths["manifest"], tmp_path / "cache",
        workers=1, shard_tokens=211, quiet=True,
    )  # fmt: skip
    return result.shards


def materialised(shards, mask):
    docs = shards.documents
    parts = [shards.tokens(int(d[fmt.TOK_START]), int(d[fmt.TOK_END])) for d in docs[mask]]
    return np.concatenate(parts)


def test_document_split_views_equal_the_concatenated_documents(shards):
    extra = np.array([5, 6, 7], dtype=shards.dtype)
    train, val, held = split_shards(shards, "document", 0.3, seed=2, extra_train=extra)
    assert held.any() and (~held).any()
    expected_train = np.concatenate([materialised(shards, ~held), extra])
    np.testing.assert_array_equal(train[:], expected_train)
    np.testing.assert_array_equal(val[:], materialised(shards, held))
    # Fancy indexing (what RandomWindows does) reads the same tokens, across segments.
    positions = np.array([[0, 1, 2], [len(train) - 3, len(train) - 2, len(train) - 1]])
    np.testing.assert_array_equal(train[positions], expected_train[positions])
    a = RandomWindows(train, context_size=16, batch_size=8, seed=4)
    b = RandomWindows(expected_train, context_size=16, batch_size=8, seed=4)
    for _ in range(3):
        for x, y in zip(a.next_batch(), b.next_batch(), strict=True):
            assert (x == y).all()
    with pytest.raises(IndexError):
        train[len(train)]


def test_window_split_is_the_token_tail(shards):
    train, val, held = split_shards(shards, "window", 0.25, seed=0)
    stream = shards.tokens(0, len(shards))
    cut = int(len(shards) * 0.75)
    np.testing.assert_array_equal(train[:], stream[:cut])
    np.testing.assert_array_equal(val[:], stream[cut:])
    assert not held.any()


@pytest.mark.parametrize("length", [1, 16, 17, 100])
def test_fixed_window_rows_equal_fixed_windows(length):
    tokens = np.arange(3, 3 + length, dtype=np.uint16)
    x, y = fixed_windows(tokens, 16)
    count = fixed_window_count(tokens, 16)
    assert count == x.shape[0]
    rows = np.arange(count)[::-1]
    lazy_x, lazy_y = fixed_window_rows(tokens, 16, rows)
    assert (lazy_x == x[rows.copy()]).all() and (lazy_y == y[rows.copy()]).all()


def shard_config(paths, out_dir, **overrides):
    settings = dict(
        corpus=paths["corpus"], tokenizer=paths["tokenizer"], corpus_manifest=paths.get("manifest"),
        out_dir=out_dir, preset="smoke", context_size=32, batch_size=4, max_steps=20,
        eval_every=10, device="cpu", precision="fp32", token_shards="on", seed=3,
    )  # fmt: skip
    settings.update(overrides)
    return BaseTrainConfig(**settings)


def test_train_base_on_shards_resumes_exactly_and_reports_the_split(
    make_inputs, doc_text, tmp_path
):
    paths = make_inputs(documents=[doc_text(i, words=120) for i in range(24)])
    straight = train_base(shard_config(paths, tmp_path / "a", canary_count=2), show_progress=False)
    report = straight.report
    dataset = report["dataset"]
    assert dataset["split_mode"] == "document" and "token shards" in dataset["split_reason"]
    assert dataset["val_documents"] + dataset["train_documents"] == 24
    assert dataset["val_documents"] >= 1
    assert list((paths["corpus"].parent / "token_shards").glob("tokens-*/index.json"))
    mem = report["memorization"]
    assert len(mem["canaries"]) == 2
    # The smoke model's continuations may be shorter than 8 words: then a reason is given.
    assert mem["train_copy_rate"] is not None or mem["train_copy_rate_reason"]

    def stop_at_12(step):
        if step == 12:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "b"
    first = train_base(shard_config(paths, out, canary_count=2), show_progress=False,
                       on_step=stop_at_12)  # fmt: skip
    assert first.stop_reason == "interrupted"
    resumed = train_base(shard_config(paths, out, canary_count=2, resume=True), show_progress=False)
    for a, b in zip(report["history"], resumed.report["history"], strict=True):
        for key in ("train_loss", "val_loss", "val_bpb"):
            assert b[key] == pytest.approx(a[key], abs=1e-5), (a["step"], key)
    assert resumed.report["tokens_seen"] == report["tokens_seen"]


def test_copy_rate_on_shards_matches_the_in_memory_rate(
    make_inputs, doc_text, tmp_path, monkeypatch
):
    from picochat.tokenizer import load_tokenizer
    from picochat.training import copy_scale
    from picochat.training.copy_scale import copy_diagnostics_shards
    from picochat.training.memorization import copy_diagnostics

    documents = [doc_text(i, words=80) for i in range(12)]
    paths = make_inputs(documents=documents)
    shards = ensure_token_shards(paths["corpus"], paths["tokenizer"], paths["manifest"],
                                 tmp_path / "cache", workers=1, quiet=True).shards  # fmt: skip
    train, val, held = split_shards(shards, "document", 0.3, seed=1)
    train_text = "\n".join(d for d, h in zip(documents, held, strict=True) if not h)
    val_text = "\n".join(d for d, h in zip(documents, held, strict=True) if h)
    samples = [documents[0][:200] + " made up words here", documents[int(np.flatnonzero(held)[0])],
               "nothing of this text occurs in the corpus at all , not one eight word run"]  # fmt: skip
    tok = load_tokenizer(paths["tokenizer"])
    expected = copy_diagnostics(samples, train_text, val_text)
    got = copy_diagnostics_shards(samples, train, val, tok, max_scan_tokens=1 << 20)
    for key in ("train_copy_rate", "heldout_overlap", "generated_ngrams", "copied_spans"):
        assert got[key] == expected[key], key
    assert 0 < got["train_copy_rate"] < 1 and got["heldout_overlap"] > 0
    assert got["scan"]["train"]["scanned_tokens"] == len(train)
    # Past the cap, evenly spaced blocks are read (a sample) and the report says so.
    monkeypatch.setattr(copy_scale, "BLOCK_TOKENS", 64)
    sampled = copy_diagnostics_shards(samples, train, val, tok, max_scan_tokens=256)
    assert 128 < sampled["scan"]["train"]["scanned_tokens"] <= 256 < len(train)
    assert "a sample" in json.loads(json.dumps(sampled["scan"]))["method"]


def test_a_small_corpus_keeps_the_in_memory_path_and_its_exact_figures(
    make_inputs, doc_text, tmp_path
):
    from picochat.training.pretrain_shards import shard_corpus_tokens

    paths = make_inputs(documents=[doc_text(i) for i in range(10)])
    runs = {}
    for mode in ("auto", "off"):
        config = shard_config(paths, tmp_path / mode, token_shards=mode, max_steps=6, eval_every=3)
        runs[mode] = train_base(config, show_progress=False).report
    assert runs["auto"]["history"] == [
        {**h, "tokens_per_sec": runs["auto"]["history"][i]["tokens_per_sec"],
         "elapsed_seconds": runs["auto"]["history"][i]["elapsed_seconds"]}
        for i, h in enumerate(runs["off"]["history"])
    ]  # fmt: skip
    assert runs["auto"]["dataset"] == runs["off"]["dataset"]
    assert "token shards" not in runs["auto"]["dataset"]["split_reason"]
    assert not (paths["corpus"].parent / "token_shards").exists()
    # The preflight count: none for the in-memory path, the shard index's for shards.
    args = (paths["corpus"], paths["tokenizer"], paths["manifest"])
    assert shard_corpus_tokens("auto", *args) is None
    on = shard_corpus_tokens("on", *args)
    assert on == runs["off"]["dataset"]["train_tokens"] + runs["off"]["dataset"]["val_tokens"]


def test_train_base_on_shards_without_a_manifest_holds_out_the_token_tail(
    make_inputs, doc_text, tmp_path
):
    paths = make_inputs("".join(doc_text(i) for i in range(12)))
    config = shard_config(paths, tmp_path / "w", corpus_manifest=None, max_steps=4, eval_every=2)
    dataset = train_base(config, show_progress=False).report["dataset"]
    assert dataset["split_mode"] == "window" and dataset["val_documents"] is None
    total = dataset["train_tokens"] + dataset["val_tokens"]
    assert dataset["val_tokens"] == total - int(total * 0.9)
