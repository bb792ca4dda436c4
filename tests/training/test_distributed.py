"""The same `train base` command under torchrun: 2 gloo processes, one set of artifacts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


# "on": rank 0 builds the token shards, the other rank waits and opens them; each rank
# draws its own windows from the lazy view.
@pytest.mark.parametrize("token_shards", ["off", "on"])
def test_torchrun_two_processes_train_and_rank0_writes_one_set(
    make_inputs, doc_text, tmp_path, token_shards, run_cli
):
    paths = make_inputs(documents=[doc_text(i) for i in range(10)])
    out = tmp_path / "ddp"
    # The command exactly as the README documents it (torchrun from the same venv).
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    command = [
        torchrun, "--standalone", "--nproc_per_node=2", "-m", "picochat", "--quiet",
        "train", "base", "--corpus", str(paths["corpus"]), "--tokenizer", str(paths["tokenizer"]),
        "--out-dir", str(out), "--preset", "smoke", "--context-size", "32", "--batch-size", "4",
        "--max-steps", "6", "--eval-every", "3", "--device", "cpu", "--precision", "fp32",
        "--corpus-manifest", str(paths["manifest"]), "--token-shards", token_shards,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "train_report.json").read_text())
    assert "2 process(es)" in report["device"]
    # Both ranks trained: every step saw two micro-batches' worth of tokens.
    assert report["tokens_seen"] == 6 * 2 * 4 * 32
    assert [h["step"] for h in report["history"]] == [0, 3, 6]
    assert all(h["val_loss"] is not None for h in report["history"])
    # One set of artifacts, nothing half-written or duplicated per rank.
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([
        ".picochat.lock", "best_checkpoint", "checkpoint", "loss_curve.png", "metrics.jsonl",
        "report.md", "sample.txt", "stage_config.json", "train_report.json",
    ])  # fmt: skip
    shard_indexes = list((paths["corpus"].parent / "token_shards").glob("tokens-*/index.json"))
    assert len(shard_indexes) == (1 if token_shards == "on" else 0)

    # One process at batch 8 trains on the same windows (the ranks slice one global batch):
    # the same figures, up to the order of the float sums.
    single = tmp_path / "single"
    arguments = command[command.index("--quiet") :]
    arguments[arguments.index(str(out))] = str(single)
    arguments[arguments.index("--batch-size") + 1] = "8"
    assert run_cli(*arguments)[0] == 0
    alone = json.loads((single / "train_report.json").read_text())
    assert alone["tokens_seen"] == report["tokens_seen"]
    for a, b in zip(alone["history"], report["history"], strict=True):
        for key in ("train_loss", "val_loss", "val_bpb"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), (a["step"], key)
