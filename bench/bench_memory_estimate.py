"""Preflight memory estimate vs measured peak memory of real CPU training steps.

Claim (issue 19): `picochat.training.memory_estimate` is within 15% of the measured
peak at three model sizes. Each case runs in a fresh child process: it builds the
model and optimizer the way the training loop does (`build_optimizer`, bf16 autocast
when the CPU has it, gradient clipping, activation checkpointing when asked) and runs
`STEPS` optimizer steps on random tokens. Measured = peak RSS (`ru_maxrss`) minus the
RSS just before the model was built; the estimate is for the same settings.

Two things RSS holds that are not the run's memory, removed so RSS follows what
training keeps alive: torch's one-time library initialisation (thread pools, kernels:
~85 MB here), absorbed by a warm-up step of a throwaway 35K-parameter model before the
baseline; and glibc's dynamic mmap threshold, which after the first large free keeps
freed activation buffers in the heap (peak RSS of the tiny case 1.4x its live memory):
the children run with MALLOC_MMAP_THRESHOLD_=65536, so freed buffers go back to the
OS. A plain process needs that extra, which is why the preflight refuses a CPU run only
when the estimate times `capacity.SAFETY["cpu"]` exceeds the available RAM.

    PYTHONPATH=src python bench/bench_memory_estimate.py [--quick]

Writes bench/results/bench_memory_estimate.json and prints a table. Memory, not
time, is measured, so other processes on the machine do not change the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

from bench_paths import RESULTS_DIR, ROOT

RESULTS = RESULTS_DIR / "bench_memory_estimate.json"
STEPS = 3
TOLERANCE = 0.15
# (name, preset, batch, context, precision, optimizer, activation checkpointing)
CASES = [
    ("tiny", "tiny", 16, 256, "auto", "adamw", False),
    ("small", "small", 16, 256, "auto", "adamw", False),
    ("medium", "medium", 8, 512, "auto", "adamw", False),
    ("small fp32", "small", 16, 256, "fp32", "adamw", False),
    ("small muon", "small", 16, 256, "auto", "muon", False),
    ("medium ckpt", "medium", 8, 512, "auto", "adamw", True),
]
VOCAB = 4096


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def child(case: list) -> dict:
    """Run in a fresh process: build, train STEPS steps, report measured vs estimated."""
    import torch

    from picochat.configs import ModelShapeConfig
    from picochat.model.config import resolve_model_config
    from picochat.model.transformer import Transformer
    from picochat.runtime import autocast, resolve_precision
    from picochat.training.memory_estimate import estimate_memory
    from picochat.training.schedule import build_optimizer

    name, preset, batch, context, precision, optimizer_name, checkpointing = case
    device = torch.device("cpu")
    precision = resolve_precision(precision, device)
    config = resolve_model_config(
        ModelShapeConfig(preset=preset, context_size=context), vocab_size=VOCAB
    )
    torch.manual_seed(0)
    data = torch.randint(0, VOCAB, (STEPS, batch, context + 1))
    warm = Transformer(resolve_model_config(ModelShapeConfig(preset="smoke"), vocab_size=64))
    warm_optimizer = build_optimizer(warm, learning_rate=1e-3, weight_decay=0.1, device=device)
    with autocast(device, precision):
        _, loss = warm(torch.randint(0, 64, (2, 64)), torch.randint(0, 64, (2, 64)))
    loss.backward()
    warm_optimizer.step()
    del warm, warm_optimizer, loss
    before = rss_bytes()
    model = Transformer(config)
    model.activation_checkpointing = checkpointing
    optimizer = build_optimizer(
        model, learning_rate=1e-3, weight_decay=0.1, device=device, optimizer=optimizer_name
    )
    for step in range(STEPS):
        with autocast(device, precision):
            _, loss = model(data[step, :, :-1], data[step, :, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    estimate = estimate_memory(
        config,
        batch_size=batch,
        precision=precision,
        device_type="cpu",
        optimizer=optimizer_name,
        activation_checkpointing=checkpointing,
    )
    measured = peak - before
    return {
        "case": name,
        "parameters": model.num_parameters(),
        "batch": batch,
        "context": context,
        "precision": precision,
        "optimizer": optimizer_name,
        "activation_checkpointing": checkpointing,
        "measured_peak_rss_delta": measured,
        "estimate": estimate["bytes"],
        "ratio": estimate["bytes"]["peak"] / measured,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="The three main sizes only.")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    from picochat.artifacts import atomic_write_json, software_versions

    cases = CASES[:3] if args.quick else CASES
    rows = []
    for case in cases:
        done = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(case)],
            capture_output=True,
            text=True,
            check=True,
            env={
                "PYTHONPATH": str(ROOT / "src"),
                "PATH": "/usr/bin:/bin",
                "MALLOC_MMAP_THRESHOLD_": "65536",  # see the module docstring
            },
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{case[0]}: estimate / measured = {rows[-1]['ratio']:.3f}", flush=True)
    mib = 1024**2
    print(f"\n{'case':<14}{'params':>10}{'B x T':>10}{'prec':>6}{'estimate':>11}{'measured':>11}"
          f"{'ratio':>7}")  # fmt: skip
    for r in rows:
        print(
            f"{r['case']:<14}{r['parameters']:>10,}{r['batch']:>5} x{r['context']:>4}"
            f"{r['precision']:>6}{r['estimate']['peak'] / mib:>9.0f}Mi"
            f"{r['measured_peak_rss_delta'] / mib:>9.0f}Mi{r['ratio']:>7.2f}"
        )
    within = all(abs(r["ratio"] - 1) <= TOLERANCE for r in rows)
    print(f"\nevery estimate within {TOLERANCE:.0%} of the measured peak: {within}")
    atomic_write_json(
        RESULTS,
        {
            "claim": f"preflight memory estimate within {TOLERANCE:.0%} of measured peak RSS delta",
            "steps": STEPS,
            "vocab_size": VOCAB,
            "rows": rows,
            "all_within_tolerance": within,
            "versions": software_versions(),
        },
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
