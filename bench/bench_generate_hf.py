"""Decode speed: Picochat's KV-cached generation vs transformers `generate`, same weights.

A ~12M-parameter Picochat model (the `small` preset, vocab 4096, context 512) is
converted in memory to a `LlamaForCausalLM` with `picochat.hf.export.to_llama` (the
same conversion `picochat export hf` writes), so every side runs identical fp32
weights. Each side decodes 256 new tokens greedily (no early stop) after a 16-token
prompt, at batch 1 and batch 8. Four sides:

- transformers: `generate` with its defaults (eager, dynamic cache): the reference;
- transformers compiled: its documented fast path, a static cache and
  `torch.compile(model.forward)` (a second reference, so compiled is compared with
  compiled too);
- Picochat eager;
- Picochat compiled: `compile_for_decoding`, what `--compile` does in chat, generate
  and eval chat.

Each side's first call per batch size (a full-length decode) is its warm-up; for the
compiled sides that call includes compiling, and its wall time is reported as
`first_call_seconds`, not counted in tokens/s. Then the sides alternate, `--repeats`
times; the table shows median tokens/s (min-max), each side's speedup over the
reference, and the share of greedy tokens on which it agrees with the reference (a
correctness check of the comparison itself).

    PYTHONPATH=src python bench/bench_generate_hf.py [--device cpu|cuda] [--repeats 3]

Target (issue 10): Picochat >= 1.5x transformers `generate` at both batch sizes.
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

from picochat.generation import generate_ids
from picochat.hf.export import to_llama
from picochat.model.compile import compile_for_decoding
from picochat.model.config import PRESETS, ModelConfig
from picochat.model.transformer import Transformer
from picochat.tokenizer.special import SPECIAL_TOKENS

RESULTS = Path(__file__).resolve().parent / "results" / "bench_generate_hf.json"
PROMPT_TOKENS = 16
REFERENCE = "transformers"


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
    hf_compiled = to_llama(native, ids).to(device)
    hf_compiled.generation_config.eos_token_id = None
    hf_compiled.generation_config.cache_implementation = "static"
    hf_compiled.forward = torch.compile(hf_compiled.forward)
    sides = {
        REFERENCE: (hf_decode, hf),
        "transformers_compiled": (hf_decode, hf_compiled),
        "picochat": (picochat_decode, native),
        "picochat_compiled": (picochat_decode, compile_for_decoding(copy.deepcopy(native))),
    }
    rows = []
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        prompts = torch.randint(len(SPECIAL_TOKENS), 4096, (batch, PROMPT_TOKENS)).tolist()
        first_call = {  # full length: a static cache is sized by it (a shorter one recompiles)
            name: timed(fn, device, model, prompts, args.new_tokens)[0]
            for name, (fn, model) in sides.items()
        }
        speeds: dict[str, list[float]] = {name: [] for name in sides}
        outputs = {}
        for _ in range(args.repeats):  # alternate so drift hits every side alike
            for name, (fn, model) in sides.items():
                seconds, outputs[name] = timed(fn, device, model, prompts, args.new_tokens)
                speeds[name].append(batch * args.new_tokens / seconds)
                print(f"batch {batch} {name}: {speeds[name][-1]:.0f} tokens/s", flush=True)
        row: dict = {"batch": batch, "new_tokens": args.new_tokens}
        for name, values in speeds.items():
            row[name] = {
                "median_tokens_per_sec": statistics.median(values),
                "min": min(values),
                "max": max(values),
                "runs": values,
                "first_call_seconds": first_call[name],
            }
        reference = row[REFERENCE]["median_tokens_per_sec"]
        for name in sides:
            row[name]["speedup"] = row[name]["median_tokens_per_sec"] / reference
            row[name]["greedy_token_agreement"] = agreement(outputs[name], outputs[REFERENCE])
        rows.append(row)
    print(f"\ndecode tokens/s, {native.num_parameters() / 1e6:.1f}M params, {device}, "
          f"{args.new_tokens} new tokens, median of {args.repeats} (min-max); x = speedup "
          f"over {REFERENCE} generate; agree = same greedy tokens; first = first call s")  # fmt: skip
    print(f"{'side':<22} {'batch':>5} | {'tokens/s':>18} | {'x':>6} | agree | first")
    for r in rows:
        for name in sides:
            p = r[name]
            print(f"{name:<22} {r['batch']:>5} | {cell(p):>18} | {p['speedup']:>5.2f}x | "
                  f"{p['greedy_token_agreement']:>5.0%} | {p['first_call_seconds']:.0f} s")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "bench": "bench_generate_hf",
        "target": "picochat >= 1.5x transformers generate",
        "reference": REFERENCE,
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
