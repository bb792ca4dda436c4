"""Validation bits per byte, recomputed by hand from the saved checkpoint."""

from __future__ import annotations

import math

import pytest
import torch

from picochat.configs import BaseTrainConfig
from picochat.model.checkpoint import load_checkpoint
from picochat.tokenizer import load_tokenizer
from picochat.training.pretrain import train_base


def test_reported_val_bpb_equals_a_hand_computation(make_inputs, doc_text, tmp_path):
    text = "".join(doc_text(i) for i in range(8))  # has café/naïve: bytes != characters
    paths = make_inputs(text)
    context = 32
    config = BaseTrainConfig(
        corpus=paths["corpus"],
        tokenizer=paths["tokenizer"],
        out_dir=tmp_path / "run",
        preset="smoke",
        context_size=context,
        max_steps=6,
        eval_every=3,
        eval_batches=0,  # the whole validation text
        batch_size=4,
        split_mode="window",
        val_fraction=0.2,
        device="cpu",
        precision="fp32",
    )
    final = train_base(config, show_progress=False).report["final"]

    tok = load_tokenizer(paths["tokenizer"])
    model = load_checkpoint(tmp_path / "run" / "checkpoint")  # weights of the final eval
    val_text = text[int(len(text) * 0.8) :]
    ids = [tok.bos_id, *tok.encode(val_text)]
    nats = 0.0
    with torch.no_grad():
        for start in range(0, len(ids) - 1, context):
            window = ids[start : start + context + 1]
            logits, _ = model(torch.tensor([window[:-1]]))
            logp = torch.log_softmax(logits[0].double(), dim=-1)
            nats -= sum(logp[i, window[i + 1]].item() for i in range(len(window) - 1))
    n_bytes = len(val_text.encode("utf-8"))
    assert n_bytes > len(val_text)
    assert final["val_bpb"] == pytest.approx(nats / (math.log(2) * n_bytes), rel=1e-5)
    assert final["val_loss"] == pytest.approx(nats / (len(ids) - 1), rel=1e-5)
