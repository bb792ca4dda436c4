"""Learning-rate schedule and optimizer groups of the shared loop."""

from __future__ import annotations

import math

import pytest
import torch

from picochat.training.schedule import build_optimizer, learning_rate_at
from tiny_models import tiny_model


def test_warmup_then_cosine_to_the_floor():
    lr = lambda step: learning_rate_at(  # noqa: E731
        step, peak=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.1
    )
    assert lr(0) == pytest.approx(0.1) and lr(9) == pytest.approx(1.0)
    assert lr(10) == pytest.approx(1.0)
    assert lr(60) == pytest.approx(0.1 + 0.5 * (1 + math.cos(math.pi * 0.5)) * 0.9)
    assert lr(110) == pytest.approx(0.1) and lr(500) == pytest.approx(0.1)
    steps = [lr(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(steps, steps[1:], strict=False))


def test_weight_decay_only_on_matrices_not_norms_or_embeddings():
    model = tiny_model(32)  # tied embeddings
    optimizer = build_optimizer(
        model, learning_rate=1e-3, weight_decay=0.1, device=torch.device("cpu")
    )
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    plain_ids = {id(p) for p in plain["params"]}
    assert id(model.wte.weight) in plain_ids  # tied head: the same tensor, not decayed
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.ndim == 1 or p is model.wte.weight for p in plain["params"])
    assert {names[id(p)] for p in decayed["params"]} >= {"blocks.0.attn_proj.weight"}
    assert len(decayed["params"]) + len(plain["params"]) == len(list(model.parameters()))


def test_a_time_budget_drives_the_decay_when_it_runs_out_first():
    settings = dict(peak=1.0, warmup_steps=10, max_steps=100_000, min_lr_ratio=0.1)
    assert learning_rate_at(50, **settings, time_fraction=0.5) == pytest.approx(0.55)
    assert learning_rate_at(50, **settings, time_fraction=1.0) == pytest.approx(0.1)
    # Warmup is counted in steps, whatever the clock says.
    assert learning_rate_at(4, **settings, time_fraction=0.9) == pytest.approx(0.5)
