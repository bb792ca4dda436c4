"""LoRA: frozen base, B A update, merge, adapter files, target names."""

from __future__ import annotations

import json

import pytest
import torch

from picochat.errors import CheckpointError, ConfigError
from picochat.model.checkpoint import save_checkpoint
from picochat.model.lora import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    LoRALinear,
    apply_lora,
    load_adapter,
    lora_layers,
    merge_lora,
    parse_targets,
    save_adapter,
)
from tiny_models import tiny_model


def train_a_little(model: torch.nn.Module, steps: int = 5) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.1)
    x = torch.randint(0, 40, (4, 12), generator=torch.Generator().manual_seed(1))
    for _ in range(steps):
        loss = model(x[:, :-1], x[:, 1:])[1]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def test_targets_parse_and_unknown_names_list_the_valid_ones():
    assert parse_targets("attn_qkv, attn_proj") == ("attn_qkv", "attn_proj")
    assert parse_targets("all") == ("attn_qkv", "attn_proj", "mlp_fc", "mlp_proj")
    with pytest.raises(ConfigError) as error:
        parse_targets("attn_qkv,q_proj")
    text = str(error.value)
    assert "q_proj" in text and all(n in text for n in ("attn_qkv", "mlp_fc", "mlp_proj", "all"))


def test_only_adapters_train_and_base_stays_bit_identical():
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    apply_lora(model, "all", rank=4, alpha=8)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith(("lora_A", "lora_B")) for n in trainable)
    assert len(lora_layers(model)) == 2 * 4
    train_a_little(model)
    after = model.state_dict()
    for key, value in before.items():
        name = key
        for target in ("attn_qkv", "attn_proj", "mlp_fc", "mlp_proj"):
            name = name.replace(f"{target}.weight", f"{target}.base.weight")
        assert torch.equal(after[name], value), key
    # the adapters did move (B starts at zero)
    assert any(layer.lora_B.abs().sum() > 0 for layer in lora_layers(model).values())


def test_fresh_adapter_changes_nothing():
    model = tiny_model()
    x = torch.randint(0, 40, (2, 10))
    reference = model(x)[0]
    apply_lora(model, "attn_qkv", rank=2, alpha=4)
    assert torch.equal(model(x)[0], reference)


def test_merged_weight_is_base_plus_scaled_BA_and_gives_same_logits():
    model = tiny_model()
    apply_lora(model, "attn_qkv,mlp_proj", rank=4, alpha=16)
    train_a_little(model)
    x = torch.randint(0, 40, (2, 10))
    with torch.no_grad():
        unmerged = model(x)[0]
    layers = lora_layers(model)
    expected = {
        name: layer.base.weight + (16 / 4) * (layer.lora_B @ layer.lora_A)
        for name, layer in layers.items()
    }
    merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    for name, weight in expected.items():
        assert torch.allclose(model.get_submodule(name).weight, weight, atol=1e-7), name
    with torch.no_grad():
        merged = model(x)[0]
    assert torch.allclose(merged, unmerged, atol=1e-5)


def test_adapter_round_trip_matches_merged_checkpoint(tmp_path):
    base = tiny_model()
    save_checkpoint(tmp_path / "base", base, tokenizer_sha256=None)
    apply_lora(base, "attn_qkv,attn_proj", rank=4, alpha=8)
    train_a_little(base)
    save_adapter(base, tmp_path / "adapter", base_checkpoint=tmp_path / "base")
    config = json.loads((tmp_path / "adapter" / ADAPTER_CONFIG).read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4 and config["lora_alpha"] == 8
    assert config["target_modules"] == ["attn_qkv", "attn_proj"]
    assert config["bias"] == "none" and config["task_type"] == "CAUSAL_LM"
    assert len(config["base_checkpoint_sha256"]) == 64
    assert (tmp_path / "adapter" / ADAPTER_WEIGHTS).is_file()

    from picochat.model.checkpoint import load_checkpoint

    reloaded = load_checkpoint(tmp_path / "base")
    load_adapter(reloaded, tmp_path / "adapter", base_checkpoint=tmp_path / "base")
    merged = merge_lora(base)
    x = torch.randint(0, 40, (2, 10))
    with torch.no_grad():
        assert torch.allclose(reloaded(x)[0], merged(x)[0], atol=1e-5)


def test_adapter_refuses_another_base(tmp_path):
    model = tiny_model()
    apply_lora(model, "attn_qkv", rank=2, alpha=2)
    save_checkpoint(tmp_path / "base", tiny_model(), tokenizer_sha256=None)
    save_checkpoint(tmp_path / "other", tiny_model(seed=5), tokenizer_sha256=None)
    save_adapter(model, tmp_path / "adapter", base_checkpoint=tmp_path / "base")
    with pytest.raises(CheckpointError, match="sha256"):
        load_adapter(tiny_model(), tmp_path / "adapter", base_checkpoint=tmp_path / "other")
