"""Storage faults: a read-only out-dir and a disk that fills during a checkpoint save.

Both use a small tmpfs; where mounting is not allowed (not root, no CAP_SYS_ADMIN) the
tests skip and say so.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CORPUS = "the model reads text and predicts the next token. " * 40


def _mount(folder: Path, options: str) -> None:
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); storage faults untested")


@pytest.fixture
def inputs(tmp_path, run_cli):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    tok = tmp_path / "tok.json"
    assert run_cli("--quiet", "tok", "train", "--input", corpus, "--out", tok)[0] == 0
    return corpus, tok


def _train(run_cli, inputs, out):
    corpus, tok = inputs
    return run_cli(
        "--quiet", "train", "base", "--corpus", corpus, "--tokenizer", tok, "--out-dir", out,
        "--preset", "smoke", "--context-size", "32", "--max-steps", "2", "--eval-every", "2",
        "--device", "cpu",
    )  # fmt: skip


@pytest.mark.parametrize(
    "options,expected",
    [("ro,size=64k", "read-only"), ("size=64k", "No space left on device")],
    ids=["read-only", "disk-full"],
)
def test_storage_faults_exit_2_naming_the_folder(inputs, tmp_path, run_cli, options, expected):
    mount = tmp_path / "mnt"
    _mount(mount, options)
    try:
        code, _, err = _train(run_cli, inputs, mount / "run")
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    assert code == 2 and expected in err and "Traceback" not in err
    assert str(mount / "run") in err and "Fix:" in err


def test_corrupt_stage_records_and_summary_are_named(tmp_path, run_cli):
    run = tmp_path / "run"
    run.mkdir()
    (run / "stages.json").write_text("{bad", encoding="utf-8")
    code, _, err = run_cli("--quiet", "run", "tiny", "--out-dir", run, "--preflight-only")
    assert code == 2 and "stages.json:1" in err and "Delete" in err and "Traceback" not in err
    other = tmp_path / "other"
    other.mkdir()
    for folder in (run, other):
        (folder / "summary.json").write_text('{"a": 1,\n oops}', encoding="utf-8")
    code, _, err = run_cli("compare", run, other)
    assert code == 2 and "summary.json:2" in err and "Traceback" not in err
