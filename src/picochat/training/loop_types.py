"""What a stage hands the training loop (`TrainTask`) and what it gets back (`LoopResult`).

Not for: the loop itself (`loop.py`), which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from picochat import layout

STOP_REASONS = ("max_steps", "max_minutes", "early_stop", "interrupted", "diverged")
CHECKPOINT_DIR = layout.CHECKPOINT
BEST_CHECKPOINT_DIR = layout.BEST_CHECKPOINT


class BatchSource(Protocol):
    """Yields training batches; its position is part of the resume state."""

    def next_batch(self) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


# A loss function returns the scalar loss, or (loss, extra float metrics to average).
LossOutput = torch.Tensor | tuple[torch.Tensor, dict[str, float]]


def split_loss(output: LossOutput) -> tuple[torch.Tensor, dict[str, float]]:
    """(loss, extra metrics) of a loss function's output, extras {} when it gave none."""
    if isinstance(output, tuple):
        return output
    return output, {}


@dataclass
class TrainTask:
    """What a stage hands the loop."""

    model: nn.Module
    loss_fn: Callable[[nn.Module, Any], LossOutput]
    train_batches: BatchSource
    # Called on the unwrapped model under no_grad/eval/autocast; must return "val_loss".
    # A "train_loss" it returns replaces the running mean of the training batches.
    evaluate: Callable[[nn.Module], dict[str, float | None]]
    # Writes a whole checkpoint folder: weights, config.json and, when given, the
    # training state (`picochat.model.checkpoint.save_checkpoint` for Picochat models).
    save_checkpoint: Callable[[nn.Module, Path, dict[str, Any] | None], None]
    count_tokens: Callable[[Any], int]
    # How --compile compiles the model (default: torch.compile of the whole module).
    compile_model: Callable[[nn.Module], nn.Module] | None = None
    # Folder names under out_dir: the latest weights + resume state, the best weights.
    checkpoint_name: str = CHECKPOINT_DIR
    best_checkpoint_name: str = BEST_CHECKPOINT_DIR


@dataclass
class LoopResult:
    history: list[dict[str, Any]]
    best: dict[str, Any] | None
    stop_reason: str
    stop_message: str
    steps: int
    tokens_seen: int
    train_seconds: float
    tokens_per_sec: float | None
    checkpoint_dir: Path | None
    best_checkpoint_dir: Path | None
    extra: dict[str, Any] = field(default_factory=dict)
