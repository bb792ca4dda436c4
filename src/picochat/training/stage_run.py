"""What every training stage does around the loop: checks, device, ranks, the result.

Not for: the loop (`loop.py`) or anything one stage does alone. `run_stage(config,
body)` resolves the device, joins the torchrun process group (and leaves it however
the body ends) and hands the body a `StageRun`; `StageRun.loop(task, label)` runs the
shared loop with the stage's switches; `TrainResult` is what a stage returns.

    train_x(config) = run_stage(config, _train, show_progress=..., on_step=...)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch

from picochat import layout
from picochat.configs.training import LoopConfig
from picochat.errors import ConfigError
from picochat.runtime import resolve_device, resolve_precision
from picochat.training import distributed
from picochat.training.loop import LoopResult, TrainTask, run_loop

# Loop settings that must be at least 1 in every training stage.
POSITIVE_SETTINGS = ("max_steps", "batch_size", "grad_accum_steps", "eval_every")
R = TypeVar("R")


def check_loop_config(config: LoopConfig, required: tuple[str, ...]) -> None:
    """The stage's required paths are given and the loop's counts are >= 1."""
    for name in required:
        if getattr(config, name) is None:
            raise ConfigError(f"--{name.replace('_', '-')} is required.")
    for name in POSITIVE_SETTINGS:
        if getattr(config, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1.")


@dataclass
class StageRun:
    """Where and how one training stage runs: device, precision, ranks, switches."""

    config: Any
    device: torch.device
    precision: str
    info: distributed.DistInfo
    started: float
    show_progress: bool = True
    on_step: Callable[[int], None] | None = None

    @property
    def out_dir(self) -> Path:
        return Path(self.config.out_dir)

    def batching(self) -> dict[str, Any]:
        """What every seeded batch source of a stage takes (`batches.SeededBatches`):
        --batch-size and --seed, this rank of this many processes, and this device."""
        config = self.config
        return {
            "batch_size": config.batch_size,
            "seed": config.seed,
            "rank": self.info.rank,
            "world_size": self.info.world_size,
            "device": self.device,
        }

    def loop(self, task: TrainTask, label: str) -> LoopResult:
        """The shared loop on this stage's device, ranks and progress switches."""
        return run_loop(
            task,
            self.config,
            device=self.device,
            precision=self.precision,
            dist_info=self.info,
            show_progress=self.show_progress,
            label=label,
            on_step=self.on_step,
        )

    def describe(self) -> str:
        """How the stage ran, for its report: e.g. "cpu (bf16, 1 process(es))"."""
        return distributed.describe(self.device, self.precision, self.info)

    def wall_seconds(self) -> float:
        return time.perf_counter() - self.started


def run_stage(
    config: Any,
    body: Callable[[StageRun], R],
    *,
    show_progress: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> R:
    """Resolve the device, join torchrun's process group, run `body`, leave the group."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    info = distributed.setup(device)
    try:
        precision = resolve_precision(config.precision, device)
        result = body(StageRun(config, device, precision, info, started, show_progress, on_step))
        # Ranks leave together: rank 0 works on after the loop (whole validation, then the
        # diagnostics and reports alone), and a rank that destroyed its gloo group while
        # another still ran aborted the job ("terminate called without an active exception").
        distributed.barrier(info)
        return result
    finally:
        distributed.teardown(info)


@dataclass
class TrainResult:
    """What a training stage returns (`report` is empty on torchrun ranks other than 0)."""

    REPORT_FILE: ClassVar[str] = layout.BASE_REPORT

    out_dir: Path
    report: dict[str, Any]
    stop_reason: str
    stop_message: str
    checkpoint: Path
    best_checkpoint: Path | None

    @property
    def report_path(self) -> Path:
        return self.out_dir / self.REPORT_FILE

    @classmethod
    def from_loop(cls, out_dir: Path, report: dict[str, Any], loop: LoopResult, **extra: Any):
        return cls(
            out_dir=out_dir,
            report=report,
            stop_reason=loop.stop_reason,
            stop_message=loop.stop_message,
            checkpoint=loop.checkpoint_dir,
            best_checkpoint=loop.best_checkpoint_dir,
            **extra,
        )
