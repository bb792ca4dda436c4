"""`--value-residual`: blocks after the first mix their values with the first block's."""

from __future__ import annotations

import json

import pytest
import torch

from picochat.errors import ConfigError
from picochat.model.checkpoint import load_checkpoint, save_checkpoint
from picochat.model.presets import count_parameters
from picochat.model.transformer import KVCache, Transformer
from tiny_models import tiny_model


def build(**overrides) -> Transformer:
    """The shared tiny model at this file's shape, in training mode (as built)."""
    return tiny_model(40, n_layer=3, context_size=16, **overrides).train()


def first_block_values(model: Transformer, idx: torch.Tensor) -> torch.Tensor:
    """Block 0's values [B, T, KV, D], read from its fused q/k/v projection."""
    c = model.config
    qkv = model.blocks[0].attn_qkv(model.blocks[0].attn_norm(model.wte(idx)))
    return qkv.view(*idx.shape, c.n_head + 2 * c.n_kv_head, c.head_dim)[
        :, :, c.n_head + c.n_kv_head :
    ]


def test_blocks_after_the_first_mix_their_values_with_the_first_blocks():
    model = build(value_residual=True).eval()
    assert model.blocks[0].value_mix is None
    assert [b.value_mix.item() for b in model.blocks[1:]] == [0.5, 0.5]
    plain = build().eval()
    plain.load_state_dict(model.state_dict(), strict=False)  # the same weights, no mixing
    idx = torch.randint(0, 40, (2, 16))
    assert not torch.allclose(model(idx)[0], plain(idx)[0], atol=1e-4)
    with torch.no_grad():
        for block in model.blocks[1:]:
            block.value_mix.fill_(1.0)  # all own values: the plain model
    assert torch.allclose(model(idx)[0], plain(idx)[0], atol=1e-5)
    # At 0, block 1 attends over block 0's values only: its own values do not count.
    cos, sin = model.rope_cos[None, :16, None], model.rope_sin[None, :16, None]
    block, v_first = model.blocks[1], first_block_values(model, idx)
    x = torch.randn(2, 16, 32)
    with torch.no_grad():
        block.value_mix.fill_(0.0)
        out, own = block.attention(block.attn_norm(x), cos, sin, None, None, v_first)
        block.attn_qkv.weight[-2 * 8 :].normal_()  # other own values (2 kv heads x 8)
        out2, own2 = block.attention(block.attn_norm(x), cos, sin, None, None, v_first)
    assert torch.allclose(out, out2) and not torch.allclose(own, own2)


def test_blocks_get_the_first_values_only_under_value_residual(monkeypatch):
    """Without --value-residual every block is called with v_first=None: under --compile
    the blocks then share one graph (a tensor after block 0 made a second one)."""
    received: list[bool] = []
    block_forward = type(build().blocks[0]).forward

    def recording(self, x, cos, sin, cache=None, mask=None, v_first=None):
        received.append(v_first is not None)
        return block_forward(self, x, cos, sin, cache, mask, v_first)

    monkeypatch.setattr(type(build().blocks[0]), "forward", recording)
    idx = torch.randint(0, 40, (2, 16))
    build()(idx)
    assert received == [False, False, False]
    received.clear()
    build(value_residual=True)(idx)
    assert received == [False, True, True]


def test_the_mixing_weights_learn_and_recompute_and_cache_agree():
    model = build(value_residual=True)
    idx = torch.randint(0, 40, (2, 16))
    _, loss = model(idx[:, :-1], idx[:, 1:])
    loss.backward()
    grads = [b.value_mix.grad.clone() for b in model.blocks[1:]]
    assert all(g.abs().item() > 0 for g in grads)
    model.zero_grad()
    model.activation_checkpointing = True
    _, recomputed = model(idx[:, :-1], idx[:, 1:])
    recomputed.backward()
    assert torch.allclose(loss, recomputed)
    assert all(
        torch.allclose(g, b.value_mix.grad) for g, b in zip(grads, model.blocks[1:], strict=True)
    )
    # Prefill then one token at a time: each step's logits equal the full forward's.
    model.eval()
    full, _ = model(idx)
    cache = KVCache(model.config, 2, 16)
    steps = [model(idx[:, :8], cache=cache)[0]]
    steps += [model(idx[:, t : t + 1], cache=cache)[0] for t in range(8, 16)]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_value_residual_checkpoint_round_trip_counts_and_old_configs(tmp_path):
    model = build(value_residual=True).eval()
    with torch.no_grad():
        model.blocks[2].value_mix.fill_(0.8)
    save_checkpoint(tmp_path / "v", model, tokenizer_sha256=None)
    loaded = load_checkpoint(tmp_path / "v")
    idx = torch.randint(0, 40, (2, 16))
    assert loaded.config.value_residual and loaded.blocks[2].value_mix.item() == pytest.approx(0.8)
    assert torch.equal(model(idx)[0], loaded(idx)[0])
    shape = {**model.config.to_dict(), "mlp_hidden": 0}
    assert count_parameters(shape, 40) == model.num_parameters()
    save_checkpoint(tmp_path / "old", build().eval(), tokenizer_sha256=None)
    info_path = tmp_path / "old" / "config.json"
    info = json.loads(info_path.read_text())
    del info["model"]["value_residual"]  # written before the field existed
    info_path.write_text(json.dumps(info))
    assert not load_checkpoint(tmp_path / "old").config.value_residual


def test_llama_export_refuses_value_residual():
    from picochat.hf.export import refuse_non_llama

    with pytest.raises(ConfigError, match="--value-residual") as info:
        refuse_non_llama(build(value_residual=True).config)
    assert "without --value-residual" in info.value.fix
    assert "--value-residual: attention values mixed with the first block's" in str(info.value)
