"""Refuse a model shape that cannot fit before allocating it.

A checkpoint's config.json (or a flag) with `vocab_size` 1e9 or `n_layer` 1e6 would
otherwise make `Transformer(config)` try to allocate hundreds of GB and take the machine
down. `check_fits(config)` counts the parameters analytically (the same layout as
`transformer.py`, checked by a test against `num_parameters()`), estimates the bytes
and refuses, with the estimate, when they exceed the memory of the device.

Bytes per parameter: 8 to load (fp32 weights + the fp32 state read from disk), 16 to
train (weights, gradients and AdamW's two moments, all fp32). Activations are not
counted: this is a floor, meant to catch the absurd, not to plan a run.
Not here: a planning estimate with activations (`picochat run tiny`'s preflight).
"""

from __future__ import annotations

import os
from pathlib import Path

from picochat.errors import ConfigError
from picochat.model.config import ModelConfig

LOAD_BYTES_PER_PARAM = 8
TRAIN_BYTES_PER_PARAM = 16


def parameter_count(config: ModelConfig) -> int:
    """Parameters of `Transformer(config)`, without building it."""
    d, head = config.n_embd, config.head_dim
    attn = d * (config.n_head + 2 * config.n_kv_head) * head + config.n_head * head * d
    # fused gate+up (2 x hidden; relu2: 1 x) and the down projection
    mlp = (2 if config.mlp == "relu2" else 3) * config.mlp_hidden * d
    per_layer = attn + mlp + 2 * d  # two RMSNorm gains
    embeddings = config.vocab_size * d * (1 if config.tie_embeddings else 2)
    return embeddings + config.n_layer * per_layer + d  # + the final norm


def device_memory_bytes(device: str = "cpu") -> int | None:
    """Total memory of `device` (RAM for the CPU), or None when it cannot be read."""
    if str(device).startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_properties(torch.device(device)).total_memory
        return None
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on every platform
        return None


def check_fits(
    config: ModelConfig,
    *,
    device: str = "cpu",
    training: bool = False,
    file: str | Path | None = None,
) -> int:
    """The parameter count, or a ConfigError with the estimate when it cannot fit."""
    params = parameter_count(config)
    need = params * (TRAIN_BYTES_PER_PARAM if training else LOAD_BYTES_PER_PARAM)
    have = device_memory_bytes(device)
    if have is not None and need > have:
        raise ConfigError(
            f"This model shape has {params:,} parameters: {need / 2**30:,.1f} GiB to "
            f"{'train' if training else 'load'}, more than the {have / 2**30:,.1f} GiB of "
            f"{device} memory (vocab_size {config.vocab_size}, n_layer {config.n_layer}, "
            f"n_embd {config.n_embd}).",
            file=file,
            fix="Use a smaller shape (--preset, --n-layer, --n-embd), or check that the "
            "checkpoint's config.json is the one training wrote.",
        )
    return params
