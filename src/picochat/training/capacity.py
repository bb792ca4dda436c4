"""The preflight of `train base`: will this run fit, how long will it take, how do its
planned tokens compare with the compute-optimal budget. Runs before any data is read.

Not for: the memory arithmetic itself (`memory_estimate.py`) or run tiny's whole-run
plan (`picochat.pipeline.preflight`, which adds this one's figures).

A run whose estimated peak exceeds what the device has (CUDA: free device memory;
CPU: MemAvailable shared by the processes of this machine) is refused with exit 2,
the estimate, and the changes that would make it fit: a smaller micro-batch with
more gradient accumulation (same tokens per step), activation checkpointing, FSDP.
The time is a rough figure from FLOPs (6 per parameter per token plus attention) at
`ASSUMED_MFU` of a matmul rate measured here in a fraction of a second; `--dry-run N`
measures the real one.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch

from picochat.errors import PicochatError
from picochat.model.presets import token_budget_note
from picochat.training.memory_estimate import (
    describe,
    estimate_memory,
    human_bytes,
    run_settings,
)

ASSUMED_MFU = 0.4  # eager training on the devices measured so far reaches 35-70%
# Headroom over the estimate (which counts live tensors) before a run is refused. CPU:
# glibc keeps freed activation buffers in its heap once its mmap threshold has grown,
# so peak RSS reached 1.4x live memory in bench_memory_estimate's tiny case, plus ~85 MB
# of torch's own libraries. CUDA: the caching allocator's fragmentation and workspaces.
SAFETY = {"cpu": 1.5, "cuda": 1.1}


class WillNotFitError(PicochatError):
    """The run's estimated memory exceeds what the device has."""


def available_memory(device: torch.device, local_world_size: int = 1) -> tuple[int, str]:
    """(bytes this process may use, where the figure comes from)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free), f"free memory of {torch.cuda.get_device_name(device)}"
    available = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except OSError:
        pass
    if available is None:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    share = f" / {local_world_size} processes" if local_world_size > 1 else ""
    return available // local_world_size, f"available RAM (MemAvailable{share})"


def matmul_flops_per_second(device: torch.device, precision: str) -> float:
    """A quick measured matmul rate (a few 512^2 products: ~10 ms on a CPU)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    n = 4096 if device.type == "cuda" else 512
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    repeats = 3
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return repeats * 2 * n**3 / (time.perf_counter() - started)


def flops_per_token(c: Any, params: int) -> float:
    """Training FLOPs per token: 6 per non-embedding parameter plus attention's
    6 * n_layer * T * width (PaLM's appendix B, causal half of 12 L T C)."""
    non_embedding = params - c.vocab_size * c.n_embd
    return 6 * non_embedding + 6 * c.n_layer * c.context_size * c.n_embd


def _fitting_changes(c: Any, config: Any, settings: dict[str, Any], limit: float) -> list[str]:
    """Concrete flag changes that bring the estimate under `limit` (the first that fits
    of: a smaller micro-batch, activation checkpointing, both; then FSDP)."""
    batch, accum = config.batch_size, config.grad_accum_steps
    safety = SAFETY.get(settings["device_type"], SAFETY["cuda"])
    smaller = [b for b in (batch // 2, batch // 4, batch // 8, 1) if 1 <= b < batch]
    tried = [(b, settings["activation_checkpointing"]) for b in smaller]
    if not settings["activation_checkpointing"]:
        tried = [(batch, True)] + tried + [(b, True) for b in smaller]
    changes = []
    for b, recompute in tried:
        trial = estimate_memory(
            c, **{**settings, "batch_size": b, "activation_checkpointing": recompute}
        )
        if trial["bytes"]["peak"] * safety <= limit:
            flags = []
            if b != batch:
                flags.append(f"--batch-size {b} --grad-accum-steps {accum * batch // b}")
            if recompute and not settings["activation_checkpointing"]:
                flags.append("--activation-checkpointing")
            changes.append(
                f"{' '.join(flags)} ({human_bytes(trial['bytes']['peak'])}; same tokens per step)"
            )
            break
    fsdp = _fsdp_change(c, settings, limit)
    if fsdp:
        changes.append(fsdp)
    if not changes:  # say how far the levers get, so the user sees the gap
        least = estimate_memory(
            c, **{**settings, "batch_size": 1, "activation_checkpointing": True}
        )
        sharded = estimate_memory(
            c, **{**settings, "world_size": 8, "parallel": "fsdp", "activation_checkpointing": True}
        )
        changes.append(
            f"none is enough alone: --batch-size 1 --grad-accum-steps {accum * batch} "
            f"--activation-checkpointing still needs {human_bytes(least['bytes']['peak'])}; "
            f"FSDP over 8 devices with it {human_bytes(sharded['bytes']['peak'])} each"
        )
    return changes + ["a smaller model (--depth / --preset; table in train base --help)"]


def _fsdp_change(c: Any, settings: dict[str, Any], limit: float) -> str | None:
    """The fewest FSDP processes (with activation checkpointing if needed) that fit."""
    safety = SAFETY.get(settings["device_type"], SAFETY["cuda"])
    for world in (2, 4, 8):
        for recompute in sorted({settings["activation_checkpointing"], True}):
            trial = estimate_memory(
                c, **{**settings, "world_size": world, "parallel": "fsdp",
                      "activation_checkpointing": recompute},
            )  # fmt: skip
            # On one CPU host the processes share its RAM: N of them need N shares.
            share = world if settings["device_type"] == "cpu" else 1
            if trial["bytes"]["peak"] * safety * share <= limit:
                extra = " --activation-checkpointing" if recompute else ""
                return (
                    f"FSDP over {world} devices: torchrun --nproc_per_node={world} -m picochat "
                    f"train base ... --parallel fsdp{extra} ({human_bytes(trial['bytes']['peak'])} "
                    "each)"
                )
    return None


def preflight_base(
    config: Any, c: Any, device: torch.device, precision: str, world_size: int
) -> dict[str, Any]:
    """Estimate, check and describe the run; raises WillNotFitError when it cannot fit."""
    settings = run_settings(config, precision, device.type, world_size)
    estimate = estimate_memory(c, **settings)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if device.type == "cpu" else 1
    limit, source = available_memory(device, local)
    peak = estimate["bytes"]["peak"]
    safety = SAFETY.get(device.type, SAFETY["cuda"])
    if peak * safety > limit:
        changes = _fitting_changes(c, config, settings, limit)
        raise WillNotFitError(
            f"This run needs an estimated {describe(estimate)}; with the {safety}x headroom "
            f"a {device.type} process needs over that, more than the {source} of "
            f"{human_bytes(limit)}: it would run out of memory.",
            fix="Change one of: " + "; or ".join(changes),
        )
    params = estimate["parameters"]
    tokens = (
        config.max_steps * config.batch_size * config.grad_accum_steps * c.context_size * world_size
    )
    rate = matmul_flops_per_second(device, precision) * world_size
    seconds = flops_per_token(c, params) * tokens / (rate * ASSUMED_MFU)
    return {
        "memory": estimate,
        "memory_limit_bytes": limit,
        "memory_limit_source": source,
        "planned_tokens": tokens,
        "token_budget": token_budget_note(tokens, params),
        "eta_seconds_rough": round(seconds, 1),
        "eta_note": f"FLOPs at {ASSUMED_MFU:.0%} of a measured matmul rate of "
        f"{rate / 1e9:,.0f} GFLOP/s; --dry-run N measures the real rate",
    }


def render(plan: dict[str, Any]) -> str:
    """The preflight as a few terminal lines."""
    return "\n".join(
        [
            "preflight:",
            f"  memory: {describe(plan['memory'])}; limit "
            f"{human_bytes(plan['memory_limit_bytes'])} "
            f"({plan['memory_limit_source']})",
            f"  tokens: {plan['token_budget']}",
            f"  time: ~{plan['eta_seconds_rough'] / 60:.1f} min of training steps (rough: "
            f"{plan['eta_note']})",
        ]
    )
