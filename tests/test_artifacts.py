"""Atomic writes and report headers."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from picochat.artifacts import (
    atomic_dir,
    atomic_open,
    atomic_write_json,
    hash_inputs,
    report_header,
    sha256_file,
)


def test_failed_write_leaves_previous_file_untouched(tmp_path: Path):
    target = tmp_path / "report.json"
    atomic_write_json(target, {"ok": 1})
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write('{"half": ')
        raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"ok": 1}
    assert not (tmp_path / "report.json.tmp").exists()


def test_failed_folder_build_keeps_old_folder(tmp_path: Path):
    target = tmp_path / "checkpoint"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("new")
        raise RuntimeError("crash")
    assert (target / "a.txt").read_text() == "old"
    with atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]


def test_json_has_no_nan(tmp_path: Path):
    atomic_write_json(tmp_path / "x.json", {"loss": math.nan, "p": Path("a/b")})
    assert json.loads((tmp_path / "x.json").read_text()) == {"loss": None, "p": "a/b"}


def test_report_header_records_config_inputs_versions(tmp_path: Path):
    @dataclass
    class Config:
        steps: int = 3

    data = tmp_path / "in.txt"
    data.write_text("hello")
    header = report_header(Config(), inputs=hash_inputs([data]), seed=7, wall_seconds=1.23456)
    assert header["config"] == {"steps": 3}
    assert header["inputs"] == {str(data): sha256_file(data)}
    assert header["seed"] == 7 and header["wall_seconds"] == 1.235
    assert header["versions"]["python"] and header["versions"]["torch"]
