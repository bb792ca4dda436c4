"""`train base` end to end: artifacts, report keys, resume, interrupts, divergence, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from picochat.configs import BaseTrainConfig
from picochat.training.pretrain import train_base

REPO = Path(__file__).resolve().parents[2]
SPEC_KEYS = {
    "model": {"num_parameters"},
    "dataset": {"split_mode", "split_reason", "train_tokens", "val_tokens", "val_documents"},
    "best": {"step", "val_loss", "val_bpb"},
    "final": {"step", "train_loss", "val_loss", "val_bpb", "gap"},
    "recommended_checkpoint": {"step", "reason"},
    "memorization": {"train_copy_rate", "heldout_overlap", "copied_spans", "canaries", "risk"},
    "throughput": {"tokens_per_sec"},
}
TOP_KEYS = {"history", "stop_reason", "tokens_seen", "dataset_passes", "sample"}
HEADER_KEYS = {"config", "inputs", "versions", "seed", "wall_seconds", "device"}
HISTORY_KEYS = {"step", "train_loss", "val_loss", "val_bpb", "lr", "tokens_per_sec"}


def small_flags(paths: dict[str, Path], out_dir: Path) -> list[str]:
    return [
        "train", "base", "--corpus", paths["corpus"], "--tokenizer", paths["tokenizer"],
        "--out-dir", out_dir, "--preset", "smoke", "--context-size", "32", "--batch-size", "4",
        "--device", "cpu",
    ]  # fmt: skip


def base_config(paths: dict[str, Path], out_dir: Path, **overrides) -> BaseTrainConfig:
    settings = dict(
        corpus=paths["corpus"],
        tokenizer=paths["tokenizer"],
        out_dir=out_dir,
        preset="smoke",
        context_size=32,
        batch_size=4,
        max_steps=30,
        eval_every=10,
        grad_accum_steps=2,
        device="cpu",
        precision="fp32",
    )
    settings.update(overrides)
    return BaseTrainConfig(**settings)


def assert_measured_or_explained(section: dict, keys: set[str], where: str) -> None:
    for key in keys:
        assert key in section, f"{where}.{key} missing"
        if section[key] is None:
            assert section.get(f"{key}_reason"), f"{where}.{key} is null without a reason"


def test_spec_command_writes_every_artifact_and_report_key(
    make_inputs, doc_text, tmp_path, run_cli
):
    paths = make_inputs(documents=[doc_text(i) for i in range(10)])
    out = tmp_path / "base"
    code, stdout, _ = run_cli(
        *small_flags(paths, out), "--corpus-manifest", paths["manifest"],
        "--split-mode", "document", "--max-steps", "12", "--eval-every", "6",
        "--canary-count", "2",
    )  # fmt: skip
    assert code == 0, stdout
    for name in ("train_report.json", "report.md", "sample.txt", "canary_probe.txt",
                 "loss_curve.png"):  # fmt: skip
        assert (out / name).is_file(), name
    for folder in ("checkpoint", "best_checkpoint"):
        assert (out / folder / "model.safetensors").is_file()
    assert (out / "checkpoint" / "training_state.pt").is_file()
    assert not list(out.glob("*.tmp"))

    report = json.loads((out / "train_report.json").read_text())
    assert HEADER_KEYS | TOP_KEYS | set(SPEC_KEYS) <= set(report)
    for section, keys in SPEC_KEYS.items():
        assert_measured_or_explained(report[section], keys, section)
    assert [h["step"] for h in report["history"]] == [0, 6, 12]
    assert report["history"][0]["tokens_per_sec"] is None  # step 0: the untrained baseline
    for entry in report["history"][1:]:
        assert set(entry) >= HISTORY_KEYS and all(entry[k] is not None for k in HISTORY_KEYS)
    assert report["dataset"]["split_mode"] == "document"
    assert report["dataset"]["val_documents"] >= 1
    assert report["stop_reason"] == "max_steps"
    assert report["tokens_seen"] == 12 * 4 * 32
    assert report["dataset_passes"] == pytest.approx(
        report["tokens_seen"] / report["dataset"]["train_tokens"]
    )
    final = report["final"]
    assert final["gap"] == pytest.approx(final["val_loss"] - final["train_loss"])
    assert {c["text"] for c in report["memorization"]["canaries"]} <= set(
        (out / "canary_probe.txt").read_text().replace("canary: ", "\n").split("\n")
    )
    assert set(report["inputs"]) == {str(paths["corpus"]), str(paths["tokenizer"]),
                                     str(paths["manifest"])}  # fmt: skip
    markdown = (out / "report.md").read_text()
    assert "only means the model fits its training" in markdown and "document" in markdown


def test_resume_after_an_interrupt_reproduces_the_uninterrupted_run(
    make_inputs, doc_text, tmp_path
):
    paths = make_inputs("".join(doc_text(i) for i in range(10)))
    straight = train_base(base_config(paths, tmp_path / "straight"), show_progress=False)

    def interrupt_at_step_14(step: int) -> None:
        if step == 14:
            os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "interrupted"
    first = train_base(base_config(paths, out), show_progress=False, on_step=interrupt_at_step_14)
    assert first.stop_reason == "interrupted"
    assert json.loads((out / "train_report.json").read_text())["stop_reason"] == "interrupted"
    stopped_at = first.report["steps"]
    assert 14 <= stopped_at < 30
    resumed = train_base(base_config(paths, out, resume=True), show_progress=False)
    assert resumed.stop_reason == "max_steps"
    expected, got = straight.report["history"], resumed.report["history"]
    assert [h["step"] for h in got] == [h["step"] for h in expected] == [0, 10, 20, 30]
    for a, b in zip(expected, got, strict=True):
        for key in ("train_loss", "val_loss", "val_bpb", "lr"):
            assert b[key] == pytest.approx(a[key], abs=1e-5), (a["step"], key)
    assert resumed.report["tokens_seen"] == straight.report["tokens_seen"]


def test_sigterm_saves_a_checkpoint_and_exits_130(make_inputs, doc_text, tmp_path):
    paths = make_inputs("".join(doc_text(i) for i in range(10)))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "picochat", *map(str, small_flags(paths, out)),
               "--max-steps", "100000", "--eval-every", "2", "--max-minutes", "5"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint").is_dir() and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr.decode()
    report = json.loads((out / "train_report.json").read_text())
    assert report["stop_reason"] == "interrupted" and "SIGTERM" in report["stop_message"]
    assert (out / "checkpoint" / "training_state.pt").is_file()


def test_a_diverging_run_stops_with_a_reason_and_keeps_the_best_checkpoint(
    make_inputs, doc_text, tmp_path
):
    paths = make_inputs("".join(doc_text(i) for i in range(10)))
    out = tmp_path / "run"
    train_base(base_config(paths, out, max_steps=10, eval_every=5), show_progress=False)
    best_before = (out / "best_checkpoint" / "model.safetensors").read_bytes()
    # Continue with an absurd learning rate: the weights blow up and the loss becomes NaN.
    result = train_base(
        base_config(
            paths,
            out,
            max_steps=40,
            eval_every=5,
            learning_rate=1e30,
            resume=True,
            accept_changed_config=True,
        ),
        show_progress=False,
    )
    assert result.stop_reason == "diverged"
    assert "loss became" in result.stop_message and "--learning-rate" in result.stop_message
    report = result.report
    assert report["stop_reason"] == "diverged"
    assert report["recommended_checkpoint"]["step"] == report["best"]["step"]
    assert (out / "best_checkpoint" / "model.safetensors").read_bytes() == best_before


def test_resume_without_a_checkpoint_is_a_clear_error(make_inputs, doc_text, tmp_path, run_cli):
    paths = make_inputs("".join(doc_text(i) for i in range(10)))
    code, _, err = run_cli(*small_flags(paths, tmp_path / "none"), "--resume")
    assert code == 2 and "Checkpoint folder not found" in err and "Traceback" not in err


@pytest.mark.parametrize("damaged", ["training_state.pt", "model.safetensors"])
def test_resume_from_a_corrupted_checkpoint_is_a_clear_error(
    make_inputs, doc_text, tmp_path, run_cli, damaged
):
    paths = make_inputs("".join(doc_text(i) for i in range(10)))
    out = tmp_path / "run"
    flags = [*small_flags(paths, out), "--max-steps", "2", "--eval-every", "2"]
    assert run_cli(*flags)[0] == 0
    (out / "checkpoint" / damaged).write_bytes(b"not a checkpoint at all")
    code, _, err = run_cli(*flags, "--max-steps", "4", "--resume")
    assert code == 2 and damaged in err and "Traceback" not in err


def test_bad_inputs_exit_2_with_a_fix(make_inputs, doc_text, tmp_path, run_cli):
    paths = make_inputs("".join(doc_text(i) for i in range(4)))
    code, _, err = run_cli(*small_flags(paths, tmp_path / "a"), "--context-size", "100000")
    assert code == 2 and "--context-size" in err and "Fix:" in err
    mismatch = make_inputs(
        "".join(doc_text(i) for i in range(4)), tokenizer_text="0123456789+-=\n", name="other"
    )
    code, _, err = run_cli(*small_flags(mismatch, tmp_path / "b"))
    assert code == 2 and "<unk>" in err and "tok train" in err


def test_a_time_budget_stops_with_a_final_evaluation(make_inputs, doc_text, tmp_path):
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    config = base_config(
        paths, tmp_path / "run", max_steps=100_000, max_minutes=0.0001, warmup_steps=0
    )
    report = train_base(config, show_progress=False).report
    assert report["stop_reason"] == "max_minutes"
    assert [h["step"] for h in report["history"]] == [0, report["steps"]]
    peak = report["config"]["learning_rate"]  # resolved from the default (3e-3 here)
    assert peak == 3e-3
    assert report["history"][-1]["lr"] == pytest.approx(peak * config.min_lr_ratio)
