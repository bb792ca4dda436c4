"""QK-norm (a config switch) and activation checkpointing (a run switch)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from picochat.errors import ConfigError
from picochat.model.checkpoint import load_checkpoint, save_checkpoint
from picochat.model.transformer import Transformer
from tiny_models import tiny_model


def build(**overrides) -> Transformer:
    """The shared tiny model at this file's shape, in training mode (as built)."""
    return tiny_model(40, n_layer=3, context_size=16, **overrides).train()


def test_qk_norm_normalises_each_head_of_q_and_k():
    model = build(qk_norm=True).eval()
    block = model.blocks[0]
    seen = {}
    block.q_norm.register_forward_hook(lambda m, i, o: seen.setdefault("q", o))
    block.k_norm.register_forward_hook(lambda m, i, o: seen.setdefault("k", o))
    with torch.no_grad():
        block.q_norm.weight.fill_(1.0)
        model(torch.randint(0, 40, (2, 8)))
    q, k = seen["q"], seen["k"]
    assert q.shape == (2, 8, 4, 8) and k.shape == (2, 8, 2, 8)  # [B, T, heads, head_dim]
    assert torch.allclose(q.pow(2).mean(-1), torch.ones(2, 8, 4), atol=5e-3)  # eps 1e-5
    # The switch changes the function (and adds 2 * head_dim gains per block).
    plain = build()
    assert build(qk_norm=True).num_parameters() == plain.num_parameters() + 3 * 2 * 8


def test_qk_norm_checkpoint_round_trip_and_old_configs_still_load(tmp_path):
    model = build(qk_norm=True).eval()
    save_checkpoint(tmp_path / "qk", model, tokenizer_sha256=None)
    loaded = load_checkpoint(tmp_path / "qk")
    idx = torch.randint(0, 40, (2, 16))
    assert loaded.config.qk_norm and torch.equal(model(idx)[0], loaded(idx)[0])
    # A checkpoint written before the field existed: no "qk_norm" key -> off.
    plain = build().eval()
    save_checkpoint(tmp_path / "old", plain, tokenizer_sha256=None)
    info_path = tmp_path / "old" / "config.json"
    info = json.loads(info_path.read_text())
    del info["model"]["qk_norm"]
    info_path.write_text(json.dumps(info))
    old = load_checkpoint(tmp_path / "old")
    assert old.config.qk_norm is False and torch.equal(plain(idx)[0], old(idx)[0])


def test_export_refuses_a_qk_norm_model():
    pytest.importorskip("transformers")
    from picochat.hf.export import llama_config

    with pytest.raises(ConfigError, match="qk-norm") as info:
        llama_config(build(qk_norm=True).config, {})
    assert "without --qk-norm" in info.value.fix


@pytest.mark.parametrize("qk_norm", [False, True])
def test_activation_checkpointing_gives_the_same_loss_and_gradients(qk_norm):
    idx, targets = torch.randint(0, 40, (3, 16)), torch.randint(0, 40, (3, 16))
    results = []
    for recompute in (False, True):
        model = build(qk_norm=qk_norm)
        model.activation_checkpointing = recompute
        saved: list[int] = []

        def pack(t: torch.Tensor, saved: list[int] = saved) -> torch.Tensor:
            saved.append(t.numel())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            _, loss = model(idx, targets)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        results.append((loss.detach(), grads, sum(saved)))
    (loss_a, grads_a, saved_a), (loss_b, grads_b, saved_b) = results
    assert torch.equal(loss_a, loss_b)
    for name, grad in grads_a.items():
        torch.testing.assert_close(grads_b[name], grad, rtol=0, atol=1e-6, msg=name)
    assert saved_b < saved_a / 2  # only each block's input is kept, not its internals


def test_activation_checkpointing_is_off_for_inference():
    model = build().eval()
    model.activation_checkpointing = True
    idx = torch.randint(0, 40, (2, 8))
    with torch.no_grad():
        logits, _ = model(idx)
    model.activation_checkpointing = False
    with torch.no_grad():
        assert torch.equal(model(idx)[0], logits)
    assert F.softmax(logits, -1).shape == (2, 8, 40)
