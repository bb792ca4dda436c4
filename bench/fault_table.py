"""Issue 15's fault table: each bad input or fault class, run as a user would, with its
exit code and whether a traceback reached the terminal.

    python bench/fault_table.py [--out bench/results/fault_table.json]

Builds a tiny corpus, tokenizer, base and SFT run in a temporary folder (about a minute
on 2 cores), then runs one command per class and prints a Markdown table. The "before"
column quotes the issue as filed (what those commands did then); "after" is measured now.
The tests under tests/**/test_fault_*.py assert each of these; this script is the
one-page view for a note. Disk-full and read-only folders need a tmpfs and a non-root
user; they are covered by tests/training/test_fault_stage_guard.py, not here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")}


def picochat(*args: object, timeout: float = 600) -> tuple[int, str]:
    """(exit code, stderr) of `python -m picochat ARGS`."""
    command = [sys.executable, "-m", "picochat", "--quiet", *map(str, args)]
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stderr


def build(work: Path) -> dict[str, Path]:
    """corpus, tokenizer, a 2-step base run and a 1-step SFT run."""
    corpus = work / "corpus.txt"
    corpus.write_text((EXAMPLES / "tiny_corpus.txt").read_text(encoding="utf-8")[:20000])
    tok = work / "tokenizer.json"
    base, sft = work / "base", work / "sft"
    small = ["--preset", "smoke", "--context-size", "64", "--batch-size", "2", "--device", "cpu"]
    steps = [
        ("tok", "train", "--input", corpus, "--out", tok),
        ("train", "base", "--corpus", corpus, "--tokenizer", tok, "--out-dir", base,
         "--max-steps", "2", "--eval-every", "1", "--eval-batches", "1", *small),
        ("train", "sft", "--checkpoint", base / "checkpoint", "--tokenizer", tok,
         "--input", EXAMPLES / "tiny_chat.jsonl", "--out-dir", sft, "--max-steps", "1",
         "--batch-size", "2", "--device", "cpu"),
    ]  # fmt: skip
    for args in steps:
        code, err = picochat(*args)
        if code != 0:
            raise SystemExit(f"setup failed: {args[:2]}\n{err[-2000:]}")
    return {"corpus": corpus, "tok": tok, "base": base, "sft": sft, "small": small}


def base_args(p: dict, out: Path, *extra: object) -> list[object]:
    return ["train", "base", "--corpus", p["corpus"], "--tokenizer", p["tok"], "--out-dir", out,
            "--max-steps", "2", "--eval-every", "1", "--eval-batches", "1", *p["small"], *extra]  # fmt: skip


def concurrent_runs(p: dict, work: Path) -> tuple[int, str]:
    """Two `train base` into one folder at once: the second must be refused (lock)."""
    out = work / "race"
    first = subprocess.Popen(
        [sys.executable, "-m", "picochat", "--quiet", *map(str, base_args(p, out, "--max-steps", "40"))],
        env=ENV, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out / ".picochat.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    result = picochat(*base_args(p, out))
    first.wait(timeout=600)
    return result


def cases(p: dict, work: Path) -> list[tuple[str, str, object]]:
    """(class, before as filed, how to run it now)."""
    foreign = work / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    a_file = work / "a_file"
    a_file.write_text("keep me")
    bad_tok = work / "bad_tok.json"
    tok_json = json.loads(p["tok"].read_text())
    tok_json["added_tokens"] = [1, 2, 3]
    bad_tok.write_text(json.dumps(tok_json))
    corrupt = work / "corrupt_summary"
    corrupt.mkdir()
    (corrupt / "summary.json").write_text('{"run": ')
    hostile = work / "hostile_hf"
    hostile.mkdir()
    (hostile / "config.json").write_text('{"model_type": "llama"}')
    (hostile / "pytorch_model.bin").write_bytes(b"\x80\x04cos\nsystem\n(S'echo pwned'\ntR.")
    huge = work / "huge_ckpt"
    huge.mkdir()
    checkpoint = p["base"] / "checkpoint"
    for part in checkpoint.iterdir():
        (huge / part.name).write_bytes(part.read_bytes())
    config = json.loads((huge / "config.json").read_text())
    (config.get("model") or config)["vocab_size"] = 10**9
    (huge / "config.json").write_text(json.dumps(config))
    malformed = work / "rows.jsonl"
    malformed.write_text('{"text": "fine"}\n{"text": "also fine"}\n{"text": broken\n')
    binary = work / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    latin1 = work / "latin1.txt"
    latin1.write_bytes(
        "Le café est très bon. Il fait beau à Paris aujourd'hui.\n".encode("latin-1") * 20
    )
    run_export = ["export", "hf", "--checkpoint", p["sft"] / "checkpoint", "--tokenizer", p["tok"]]
    return [
        ("export hf into a non-empty foreign folder", "deleted its files, exit 0",
         lambda: picochat(*run_export, "--out-dir", foreign)),
        ("export hf onto an existing file", "renamed it to .old, exit 0",
         lambda: picochat(*run_export, "--out-dir", a_file)),
        ("export hf into the run folder it reads", "deleted the SFT run, exit 0",
         lambda: picochat(*run_export, "--out-dir", p["sft"])),
        ("two writers, one folder", "both crashed with tracebacks",
         lambda: concurrent_runs(p, work)),
        ("rerun over a finished base run", "overwrote it silently, exit 0",
         lambda: picochat(*base_args(p, p["base"]))),
        ("--resume with a changed --learning-rate", "accepted silently, exit 0",
         lambda: picochat(*base_args(p, p["base"], "--resume", "--max-steps", "3",
                                     "--learning-rate", "0.01"))),
        ("--learning-rate nan", "traceback", lambda: picochat(*base_args(p, work / "n", "--learning-rate", "nan"))),
        ("--max-minutes -1", "accepted", lambda: picochat(*base_args(p, work / "m", "--max-minutes", "-1"))),
        ("--warmup-steps -5", "accepted", lambda: picochat(*base_args(p, work / "w", "--warmup-steps", "-5"))),
        ("--batch-size 100000", "no step in 5 min", lambda: picochat(*base_args(p, work / "b", "--batch-size", "100000"))),
        ("--canary-count 1000000", "silent for 5 min", lambda: picochat(*base_args(p, work / "c", "--canary-count", "1000000"))),
        ("--temperature nan", "traceback",
         lambda: picochat("generate", "--checkpoint", p["base"] / "checkpoint", "--tokenizer", p["tok"],
                          "--prompt", "hi", "--temperature", "nan")),
        ("compare a corrupt summary.json", "traceback",
         lambda: picochat("compare", corrupt, corrupt)),
        ("tokenizer.json with added_tokens [1,2,3]", "traceback",
         lambda: picochat("generate", "--checkpoint", p["base"] / "checkpoint", "--tokenizer",
                          bad_tok, "--prompt", "hi")),
        ("HF folder with only a pickle pytorch_model.bin", "unpickled by torch",
         lambda: picochat("generate", "--hf-model", hostile, "--prompt", "hi")),
        ("checkpoint config vocab_size 1e9", "tried to allocate 128 GB",
         lambda: picochat("generate", "--checkpoint", huge, "--tokenizer", p["tok"], "--prompt", "hi")),
        ("data hf-import on a malformed JSONL row", "pyarrow traceback, wrong row",
         lambda: picochat("data", "hf-import", "--dataset", malformed, "--out", work / "imp.txt")),
        ("--support-corpus a binary file", "accepted",
         lambda: picochat("eval", "chat", "--checkpoint", p["sft"] / "checkpoint", "--tokenizer",
                          p["tok"], "--input", EXAMPLES / "tiny_eval.jsonl", "--out-dir",
                          work / "ev", "--support-corpus", binary)),
        ("eval-starter on Latin-1 text", "'no sentence found'",
         lambda: picochat("data", "eval-starter", "--input", latin1, "--out", work / "s.jsonl")),
        ("--min-reference-f1 nan", "accepted",
         lambda: picochat("eval", "chat", "--checkpoint", p["sft"] / "checkpoint", "--tokenizer",
                          p["tok"], "--input", EXAMPLES / "tiny_eval.jsonl", "--out-dir",
                          work / "ev2", "--min-reference-f1", "nan")),
    ]  # fmt: skip


def _message(err: str) -> str:
    """The error line (argparse's usage lines come first; library logging may too)."""
    lines = err.strip().splitlines()
    return next((ln for ln in lines if "error:" in ln), lines[0] if lines else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/fault_table.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        p = build(work)
        rows = []
        for name, before, run in cases(p, work):
            code, err = run()
            rows.append({"class": name, "before": before, "exit": code,
                         "traceback": "Traceback" in err, "message": _message(err)})  # fmt: skip
    print("| input / fault class | before (as filed) | after: exit | traceback | first line |")
    print("|---|---|---|---|---|")
    for r in rows:
        line = r["message"][:110].replace("|", "/")
        print(
            f"| {r['class']} | {r['before']} | {r['exit']} | {'yes' if r['traceback'] else 'no'} | {line} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
