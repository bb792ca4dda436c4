"""The one tiny-model factory of the test suite (importable from any test: pytest puts
tests/ on the path, see pyproject.toml).

`tiny_model` is a real, seeded `Transformer` of a few thousand parameters; a test states
only the shape it cares about. `save_tiny_run` writes what the CLI reads: a char
tokenizer.json and checkpoint folders of one such model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from picochat.model.checkpoint import save_checkpoint
from picochat.model.config import ModelConfig
from picochat.model.transformer import Transformer
from picochat.tokenizer import CharTokenizer, save_tokenizer

# 2 layers, grouped-query attention (4 heads, 2 kv heads): ~40K parameters at vocab 61.
SHAPE: dict[str, Any] = dict(n_layer=2, n_head=4, n_kv_head=2, n_embd=32, context_size=48)


def tiny_config(vocab_size: int = 61, **shape: Any) -> ModelConfig:
    """`SHAPE` with `shape`'s overrides (any ModelConfig field)."""
    return ModelConfig(vocab_size=vocab_size, **{**SHAPE, **shape})


def tiny_model(vocab_size: int = 61, *, seed: int = 0, **shape: Any) -> Transformer:
    """A freshly initialised model (torch seeded with `seed` first), in eval mode."""
    torch.manual_seed(seed)
    return Transformer(tiny_config(vocab_size, **shape)).eval()


def save_tiny_run(
    folder: Path, text: str, checkpoints: dict[str, str], *, seed: int = 0, **shape: Any
) -> tuple[Transformer, CharTokenizer]:
    """folder/tokenizer.json (a char tokenizer of `text`) and, per `{subfolder: kind}` of
    `checkpoints`, a checkpoint of one tiny model; returns (model, tokenizer)."""
    tokenizer = CharTokenizer.train(text)
    save_tokenizer(tokenizer, folder / "tokenizer.json")
    model = tiny_model(tokenizer.vocab_size, seed=seed, **shape)
    for subfolder, kind in checkpoints.items():
        save_checkpoint(folder / subfolder, model, tokenizer_sha256=tokenizer.sha256, kind=kind)
    return model, tokenizer
