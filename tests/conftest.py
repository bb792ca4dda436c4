"""Shared fixtures: the repo's paths, a helper to run the real CLI in-process, and one
smallest `run tiny` on the bundled pack for the tests that read a finished run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SHARED_DATA = REPO.parent / "shared" / "data"


# The smallest `run tiny` that writes every artifact (DPO off, so its section must say so).
BUNDLED_RUN_FLAGS = [
    "--base-preset", "smoke", "--base-context-size", "128", "--base-max-steps", "4",
    "--base-eval-every", "2", "--base-eval-batches", "1", "--base-batch-size", "2",
    "--base-early-stop-patience", "0", "--sft-max-steps", "2", "--sft-eval-every", "1",
    "--sft-batch-size", "2", "--eval-max-new-tokens", "4", "--no-dpo",
]  # fmt: skip


@pytest.fixture(scope="session")
def bundled_run(tmp_path_factory) -> Path:
    """One finished `run tiny --out-dir RUN *BUNDLED_RUN_FLAGS` on the bundled pack, made
    once per session. Read it; copy it to change it."""
    from picochat.cli.main import main

    run = tmp_path_factory.mktemp("bundled") / "run"
    assert main(["--quiet", "run", "tiny", "--out-dir", str(run), *BUNDLED_RUN_FLAGS]) == 0
    return run


@pytest.fixture
def run_cli(capsys):
    """Run `picochat ARGS...` in-process; returns (exit_code, stdout, stderr)."""
    from picochat.cli.main import main

    def _run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return _run
