"""FSDP (`--parallel fsdp`) under torchrun with 2 gloo processes: trains like DDP, writes
a sharded checkpoint that resumes exactly and that every reader loads whole."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from picochat.model.checkpoint import load_checkpoint
from picochat.model.sharded import INDEX_FILE

REPO = Path(__file__).resolve().parents[2]


def train_base_args(paths: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "train", "base", "--corpus", str(paths["corpus"]), "--tokenizer", str(paths["tokenizer"]),
        "--out-dir", str(out), "--preset", "smoke", "--n-head", "4", "--context-size", "32",
        "--batch-size", "4", "--eval-every", "3", "--device", "cpu", "--precision", "fp32",
        # A constant learning rate: a 3-step run resumed to 6 follows the 6-step schedule.
        "--warmup-steps", "0", "--min-lr-ratio", "1.0", *extra,
    ]  # fmt: skip


def torchrun(paths: dict[str, Path], out: Path, *extra: str) -> dict:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        "--standalone", "-m", "picochat", "--quiet", *train_base_args(paths, out, *extra),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "train_report.json").read_text())


def test_fsdp_matches_ddp_and_resumes_exactly_from_sharded_checkpoints(
    make_inputs, doc_text, tmp_path, run_cli
):
    paths = make_inputs("".join(doc_text(i) for i in range(10)))
    ddp = torchrun(paths, tmp_path / "ddp", "--max-steps", "6")
    fsdp_dir = tmp_path / "fsdp"
    torchrun(paths, fsdp_dir, "--max-steps", "3", "--parallel", "fsdp")
    index = json.loads((fsdp_dir / "checkpoint" / INDEX_FILE).read_text())
    assert index["world_size"] == 2 and len(index["files"]) == 2
    assert not (fsdp_dir / "checkpoint" / "model.safetensors").exists()  # really sharded
    # Resuming with another process count: the optimizer slices cannot fit, a clear error.
    code, _, err = run_cli(
        *train_base_args(paths, fsdp_dir, "--max-steps", "6", "--parallel", "fsdp", "--resume")
    )
    assert code == 2 and "written by 2 processes" in err and "--nproc_per_node=2" in err
    fsdp = torchrun(paths, fsdp_dir, "--max-steps", "6", "--parallel", "fsdp", "--resume")

    assert [h["step"] for h in fsdp["history"]] == [h["step"] for h in ddp["history"]] == [0, 3, 6]
    for a, b in zip(ddp["history"], fsdp["history"], strict=True):
        for key in ("train_loss", "val_loss", "val_bpb"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), (a["step"], key)
    assert fsdp["tokens_seen"] == ddp["tokens_seen"] == 6 * 2 * 4 * 32

    # Every reader gets the whole model: the consolidated weights equal DDP's.
    whole = load_checkpoint(fsdp_dir / "checkpoint", tokenizer=paths["tokenizer"])
    reference = load_checkpoint(tmp_path / "ddp" / "checkpoint")
    for (name, a), (_, b) in zip(
        reference.state_dict().items(), whole.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)
    assert whole.checkpoint_meta["sharded"] is True
    assert (fsdp_dir / "best_checkpoint" / INDEX_FILE).is_file()
    if importlib.util.find_spec("transformers") is not None:  # export hf reads it too
        code, _, err = run_cli(
            "export", "hf", "--checkpoint", fsdp_dir / "checkpoint", "--tokenizer",
            paths["tokenizer"], "--out-dir", tmp_path / "hf",
        )  # fmt: skip
        assert code == 0, err
        assert (tmp_path / "hf" / "model.safetensors").is_file()
