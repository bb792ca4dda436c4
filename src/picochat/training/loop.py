"""THE training loop shared by base pretraining, SFT, DPO and Hugging Face SFT.

Not for: data, models or reports of a particular stage. A stage hands in a `TrainTask`
(model, loss on a batch, a resumable batch source, an evaluation, a way to save the
weights) and gets back a `LoopResult` (history, best, stop reason, throughput).

What the loop owns: the optimizer and learning-rate schedule (`schedule.py`, `optim.py`),
gradient accumulation and clipping, bf16 autocast, optional `torch.compile`, DDP/FSDP
(`parallel.py`), evaluation every `eval_every` steps, the best checkpoint on validation
loss, the budget guards (`max_steps`, `max_minutes`, `early_stop_patience`), divergence
(a NaN/inf loss stops the run before the bad update is applied), Ctrl-C/SIGTERM (finish
the step, save, stop with `interrupted`) and exact resume (`training_state.pt`:
optimizer, step, RNG, data position, history; see `loop_state.py`).

Reading order: `run_loop` (the whole run in a dozen lines), then `_Run.train` (one
optimizer step per pass), then the step's parts in the order they happen.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from picochat.configs.training import LoopConfig
from picochat.runtime import autocast
from picochat.training import distributed, parallel
from picochat.training.loop_state import (
    STATE_VERSION,
    LoopState,
    StepFlags,
    Stop,
    StopSignals,
    TimeBudget,
    empty_interval,
    restore_state,
    resume_state,
)
from picochat.training.loop_types import (
    BEST_CHECKPOINT_DIR,
    CHECKPOINT_DIR,
    STOP_REASONS,
    BatchSource,
    LoopResult,
    TrainTask,
    split_loss,
)
from picochat.training.metrics_log import MetricsLog
from picochat.training.progress import TrainingProgress
from picochat.training.schedule import (
    build_optimizer,
    configured_learning_rate,
    set_learning_rate,
)

__all__ = [
    "BEST_CHECKPOINT_DIR",
    "CHECKPOINT_DIR",
    "STATE_VERSION",
    "STOP_REASONS",
    "BatchSource",
    "LoopResult",
    "TrainTask",
    "run_loop",
]


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

    With `config.resume` the caller has already loaded the checkpoint folder's weights
    into `task.model`; the loop restores the rest (optimizer, RNG, data, history) from it.
    `on_step(step)` runs after every optimizer step (tests use it to send a signal).
    """
    run = _Run(task, config, device, precision, dist_info or distributed.DistInfo())
    if config.resume:
        run.restore()
    run.wrap_model()
    signals = StopSignals()
    enabled = show_progress and run.info.is_main
    run.progress = TrainingProgress(
        config.max_steps, start_step=run.state.step, enabled=enabled, label=label
    )
    run.metrics = MetricsLog.for_loop(config, run.state.step, enabled, run.info.is_main, label)
    try:
        run.start_clock()
        with signals.installed():
            stop = run.train(signals, on_step)
    finally:
        run.progress.close()
        run.metrics.close()
    return run.finish(stop)


class _Run:
    """One call of `run_loop`: the model, optimizer, state and clocks every part shares."""

    def __init__(
        self,
        task: TrainTask,
        config: LoopConfig,
        device: torch.device,
        precision: str,
        info: distributed.DistInfo,
    ) -> None:
        self.task, self.config, self.info = task, config, info
        self.device, self.precision = device, precision
        self.out_dir = Path(config.out_dir)
        self.raw_model = task.model.to(device)
        # DDP wraps; FSDP shards raw_model in place, so it comes before the optimizer.
        self.train_model = parallel.prepare_model(self.raw_model, config, info, device)
        self.sharded = parallel.is_fsdp(self.raw_model)
        self.optimizer = build_optimizer(
            self.raw_model,
            learning_rate=config.learning_rate,
            weight_decay=config.weight_decay,
            device=device,
            # HF SFT's config has neither switch: AdamW.
            optimizer=getattr(config, "optimizer", "adamw"),
            muon_learning_rate=getattr(config, "muon_learning_rate", 0.02),
            embedding_learning_rate=getattr(config, "embedding_learning_rate", None),
        )
        self.state = LoopState()
        self.progress: TrainingProgress | None = None
        self.metrics: MetricsLog | None = None
        self.budget = TimeBudget(config.max_minutes)
        self.started = self.elapsed_before = 0.0
        self.last_step_seconds = 0.0  # kept back by a time budget (`agree`)
        self.last_val: float | None = None

    def folder(self, name: str) -> Path:
        return self.out_dir / name

    def restore(self) -> None:
        """--resume: optimizer, data position, RNG and history from the checkpoint folder."""
        folder = self.folder(self.task.checkpoint_name)
        self.state = restore_state(folder, self.optimizer, self.task.train_batches, self.info)

    def wrap_model(self) -> None:
        """--compile (the stage's way, or torch.compile) over the prepared model (DDP
        or FSDP under torchrun: `parallel.prepare_model`, before the optimizer)."""
        if self.config.compile:
            self.train_model = (self.task.compile_model or torch.compile)(self.train_model)

    def start_clock(self) -> None:
        """Start timing; a fresh run first evaluates the untrained model (step 0)."""
        self.started = time.perf_counter()
        self.elapsed_before = self.state.elapsed_seconds
        if not self.state.history:
            # Step 0: the untrained baseline, and the evaluation's cost, which a time
            # budget must leave room for at the end.
            self.evaluate(None, {}, self.learning_rate(0, None), None)
            if self.config.compile and self.budget.seconds is not None:
                # It may have compiled too (seconds to minutes: pretraining compiles the
                # blocks in place); the final one runs warm, so time a warm one.
                self.state.eval_seconds = self.score()[1]
        self.last_val = self.state.history[-1]["val_loss"] if self.state.history else None
        self.raw_model.train()

    def elapsed(self) -> float:
        """Wall seconds of the run so far, summed over resumes."""
        return self.elapsed_before + time.perf_counter() - self.started

    # -- the run, one optimizer step per pass --------------------------------------------

    def train(self, signals: StopSignals, on_step: Callable[[int], None] | None) -> Stop:
        """Steps until a stop condition; returns why it stopped."""
        config = self.config
        while self.state.step < config.max_steps:
            step_started = time.perf_counter()
            step_loss, extra, tokens = self.forward_backward()
            flags = self.agree(step_loss, signals)
            lr = self.learning_rate(self.state.step, flags.time_fraction)
            set_learning_rate(self.optimizer, lr)
            if flags.diverged:
                self.optimizer.zero_grad(set_to_none=True)
                return self.diverged(step_loss)
            self.update()
            tps = self.count_step(step_loss, extra, tokens, time.perf_counter() - step_started)
            self.log_step(step_loss, lr, tps)
            if on_step is not None:
                on_step(self.state.step)
            if flags.interrupted:
                who = signals.received or "a signal on another rank"
                return Stop("interrupted", f"stopped by {who}")
            if self.state.step % config.eval_every == 0 or self.is_last_step(flags):
                stop = self.evaluate_interval(lr, tps)
                if stop is not None:
                    return stop
            if flags.time_up:
                return Stop("max_minutes", f"reached --max-minutes {config.max_minutes}")
        return Stop("max_steps", f"reached --max-steps {config.max_steps}")

    def forward_backward(self) -> tuple[float, dict[str, float], int]:
        """Accumulate gradients over the micro-batches: (mean loss, mean extras, tokens)."""
        accum = max(1, self.config.grad_accum_steps)
        ddp = isinstance(self.train_model, nn.parallel.DistributedDataParallel)
        loss_sum = torch.zeros((), device=self.device)
        extra_sum: dict[str, float] = {}
        tokens = 0
        for micro in range(accum):
            batch = self.task.train_batches.next_batch()
            # DDP all-reduces gradients on the last micro-batch only.
            sync = self.train_model.no_sync() if ddp and micro < accum - 1 else None
            with sync or contextlib.nullcontext():
                with autocast(self.device, self.precision):
                    loss, extra = split_loss(self.task.loss_fn(self.train_model, batch))
                (loss / accum).backward()
            loss_sum += loss.detach().float()
            for key, value in extra.items():
                extra_sum[key] = extra_sum.get(key, 0.0) + float(value) / accum
            tokens += self.task.count_tokens(batch)
        return loss_sum.item() / accum, extra_sum, tokens

    def agree(self, step_loss: float, signals: StopSignals) -> StepFlags:
        """One all-reduce per step, so every rank stops, and decays, in step."""
        used = self.budget.share_used(
            self.elapsed(), self.state.eval_seconds, self.last_step_seconds
        )
        local = [
            float(not math.isfinite(step_loss)),
            float(signals.received is not None),
            used or 0,
        ]
        flags = distributed.max_over_ranks(local, self.info)
        return StepFlags(flags[0] > 0, flags[1] > 0, None if used is None else flags[2])

    def learning_rate(self, step: int, time_fraction: float | None) -> float:
        return configured_learning_rate(self.config, step, time_fraction)

    def diverged(self, step_loss: float) -> Stop:
        return Stop(
            "diverged",
            f"the training loss became {step_loss} at step {self.state.step + 1}; that update "
            "was not applied. Lower --learning-rate or raise --warmup-steps; "
            f"{self.task.best_checkpoint_name}/ holds the best weights before it.",
        )

    def update(self) -> None:
        """Clip, apply the optimizer step, clear the gradients."""
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def count_step(
        self, step_loss: float, extra: dict[str, float], tokens: int, seconds: float
    ) -> float:
        """Add the step to the totals and to the interval; returns the interval's tokens/s."""
        state, interval = self.state, self.state.interval
        all_tokens = tokens * self.info.world_size
        state.step += 1
        state.train_seconds += seconds
        self.last_step_seconds = seconds
        state.tokens_seen += all_tokens
        interval["loss"] += step_loss
        interval["steps"] += 1
        interval["tokens"] += all_tokens
        interval["seconds"] += seconds
        for key, value in extra.items():
            interval["extra"][key] = interval["extra"].get(key, 0.0) + value
        return interval["tokens"] / max(interval["seconds"], 1e-9)

    def is_last_step(self, flags: StepFlags) -> bool:
        return self.state.step >= self.config.max_steps or flags.time_up

    # -- evaluation, checkpoints, logging ------------------------------------------------

    def evaluate_interval(self, lr: float, tps: float) -> Stop | None:
        """Evaluate with the interval's mean training loss, save the resume checkpoint, and
        say whether early stopping applies."""
        interval = self.state.interval
        n = interval["steps"]
        extras = {k: v / n for k, v in interval["extra"].items()}
        entry = self.evaluate(interval["loss"] / n, extras, lr, tps)
        self.last_val = entry["val_loss"]
        self.state.interval = empty_interval()
        self.save(self.task.checkpoint_name, with_state=True)
        patience = self.config.early_stop_patience
        if patience and self.state.evals_since_best >= patience:  # 0/None: off
            best = self.state.best["step"] if self.state.best else None
            return Stop(
                "early_stop",
                f"validation loss did not improve for {patience} evaluations (best at step {best})",
            )
        return None

    def evaluate(
        self, train_loss: float | None, extra: dict[str, float], lr: float, tps: float | None
    ) -> dict[str, Any]:
        """One history entry: the stage's evaluation plus the interval's training numbers."""
        state = self.state
        metrics, state.eval_seconds = self.score()
        state.elapsed_seconds = self.elapsed()
        entry: dict[str, Any] = {
            "step": state.step,
            "train_loss": train_loss,
            "val_loss": None,
            "val_bpb": None,
            "lr": lr,
            "tokens_per_sec": tps,
            "elapsed_seconds": state.elapsed_seconds,
            **extra,
            **metrics,
        }
        for key in ("train_loss", "tokens_per_sec"):
            if entry[key] is None:
                entry[f"{key}_reason"] = "evaluated before the first training step"
        self.log_evaluation(entry)
        self.track_best(entry)
        return entry

    def score(self) -> tuple[dict[str, Any], float]:
        """The stage's evaluation of the current weights, and the seconds it took."""
        started = time.perf_counter()
        self.raw_model.eval()
        with torch.no_grad(), autocast(self.device, self.precision):
            metrics = self.task.evaluate(self.raw_model)
        self.raw_model.train()
        return metrics, time.perf_counter() - started

    def track_best(self, entry: dict[str, Any]) -> None:
        """A finite validation loss below the best so far saves the best checkpoint."""
        val, state = entry["val_loss"], self.state
        if (
            val is not None
            and math.isfinite(val)
            and (state.best is None or val < state.best["val_loss"])
        ):
            state.best = {k: entry.get(k) for k in ("step", "val_loss", "val_bpb")}
            state.evals_since_best = 0
            self.save(self.task.best_checkpoint_name, with_state=False)
        else:
            state.evals_since_best += 1

    def save(self, name: str, *, with_state: bool) -> Path:
        """Rank 0 writes the folder (with the resume state when asked); all ranks wait."""
        folder = self.folder(name)
        if self.info.is_main or self.sharded:  # FSDP: every rank writes its own slice
            training_state = None
            if with_state:
                self.state.elapsed_seconds = self.elapsed()  # a resumed budget goes on from here
                training_state = resume_state(self.optimizer, self.task.train_batches, self.state)
            self.task.save_checkpoint(self.raw_model, folder, training_state)
        distributed.barrier(self.info)
        return folder

    def log_evaluation(self, entry: dict[str, Any]) -> None:
        """Every evaluation's numbers enter the history here (the run's record), and
        metrics.jsonl / TensorBoard / a plain line without a terminal (`metrics_log`)."""
        self.state.history.append(entry)
        assert self.metrics is not None
        self.metrics.evaluation(entry)

    def log_step(self, step_loss: float, lr: float, tps: float) -> None:
        """Every applied step's numbers leave the loop here while it runs: the progress
        bar and metrics.jsonl (so the last step is logged even when the run stops on it)."""
        assert self.progress is not None and self.metrics is not None
        self.progress.update(
            self.state.step, loss=step_loss, tokens_per_sec=tps, val_loss=self.last_val
        )
        self.metrics.step(self.state.step, loss=step_loss, lr=lr, tokens_per_sec=tps)

    def finish(self, stop: Stop) -> LoopResult:
        """Make sure the resume checkpoint holds the last weights; sum the run up."""
        checkpoint = self.folder(self.task.checkpoint_name)
        if stop.reason in ("interrupted", "diverged") or not checkpoint.exists():
            # The weights here are the last finite ones (a diverging update is never applied).
            self.save(self.task.checkpoint_name, with_state=True)
        best_dir = self.folder(self.task.best_checkpoint_name)
        state = self.state
        return LoopResult(
            history=state.history,
            best=state.best,
            stop_reason=stop.reason,
            stop_message=stop.message,
            steps=state.step,
            tokens_seen=state.tokens_seen,
            train_seconds=state.train_seconds,
            tokens_per_sec=state.tokens_seen / state.train_seconds if state.train_seconds else None,
            checkpoint_dir=checkpoint,
            best_checkpoint_dir=best_dir if best_dir.exists() else None,
        )
