"""Eval generation throughput: batched vs one-at-a-time greedy replies (items/s).

Claim (issue 7): at ~10M parameters, generating 200 eval replies in batches is >= 3x
faster than one prompt at a time. Both sides run the real eval path
(`stage.generate_replies` + `stage.checkpoint_reply_fn`: chat template, KV-cached
`generate_batch`), on the same untrained model and the same 200 items made by
`data eval-starter` from tinyshakespeare, alternating A/B per repeat. An untrained
model's greedy replies rarely stop early, so both sides generate about the same
number of tokens (reply characters counted, replies checked to be identical).

On CPU the prompt prefill is compute-bound and batching does not shrink it; the gain
comes from the decode steps, so it grows with --max-new-tokens (eval's default: 96).
Rounds stop starting after --budget-s, so the script stays within a few minutes.

    PYTHONPATH=src python bench/bench_eval.py [--items 200] [--repeats 3] [--device cpu]

Writes bench/results/bench_eval.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

from bench_paths import RESULTS_DIR, SHAKESPEARE
from picochat.artifacts import atomic_write_json
from picochat.data.eval_starter import build_items
from picochat.evaluation.items import parse_item
from picochat.evaluation.stage import checkpoint_reply_fn, conversations, generate_replies
from picochat.model.config import ModelConfig
from picochat.model.transformer import Transformer
from picochat.runtime import resolve_device
from picochat.tokenizer import CharTokenizer

RESULTS = RESULTS_DIR / "bench_eval.json"
CORPUS = SHAKESPEARE


def build(items: int, device: torch.device) -> tuple[Transformer, CharTokenizer, list]:
    text = CORPUS.read_text(encoding="utf-8")
    tok = CharTokenizer.train(text)
    # 6 x 384 with SwiGLU: ~10.7M parameters, the size the claim is about.
    config = ModelConfig(vocab_size=tok.vocab_size, n_layer=6, n_head=6, n_kv_head=6,
                         n_embd=384, context_size=256)  # fmt: skip
    torch.manual_seed(0)
    model = Transformer(config).to(device).eval()
    rows, _ = build_items(text, items, seed=0)
    distinct = len(rows)
    # The starter makes fewer items than asked from this corpus (171 for 200); repeating
    # them gives the claim's item count (each reply is still generated on its own).
    rows = [rows[i % distinct] for i in range(items)]
    print(f"{distinct} distinct starter items, cycled to {items}")
    return model, tok, conversations([parse_item(row) for row in rows])


def timed(convs: list, reply_fn, batch_size: int, device: torch.device) -> tuple[float, list]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    replies = generate_replies(convs, reply_fn, batch_size)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, replies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="at most this many A/B rounds")
    parser.add_argument(
        "--budget-s", type=float, default=150.0, help="start no new round after this long"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="EvalConfig's default")
    parser.add_argument("--max-new-tokens", type=int, default=96, help="EvalConfig's default")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if not CORPUS.is_file():
        print(f"skipped: {CORPUS} is absent")
        return 0
    device = resolve_device(args.device)
    model, tok, convs = build(args.items, device)
    reply_fn = checkpoint_reply_fn(model, tok, args.max_new_tokens)
    sides = {"one_at_a_time": 1, "batched": args.batch_size}
    generate_replies(convs[:4], reply_fn, 2)  # warm-up (allocator, kernels)
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    replies: dict[str, list[str]] = {}
    started = time.perf_counter()
    for repeat in range(args.repeats):
        if repeat and time.perf_counter() - started > args.budget_s:
            break
        names = list(sides) if repeat % 2 == 0 else list(reversed(sides))  # alternate A/B
        for name in names:
            elapsed, replies[name] = timed(convs, reply_fn, sides[name], device)
            seconds[name].append(elapsed)
    identical = replies["one_at_a_time"] == replies["batched"]
    reply_chars = sum(len(r) for r in replies["batched"])
    rows = {}
    for name, values in seconds.items():
        rate = [len(convs) / s for s in values]
        rows[name] = {
            "batch_size": sides[name],
            "seconds": values,
            "items_per_sec_median": statistics.median(rate),
            "items_per_sec_min": min(rate),
            "items_per_sec_max": max(rate),
        }
    speedup = (
        rows["batched"]["items_per_sec_median"] / rows["one_at_a_time"]["items_per_sec_median"]
    )
    rounds = len(seconds["batched"])
    print(f"{len(convs)} items, {model.num_parameters() / 1e6:.1f}M parameters, device {device}, "
          f"max_new_tokens {args.max_new_tokens}, {rounds} A/B rounds")  # fmt: skip
    print(f"{'side':<15}{'batch':>6}{'items/s median':>16}{'min':>9}{'max':>9}")
    for name, row in rows.items():
        print(f"{name:<15}{row['batch_size']:>6}{row['items_per_sec_median']:>16.2f}"
              f"{row['items_per_sec_min']:>9.2f}{row['items_per_sec_max']:>9.2f}")  # fmt: skip
    print(f"speedup (median): {speedup:.2f}x (target >= 3x); identical replies: {identical}")
    result = {
        "claim": "batched eval generation >= 3x items/s of one-at-a-time at ~10M parameters",
        "items": len(convs),
        "num_parameters": model.num_parameters(),
        "max_new_tokens": args.max_new_tokens,
        "reply_chars_total": reply_chars,
        "rounds": rounds,
        "device": str(device),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "machine": f"{platform.machine()} {platform.processor()} torch {torch.__version__} "
        f"threads {torch.get_num_threads()}",
        "sides": rows,
        "speedup_median": speedup,
        "identical_replies": identical,
        "target_met": speedup >= 3.0,
    }
    atomic_write_json(RESULTS, result)
    print(f"wrote {RESULTS}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
