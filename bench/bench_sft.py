"""Chat SFT at ~10M parameters: full fine-tuning vs LoRA, throughput and memory.

Claim (issue 5): LoRA needs less optimizer memory than full SFT (it keeps AdamW state
for the adapters only), and both report supervised tokens/s (answer tokens that carry
a loss, the unit SFT cares about).

Method: one random-init base checkpoint of preset `small` (6 x 384, ~10.8M parameters
with the byte tokenizer; throughput and memory do not depend on what the weights
learned) and the bundled chat rows (examples/tiny_chat.jsonl, context 256). Each
measurement is a fresh subprocess running the real stage (`train_sft`) for `--steps`
optimizer steps, so the process peak memory (ru_maxrss) belongs to one mode only. The
modes alternate full/LoRA, flipping the order every repeat; we report the median and
the min-max spread over `--repeats`.

- supervised tokens/s: the loop's own count (targets != -100) / training-step seconds.
- optimizer memory: bytes of every tensor in the AdamW state the run saved in
  checkpoint/training_state.pt (exp_avg, exp_avg_sq, step) at its last step: the
  optimizer's peak, since AdamW state is allocated once and never grows.
- process memory: peak resident set size of the worker process (and peak CUDA memory
  allocated when on a GPU).

    PYTHONPATH=src python bench/bench_sft.py [--steps 12] [--repeats 3] [--device cpu]

Writes bench/results/bench_sft.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from picochat.artifacts import atomic_write_json, software_versions

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "bench_sft.json"
CHAT = ROOT / "examples" / "tiny_chat.jsonl"
PRESET, CONTEXT, BATCH = "small", 256, 8
MODES = {
    "full": [],
    "lora": ["--peft", "lora", "--lora-rank", "8", "--lora-alpha", "16"],
}


def prepare(folder: Path) -> tuple[Path, Path]:
    """A byte tokenizer and a random-init `small` base checkpoint in `folder`."""
    from picochat.model.checkpoint import save_checkpoint
    from picochat.model.config import PRESETS, ModelConfig
    from picochat.model.transformer import Transformer
    from picochat.tokenizer import ByteTokenizer, save_tokenizer

    tok = ByteTokenizer()
    tok_path = save_tokenizer(tok, folder / "tokenizer.json")
    torch.manual_seed(0)
    shape = dict(PRESETS[PRESET], context_size=CONTEXT)
    model = Transformer(ModelConfig(vocab_size=tok.vocab_size, **shape))
    base = save_checkpoint(folder / "base", model, tokenizer_sha256=tok.sha256)
    return tok_path, base


def optimizer_bytes(checkpoint: Path) -> int:
    state = torch.load(checkpoint / "training_state.pt", map_location="cpu", weights_only=True)
    total = 0
    for per_param in state["optimizer"]["state"].values():
        total += sum(t.numel() * t.element_size() for t in per_param.values() if torch.is_tensor(t))
    return total


def worker(args: argparse.Namespace) -> None:
    """One SFT run in this process; prints its measurements as one JSON line."""
    from picochat.configs import SFTConfig
    from picochat.training.sft import train_sft

    lora = args.worker == "lora"
    config = SFTConfig(
        input=CHAT,
        tokenizer=Path(args.tokenizer),
        checkpoint=Path(args.base),
        out_dir=Path(args.out),
        max_steps=args.steps,
        eval_every=args.steps,
        eval_batches=1,
        batch_size=BATCH,
        warmup_steps=2,
        probe_rows=1,
        device=args.device,
        peft="lora" if lora else "none",
    )
    if torch.cuda.is_available() and args.device != "cpu":
        torch.cuda.reset_peak_memory_stats()
    result = train_sft(config, show_progress=False)
    report = result.report
    out = {
        "mode": args.worker,
        "supervised_tokens_per_sec": report["throughput"]["supervised_tokens_per_sec"],
        "optimizer_bytes": optimizer_bytes(result.checkpoint),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "trainable_parameters": report["model"]["trainable_parameters"],
        "num_parameters": report["model"]["num_parameters"],
        "device": report["device"],
    }
    if torch.cuda.is_available() and args.device != "cpu":
        out["peak_cuda_bytes"] = torch.cuda.max_memory_allocated()
    print(json.dumps(out))


def run_worker(mode: str, tok: Path, base: Path, out: Path, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--tokenizer",
        str(tok),
        "--base",
        str(base),
        "--out",
        str(out),
        "--steps",
        str(args.steps),
        "--device",
        args.device,
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--worker", choices=sorted(MODES))
    parser.add_argument("--tokenizer")
    parser.add_argument("--base")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tok, base = prepare(folder)
        for repeat in range(args.repeats):
            order = list(MODES) if repeat % 2 == 0 else list(reversed(MODES))
            for mode in order:
                runs[mode].append(run_worker(mode, tok, base, folder / f"{mode}{repeat}", args))
    rows = {}
    for mode, measured in runs.items():
        rows[mode] = {
            "supervised_tokens_per_sec": summary(
                [m["supervised_tokens_per_sec"] for m in measured]
            ),
            "optimizer_bytes": max(m["optimizer_bytes"] for m in measured),
            "peak_rss_bytes": summary([m["peak_rss_bytes"] for m in measured]),
            "trainable_parameters": measured[0]["trainable_parameters"],
            "num_parameters": measured[0]["num_parameters"],
        }
        if "peak_cuda_bytes" in measured[0]:
            rows[mode]["peak_cuda_bytes"] = max(m["peak_cuda_bytes"] for m in measured)
    ratio = rows["lora"]["optimizer_bytes"] / rows["full"]["optimizer_bytes"]
    mib = 1 / 2**20
    print(
        f"SFT, preset {PRESET}, context {CONTEXT}, batch {BATCH}, {args.steps} steps, "
        f"{args.repeats} repeats, device {runs['full'][0]['device']}"
    )
    print(
        f"{'mode':<6} {'trainable':>11} {'sup. tok/s (median, min-max)':>30} "
        f"{'optimizer MiB':>14} {'peak RSS MiB':>13}"
    )
    for mode, row in rows.items():
        tps = row["supervised_tokens_per_sec"]
        print(
            f"{mode:<6} {row['trainable_parameters']:>11,} "
            f"{tps['median']:>12.0f} ({tps['min']:.0f}-{tps['max']:.0f}){'':>6} "
            f"{row['optimizer_bytes'] * mib:>14.2f} {row['peak_rss_bytes']['median'] * mib:>13.0f}"
        )
    print(
        f"LoRA optimizer memory = {ratio:.3%} of full SFT's: "
        f"{'PASS' if ratio < 1 else 'FAIL'} (claim: less)"
    )
    atomic_write_json(
        RESULTS,
        {
            "claim": "LoRA SFT uses less optimizer memory than full SFT",
            "passed": ratio < 1,
            "optimizer_memory_ratio": ratio,
            "setup": {
                "preset": PRESET,
                "context_size": CONTEXT,
                "batch_size": BATCH,
                "steps": args.steps,
                "repeats": args.repeats,
                "lora": MODES["lora"],
                "data": str(CHAT.relative_to(ROOT)),
                "tokenizer": "byte",
            },
            "results": rows,
            "runs": runs,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "versions": software_versions(),
        },
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
