"""Muon for the block matrices, AdamW for the rest: grouping, schedule, training, resume."""

from __future__ import annotations

import pytest
import torch
from tests.training.test_pretrain import base_config

from picochat.errors import ConfigError
from picochat.model.transformer import Transformer
from picochat.training.optim import CombinedOptimizer, muon_parameters
from picochat.training.pretrain import train_base
from picochat.training.schedule import build_optimizer, set_learning_rate
from tiny_models import tiny_model


def small_model(**overrides) -> Transformer:
    """The shared tiny model at this file's shape, in training mode (as built)."""
    return tiny_model(40, n_head=2, n_kv_head=1, n_embd=16, context_size=16, **overrides).train()


@pytest.mark.parametrize("tie", [True, False])
def test_muon_gets_the_block_matrices_and_adamw_the_rest(tie):
    model = small_model(tie_embeddings=tie)
    muon, rest = muon_parameters(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in muon) == sorted(
        f"blocks.{i}.{m}.weight"
        for i in range(2)
        for m in ("attn_qkv", "attn_proj", "mlp_fc", "mlp_proj")
    )
    rest_names = {names[id(p)] for p in rest}
    assert "wte.weight" in rest_names and ("lm_head.weight" in rest_names) is (not tie)
    assert all(p.ndim == 1 for n, p in model.named_parameters() if "norm" in n)
    assert len(muon) + len(rest) == len(list(model.parameters()))


def test_one_schedule_drives_both_optimizers_at_their_own_peaks():
    model = small_model()
    opt = build_optimizer(
        model, learning_rate=1e-3, weight_decay=0.1, device=torch.device("cpu"),
        optimizer="muon", muon_learning_rate=0.02,
    )  # fmt: skip
    assert isinstance(opt, CombinedOptimizer)
    set_learning_rate(opt, 5e-4)  # half the AdamW peak: Muon at half its own peak
    muon, adamw = opt.optimizers
    assert isinstance(muon, torch.optim.Muon) and isinstance(adamw, torch.optim.AdamW)
    assert all(g["lr"] == pytest.approx(0.01) for g in muon.param_groups)
    assert all(g["lr"] == pytest.approx(5e-4) for g in adamw.param_groups)


def test_muon_update_is_orthogonalised():
    """One Muon step moves a matrix by lr * (an approximately orthogonal matrix): its
    singular values are all near 1 (Newton-Schulz gives 0.5-1.5), unlike the gradient's."""
    w = torch.nn.Parameter(torch.zeros(16, 16))
    opt = torch.optim.Muon([w], lr=1.0, weight_decay=0.0, momentum=0.0, nesterov=False)
    u, _ = torch.linalg.qr(torch.randn(16, 4))
    v, _ = torch.linalg.qr(torch.randn(16, 4))
    g = u @ torch.diag(torch.tensor([10.0, 3.0, 1.0, 0.3])) @ v.T  # rank 4, skewed
    w.grad = g
    opt.step()
    s_update = torch.linalg.svdvals(-w.detach())
    assert s_update[:4].min() > 0.5 and s_update[:4].max() < 1.5  # all ~1, from 10 to 0.3


def test_muon_trains_and_resumes_exactly(make_inputs, doc_text, tmp_path):
    paths = make_inputs("".join(doc_text(i) for i in range(10)))
    settings = dict(optimizer="muon", max_steps=20, eval_every=10)
    straight = train_base(base_config(paths, tmp_path / "a", **settings), show_progress=False)
    history = straight.report["history"]
    assert history[-1]["val_loss"] < history[0]["val_loss"] - 0.5
    out = tmp_path / "b"
    train_base(base_config(paths, out, **{**settings, "max_steps": 10}), show_progress=False)
    resumed = train_base(base_config(paths, out, **settings, resume=True), show_progress=False)
    for a, b in zip(history, resumed.report["history"], strict=True):
        assert b["val_loss"] == pytest.approx(a["val_loss"], abs=1e-5)
    # Switching the optimizer on resume is named as a changed setting first; accepting
    # the change still cannot load Muon's state into AdamW: a clear error, not a crash.
    with pytest.raises(ConfigError, match='--optimizer "muon" -> "adamw"'):
        train_base(base_config(paths, out, max_steps=30, resume=True), show_progress=False)
    accepted = base_config(paths, out, max_steps=30, resume=True, accept_changed_config=True)
    with pytest.raises(Exception, match="does not fit this run"):
        train_base(accepted, show_progress=False)


def test_muon_without_block_matrices_is_a_clear_error():
    model = small_model()
    for p in model.parameters():
        p.requires_grad_(False)
    model.wte.weight.requires_grad_(True)
    with pytest.raises(ConfigError, match="no trainable block matrices"):
        build_optimizer(
            model, learning_rate=1e-3, weight_decay=0.0, device=torch.device("cpu"),
            optimizer="muon",
        )  # fmt: skip
