"""Decode throughput of `picochat.generation` with and without the KV cache, batch 1 and 8.

Claim (issue 6): at ~10M parameters (preset `small`, vocab 512, context 512), a prompt
of 64 tokens and 256 new tokens, generating with the preallocated KV cache is >= 5x
faster than recomputing the whole sequence every step, and a batch of 8 prompts
yields >= 4x the tokens/s of a single prompt.

Method: one randomly initialised model (speed does not depend on the weights or on
token values; no stop tokens, so every run makes exactly 256 tokens per row), greedy
decoding through the public `generate_ids`. tokens/s = rows * new tokens / wall time,
prefill included. Within each batch size the cached and uncached runs alternate
(order flipped every repeat); median and min-max spread are reported. The uncached
run costs ~60x more here, so it gets fewer repeats (`--nocache-repeats`).

    PYTHONPATH=src python bench/bench_generate.py [--quick] [--device cuda]

Writes bench/results/bench_generate.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from picochat.artifacts import atomic_write_json, software_versions
from picochat.generation import generate_ids
from picochat.model.config import PRESETS, ModelConfig
from picochat.model.transformer import Transformer
from picochat.runtime import resolve_device

RESULTS = Path(__file__).resolve().parent / "results" / "bench_generate.json"
VOCAB, CONTEXT, PROMPT, NEW = 512, 512, 64, 256
CACHE_SPEEDUP_TARGET, BATCH_SCALING_TARGET = 5.0, 4.0


def run_once(model, prompts, use_cache: bool, device, new: int = NEW) -> float:
    """tokens/s of one generate_ids call."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    out = generate_ids(
        model, prompts, max_new_tokens=new, temperature=0, stop_ids=(), use_cache=use_cache
    )
    sync()
    elapsed = time.perf_counter() - start
    assert all(len(row) == new for row in out)
    return len(prompts) * new / elapsed


def stats(samples: list[float]) -> dict:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "samples": samples}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=5, help="cached runs per batch size")
    parser.add_argument(
        "--nocache-repeats", type=int, default=2, help="uncached runs per batch size"
    )
    parser.add_argument("--quick", action="store_true", help="3 cached runs, 1 uncached")
    parser.add_argument("--new-tokens", type=int, default=NEW, help="the claim is at 256")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.nocache_repeats = 3, 1
    device = resolve_device(args.device)
    torch.manual_seed(0)
    shape = dict(PRESETS["small"], context_size=CONTEXT)
    model = Transformer(ModelConfig(vocab_size=VOCAB, **shape)).to(device).eval()
    gen = torch.Generator().manual_seed(0)
    all_prompts = torch.randint(8, VOCAB, (8, PROMPT), generator=gen).tolist()
    run_once(model, all_prompts[:1], True, device)  # warm-up

    results: dict[str, dict] = {}
    for batch in (1, 8):
        prompts = all_prompts[:batch]
        samples: dict[bool, list[float]] = {True: [], False: []}
        for r in range(args.repeats):
            order = (True, False) if r % 2 == 0 else (False, True)
            for use_cache in order:
                if use_cache or len(samples[False]) < args.nocache_repeats:
                    samples[use_cache].append(
                        run_once(model, prompts, use_cache, device, args.new_tokens)
                    )
        results[f"batch{batch}_cache"] = stats(samples[True])
        results[f"batch{batch}_nocache"] = stats(samples[False])
        print(f"batch {batch}: cache {results[f'batch{batch}_cache']['median']:.0f} tok/s, "
              f"no cache {results[f'batch{batch}_nocache']['median']:.0f} tok/s", flush=True)  # fmt: skip

    med = {k: v["median"] for k, v in results.items()}
    claims = {
        "cache_speedup_batch1": med["batch1_cache"] / med["batch1_nocache"],
        "cache_speedup_batch8": med["batch8_cache"] / med["batch8_nocache"],
        "batch8_over_batch1_cache": med["batch8_cache"] / med["batch1_cache"],
    }
    targets = {
        "cache_speedup_batch1": CACHE_SPEEDUP_TARGET,
        "cache_speedup_batch8": CACHE_SPEEDUP_TARGET,
        "batch8_over_batch1_cache": BATCH_SCALING_TARGET,
    }
    params = model.num_parameters()
    print()
    print(f"Decode, {params / 1e6:.1f}M params, prompt {PROMPT}, {args.new_tokens} new "
          f"tokens, greedy, {device} ({torch.get_num_threads()} threads)")  # fmt: skip
    print("| run             | tokens/s median (min-max) |")
    print("|-----------------|---------------------------|")
    for name, s in results.items():
        print(f"| {name:<15} | {s['median']:8.1f} ({s['min']:.1f}-{s['max']:.1f}) |")
    print("| claim                    | value  | target |")
    print("|--------------------------|--------|--------|")
    for name, value in claims.items():
        ok = "ok" if value >= targets[name] else "MISS"
        print(f"| {name:<24} | {value:5.2f}x | >={targets[name]:.0f}x {ok} |")

    atomic_write_json(
        args.out,
        {
            "bench": "generate",
            "shape": {
                "preset": "small",
                "vocab_size": VOCAB,
                "context": CONTEXT,
                "parameters": params,
                "prompt_tokens": PROMPT,
                "new_tokens": args.new_tokens,
            },  # fmt: skip
            "settings": {
                "repeats": args.repeats,
                "nocache_repeats": args.nocache_repeats,
                "quick": args.quick,
                "decoding": "greedy",
            },  # fmt: skip
            "device": str(device),
            "threads": torch.get_num_threads(),
            # 1/5/15-minute load at the end: timings from a busy machine are noise.
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "machine": platform.processor() or platform.machine(),
            "versions": software_versions(),
            "tokens_per_sec": results,
            "claims": {
                k: {"value": v, "target": targets[k], "meets_target": v >= targets[k]}
                for k, v in claims.items()
            },  # fmt: skip
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
