"""Stage fingerprints and records: what makes a stage rerun, and what does not."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from picochat.pipeline.records import COMPLETE, INTERRUPTED, StageRecords, fingerprint


@dataclass
class Config:
    steps: int
    out_dir: str


def test_fingerprint_follows_config_files_and_upstream(tmp_path: Path):
    data = tmp_path / "chat.jsonl"
    data.write_text('{"user": "a", "assistant": "b"}\n')
    root = tmp_path / "run"
    base = fingerprint("sft", Config(3, str(root / "sft")), root, {"chat": data}, {"base": "x"})
    assert base == fingerprint(
        "sft", Config(3, str(root / "sft")), root, {"chat": data}, {"base": "x"}
    )
    assert base != fingerprint(
        "sft", Config(4, str(root / "sft")), root, {"chat": data}, {"base": "x"}
    )
    assert base != fingerprint(
        "sft", Config(3, str(root / "sft")), root, {"chat": data}, {"base": "y"}
    )
    data.write_text('{"user": "a", "assistant": "c"}\n')
    assert base != fingerprint(
        "sft", Config(3, str(root / "sft")), root, {"chat": data}, {"base": "x"}
    )


def test_moving_the_run_folder_keeps_fingerprints(tmp_path: Path):
    """Paths inside the run folder are recorded relative to it."""
    a = fingerprint("sft", Config(3, str(tmp_path / "a" / "sft")), tmp_path / "a")
    b = fingerprint("sft", Config(3, str(tmp_path / "b" / "sft")), tmp_path / "b")
    assert a == b


def test_records_survive_reload_and_resume_keeps_spent_time(tmp_path: Path):
    records = StageRecords.load(tmp_path)
    records.start("base", "fp1")
    records.finish("base", INTERRUPTED, 10.0, None)
    again = StageRecords.load(tmp_path)
    assert again.can_resume("base", "fp1") and not again.can_resume("base", "fp2")
    assert not again.is_done("base", "fp1")
    again.start("base", "fp1", resume=True)
    again.finish("base", COMPLETE, 5.0, tmp_path / "base" / "train_report.json")
    final = StageRecords.load(tmp_path).get("base")
    assert final["status"] == COMPLETE and final["wall_seconds"] == 15.0
    assert final["report"] == "base/train_report.json"
    assert StageRecords.load(tmp_path).is_done("base", "fp1")
