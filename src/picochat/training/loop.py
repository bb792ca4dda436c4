"""THE training loop shared by base pretraining, SFT and DPO.

Not for: data, models or reports of a particular stage. A stage hands in a `TrainTask`
(model, loss on a batch, a resumable batch source, an evaluation, a way to save the
weights) and gets back a `LoopResult` (history, best, stop reason, throughput).

What the loop owns: AdamW (decay on matrices only, `schedule.py`), warmup + cosine
learning rate, gradient accumulation and clipping, bf16 autocast, optional
`torch.compile`, DDP (`distributed.py`), evaluation every `eval_every` steps, the best
checkpoint on validation loss, the budget guards (`max_steps`, `max_minutes`,
`early_stop_patience`), divergence (a NaN/inf loss stops the run before the bad update
is applied), Ctrl-C/SIGTERM (finish the step, save, stop with `interrupted`) and exact
resume (`training_state.pt`: optimizer, step, RNG, data position, history).
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from picochat.configs.training import LoopConfig
from picochat.errors import CheckpointError
from picochat.model.checkpoint import load_training_state
from picochat.runtime import autocast
from picochat.training import distributed
from picochat.training.progress import TrainingProgress
from picochat.training.schedule import build_optimizer, learning_rate_at, set_learning_rate
from picochat.training.state import capture_rng, restore_rng

STOP_REASONS = ("max_steps", "max_minutes", "early_stop", "interrupted", "diverged")
CHECKPOINT_DIR = "checkpoint"
STATE_VERSION = 1
BEST_CHECKPOINT_DIR = "best_checkpoint"


class BatchSource(Protocol):
    """Yields training batches; its position is part of the resume state."""

    def next_batch(self) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


# A loss function returns the scalar loss, or (loss, extra float metrics to average).
LossOutput = torch.Tensor | tuple[torch.Tensor, dict[str, float]]


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


@dataclass
class _LoopState:
    step: int = 0
    tokens_seen: int = 0
    train_seconds: float = 0.0
    # Wall time of the loop (training, evaluation, checkpoints), summed over resumes.
    elapsed_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    evals_since_best: int = 0
    # Sums since the last evaluation (saved too, so a resumed run averages the same steps).
    interval: dict[str, Any] = field(default_factory=lambda: _empty_interval())

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _empty_interval() -> dict[str, Any]:
    return {"loss": 0.0, "steps": 0, "tokens": 0, "seconds": 0.0, "extra": {}}


class _StopSignals:
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


def _split_loss(output: LossOutput) -> tuple[torch.Tensor, dict[str, float]]:
    if isinstance(output, tuple):
        return output
    return output, {}


def run_loop(
    task: TrainTask,
    config: LoopConfig,
    *,
    device: torch.device,
    precision: str,
    dist_info: distributed.DistInfo | None = None,
    show_progress: bool = True,
    label: str = "train",
    on_step: Callable[[int], None] | None = None,
) -> LoopResult:
    """Train `task.model` until a stop condition; checkpoints go under `config.out_dir`.

    With `config.resume` the caller has already loaded `out_dir/checkpoint`'s weights into
    `task.model`; the loop restores the rest (optimizer, RNG, data, history) from it.
    `on_step(step)` runs after every optimizer step (tests use it to send a signal).
    """
    info = dist_info or distributed.DistInfo()
    out_dir = Path(config.out_dir)
    resume_from = out_dir / CHECKPOINT_DIR if config.resume else None
    raw_model = task.model.to(device)
    optimizer = build_optimizer(
        raw_model,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        device=device,
    )
    state = _LoopState()
    if resume_from is not None:
        saved = load_training_state(resume_from)
        if not isinstance(saved, dict) or saved.get("version") != STATE_VERSION:
            raise CheckpointError(
                "training_state.pt is not a training state this version of Picochat wrote.",
                file=Path(resume_from) / "training_state.pt",
                fix="Start without --resume.",
            )
        try:
            optimizer.load_state_dict(saved["optimizer"])
            task.train_batches.load_state_dict(saved["data"])
            restore_rng(saved["rng"])
            state = _LoopState(**saved["loop"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise CheckpointError(
                f"training_state.pt does not fit this run ({type(error).__name__}: {error}).",
                file=Path(resume_from) / "training_state.pt",
                fix="Resume with the same model settings, or start without --resume.",
            ) from error

    train_model = distributed.wrap_model(raw_model, info, device)
    if config.compile:
        train_model = (task.compile_model or torch.compile)(train_model)
    accum = max(1, config.grad_accum_steps)
    ddp = isinstance(train_model, nn.parallel.DistributedDataParallel)

    def save_checkpoint(folder_name: str, with_state: bool) -> Path:
        folder = out_dir / folder_name
        if info.is_main:
            training_state = None
            if with_state:
                training_state = {
                    "version": STATE_VERSION,
                    "optimizer": optimizer.state_dict(),
                    "data": task.train_batches.state_dict(),
                    "rng": capture_rng(),
                    "loop": state.as_dict(),
                }
            task.save_checkpoint(raw_model, folder, training_state)
        distributed.barrier(info)
        return folder

    def evaluate(
        interval_loss: float | None, interval_extra: dict[str, float], lr: float, tps: float | None
    ) -> dict[str, Any]:
        eval_started = time.perf_counter()
        raw_model.eval()
        with torch.no_grad(), autocast(device, precision):
            metrics = task.evaluate(raw_model)
        raw_model.train()
        timing["last_eval"] = time.perf_counter() - eval_started
        state.elapsed_seconds = elapsed_before + time.perf_counter() - started
        entry: dict[str, Any] = {
            "step": state.step,
            "train_loss": interval_loss,
            "val_loss": None,
            "val_bpb": None,
            "lr": lr,
            "tokens_per_sec": tps,
            "elapsed_seconds": state.elapsed_seconds,
            **interval_extra,
            **metrics,
        }
        for key in ("train_loss", "tokens_per_sec"):
            if entry[key] is None:
                entry[f"{key}_reason"] = "evaluated before the first training step"
        state.history.append(entry)
        val = entry["val_loss"]
        if (
            val is not None
            and math.isfinite(val)
            and (state.best is None or val < state.best["val_loss"])
        ):
            state.best = {k: entry.get(k) for k in ("step", "val_loss", "val_bpb")}
            state.evals_since_best = 0
            save_checkpoint(BEST_CHECKPOINT_DIR, with_state=False)
        else:
            state.evals_since_best += 1
        return entry

    signals = _StopSignals()
    progress = TrainingProgress(
        config.max_steps, start_step=state.step, enabled=show_progress and info.is_main, label=label
    )
    stop_reason, stop_message = "max_steps", f"reached --max-steps {config.max_steps}"
    started = time.perf_counter()
    elapsed_before = state.elapsed_seconds
    budget = config.max_minutes * 60 if config.max_minutes is not None else None
    # The last evaluation's duration: a time budget stops early enough for the final one.
    timing = {"last_eval": 0.0}
    interval = state.interval
    if not state.history:
        # Step 0: the untrained baseline, and the evaluation's cost, which a time budget
        # must leave room for at the end.
        warmup_lr = learning_rate_at(
            0,
            peak=config.learning_rate,
            warmup_steps=config.warmup_steps,
            max_steps=config.max_steps,
            min_lr_ratio=config.min_lr_ratio,
        )
        evaluate(None, {}, warmup_lr, None)
    last_val: float | None = state.history[-1]["val_loss"] if state.history else None
    raw_model.train()
    try:
        with signals.installed():
            while state.step < config.max_steps:
                step_started = time.perf_counter()
                loss_sum = torch.zeros((), device=device)
                extra_sum: dict[str, float] = {}
                step_tokens = 0
                for micro in range(accum):
                    batch = task.train_batches.next_batch()
                    sync = contextlib.nullcontext()
                    if ddp and micro < accum - 1:
                        sync = train_model.no_sync()
                    with sync:
                        with autocast(device, precision):
                            loss, extra = _split_loss(task.loss_fn(train_model, batch))
                        (loss / accum).backward()
                    loss_sum += loss.detach().float()
                    for key, value in extra.items():
                        extra_sum[key] = extra_sum.get(key, 0.0) + float(value) / accum
                    step_tokens += task.count_tokens(batch)
                step_loss = loss_sum.item() / accum
                # One all-reduce per step, so every rank stops, and decays, in step.
                used = 0.0
                if budget is not None:
                    used = (time.perf_counter() - started + timing["last_eval"]) / budget
                flags = distributed.max_over_ranks(
                    [
                        float(not math.isfinite(step_loss)),
                        float(signals.received is not None),
                        used,
                    ],
                    info,
                )
                diverged, interrupted, time_up = flags[0] > 0, flags[1] > 0, flags[2] >= 1
                lr = learning_rate_at(
                    state.step,
                    peak=config.learning_rate,
                    warmup_steps=config.warmup_steps,
                    max_steps=config.max_steps,
                    min_lr_ratio=config.min_lr_ratio,
                    time_fraction=None if budget is None else flags[2],
                )
                set_learning_rate(optimizer, lr)
                if diverged:
                    optimizer.zero_grad(set_to_none=True)
                    stop_reason = "diverged"
                    stop_message = (
                        f"the training loss became {step_loss} at step {state.step + 1}; "
                        "that update was not applied. Lower --learning-rate or raise "
                        "--warmup-steps; best_checkpoint/ holds the best weights before it."
                    )
                    break
                if config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(raw_model.parameters(), config.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                state.step += 1
                seconds = time.perf_counter() - step_started
                state.train_seconds += seconds
                state.tokens_seen += step_tokens * info.world_size
                interval["loss"] += step_loss
                interval["steps"] += 1
                interval["tokens"] += step_tokens * info.world_size
                interval["seconds"] += seconds
                for key, value in extra_sum.items():
                    interval["extra"][key] = interval["extra"].get(key, 0.0) + value
                tps = interval["tokens"] / max(interval["seconds"], 1e-9)
                if on_step is not None:
                    on_step(state.step)

                if interrupted:
                    stop_reason = "interrupted"
                    stop_message = f"stopped by {signals.received or 'a signal on another rank'}"
                    break
                final_step = state.step >= config.max_steps or time_up
                if state.step % config.eval_every == 0 or final_step:
                    n = interval["steps"]
                    extras = {k: v / n for k, v in interval["extra"].items()}
                    entry = evaluate(interval["loss"] / n, extras, lr, tps)
                    last_val = entry["val_loss"]
                    interval = state.interval = _empty_interval()
                    save_checkpoint(CHECKPOINT_DIR, with_state=True)
                    patience = config.early_stop_patience
                    if patience and state.evals_since_best >= patience:  # 0/None: off
                        stop_reason = "early_stop"
                        stop_message = (
                            f"validation loss did not improve for {patience} evaluations "
                            f"(best at step {state.best['step'] if state.best else None})"
                        )
                        break
                if time_up:
                    stop_reason = "max_minutes"
                    stop_message = f"reached --max-minutes {config.max_minutes}"
                    break
                progress.update(state.step, loss=step_loss, tokens_per_sec=tps, val_loss=last_val)
    finally:
        progress.close()

    if stop_reason in ("interrupted", "diverged") or not (out_dir / CHECKPOINT_DIR).exists():
        # The weights here are the last finite ones (a diverging update is never applied).
        save_checkpoint(CHECKPOINT_DIR, with_state=True)
    best_dir = out_dir / BEST_CHECKPOINT_DIR
    return LoopResult(
        history=state.history,
        best=state.best,
        stop_reason=stop_reason,
        stop_message=stop_message,
        steps=state.step,
        tokens_seen=state.tokens_seen,
        train_seconds=state.train_seconds,
        tokens_per_sec=state.tokens_seen / state.train_seconds if state.train_seconds else None,
        checkpoint_dir=out_dir / CHECKPOINT_DIR,
        best_checkpoint_dir=best_dir if best_dir.exists() else None,
    )
