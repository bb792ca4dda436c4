"""`--logit-softcap C`: logits = C * tanh(logits / C), a model-config switch."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from picochat.errors import ConfigError
from picochat.model.checkpoint import load_checkpoint, save_checkpoint
from picochat.model.chunked_loss import linear_cross_entropy, linear_token_nll
from picochat.model.config import resolve_model_config
from picochat.model.transformer import Transformer
from tiny_models import tiny_model

CAP = 3.0


def build(**overrides) -> Transformer:
    """The shared tiny model at this file's shape, in training mode (as built)."""
    return tiny_model(40, context_size=16, **overrides).train()


def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """hidden, weight (logits of a few units: the cap bends them) and targets, some ignored."""
    torch.manual_seed(1)
    targets = torch.randint(0, 40, (50,))
    targets[::7] = -100
    return torch.randn(50, 16) * 3, torch.randn(40, 16), targets


def reference_and_chunked(loss_of):
    """(reference loss, grads) and (chunked loss, grads) of the same hidden/weight/targets."""
    hidden0, weight0, targets = inputs()
    out = []
    for chunked in (False, True):
        hidden, weight = hidden0.clone().requires_grad_(), weight0.clone().requires_grad_()
        loss = loss_of(hidden, weight, targets, chunked)
        loss.backward()
        out.append((loss.detach(), hidden.grad, weight.grad))
    return out


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_chunked_loss_and_its_gradients_go_through_the_cap(reduction):
    def loss_of(hidden, weight, targets, chunked):
        if chunked:
            return linear_cross_entropy(hidden, weight, targets, reduction, softcap=CAP)
        logits = CAP * torch.tanh(hidden @ weight.T / CAP)
        return F.cross_entropy(logits, targets, ignore_index=-100, reduction=reduction)

    (ref, ref_dh, ref_dw), (got, dh, dw) = reference_and_chunked(loss_of)
    assert torch.allclose(got, ref, atol=1e-4)
    assert torch.allclose(dh, ref_dh, atol=1e-5) and torch.allclose(dw, ref_dw, atol=1e-5)
    uncapped = linear_cross_entropy(*inputs(), reduction)
    assert not torch.isclose(uncapped, got, rtol=0.01)  # the cap changes the loss


def test_per_token_nll_and_its_gradients_go_through_the_cap():
    def loss_of(hidden, weight, targets, chunked):
        scale = torch.linspace(0.5, 2.0, len(targets))  # a weighted sum, as DPO's
        if chunked:
            return (linear_token_nll(hidden, weight, targets, softcap=CAP) * scale).sum()
        logits = CAP * torch.tanh(hidden @ weight.T / CAP)
        nll = F.cross_entropy(logits, targets, ignore_index=-100, reduction="none")
        return (nll * scale).sum()

    (ref, ref_dh, ref_dw), (got, dh, dw) = reference_and_chunked(loss_of)
    assert torch.allclose(got, ref, atol=1e-4)
    assert torch.allclose(dh, ref_dh, atol=1e-5) and torch.allclose(dw, ref_dw, atol=1e-5)


def test_model_logits_are_bounded_by_the_cap_and_match_its_loss():
    model = build(logit_softcap=CAP).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(500)  # uncapped logits would be in the hundreds
    idx = torch.randint(0, 40, (2, 16))
    logits, _ = model(idx)
    assert logits.abs().max() <= CAP and logits.abs().max() > CAP * 0.9  # tanh saturates
    _, loss = model(idx[:, :-1], idx[:, 1:])
    expected = F.cross_entropy(model(idx[:, :-1])[0].reshape(-1, 40), idx[:, 1:].reshape(-1))
    assert torch.allclose(loss, expected, atol=1e-4)
    plain = build().eval()
    with torch.no_grad():
        plain.lm_head.weight.mul_(500)
    assert plain(idx)[0].abs().max() > 10 * CAP


def test_softcap_checkpoint_round_trip_and_old_configs_are_uncapped(tmp_path):
    model = build(logit_softcap=CAP).eval()
    save_checkpoint(tmp_path / "c", model, tokenizer_sha256=None)
    loaded = load_checkpoint(tmp_path / "c")
    idx = torch.randint(0, 40, (2, 16))
    assert loaded.config.logit_softcap == CAP and torch.equal(model(idx)[0], loaded(idx)[0])
    save_checkpoint(tmp_path / "old", build().eval(), tokenizer_sha256=None)
    info_path = tmp_path / "old" / "config.json"
    info = json.loads(info_path.read_text())
    del info["model"]["logit_softcap"]  # written before the field existed
    info_path.write_text(json.dumps(info))
    assert load_checkpoint(tmp_path / "old").config.logit_softcap == 0.0


def test_the_flag_reaches_the_config_and_bad_caps_and_llama_export_are_refused():
    shape = SimpleNamespace(preset="smoke", logit_softcap=15.0)
    assert resolve_model_config(shape, vocab_size=40).logit_softcap == 15.0
    with pytest.raises(ConfigError, match="logit_softcap must be >= 0"):
        build(logit_softcap=-1.0)
    from picochat.hf.export import refuse_non_llama

    with pytest.raises(ConfigError, match="--logit-softcap 3") as info:
        refuse_non_llama(build(logit_softcap=CAP).config)
    assert "without --logit-softcap 3" in info.value.fix
