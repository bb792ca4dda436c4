"""`train dpo --eval-batches` did nothing; now it is refused with what DPO does instead."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_dpo_eval_batches_is_refused_not_ignored(tmp_path, run_cli):
    code, _, err = run_cli(
        "train", "dpo", "--input", EXAMPLES / "preferences.jsonl", "--tokenizer", tmp_path / "t",
        "--checkpoint", tmp_path / "c", "--out-dir", tmp_path / "o", "--eval-batches", "5",
    )  # fmt: skip
    assert code == 2 and "--eval-batches does nothing in DPO" in err and "Traceback" not in err
