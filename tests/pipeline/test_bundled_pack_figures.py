"""`run tiny` on the bundled pack gives the figures it gave before the data-at-scale work.

Issue 16 moved large corpora onto corpus shards and memory-mapped token shards; a small
corpus must keep the path, and the numbers, it had. The expected values below were
recorded with the same command at commit 014d76f^ (the last one before token shards);
the code after issue 16 gives the same bits. A change that means to move them (a new
default, another model init) updates these values and says so in its commit.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from picochat.cli.main import main

# Small enough for the suite (~12 s), long enough that the losses move.
FLAGS = [
    "--base-preset", "smoke", "--base-context-size", "128", "--base-max-steps", "12",
    "--base-eval-every", "6", "--base-eval-batches", "2", "--base-batch-size", "4",
    "--base-early-stop-patience", "0", "--sft-max-steps", "4", "--sft-eval-every", "2",
    "--sft-batch-size", "2", "--eval-max-new-tokens", "4", "--no-dpo",
]  # fmt: skip
CORPUS_SHA256 = "01079c72a14568daa0d2d9d83615b2ef28447202f05bb5464f242cd86a20455e"
TOKENIZER_SHA256 = "33a41018c777e5ed4062a9c599d3fefa587ef93893dc040a1206a56a1a2f31a5"
# (step, validation loss) at 014d76f^.
BASE_VAL_LOSS = [(0, 4.457256744422165), (6, 4.289743715407802), (12, 3.966270562480478)]
SFT_VAL_LOSS = [(0, 3.984692206900371), (2, 3.93679405199854), (4, 3.8384215184732486)]
# Bit-identical on the machine that recorded them; another CPU's float32 kernels (AVX-512
# against AMX) may differ in the last digits.
RELATIVE = 1e-5


def _history(report_path) -> list[tuple[int, float]]:
    report = json.loads(report_path.read_text())
    return [(entry["step"], entry["val_loss"]) for entry in report["history"]]


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_tiny_on_the_bundled_pack_keeps_its_figures(tmp_path):
    run = tmp_path / "run"
    assert main(["--quiet", "run", "tiny", "--out-dir", str(run), *FLAGS]) == 0
    assert _sha256(run / "corpus.txt") == CORPUS_SHA256
    assert json.loads((run / "corpus_manifest.json").read_text())["corpus_sha256"] == CORPUS_SHA256
    assert _sha256(run / "tokenizer.json") == TOKENIZER_SHA256
    # The small corpus stays on the in-memory path: no token shards beside it.
    assert not (run / "token_shards").exists()
    for got, expected in (
        (_history(run / "base" / "train_report.json"), BASE_VAL_LOSS),
        (_history(run / "sft" / "sft_report.json"), SFT_VAL_LOSS),
    ):
        assert [step for step, _ in got] == [step for step, _ in expected]
        assert [loss for _, loss in got] == pytest.approx(
            [loss for _, loss in expected], rel=RELATIVE
        )
