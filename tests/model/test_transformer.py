"""The transformer: shapes, presets, causality, GQA, the chunked loss, the KV cache."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from picochat.configs import ModelShapeConfig
from picochat.errors import ConfigError
from picochat.model import chunked_loss
from picochat.model.config import PRESETS, ModelConfig, resolve_model_config, swiglu_hidden
from picochat.model.transformer import KVCache, Transformer, attention
from tiny_models import tiny_model


def expected_parameters(c: ModelConfig) -> int:
    hd = c.head_dim
    per_layer = (
        c.n_embd * (c.n_head + 2 * c.n_kv_head) * hd  # attn_qkv
        + c.n_head * hd * c.n_embd  # attn_proj
        + 3 * c.n_embd * c.mlp_hidden  # mlp_fc (gate, up) + mlp_proj
        + 2 * c.n_embd  # two RMSNorm gains
    )
    heads = 1 if c.tie_embeddings else 2
    return heads * c.vocab_size * c.n_embd + c.n_layer * per_layer + c.n_embd


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_parameter_counts(name):
    config = resolve_model_config(ModelShapeConfig(preset=name), vocab_size=512)
    with torch.device("meta"):  # no memory for the 76M preset
        model = Transformer(config)
    assert model.num_parameters() == expected_parameters(config)
    assert config.mlp_hidden % 64 == 0 and config.mlp_hidden >= 8 * config.n_embd / 3
    qkv = model.blocks[0].attn_qkv.weight
    assert tuple(qkv.shape) == (
        (config.n_head + 2 * config.n_kv_head) * config.head_dim,
        config.n_embd,
    )


def test_preset_sizes_are_as_advertised():
    sizes = {}
    for name in PRESETS:
        with torch.device("meta"):
            config = resolve_model_config(ModelShapeConfig(preset=name), vocab_size=512)
            sizes[name] = Transformer(config).num_parameters()
    assert 40_000 < sizes["smoke"] < 60_000
    assert 0.8e6 < sizes["tiny"] < 1.2e6
    assert 9e6 < sizes["small"] < 12e6
    assert 24e6 < sizes["medium"] < 30e6
    assert 70e6 < sizes["large"] < 110e6


def test_resolver_preset_then_overrides():
    shape = ModelShapeConfig(preset="tiny", n_layer=3, n_head=8, context_size=64)
    config = resolve_model_config(shape, vocab_size=100)
    assert (config.n_layer, config.n_head, config.n_kv_head) == (3, 8, 8)
    assert config.n_embd == PRESETS["tiny"]["n_embd"] and config.context_size == 64
    assert config.mlp_hidden == swiglu_hidden(config.n_embd)
    assert (
        resolve_model_config(ModelShapeConfig(), vocab_size=100).n_embd == PRESETS["tiny"]["n_embd"]
    )
    untied = resolve_model_config(ModelShapeConfig(preset="smoke", tie_embeddings=False), 100)
    assert untied.tie_embeddings is False


@pytest.mark.parametrize(
    "shape, words",
    [
        (ModelShapeConfig(preset="huge"), "Unknown model preset"),
        (ModelShapeConfig(n_embd=100, n_head=3), "divisible by n_head"),
        (ModelShapeConfig(n_head=4, n_kv_head=3), "divisible by n_kv_head"),
        (ModelShapeConfig(n_embd=36, n_head=4), "must be even"),
        (ModelShapeConfig(n_layer=0), "n_layer must be >= 1"),
    ],
)
def test_resolver_rejects_bad_shapes_with_a_fix(shape, words):
    with pytest.raises(ConfigError, match=words) as info:
        resolve_model_config(shape, vocab_size=100)
    assert info.value.fix


def test_forward_shapes_and_no_biases():
    model = tiny_model()
    idx = torch.randint(0, 61, (3, 10))
    logits, loss = model(idx)
    assert logits.shape == (3, 10, 61) and loss is None
    assert not any(name.endswith("bias") for name, _ in model.named_parameters())
    names = {name.split(".")[-1] for name, _ in model.named_modules()}
    assert {"attn_qkv", "attn_proj", "mlp_fc", "mlp_proj"} <= names


def test_tied_embeddings_share_one_tensor():
    tied, untied = tiny_model(tie_embeddings=True), tiny_model(tie_embeddings=False)
    assert tied.lm_head.weight is tied.wte.weight
    assert untied.num_parameters() - tied.num_parameters() == 61 * 32


def test_init_scales_residual_projections():
    model = tiny_model(n_layer=8, n_embd=128, mlp_hidden=512)
    assert abs(model.blocks[0].attn_qkv.weight.std().item() - 0.02) < 0.002
    assert abs(model.blocks[0].mlp_proj.weight.std().item() - 0.02 / 4) < 0.0005
    assert torch.all(model.norm_f.weight == 1)


def test_causal_future_tokens_do_not_change_past_logits():
    model = tiny_model()
    idx = torch.randint(0, 61, (2, 20))
    changed = idx.clone()
    changed[:, 12:] = torch.randint(0, 61, (2, 8))
    a, _ = model(idx)
    b, _ = model(changed)
    assert torch.allclose(a[:, :12], b[:, :12], atol=1e-6)
    assert not torch.allclose(a[:, 12:], b[:, 12:], atol=1e-3)


def test_grouped_query_attention_equals_attention_with_repeated_kv_heads():
    gqa = tiny_model(n_head=4, n_kv_head=2)
    mha = tiny_model(n_head=4, n_kv_head=4)
    state = gqa.state_dict()
    hd, H, KV = 8, 4, 2
    for i in range(2):
        w = state[f"blocks.{i}.attn_qkv.weight"].view(H + 2 * KV, hd, 32)
        q, k, v = w[:H], w[H : H + KV], w[H + KV :]
        # query head h reads kv head h // (H / KV)
        k, v = k.repeat_interleave(H // KV, 0), v.repeat_interleave(H // KV, 0)
        state[f"blocks.{i}.attn_qkv.weight"] = torch.cat([q, k, v]).reshape(-1, 32)
    mha.load_state_dict(state)
    idx = torch.randint(0, 61, (2, 16))
    assert torch.allclose(gqa(idx)[0], mha(idx)[0], atol=1e-5)
    assert gqa.num_parameters() < mha.num_parameters()


@pytest.mark.parametrize("tie", [True, False])
def test_chunked_loss_equals_cross_entropy_on_full_logits(monkeypatch, tie):
    monkeypatch.setattr(
        chunked_loss, "_LOSS_CHUNK_ELEMENTS", 61 * 7
    )  # 7 rows per chunk: many chunks
    model = tiny_model(tie_embeddings=tie).train()
    idx = torch.randint(0, 61, (3, 20))
    targets = torch.randint(0, 61, (3, 20))
    targets[0, :9] = chunked_loss.IGNORE_INDEX
    targets[2, 15:] = chunked_loss.IGNORE_INDEX

    logits, _ = model(idx)
    reference = F.cross_entropy(logits.view(-1, 61), targets.view(-1), ignore_index=-100)
    reference.backward()
    ref_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()

    logits_out, loss = model(idx, targets)
    assert logits_out is None  # the loss path never builds the logits
    loss.backward()
    assert abs(loss.item() - reference.item()) < 1e-6
    for name, p in model.named_parameters():
        assert torch.allclose(p.grad, ref_grads[name], atol=1e-6), name

    with torch.no_grad():
        _, total = model(idx, targets, loss_reduction="sum")
        _, per_token = model(idx, targets, loss_reduction="none")
    summed = F.cross_entropy(logits.view(-1, 61), targets.view(-1), reduction="sum")
    assert abs(total.item() - summed.item()) < 1e-4
    assert per_token.shape == (3, 20) and torch.all(per_token[0, :9] == 0)
    assert abs(per_token.sum().item() - summed.item()) < 1e-4
    _, differentiable = model(idx, targets, loss_reduction="none")  # grad mode: via logits
    assert differentiable.requires_grad
    assert torch.allclose(differentiable, per_token, atol=1e-6)


def test_loss_is_zero_not_nan_when_every_target_is_ignored():
    model = tiny_model().train()
    idx = torch.randint(0, 61, (2, 8))
    _, loss = model(idx, torch.full((2, 8), chunked_loss.IGNORE_INDEX))
    loss.backward()
    assert loss.item() == 0.0
    assert all(torch.all(p.grad == 0) for p in model.parameters())


def test_bf16_autocast_loss_is_close_to_fp32():
    model = tiny_model().train()
    idx, targets = torch.randint(0, 61, (2, 16)), torch.randint(0, 61, (2, 16))
    _, fp32 = model(idx, targets)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, bf16 = model(idx, targets)
    bf16.backward()
    assert bf16.dtype == torch.float32
    assert abs(bf16.item() - fp32.item()) < 0.05
    assert model.wte.weight.grad.dtype == torch.float32


@pytest.mark.parametrize("n_kv_head", [4, 2])
def test_cached_decode_equals_full_forward(n_kv_head):
    model = tiny_model(n_kv_head=n_kv_head)
    idx = torch.randint(0, 61, (2, 24))
    full, _ = model(idx)
    cache = KVCache(model.config, 2, 24)
    pointer = cache.keys[0].data_ptr()
    prefill, _ = model(idx[:, :10], cache=cache)
    steps = [model(idx[:, t : t + 1], cache=cache)[0] for t in range(10, 24)]
    cached = torch.cat([prefill, *steps], dim=1)
    assert torch.allclose(cached, full, atol=1e-5)
    assert cache.length == 24 and cache.keys[0].data_ptr() == pointer  # written in place


def test_left_padded_batch_matches_each_prompt_alone():
    model = tiny_model(n_kv_head=2)
    short, long = torch.randint(0, 61, (1, 5)), torch.randint(0, 61, (1, 9))
    batch = torch.cat([torch.cat([torch.full((1, 4), 2), short], 1), long])  # pad id 2
    cache = KVCache(model.config, 2, 12, pad_lengths=[4, 0])
    logits, _ = model(batch, cache=cache)
    nxt = torch.randint(0, 61, (2, 1))
    step, _ = model(nxt, cache=cache)
    alone_short, _ = model(torch.cat([short, nxt[:1]], 1))
    alone_long, _ = model(torch.cat([long, nxt[1:]], 1))
    assert torch.allclose(logits[0, 4:], alone_short[0, :5], atol=1e-5)
    assert torch.allclose(step[0, 0], alone_short[0, 5], atol=1e-5)
    assert torch.allclose(logits[1], alone_long[0, :9], atol=1e-5)
    assert torch.allclose(step[1, 0], alone_long[0, 9], atol=1e-5)
    assert torch.isfinite(logits).all()  # padding queries never see an empty softmax


def test_cache_refuses_to_overflow():
    model = tiny_model()
    cache = KVCache(model.config, 1, 4)
    model(torch.randint(0, 61, (1, 4)), cache=cache)
    with pytest.raises(ValueError, match="KV cache full"):
        model(torch.randint(0, 61, (1, 1)), cache=cache)


@pytest.mark.parametrize("case", ["causal", "mask", "grouped_causal", "none"])
def test_matmul_attention_equals_sdpa(case):
    """The CPU batched-matmul path computes what SDPA computes (float64, so the
    comparison is exact to rounding; fp32 causal attention goes to SDPA instead)."""
    gen = torch.Generator().manual_seed(0)
    B, H, T, D = 2, 4, 7, 8
    KV = 2 if case == "grouped_causal" else H
    q = torch.randn(B, H, T, D, generator=gen, dtype=torch.float64)
    k = torch.randn(B, KV, T, D, generator=gen, dtype=torch.float64)
    v = torch.randn(B, KV, T, D, generator=gen, dtype=torch.float64)
    mask = torch.rand(B, 1, T, T, generator=gen) > 0.3 if case == "mask" else None
    if mask is not None:
        mask[..., 0] = True  # every query sees at least one key
    causal = case.endswith("causal")
    got = attention(q, k, v, mask, causal)
    expected = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=KV != H
    )
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=1e-12)
