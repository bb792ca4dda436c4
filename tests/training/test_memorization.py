"""Memorisation diagnostics: copy rate by hand, and a memorising run vs an untrained model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from picochat.configs import BaseTrainConfig
from picochat.tokenizer import load_tokenizer
from picochat.training.memorization import (
    copy_diagnostics,
    make_canaries,
    probe_canaries,
    risk_verdict,
    training_continuations,
)
from picochat.training.pretrain import train_base
from tiny_models import tiny_model

REPO = Path(__file__).resolve().parents[2]


def test_copy_rate_overlap_and_spans_by_hand():
    train = "the quick brown fox jumps over the lazy dog and runs far away"
    val = "a completely different sentence with other words in it for sure"
    samples = [
        "the quick brown fox jumps over the lazy dog xyz",  # 3 eight-grams, 2 copied
        "nothing here matches anything at all in the text really",  # 3, none copied
    ]
    result = copy_diagnostics(samples, train, val)
    assert result["generated_ngrams"] == 6
    assert result["train_copy_rate"] == pytest.approx(2 / 6)
    assert result["heldout_overlap"] == 0.0
    assert result["copied_spans"] == [
        {"text": "the quick brown fox jumps over the lazy dog", "words": 9}
    ]
    verdict, _ = risk_verdict(result, [])
    assert verdict == "medium"


def test_samples_too_short_for_an_ngram_are_null_with_a_reason():
    result = copy_diagnostics(["too short"], "some train text", "some val text")
    assert (
        result["train_copy_rate"] is None
        and "fewer than 8 words" in result["train_copy_rate_reason"]
    )


def test_a_memorising_run_copies_and_hits_canaries_an_untrained_model_does_not(
    make_inputs, tmp_path
):
    text = (REPO / "examples" / "tiny_corpus.txt").read_text(encoding="utf-8")[:700]
    paths = make_inputs(text)
    shape = dict(n_layer=2, n_head=4, n_embd=128, context_size=128)
    config = BaseTrainConfig(
        corpus=paths["corpus"],
        tokenizer=paths["tokenizer"],
        out_dir=tmp_path / "run",
        **shape,
        max_steps=200,
        batch_size=16,
        learning_rate=3e-3,
        warmup_steps=10,
        min_lr_ratio=1.0,
        weight_decay=0.0,
        eval_every=100,
        val_fraction=0.2,
        canary_count=2,
        device="cpu",
        precision="fp32",
        seed=5,
    )
    report = train_base(config, show_progress=False).report
    memorised = report["memorization"]
    # Greedy reproduction of a 10-character random secret seen once per pass is strict;
    # the exposure (the real secret beats all 1,023 random ones) is the graded signal.
    assert any(c["hit"] for c in memorised["canaries"])
    for canary in memorised["canaries"]:
        assert canary["exposure_bits"] == pytest.approx(
            math.log2(canary["candidates"]) - math.log2(canary["rank"])
        )
        assert canary["rank"] == 1
    assert memorised["train_copy_rate"] >= 0.5
    assert memorised["train_copy_rate"] > memorised["heldout_overlap"]
    assert memorised["copied_spans"] and memorised["risk"] == "high"
    probe_file = (tmp_path / "run" / "canary_probe.txt").read_text()
    assert probe_file.count("hit: True") == sum(c["hit"] for c in memorised["canaries"])

    # The same probes on an untrained model of the same shape: nothing is reproduced.
    tok = load_tokenizer(paths["tokenizer"])
    untrained = tiny_model(tok.vocab_size, n_kv_head=4, **shape)
    canaries = make_canaries(2, text, tok, seed=5)
    assert [c.text for c in canaries] == [c["text"] for c in memorised["canaries"]]
    probes = probe_canaries(untrained, tok, canaries, device=untrained.wte.weight.device, seed=5)
    assert not any(p["hit"] for p in probes)
    assert all(p["rank"] > 1 for p in probes)
    train_ids = np.asarray([tok.bos_id, *tok.encode(text)])
    continuations = training_continuations(
        untrained, tok, train_ids, count=8, prompt_tokens=32, max_new_tokens=96, seed=5
    )
    copy = copy_diagnostics(continuations, text, "")
    assert copy["copied_spans"] == []
    assert copy["train_copy_rate"] in (None, 0.0)
