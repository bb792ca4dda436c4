"""Learning-rate schedule and optimizer construction shared by every training stage.

Not for: the loop itself (`loop.py`) or anything stage-specific.

Schedule: linear warmup from 0 to the peak over `warmup_steps`, then cosine decay to
`peak * min_lr_ratio` at `max_steps` (nanoGPT's recipe); or, with `schedule="wsd"`
(warmup-stable-decay, the speedrun GPTs' and nanochat's), the peak held until the last
`warmdown_fraction` of the run, then a straight line down to the floor. The optimizer is AdamW with
weight decay on weight matrices only: biases, norm gains and embedding tables get none
(decaying norm gains pulls them toward 0, and decaying embedding rows that a batch
never touches shrinks rare tokens for no reason; nanoGPT and nanochat do the same).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

# (beta1, beta2) as in nanoGPT for small models; 0.95 reacts faster than 0.999 when
# a run is only a few thousand steps long.
ADAM_BETAS = (0.9, 0.95)


def learning_rate_at(
    step: int,
    *,
    peak: float,
    warmup_steps: int,
    max_steps: int,
    min_lr_ratio: float,
    time_fraction: float | None = None,
    schedule: str = "cosine",
    warmdown_fraction: float = 0.4,
) -> float:
    """Learning rate for optimizer step `step` (0-based).

    `time_fraction` (share of a --max-minutes budget used) makes the decay follow
    whichever budget runs out first, so a time-limited run still ends at the floor
    instead of being cut off at a high learning rate. `schedule` "wsd": the peak until
    `1 - warmdown_fraction` of the run after warmup, then linear to the floor.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    floor = peak * min_lr_ratio
    span = max(1, max_steps - warmup_steps)
    progress = (step - warmup_steps) / span
    if time_fraction is not None:
        progress = max(progress, time_fraction)
    if progress >= 1:
        return floor
    if schedule == "wsd":
        remaining = (1.0 - progress) / warmdown_fraction if warmdown_fraction > 0 else 0.0
        return floor + min(1.0, remaining) * (peak - floor)
    return floor + 0.5 * (1.0 + math.cos(math.pi * progress)) * (peak - floor)


def configured_learning_rate(config: Any, step: int, time_fraction: float | None) -> float:
    """`learning_rate_at` with a training config's settings (HF SFT's config has neither
    `lr_schedule` nor `warmdown_fraction`: cosine)."""
    return learning_rate_at(
        step,
        peak=config.learning_rate,
        warmup_steps=config.warmup_steps,
        max_steps=config.max_steps,
        min_lr_ratio=config.min_lr_ratio,
        time_fraction=time_fraction,
        schedule=getattr(config, "lr_schedule", "cosine"),
        warmdown_fraction=getattr(config, "warmdown_fraction", 0.4),
    )


def _is_decayed(param: nn.Parameter, embedding_ids: set[int]) -> bool:
    """Weight decay only for 2-D+ weight matrices that are not embedding tables."""
    return param.ndim >= 2 and id(param) not in embedding_ids


def build_optimizer(
    model: nn.Module,
    *,
    learning_rate: float,
    weight_decay: float,
    device: torch.device,
    optimizer: str = "adamw",
    muon_learning_rate: float = 0.02,
    embedding_learning_rate: float | None = None,
) -> torch.optim.Optimizer:
    """AdamW with two groups: decayed matrices, and everything else without decay.

    A tied output head shares its tensor with the embedding table, so it is not decayed
    either (the check is by tensor identity, not by name). `optimizer="muon"`: Muon for
    the block matrices, this AdamW for the rest (`picochat.training.optim`).
    `embedding_learning_rate`: the embedding tables get a third group with this peak
    (an `lr_scale`, so it follows the schedule); a tied head is the same table.
    """
    embedding_ids = {
        id(module.weight) for module in model.modules() if isinstance(module, nn.Embedding)
    }

    def adamw(params: list[nn.Parameter]) -> torch.optim.AdamW:
        decay, no_decay, tables = [], [], []
        for param in params:
            if embedding_learning_rate is not None and id(param) in embedding_ids:
                tables.append(param)
            else:
                (decay if _is_decayed(param, embedding_ids) else no_decay).append(param)
        groups: list[dict] = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        if tables:
            scale = embedding_learning_rate / learning_rate
            groups.append({"params": tables, "weight_decay": 0.0, "lr": embedding_learning_rate,
                           "lr_scale": scale})  # fmt: skip
        # The fused kernel is faster on CUDA; elsewhere the default (foreach) is the fast one.
        fused = device.type == "cuda"
        return torch.optim.AdamW(groups, lr=learning_rate, betas=ADAM_BETAS, fused=fused)

    if optimizer == "muon":
        from picochat.training.optim import build_muon

        return build_muon(
            model,
            learning_rate=learning_rate,
            muon_learning_rate=muon_learning_rate,
            weight_decay=weight_decay,
            adamw=adamw,
        )
    return adamw([p for p in model.parameters() if p.requires_grad])


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's learning rate to `lr` times its `lr_scale` (Muon's groups)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
