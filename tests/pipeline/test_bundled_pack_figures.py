"""`run tiny` on the bundled pack gives the figures it gave before the data-at-scale work.

Issue 16 moved large corpora onto corpus shards and memory-mapped token shards; a small
corpus must keep the path, and the numbers, it had. The expected values below were
recorded with the same command at commit 014d76f^ (the last one before token shards);
the code after issue 16 gives the same bits. The run is the session's `bundled_run`
(tests/conftest.py), which the workbench tests read too. A change that means to move
these figures (a new default, another model init) updates them and says so in its commit.
"""

from __future__ import annotations

import hashlib
import json

import pytest

CORPUS_SHA256 = "01079c72a14568daa0d2d9d83615b2ef28447202f05bb5464f242cd86a20455e"
TOKENIZER_SHA256 = "33a41018c777e5ed4062a9c599d3fefa587ef93893dc040a1206a56a1a2f31a5"
# (step, validation loss) at 014d76f^, with tests/conftest.py's BUNDLED_RUN_FLAGS.
BASE_VAL_LOSS = [(0, 4.458667338840545), (2, 4.438536609922137), (4, 4.386996485884228)]
SFT_VAL_LOSS = [(0, 4.394169651756161), (1, 4.366512522101402), (2, 4.306239119485805)]
# Bit-identical on the machine that recorded them; another CPU's float32 kernels (AVX-512
# against AMX) may differ in the last digits.
RELATIVE = 1e-5


def _history(report_path) -> list[tuple[int, float]]:
    report = json.loads(report_path.read_text())
    return [(entry["step"], entry["val_loss"]) for entry in report["history"]]


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_tiny_on_the_bundled_pack_keeps_its_figures(bundled_run):
    run = bundled_run
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
