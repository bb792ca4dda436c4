"""`run tiny` under faults: two writers on one folder, and a SIGKILL before any checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

SMALL = [
    "--base-preset", "smoke", "--base-batch-size", "2",
    "--base-eval-batches", "1", "--base-early-stop-patience", "0", "--no-dpo",
]  # fmt: skip


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _pack(folder: Path) -> Path:
    """A few rows of the bundled pack: enough for every stage, fast to train."""
    folder.mkdir(parents=True, exist_ok=True)
    chat = (EXAMPLES / "tiny_chat.jsonl").read_text(encoding="utf-8").splitlines()[:4]
    (folder / "chat.jsonl").write_text("\n".join(chat) + "\n", encoding="utf-8")
    item = {"user": "Name one stage of the pipeline.", "level": "smoke", "max_words": 40}
    (folder / "eval.jsonl").write_text(json.dumps(item) + "\n", encoding="utf-8")
    text = (EXAMPLES / "tiny_corpus.txt").read_text(encoding="utf-8")[:3000]
    (folder / "corpus.txt").write_text(text, encoding="utf-8")
    pack = {"name": "t", "corpus": {"input": "corpus.txt"}, "chat": "chat.jsonl",
            "eval": "eval.jsonl"}  # fmt: skip
    (folder / "pack.json").write_text(json.dumps(pack), encoding="utf-8")
    return folder / "pack.json"


def _cli(out: Path, *extra: str) -> list[str]:
    pack = _pack(out.parent / "pack")
    return [sys.executable, "-m", "picochat", "run", "tiny", "--out-dir", str(out),
            "--dataset-pack", str(pack), *SMALL, *extra]  # fmt: skip


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_two_runs_started_together_one_is_refused_naming_the_other(tmp_path):
    out = tmp_path / "run"
    procs = [
        subprocess.Popen(
            _cli(out, "--preflight-only"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    refused = next(r for r in results if r[0] == 2)
    winner = next(p for p, r in zip(procs, results, strict=True) if r[0] == 0)
    assert f"PID {winner.pid}" in refused[2] and "Traceback" not in refused[2]
    assert json.loads((out / "corpus_manifest.json").read_text())["documents"]


def test_sigkill_before_the_first_checkpoint_reruns_base_from_scratch_and_says_so(tmp_path):
    out = tmp_path / "run"
    # The first checkpoint comes at the end of training; the kill lands as base starts.
    flags = ["--base-max-steps", "6", "--base-eval-every", "6", "--base-context-size", "128",
             "--base-precision", "fp32", "--sft-precision", "fp32", "--sft-max-steps", "1",
             "--sft-batch-size", "2", "--eval-max-new-tokens", "1"]  # fmt: skip
    proc = subprocess.Popen(
        _cli(out, *flags), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env()
    )
    for line in proc.stdout:
        if line.startswith("[base] running"):
            break
    # The stage record is written just after the line: kill once it says "running".
    records = out / "stages.json"
    while "base" not in json.loads(records.read_text()) and proc.poll() is None:
        time.sleep(0.01)
    proc.kill()
    proc.wait(timeout=60)
    assert json.loads((out / "stages.json").read_text())["base"]["status"] == "running"
    assert not (out / "base" / "checkpoint" / "training_state.pt").exists()

    rerun = subprocess.run(_cli(out, *flags), capture_output=True, text=True, env=_env())
    assert rerun.returncode == 0, rerun.stderr
    assert "[base] restarting: its interrupted attempt left no checkpoint" in rerun.stdout
    assert "resuming" not in rerun.stdout
    assert json.loads((out / "base" / "train_report.json").read_text())["steps"] == 6
