"""Learning-rate schedule and optimizer groups of the shared loop."""

from __future__ import annotations

import json
import math

import pytest
import torch

from picochat.training.schedule import build_optimizer, learning_rate_at, set_learning_rate
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


def test_wsd_holds_the_peak_then_decays_linearly_to_the_floor():
    settings = dict(peak=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.0)
    lr = lambda step, **kw: learning_rate_at(  # noqa: E731
        step, **settings, schedule="wsd", warmdown_fraction=0.4, **kw
    )
    assert lr(0) == pytest.approx(0.1) and lr(9) == pytest.approx(1.0)
    # Stable until 60% of the 100 steps after warmup (step 70), then a straight line.
    assert all(lr(s) == pytest.approx(1.0) for s in range(10, 71))
    assert lr(80) == pytest.approx(0.75) and lr(90) == pytest.approx(0.5)
    assert lr(110) == 0.0 and lr(500) == 0.0
    # The time budget drives the warmdown as it drives the cosine decay.
    assert lr(20, time_fraction=0.8) == pytest.approx(0.5)
    floored = learning_rate_at(90, **{**settings, "min_lr_ratio": 0.1}, schedule="wsd")
    assert floored == pytest.approx(0.1 + 0.5 * 0.9)
    # The default is still the cosine (the pinned figures of `make demo` use it).
    assert learning_rate_at(60, **settings) == pytest.approx(0.5)


def test_the_lr_schedule_flag_reaches_the_training_loop(make_inputs, doc_text, tmp_path):
    """--lr-schedule wsd (with --warmdown-fraction) sets the learning rate of every step."""
    from tests.training.test_pretrain import base_config

    from picochat.training.pretrain import train_base

    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    settings = dict(max_steps=12, eval_every=12, warmup_steps=2, min_lr_ratio=0.0)
    out = tmp_path / "wsd"
    train_base(
        base_config(paths, out, lr_schedule="wsd", warmdown_fraction=0.5, **settings),
        show_progress=False,
    )
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = {r["step"]: r["lr"] for r in rows if r["kind"] == "train"}
    peak = 3e-3  # train base's default learning rate
    expected = {
        s: learning_rate_at(
            s - 1, peak=peak, warmup_steps=2, max_steps=12, min_lr_ratio=0.0,
            schedule="wsd", warmdown_fraction=0.5,
        )
        for s in logged
    }  # fmt: skip
    assert logged == pytest.approx(expected)
    assert logged[3] == logged[7] == pytest.approx(peak)  # stable, unlike a cosine
    assert logged[10] == pytest.approx(peak * 3 / 5)


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_the_embedding_table_gets_its_own_peak_learning_rate(optimizer):
    model = tiny_model(32)  # tied: the head is the same table
    opt = build_optimizer(
        model, learning_rate=1e-3, weight_decay=0.1, device=torch.device("cpu"),
        optimizer=optimizer, embedding_learning_rate=0.05,
    )  # fmt: skip
    tables = [g for g in opt.param_groups if any(p is model.wte.weight for p in g["params"])]
    assert len(tables) == 1 and tables[0]["params"] == [model.wte.weight]
    assert tables[0]["weight_decay"] == 0.0 and tables[0]["lr"] == pytest.approx(0.05)
    set_learning_rate(opt, 5e-4)  # half the peak: the table at half its own peak
    assert tables[0]["lr"] == pytest.approx(0.025)
    others = [g for g in opt.param_groups if g is not tables[0] and "lr_scale" not in g]
    assert others and all(g["lr"] == pytest.approx(5e-4) for g in others)
    # Without the setting the table shares the no-decay group (the default run's groups).
    plain = build_optimizer(model, learning_rate=1e-3, weight_decay=0.1, device=torch.device("cpu"))
    assert len(plain.param_groups) == 2


def test_the_embedding_learning_rate_flag_reaches_the_optimizer(
    make_inputs, doc_text, tmp_path, monkeypatch
):
    from tests.training.test_pretrain import base_config

    import picochat.training.loop as loop
    from picochat.training.pretrain import train_base

    built = {}

    def spy(model, **kwargs):
        built.update(kwargs, table=model.wte.weight)
        return build_optimizer(model, **kwargs)

    monkeypatch.setattr(loop, "build_optimizer", spy)
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    config = base_config(paths, tmp_path / "e", embedding_learning_rate=0.05, max_steps=2)
    train_base(config, show_progress=False)
    assert built["embedding_learning_rate"] == 0.05
