"""`run tiny` end to end on a very small pack: artifacts, summary, rerun, compare, resume.

One run (module fixture) is shared; tests that change something work on a copy of
its folder, which keeps every fingerprint (paths are recorded relative to the run).
The settings are the smallest that exercise every stage, not ones that learn much.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from picochat.cli.main import main
from picochat.locks import LOCK_FILE

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FAST = [
    "--base-preset",
    "smoke",
    "--base-context-size",
    "256",
    "--base-max-steps",
    "12",
    "--base-eval-every",
    "6",
    "--base-eval-batches",
    "2",
    "--base-batch-size",
    "4",
    "--base-early-stop-patience",
    "0",
    "--sft-max-steps",
    "6",
    "--sft-eval-every",
    "3",
    "--sft-batch-size",
    "4",
    "--eval-max-new-tokens",
    "8",
    "--no-dpo",
]


def _pack(folder: Path) -> Path:
    """A pack with a few real example rows; one eval item leaks a chat prompt."""
    folder.mkdir(parents=True)
    chat_rows = (EXAMPLES / "tiny_chat.jsonl").read_text().splitlines()[:6]
    (folder / "chat.jsonl").write_text("\n".join(chat_rows) + "\n")
    leaked_prompt = json.loads(chat_rows[1])["user"]
    evals = [
        {"user": "Name one stage of the pipeline.", "level": "smoke", "max_words": 40},
        {
            "user": "What colour is the moon's far side in the corpus?",
            "answerable": False,
            "level": "adversarial",
        },
        {"user": leaked_prompt, "level": "heldout", "must_include": ["tokenizer"]},
    ]
    (folder / "eval.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evals))
    (folder / "corpus").mkdir()
    text = (EXAMPLES / "tiny_corpus.txt").read_text()
    (folder / "corpus" / "a.txt").write_text(text[:2500])
    (folder / "corpus" / "b.txt").write_text(text[2500:5000])
    pack = {"name": "t", "corpus": {"input": "corpus"}, "chat": "chat.jsonl", "eval": "eval.jsonl"}
    (folder / "pack.json").write_text(json.dumps(pack))
    return folder / "pack.json"


def _snapshot(root: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != LOCK_FILE  # the lock names its holder: not an artifact
    }


def _run(out: Path, pack: Path, *extra: str) -> int:
    args = ["--quiet", "run", "tiny", "--out-dir", str(out), "--dataset-pack", str(pack)]
    return main([*args, *FAST, *extra])


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("run")
    pack = _pack(root / "pack")
    assert _run(root / "run", pack) == 0
    return root / "run", pack


def test_every_artifact_is_written_and_summary_equals_stage_reports(finished):
    run, _ = finished
    for name in (
        "corpus.txt",
        "corpus_manifest.json",
        "corpus_report.md",
        "tokenizer.json",
        "preflight.json",
        "contamination.json",
        "summary.json",
        "summary.md",
        "report.html",
        "base/checkpoint/model.safetensors",
        "base/best_checkpoint/config.json",
        "base/train_report.json",
        "base/report.md",
        "base/sample.txt",
        "base/loss_curve.png",
        "sft/checkpoint/model.safetensors",
        "sft/sft_report.json",
        "sft/report.md",
        "eval/heldout/eval_report.json",
        "eval/heldout/report.md",
        "eval/sft_fit/eval_report.json",
    ):
        assert (run / name).is_file(), name
    preflight = json.loads((run / "preflight.json").read_text())
    assert (
        preflight["memory"]["bytes"]["peak"] > 0 and "compute-optimal" in preflight["token_budget"]
    )
    summary = json.loads((run / "summary.json").read_text())
    base = json.loads((run / "base/train_report.json").read_text())
    sft = json.loads((run / "sft/sft_report.json").read_text())
    heldout = json.loads((run / "eval/heldout/eval_report.json").read_text())
    assert summary["base"]["final"] == base["final"]
    assert summary["base"]["memorization"] == base["memorization"]
    assert summary["sft"]["final"] == sft["final"]
    assert summary["sft"]["memorization_risk"] == sft["memorization_risk"]
    assert summary["eval"]["heldout"]["summary"] == heldout["summary"]
    assert summary["eval"]["heldout"]["ladder"] == heldout["ladder"]
    assert set(summary["stages"]) >= {
        "corpus",
        "tokenizer",
        "base",
        "sft",
        "eval:heldout",
        "eval:sft_fit",
    }
    assert all(s["status"] == "complete" for s in summary["stages"].values())
    html = (run / "report.html").read_text()
    assert "data:image/png;base64," in html and "Release gates" in html
    # summary.md carries the settings and artifact paths, not only summary.json.
    markdown = (run / "summary.md").read_text()
    assert f"**base**: max_steps={summary['settings']['base']['max_steps']}" in markdown
    assert "`base/train_report.json`" in markdown and "`sft/checkpoint`" in markdown
    assert not any(".picochat.lock" in path for path in summary["artifacts"])


def test_leaked_eval_item_is_detected_and_blocks(finished):
    run, _ = finished
    leaks = json.loads((run / "contamination.json").read_text())["leaked_items"]
    assert [(leak["line"], leak["source"]) for leak in leaks] == [(3, "sft")]
    gates = json.loads((run / "summary.json").read_text())["gates"]
    contamination = next(f for f in gates["findings"] if f["gate"] == "contamination")
    assert contamination["status"] == "blocked" and contamination["value"] == 1
    assert gates["status"] == "blocked"


def test_rerun_does_no_training_and_changes_no_artifact(finished):
    run, pack = finished
    before = _snapshot(run)
    assert _run(run, pack) == 0
    assert _snapshot(run) == before  # same bytes and same mtimes: nothing was rewritten


def test_one_sft_flag_reruns_sft_and_later_only_and_compare_names_it(finished, tmp_path, capsys):
    run, pack = finished
    copy = tmp_path / "lr"
    shutil.copytree(run, copy)
    records_before = json.loads((copy / "stages.json").read_text())
    assert _run(copy, pack, "--sft-learning-rate", "0.002") == 0
    records = json.loads((copy / "stages.json").read_text())
    for unchanged in ("corpus", "tokenizer", "base"):
        assert records[unchanged] == records_before[unchanged], unchanged
    for rerun in ("sft", "eval:heldout", "eval:sft_fit"):
        assert records[rerun]["fingerprint"] != records_before[rerun]["fingerprint"], rerun
    capsys.readouterr()
    assert main(["compare", str(run), str(copy), "--out", str(tmp_path / "cmp.md")]) == 0
    markdown = (tmp_path / "cmp.md").read_text()
    differences = markdown.split("## Configuration differences")[1].split("## Figures")[0]
    rows = [
        line for line in differences.splitlines() if line.startswith("| ") and "setting" not in line
    ]
    assert [row.split("|")[1].strip() for row in rows] == ["sft.learning_rate"]


def test_interrupted_base_stage_resumes_on_rerun(tmp_path, monkeypatch):
    import picochat.training.pretrain as pretrain

    pack = _pack(tmp_path / "pack")
    out = tmp_path / "run"
    real = pretrain.train_base

    def interrupt_at_step_5(step: int) -> None:
        if step == 5:  # what Ctrl-C does, at a step the test can count on
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(
        pretrain, "train_base", functools.partial(real, on_step=interrupt_at_step_5)
    )
    assert _run(out, pack) == 130
    record = json.loads((out / "stages.json").read_text())["base"]
    assert record["status"] == "interrupted"
    assert (out / "base/checkpoint/training_state.pt").is_file()
    assert "sft" not in json.loads((out / "stages.json").read_text())

    monkeypatch.setattr(pretrain, "train_base", real)
    assert _run(out, pack) == 0
    report = json.loads((out / "base/train_report.json").read_text())
    assert report["stop_reason"] == "max_steps" and report["steps"] == 12
    assert json.loads((out / "stages.json").read_text())["base"]["status"] == "complete"
