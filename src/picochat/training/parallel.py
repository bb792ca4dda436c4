"""How the training loop lays a model over devices: one process, DDP or FSDP, with or
without activation checkpointing.

Not for: process-group setup and cross-rank reductions (`distributed.py`) or the
sharded checkpoint files (`picochat.model.sharded`).

- DDP (the default under torchrun): every process holds the whole model, gradients
  are all-reduced. Fastest while the model, its gradients and AdamW's two moments
  (16 bytes per parameter in fp32) fit one device.
- FSDP (`--parallel fsdp`): PyTorch's own `fully_shard` (FSDP2) on every block, then on
  the whole model: parameters, gradients and optimizer state are split over the N
  processes (16/N bytes per parameter), each block's weights are all-gathered just
  before it runs and freed after. Costs communication; use it when DDP does not fit.
- `--activation-checkpointing`: each block's activations are recomputed in the
  backward pass (`torch.utils.checkpoint`), keeping only the block inputs: activation
  memory drops ~n_layer-fold at ~one extra forward pass of compute.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from picochat.errors import ConfigError
from picochat.model.checkpoint import unwrap_model
from picochat.training import distributed


def is_fsdp(model: nn.Module) -> bool:
    """Whether `model` was sharded by `fully_shard` (its parameters are DTensors)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def set_activation_checkpointing(model: nn.Module, enabled: bool) -> None:
    """Switch per-block recomputation on the Picochat Transformer inside `model`."""
    inner = unwrap_model(model)
    if not hasattr(inner, "activation_checkpointing"):
        if enabled:
            raise ConfigError(
                "--activation-checkpointing works on Picochat transformers only.",
                fix="Drop --activation-checkpointing for this model.",
            )
        return
    inner.activation_checkpointing = enabled


def shard_model(model: nn.Module, device: torch.device) -> nn.Module:
    """`fully_shard` each block, then the root (embedding, final norm, head), in place."""
    from torch.distributed.fsdp import fully_shard

    inner = unwrap_model(model)
    for block in inner.blocks:
        fully_shard(block)
    fully_shard(inner)
    return inner


def prepare_model(
    raw_model: nn.Module, config: Any, info: distributed.DistInfo, device: torch.device
) -> nn.Module:
    """The module the loop trains: `raw_model` itself (one process; FSDP shards it in
    place) or DDP around it. Call before building the optimizer."""
    set_activation_checkpointing(
        raw_model, bool(getattr(config, "activation_checkpointing", False))
    )
    mode = getattr(config, "parallel", "ddp")
    if mode == "fsdp":
        if getattr(config, "optimizer", "adamw") == "muon":
            raise ConfigError(
                "--optimizer muon is not supported with --parallel fsdp (Muon orthogonalises "
                "whole matrices; FSDP holds a slice of each on every process).",
                fix="Use --optimizer adamw with FSDP, or --parallel ddp with Muon.",
            )
        if not info.enabled:
            return raw_model  # one process: nothing to shard over
        return shard_model(raw_model, device)
    return distributed.wrap_model(raw_model, info, device)
