"""`--mlp relu2`: the relu(x)^2 MLP of the speedrun GPTs, a model-config switch."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from picochat.errors import ConfigError
from picochat.model.checkpoint import load_checkpoint, save_checkpoint
from picochat.model.presets import count_parameters
from picochat.model.size_check import parameter_count
from picochat.model.transformer import Transformer
from tiny_models import tiny_model


def build(**overrides) -> Transformer:
    """The shared tiny model at this file's shape, in training mode (as built)."""
    return tiny_model(40, context_size=16, **overrides).train()


def test_relu2_block_computes_relu_squared_with_a_4x_hidden_width():
    model = build(mlp="relu2")
    block = model.blocks[0]
    assert model.config.mlp_hidden == 128
    assert block.mlp_fc.weight.shape == (128, 32) and block.mlp_proj.weight.shape == (32, 128)
    x = torch.randn(2, 5, 32)
    expected = F.relu(x @ block.mlp_fc.weight.T).pow(2) @ block.mlp_proj.weight.T
    assert torch.allclose(block.mlp(x), expected, atol=1e-5)
    # The default is still SwiGLU: gate and up fused, silu(gate) * up.
    swiglu = build().blocks[0]
    gate, up = (x @ swiglu.mlp_fc.weight.T).chunk(2, dim=-1)
    assert torch.allclose(swiglu.mlp(x), (F.silu(gate) * up) @ swiglu.mlp_proj.weight.T, atol=1e-5)


@pytest.mark.parametrize("mlp", ["swiglu", "relu2"])
def test_closed_form_parameter_counts_follow_the_mlp_kind(mlp):
    model = build(mlp=mlp, qk_norm=True)
    shape = {**model.config.to_dict(), "mlp_hidden": 0}
    assert count_parameters(shape, 40) == model.num_parameters()
    assert parameter_count(model.config) == model.num_parameters() - 2 * 2 * 8  # no qk gains


def test_relu2_checkpoint_round_trip_and_old_configs_are_swiglu(tmp_path):
    model = build(mlp="relu2").eval()
    save_checkpoint(tmp_path / "r", model, tokenizer_sha256=None)
    loaded = load_checkpoint(tmp_path / "r")
    idx = torch.randint(0, 40, (2, 16))
    assert loaded.config.mlp == "relu2" and torch.equal(model(idx)[0], loaded(idx)[0])
    plain = build().eval()
    save_checkpoint(tmp_path / "old", plain, tokenizer_sha256=None)
    info_path = tmp_path / "old" / "config.json"
    info = json.loads(info_path.read_text())
    del info["model"]["mlp"]  # written before the field existed
    info_path.write_text(json.dumps(info))
    assert load_checkpoint(tmp_path / "old").config.mlp == "swiglu"


def test_unknown_mlp_kind_and_llama_export_are_refused():
    with pytest.raises(ConfigError, match="mlp must be one of"):
        build(mlp="gelu")
    from picochat.hf.export import refuse_non_llama

    with pytest.raises(ConfigError, match="--mlp relu2") as info:
        refuse_non_llama(build(mlp="relu2").config)
    assert "without --mlp relu2" in info.value.fix
    refuse_non_llama(build().config)  # a Llama-shaped model passes
