"""The one dial (--depth), the presets table and the learning-rate rule."""

from __future__ import annotations

import pytest
import torch

from picochat.configs import ModelShapeConfig
from picochat.errors import ConfigError
from picochat.model.config import PRESETS, resolve_model_config
from picochat.model.depth import depth_shape, resolve_learning_rate, width_learning_rate
from picochat.model.presets import count_parameters, preset_rows, token_budget_note
from picochat.model.transformer import Transformer


@pytest.mark.parametrize("name", list(PRESETS))
def test_closed_form_parameter_count_matches_the_model(name):
    for qk_norm in (False, True):
        config = resolve_model_config(ModelShapeConfig(preset=name, qk_norm=qk_norm), 1000)
        with torch.device("meta"):
            model = Transformer(config)
        assert count_parameters(config.to_dict(), 1000) == model.num_parameters()


@pytest.mark.parametrize("depth", [1, 2, 4, 6, 8, 12, 16, 20, 24, 25, 28, 32, 64])
def test_every_depth_gives_a_valid_shape(depth):
    config = resolve_model_config(ModelShapeConfig(depth=depth), vocab_size=100)
    assert config.n_layer == depth and config.n_embd == 64 * depth
    assert config.head_dim in (64, 128) and config.n_head % config.n_kv_head == 0
    assert (config.n_kv_head == config.n_head) is (depth < 12)


def test_depth_presets_span_toy_to_a_billion_and_budgets_are_20_per_parameter():
    rows = {row["preset"]: row for row in preset_rows()}
    assert rows["smoke"]["parameters"] < 2e6 and 0.9e9 < rows["d28"]["parameters"] < 1.1e9
    assert 90e6 < rows["d12"]["parameters"] < 130e6  # GPT-2 small's shape
    assert all(r["compute_optimal_tokens"] == 20 * r["parameters"] for r in rows.values())
    assert PRESETS["d20"] == depth_shape(20)
    # Existing presets are unchanged (the bundled run and every figure use them).
    assert PRESETS["tiny"] == dict(n_layer=4, n_head=4, n_kv_head=4, n_embd=128, context_size=256)


def test_learning_rate_rule():
    assert width_learning_rate(128) == pytest.approx(3e-3)
    assert width_learning_rate(768) == pytest.approx(5e-4)  # GPT-3 125M used 6e-4
    assert resolve_learning_rate(None, depth=12, preset=None, n_embd=768) == pytest.approx(5e-4)
    assert resolve_learning_rate(None, depth=None, preset="d12", n_embd=768) == pytest.approx(5e-4)
    assert resolve_learning_rate(None, depth=None, preset="tiny", n_embd=128) == 3e-3
    assert resolve_learning_rate(None, depth=None, preset="large", n_embd=768) == 3e-3
    assert resolve_learning_rate(1e-2, depth=12, preset=None, n_embd=768) == 1e-2


def test_explicit_flags_override_the_dial_and_conflicts_are_errors():
    config = resolve_model_config(ModelShapeConfig(depth=4, context_size=64, n_head=2), 50)
    assert (config.n_embd, config.context_size, config.n_head, config.n_kv_head) == (256, 64, 2, 2)
    with pytest.raises(ConfigError, match="both size the model"):
        resolve_model_config(ModelShapeConfig(depth=4, preset="tiny"), 50)
    with pytest.raises(ConfigError, match="between 1 and 64"):
        resolve_model_config(ModelShapeConfig(depth=0), 50)


def test_token_budget_note_compares_with_20_tokens_per_parameter():
    assert "1.00x the compute-optimal 2M" in token_budget_note(2_000_000, 100_000)
    assert "undertrained" in token_budget_note(100_000, 100_000)
    assert "far past" in token_budget_note(100_000_000, 100_000)


def test_help_text(capsys):
    from picochat.cli.main import main

    with pytest.raises(SystemExit):
        main(["train", "base", "--help"])
    out = capsys.readouterr().out
    assert "--depth N" in out and "--qk-norm" in out and "--optimizer" in out
    for name in ("smoke", "tiny", "d12", "d28"):
        assert f"\n  {name} " in out
    assert "987M" in out and "19.7B" in out  # d28: parameters and 20 tokens/parameter
