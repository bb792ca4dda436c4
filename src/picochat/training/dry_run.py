"""`train base --dry-run N`: N real optimizer steps of the planned run, then its speed,
peak memory and the ETA of the full run. Nothing is kept.

Not for: the estimate made before any step (`capacity.py`).

The dry run is the real stage (`pretrain._train`) under the real launcher (one process
or torchrun, DDP or FSDP), with the same model, batch, precision and compile settings;
only the budget differs (N steps, one evaluation at the end, no early stop) and its
artifacts go to a scratch folder `out_dir/dry_run/` that is removed afterwards; the
figures and the preflight estimate go to `out_dir/dry_run.json`. The
first step is left out of the timing (it allocates optimizer state and, with
--compile, compiles). Peak memory: CUDA's `max_memory_allocated`, or on a CPU the
peak RSS sampled during the steps minus its RSS before them.
"""

from __future__ import annotations

import dataclasses
import resource
import shutil
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from picochat import layout
from picochat.errors import ConfigError

SCRATCH = "dry_run"
REPORT = layout.DRY_RUN_REPORT  # the preflight and these figures, beside the run's other files


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


class _PeakRss:
    """The largest RSS seen while the block runs, sampled every `EVERY_S`.

    Not the process's lifetime peak (`ru_maxrss`): that includes whatever ran earlier in
    the same process (a notebook, a test session) and says nothing about these steps.
    A spike shorter than the interval can be missed; optimizer state and activations
    live for a whole step, far longer.
    """

    EVERY_S = 0.02

    def __enter__(self) -> _PeakRss:
        self.peak = _rss_bytes()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="peak-rss", daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._done.wait(self.EVERY_S):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def dry_run(
    config: Any,
    *,
    device: torch.device,
    world_size: int,
    is_main: bool,
    context: int,
    train: Callable[[Any, Path, Callable[[int], None]], Any],
) -> dict[str, Any]:
    """Run `train(short_config, scratch_dir, on_step)` for `config.dry_run` steps of
    `context` tokens per row and measure it; returns the figures (also for the non-main ranks, which print nothing)."""
    steps = config.dry_run
    if steps < 2:
        raise ConfigError(
            f"--dry-run {steps} is too short to time: the first step is excluded.",
            fix="Use --dry-run 5 or more (10 gives a steadier figure).",
        )
    scratch = Path(config.out_dir) / SCRATCH
    short = dataclasses.replace(
        config,
        out_dir=scratch,
        max_steps=steps,
        eval_every=steps,
        eval_batches=1,
        max_minutes=None,
        early_stop_patience=None,
        resume=False,
        canary_count=0,
        dry_run=0,
    )
    stamps: list[float] = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rss_before = _rss_bytes() if device.type == "cpu" else 0
    started = time.perf_counter()
    try:
        with _PeakRss() as rss:
            train(short, scratch, lambda step: stamps.append(time.perf_counter()))
    finally:
        if is_main:
            shutil.rmtree(scratch, ignore_errors=True)
    if device.type == "cuda":
        peak, peak_source = torch.cuda.max_memory_allocated(device), "cuda max_memory_allocated"
    else:
        peak = rss.peak - rss_before
        peak_source = "peak RSS during the steps (sampled every 20 ms) minus RSS before them"
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    seconds_per_step = statistics.median(gaps)
    tokens_per_step = config.batch_size * config.grad_accum_steps * world_size * context
    eta = seconds_per_step * config.max_steps
    if config.max_minutes is not None:
        eta = min(eta, config.max_minutes * 60)
    return {
        "steps": steps,
        "timed_steps": len(gaps),
        "seconds_per_step": seconds_per_step,
        "tokens_per_sec": tokens_per_step / seconds_per_step,
        "peak_memory_bytes": peak,
        "peak_memory_source": peak_source,
        "wall_seconds": time.perf_counter() - started,
        "full_run_steps": config.max_steps,
        "tokens_per_step": tokens_per_step,
        "eta_seconds": eta,
        "eta_note": "training steps only (median step time x --max-steps, capped by "
        "--max-minutes); evaluations and the report come on top",
    }


def render(figures: dict[str, Any]) -> str:
    gib = figures["peak_memory_bytes"] / 1024**3
    return (
        f"dry run: {figures['timed_steps']} timed steps of {figures['steps']}: "
        f"{figures['tokens_per_sec']:,.0f} tokens/s ({figures['seconds_per_step']:.3f} s/step), "
        f"peak memory {gib:.2f} GiB ({figures['peak_memory_source']}); full run of "
        f"{figures['full_run_steps']} steps: ETA {figures['eta_seconds'] / 60:.1f} min "
        f"({figures['eta_note']})"
    )
