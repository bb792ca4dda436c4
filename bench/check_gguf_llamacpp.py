"""`picochat export gguf` in a real llama.cpp (llama-cpp-python): same tokens as Picochat?

For each dtype (f32, f16, bf16, q8_0) the script exports one checkpoint, loads the file
in llama.cpp and, on 5 prompts:
- checks llama.cpp tokenizes each prompt exactly as Picochat (`<|bos|>` + ids);
- generates 64 greedy tokens on both sides and counts agreeing tokens (up to the first
  difference and in total);
- feeds llama.cpp Picochat's own greedy sequence and reports the max |logit difference|.

Without --checkpoint it trains its own model first (a bpe tokenizer and the `smoke`
preset, context 128, on tinyshakespeare from ../shared/data, or the bundled example corpus), because
a random model's near-tied logits would make greedy agreement meaningless.

    pip install llama-cpp-python   # source build (~30-60 min on 2 cores)
    PYTHONPATH=src python bench/check_gguf_llamacpp.py [--checkpoint C --tokenizer T]

Writes bench/results/check_gguf_llamacpp.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench_paths import RESULTS_DIR, ROOT, SHAKESPEARE
from picochat.configs import ExportGGUFConfig
from picochat.generation import generate_ids, text_prompt_ids
from picochat.hf.gguf_export import export_gguf
from picochat.model.checkpoint import load_checkpoint
from picochat.tokenizer import load_tokenizer

PROMPTS = ["ROMEO:", "First Citizen:\nBefore we proceed", "The king", "O, what a", "KING HENRY:"]
NEW_TOKENS = 64
DTYPES = ("f32", "f16", "bf16", "q8_0")


def train_model(work: Path, steps: int, preset: str) -> tuple[Path, Path]:
    corpus = SHAKESPEARE if SHAKESPEARE.is_file() else ROOT / "examples" / "tiny_corpus.txt"
    tok = work / "tokenizer.json"
    run = [sys.executable, "-m", "picochat", "--quiet"]
    subprocess.run([*run, "tok", "train", "--input", str(corpus), "--out", str(tok),
                    "--type", "bpe", "--vocab-size", "512"], check=True)  # fmt: skip
    subprocess.run([*run, "train", "base", "--corpus", str(corpus), "--tokenizer", str(tok),
                    "--out-dir", str(work / "base"), "--preset", preset, "--max-steps", str(steps),
                    "--context-size", "128", "--batch-size", "8", "--eval-every", "100",
                    "--split-mode", "window", "--device", "cpu"], check=True)  # fmt: skip
    return work / "base" / "checkpoint", tok


def llama_greedy(llm, ids: list[int]) -> list[int]:
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(NEW_TOKENS):
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(token)
        llm.eval([token])
    return out


def check_dtype(path: Path, model, tok) -> dict:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=model.config.context_size, logits_all=True,
                verbose=False, n_threads=2, n_batch=model.config.context_size)  # fmt: skip
    rows = []
    for prompt in PROMPTS:
        ours_prompt = text_prompt_ids(tok, prompt)
        theirs_prompt = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
        ours = generate_ids(model, [ours_prompt], stop_ids=(), max_new_tokens=NEW_TOKENS,
                            temperature=0.0)[0]  # fmt: skip
        theirs = llama_greedy(llm, ours_prompt)
        prefix = next(
            (i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b), len(ours)
        )
        sequence = ours_prompt + ours
        llm.reset()
        llm.eval(sequence)
        with torch.no_grad():
            native = model(torch.tensor([sequence]))[0][0].numpy()
        difference = float(np.abs(np.asarray(llm.scores[: len(sequence)]) - native).max())
        rows.append({
            "prompt": prompt,
            "prompt_ids_equal": list(theirs_prompt) == ours_prompt,
            "agreeing_prefix": prefix,
            "agreeing_tokens": sum(a == b for a, b in zip(ours, theirs, strict=True)),
            "max_logit_difference": difference,
        })  # fmt: skip
    llm.close()
    return {
        "prompts": rows,
        "all_64_equal": sum(r["agreeing_prefix"] == NEW_TOKENS for r in rows),
        "max_logit_difference": max(r["max_logit_difference"] for r in rows),
        "file_bytes": path.stat().st_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--tokenizer", type=Path)
    parser.add_argument(
        "--steps", type=int, default=300, help="training steps without --checkpoint"
    )
    parser.add_argument("--preset", default="smoke", help="model preset without --checkpoint")
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    args = parser.parse_args()
    import llama_cpp

    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="gguf_check_"))
    start = time.perf_counter()
    checkpoint, tokenizer = args.checkpoint, args.tokenizer
    if checkpoint is None:
        checkpoint, tokenizer = train_model(work, args.steps, args.preset)
    tok = load_tokenizer(tokenizer)
    model = load_checkpoint(checkpoint, tokenizer=tok)
    results = {}
    for dtype in args.dtypes.split(","):
        out = work / f"model-{dtype}.gguf"
        export_gguf(
            ExportGGUFConfig(checkpoint=checkpoint, tokenizer=tokenizer, out=out, dtype=dtype)
        )
        results[dtype] = check_dtype(out, model, tok)
        r = results[dtype]
        print(f"{dtype:5} prompts tokenized alike {sum(p['prompt_ids_equal'] for p in r['prompts'])}/5"
              f"  greedy 64/64 equal on {r['all_64_equal']}/5 prompts"
              f"  agreeing tokens {[p['agreeing_tokens'] for p in r['prompts']]}"
              f"  max |logit diff| {r['max_logit_difference']:.2e}")  # fmt: skip
    record = {
        "llama_cpp_python": llama_cpp.__version__,
        "checkpoint": str(checkpoint),
        "parameters": model.num_parameters(),
        "new_tokens": NEW_TOKENS,
        "results": results,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "check_gguf_llamacpp.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
