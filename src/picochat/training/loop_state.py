"""What the training loop carries between steps and across a resume, and its stop signals.

Not for: the steps themselves (`loop.py`). `LoopState` is the loop's counters and
history; `resume_state`/`restore_state` pack it with the optimizer, the data position
and the RNG into the `training_state.pt` dictionary of a checkpoint folder and back;
`StepFlags` is what all ranks agree on after a step and `Stop` why the loop ended;
`TimeBudget` the share of --max-minutes used, what the run keeps back included;
`StopSignals` turns Ctrl-C / SIGTERM into a flag the loop checks between steps.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch

from picochat.errors import CheckpointError
from picochat.model.checkpoint import load_training_state, training_state_file
from picochat.model.checkpoint_files import unusable_file
from picochat.model.sharded import shard_optimizer_state
from picochat.training.state import capture_rng, restore_rng

STATE_VERSION = 1


def empty_interval() -> dict[str, Any]:
    """Sums since the last evaluation: loss, steps, tokens, seconds, extra metrics."""
    return {"loss": 0.0, "steps": 0, "tokens": 0, "seconds": 0.0, "extra": {}}


@dataclass
class LoopState:
    """The loop's counters and history; all of it travels in training_state.pt."""

    step: int = 0
    tokens_seen: int = 0
    train_seconds: float = 0.0
    # Wall time of the loop (training, evaluation, checkpoints), summed over resumes.
    elapsed_seconds: float = 0.0
    # The last evaluation's duration: a time budget keeps it back for the final one.
    eval_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    evals_since_best: int = 0
    # Sums since the last evaluation (saved too, so a resumed run averages the same steps).
    interval: dict[str, Any] = field(default_factory=empty_interval)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def resume_state(optimizer: torch.optim.Optimizer, data: Any, state: LoopState) -> dict[str, Any]:
    """The training_state.pt dictionary: everything an exact resume needs besides weights."""
    return {
        "version": STATE_VERSION,
        "optimizer": optimizer.state_dict(),
        "data": data.state_dict(),
        "rng": capture_rng(),
        "loop": state.as_dict(),
    }


def restore_state(
    folder: Path, optimizer: torch.optim.Optimizer, data: Any, info: Any = None
) -> LoopState:
    """Load `folder`'s training state into the optimizer, data source and RNGs (of a
    sharded FSDP folder: this rank's own state, its optimizer slices made DTensors)."""
    rank, world = (info.rank, info.world_size) if info is not None else (0, 1)
    saved = load_training_state(folder, rank, world)
    state_file = training_state_file(folder, rank, world)
    if not isinstance(saved, dict) or saved.get("version") != STATE_VERSION:
        raise CheckpointError(
            f"{state_file.name} is not a training state this version of Picochat wrote.",
            file=state_file,
            fix="Start without --resume.",
        )
    with unusable_file(
        state_file,
        (KeyError, TypeError, ValueError, RuntimeError),
        "does not fit this run",
        fix="Resume with the same model settings, or start without --resume.",
        typed=True,
    ):
        optimizer.load_state_dict(shard_optimizer_state(optimizer, saved["optimizer"]))
        data.load_state_dict(saved["data"])
        restore_rng(saved["rng"])
        return LoopState(**saved["loop"])


class Stop(NamedTuple):
    """Why the loop stopped: one of loop.STOP_REASONS and a sentence for the user."""

    reason: str
    message: str


class StepFlags(NamedTuple):
    """What every rank agrees on after a step's backward pass."""

    diverged: bool
    interrupted: bool
    time_fraction: float | None  # share of --max-minutes used (None: no time budget)

    @property
    def time_up(self) -> bool:
        return self.time_fraction is not None and self.time_fraction >= 1


class TimeBudget:
    """--max-minutes: the share of it a step has used, counting what the run must keep
    back: one more step (the step that sees the line crossed is the last; it may start
    just short of it) and the final evaluation, 25% over the last one: on a loaded machine
    a warm 5.3 s evaluation was followed by one of 6.6 s (1.24x), and with 10% a 5-minute
    run ended 0.1 s late."""

    EVAL_MARGIN = 1.25

    def __init__(self, max_minutes: float | None) -> None:
        self.seconds = None if max_minutes is None else max_minutes * 60

    def share_used(self, elapsed: float, eval_seconds: float, step_seconds: float) -> float | None:
        """None without a budget; `elapsed` sums the resumes (the budget is the whole run's)."""
        if self.seconds is None:
            return None
        return (elapsed + self.EVAL_MARGIN * eval_seconds + step_seconds) / self.seconds


class StopSignals:
    """Turns Ctrl-C / SIGTERM into a flag checked between steps; a second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.received: str | None = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        previous = {}
        with contextlib.suppress(ValueError):  # not the main thread: no handlers
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._handle)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
