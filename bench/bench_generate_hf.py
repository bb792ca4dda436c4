"""Decode speed: Picochat's KV-cached generation vs transformers `generate`, same weights.

A ~12M-parameter Picochat model (the `small` preset, vocab 4096, context 512) is
converted in memory to a `LlamaForCausalLM` with `picochat.export_hf.to_llama` (the
same conversion `picochat export hf` writes), so both sides run identical fp32
weights. Each side decodes 256 new tokens greedily (no early stop) after a 16-token
prompt, at batch 1 and batch 8. Runs alternate A/B, `--repeats` times each after one
warm-up; the table shows the median tokens/s with min-max, and the share of greedy
tokens on which the two sides agree (a correctness check of the comparison itself).

    PYTHONPATH=src python bench/bench_generate_hf.py [--device cpu|cuda] [--repeats 3]

Target (issue 10): Picochat >= 1.5x transformers at both batch sizes (met by the
compiled side; the eager side is reported beside it).
Writes bench/results/bench_generate_hf.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from picochat.export_hf import to_llama
from picochat.generation import generate_ids
from picochat.model.config import PRESETS, ModelConfig
from picochat.model.transformer import Transformer, compile_for_decoding
from picochat.tokenizer.special import SPECIAL_TOKENS

RESULTS = Path(__file__).resolve().parent / "results" / "bench_generate_hf.json"
PROMPT_TOKENS = 16


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def picochat_decode(model, prompts, new_tokens):
    return generate_ids(model, prompts, stop_ids=(), max_new_tokens=new_tokens, temperature=0.0)


def hf_decode(model, prompts, new_tokens):
    ids = torch.tensor(prompts, device=model.device)
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        pad_token_id=SPECIAL_TOKENS.index("<|pad|>"),
    )
    return out[:, ids.shape[1] :].tolist()


def agreement(a: list[list[int]], b: list[list[int]]) -> float:
    """Share of positions where two batches of greedy outputs have the same token."""
    pairs = [(x, y) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True)]
    return sum(x == y for x, y in pairs) / len(pairs)


def cell(side: dict) -> str:
    return f"{side['median_tokens_per_sec']:.0f} ({side['min']:.0f}-{side['max']:.0f})"


def timed(fn, device, *args):
    _sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        result = fn(*args)
    _sync(device)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    args = parser.parse_args()
    if args.threads:  # on a CPU shared with other jobs, 1 thread avoids OpenMP spin stalls
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    shape = dict(PRESETS["small"], context_size=512)
    config = ModelConfig(vocab_size=4096, **shape)
    native = Transformer(config).to(device).eval()
    ids = {name: i for i, name in enumerate(SPECIAL_TOKENS)}
    hf = to_llama(native, ids).to(device)
    hf.generation_config.eos_token_id = None  # decode the full length on both sides
    compiled = compile_for_decoding(copy.deepcopy(native))
    sides = {
        "picochat": (picochat_decode, native),
        "picochat_compiled": (picochat_decode, compiled),
        "transformers": (hf_decode, hf),
    }
    rows = []
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        prompts = torch.randint(len(SPECIAL_TOKENS), 4096, (batch, PROMPT_TOKENS)).tolist()
        # Warm-up (allocator, kernels); for the compiled side this is the compile.
        warmup = {
            name: timed(fn, device, model, prompts, 8)[0] for name, (fn, model) in sides.items()
        }
        speeds: dict[str, list[float]] = {name: [] for name in sides}
        outputs = {}
        for _ in range(args.repeats):  # alternate so drift hits every side alike
            for name, (fn, model) in sides.items():
                seconds, outputs[name] = timed(fn, device, model, prompts, args.new_tokens)
                speeds[name].append(batch * args.new_tokens / seconds)
                print(f"batch {batch} {name}: {speeds[name][-1]:.0f} tokens/s", flush=True)
        row = {"batch": batch, "new_tokens": args.new_tokens,
               "compile_seconds": warmup["picochat_compiled"]}  # fmt: skip
        for name, values in speeds.items():
            row[name] = {
                "median_tokens_per_sec": statistics.median(values),
                "min": min(values),
                "max": max(values),
                "runs": values,
            }
        hf_speed = row["transformers"]["median_tokens_per_sec"]
        for name in ("picochat", "picochat_compiled"):
            row[name]["speedup"] = row[name]["median_tokens_per_sec"] / hf_speed
            row[name]["greedy_token_agreement"] = agreement(outputs[name], outputs["transformers"])
        rows.append(row)
    print(f"\ndecode tokens/s, {native.num_parameters() / 1e6:.1f}M params, {device}, "
          f"{args.new_tokens} new tokens, median of {args.repeats} (min-max); "
          "x = speedup over transformers, agree = same greedy tokens")  # fmt: skip
    print(f"{'batch':>5} | {'transformers':>18} | {'picochat eager':>26} | "
          f"{'picochat compiled':>26} | compile")  # fmt: skip
    for r in rows:
        cells = [cell(r["transformers"])]
        for name in ("picochat", "picochat_compiled"):
            p = r[name]
            cells.append(f"{cell(p)} {p['speedup']:.2f}x {p['greedy_token_agreement']:.0%}")
        print(f"{r['batch']:>5} | {cells[0]:>18} | {cells[1]:>26} | {cells[2]:>26} | "
              f"{r['compile_seconds']:.0f} s")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "bench": "bench_generate_hf",
        "target": "picochat >= 1.5x transformers generate (compiled side)",
        "model": {"num_parameters": native.num_parameters(), **config.to_dict()},
        "device": str(device),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "load_average_1m": os.getloadavg()[0],  # > cpus: other jobs shared the CPU
        },
        "prompt_tokens": PROMPT_TOKENS,
        "repeats": args.repeats,
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
