"""Peak memory of a DPO training step vs an SFT-style step on the same sequences.

Claim (issue 8): at ~10M parameters DPO needs no more than 1.3x the memory of SFT at
the same batch. "Same batch" is counted in sequences: DPO with P pairs runs 2P
sequences per step (P chosen + P rejected, one concatenated forward), so SFT gets
exactly those 2P sequences, as the same [2P, T] tensors with the same answer-token
mask. The only difference is the loss path:

- SFT: `model(inputs, targets)`: mean cross-entropy on the answer tokens (the model's
  chunked lm_head + loss, no full logits).
- DPO: what `picochat.training.dpo` does: the reference log-probs computed once up front
  (no-grad forward of the same pairs), then per step `sequence_logps` (per-sequence
  sums of answer-token log-probs) -> `dpo_terms` -> backward -> AdamW step.

Model: the `small` preset (6 layers, width 384, context 256): ~10.8M parameters with
the byte vocabulary (264 ids), ~12.2M with a 4096 vocabulary, ~23.2M with 32768 (the
row where full [2P, T, vocab] logits would show: before the model's per-token loss was
chunked, DPO measured 2.05x SFT there, one run). Sequences are real text
(../shared/data/tinyshakespeare.txt, rendered with the chat template, byte tokens, cut
to the context); for the 4096-vocab row the same ids go into a model with a 4096-row
embedding and head: memory depends on vocab size and sequence length, not on which ids.

How memory is measured: each (mode, vocab, repeat) runs in a fresh subprocess. On CPU:
peak resident set size (`ru_maxrss`) minus the RSS just before the first step (model,
optimizer and batch already built), i.e. the memory the steps add: gradients, AdamW
state, activations, logits. On CUDA: `torch.cuda.max_memory_allocated` minus allocated
before the first step. Runs alternate SFT/DPO; the table shows median and min-max.

    python bench/bench_dpo.py [--pairs 8] [--steps 3] [--repeats 3] [--device cpu]

Prints a table and writes bench/results/bench_dpo.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

from bench_paths import RESULTS_DIR, ROOT, SHAKESPEARE

sys.path.insert(0, str(ROOT / "src"))

RESULTS = RESULTS_DIR / "bench_dpo.json"
TARGET_RATIO = 1.3
ANSWER_CHARS = 220  # ~ prompt + answer fill most of the 256-token context


def _current_rss() -> int:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


def _pairs(count: int):
    from picochat.data.preferences import PreferencePair

    lines = [line for line in SHAKESPEARE.read_text().splitlines() if len(line) > 20]
    text = " ".join(lines)
    pairs = []
    for i in range(count):
        start = 5000 * (i + 1)
        prompt = lines[i * 37]
        chosen = text[start : start + ANSWER_CHARS]
        rejected = text[start + 90_000 : start + 90_000 + ANSWER_CHARS]
        messages = [{"role": "user", "content": prompt}]
        pairs.append(PreferencePair(i + 1, messages, chosen, rejected, None, str(i)))
    return pairs


def worker(mode: str, vocab_size: int, pairs: int, steps: int, device_name: str) -> dict:
    """One measurement in this (fresh) process."""
    import torch

    from picochat.model.config import resolve_model_config
    from picochat.model.transformer import Transformer
    from picochat.tokenizer import ByteTokenizer
    from picochat.training.dpo_data import answer_logps, collate, encode_pairs, sequence_logps
    from picochat.training.dpo_loss import dpo_terms
    from picochat.training.schedule import build_optimizer

    torch.manual_seed(0)
    device = torch.device(device_name)
    tokenizer = ByteTokenizer()
    shape = argparse.Namespace(preset="small")
    config = resolve_model_config(shape, max(vocab_size, tokenizer.vocab_size))
    model = Transformer(config).to(device)
    encoded, skipped = encode_pairs(_pairs(pairs), tokenizer, config.context_size)
    assert not skipped and len(encoded) == pairs
    batch = collate(encoded, tokenizer.pad_id).to(device)
    optimizer = build_optimizer(model, learning_rate=1e-4, weight_decay=0.1, device=device)
    model.train()
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    before_rss = _current_rss()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    reference = None
    if mode == "dpo":
        reference = answer_logps(
            model, encoded, pad_id=tokenizer.pad_id, batch_size=pairs, device=device,
            precision="fp32",
        )  # fmt: skip
    for _ in range(steps):
        if mode == "dpo":
            chosen, rejected = sequence_logps(model, batch)
            ref = reference.to(device)
            loss = dpo_terms(chosen, rejected, ref[:, 0], ref[:, 1], 0.1).losses.mean()
        else:
            loss = model(batch.inputs, batch.targets)[1]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize()
        added = torch.cuda.max_memory_allocated() - before
        method = "torch.cuda.max_memory_allocated - allocated before the first step"
    else:
        added = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before_rss
        method = "peak RSS (ru_maxrss) - RSS before the first step"
    return {
        "mode": mode,
        "vocab_size": config.vocab_size,
        "num_parameters": model.num_parameters(),
        "sequences_per_step": int(batch.inputs.shape[0]),
        "tokens_per_step": int(batch.inputs.numel()),
        "answer_tokens_per_step": int((batch.targets != -100).sum()),
        "added_bytes": int(added),
        "peak_before_steps_bytes": int(peak_before),
        "method": method,
    }


def _run_worker(args: argparse.Namespace, mode: str, vocab: int) -> dict:
    command = [
        sys.executable, __file__, "--worker", mode, "--vocab", str(vocab), "--pairs",
        str(args.pairs), "--steps", str(args.steps), "--device", args.device,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=8, help="DPO pairs per step (SFT: 2x rows)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vocab-sizes", default="264,4096,32768")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--worker", choices=("sft", "dpo"), help=argparse.SUPPRESS)
    parser.add_argument("--vocab", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.vocab, args.pairs, args.steps, args.device)))
        return
    if not SHAKESPEARE.is_file():
        print(f"skipped: {SHAKESPEARE} not found (real text is needed for the sequences)")
        return
    started = time.perf_counter()
    rows = []
    for vocab in (int(v) for v in args.vocab_sizes.split(",")):
        runs: dict[str, list[dict]] = {"sft": [], "dpo": []}
        for repeat in range(args.repeats):
            order = ("sft", "dpo") if repeat % 2 == 0 else ("dpo", "sft")
            for mode in order:
                runs[mode].append(_run_worker(args, mode, vocab))
        mib = {m: [r["added_bytes"] / 2**20 for r in runs[m]] for m in runs}
        ratios = [d / s for d, s in zip(mib["dpo"], mib["sft"], strict=True)]
        first = runs["dpo"][0]
        rows.append(
            {
                "vocab_size": first["vocab_size"],
                "num_parameters": first["num_parameters"],
                "sequences_per_step": first["sequences_per_step"],
                "tokens_per_step": first["tokens_per_step"],
                "answer_tokens_per_step": first["answer_tokens_per_step"],
                "sft_added_mib": {"median": statistics.median(mib["sft"]), "runs": mib["sft"]},
                "dpo_added_mib": {"median": statistics.median(mib["dpo"]), "runs": mib["dpo"]},
                "ratio": {
                    "median": statistics.median(ratios),
                    "min": min(ratios),
                    "max": max(ratios),
                },
                "meets_target": statistics.median(ratios) <= TARGET_RATIO,
                "method": first["method"],
            }
        )
    print(
        f"DPO vs SFT-style peak memory added by {args.steps} training steps, {args.pairs} pairs = "
        f"{2 * args.pairs} sequences per step on both sides ({args.device})"
    )
    print(f"{'vocab':>6} {'params':>11} {'SFT MiB':>9} {'DPO MiB':>9} {'ratio (min-max)':>22}")
    for row in rows:
        r = row["ratio"]
        print(
            f"{row['vocab_size']:>6} {row['num_parameters']:>11,} "
            f"{row['sft_added_mib']['median']:>9.1f} {row['dpo_added_mib']['median']:>9.1f} "
            f"{r['median']:>8.2f} ({r['min']:.2f}-{r['max']:.2f})"
            f"{'' if row['meets_target'] else '  > target'}"
        )
    result = {
        "claim": f"DPO peak memory <= {TARGET_RATIO}x SFT at the same sequences per step",
        "settings": {k: v for k, v in vars(args).items() if k not in ("worker", "vocab")}
        | {"model_preset": "small", "answer_chars": ANSWER_CHARS},
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "rows": rows,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
