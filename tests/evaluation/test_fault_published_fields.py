"""The published eval format's field names and `domain` level are read, not ignored."""

from __future__ import annotations

import json


def _eval(run_cli, tmp_path, item, reply):
    items, replies = tmp_path / "items.jsonl", tmp_path / "replies.jsonl"
    items.write_text(json.dumps(item) + "\n", encoding="utf-8")
    replies.write_text(json.dumps({"reply": reply}) + "\n", encoding="utf-8")
    out = tmp_path / "eval"
    code, stdout, err = run_cli("eval", "chat", "--input", items, "--replies", replies,
                                "--out-dir", out)  # fmt: skip
    assert code == 0, err
    return json.loads((out / "eval_report.json").read_text()), stdout


def test_expected_is_scored_as_the_reference_answer(tmp_path, run_cli):
    item = {"user": "What is Picochat?", "expected": "LLM factory", "eval_level": "domain"}
    report, stdout = _eval(run_cli, tmp_path, item, "I have no idea.")
    assert report["summary"]["passed"] == 0
    assert report["items"][0]["failed_rules"] == ["reference_answer"]
    assert report["items"][0]["level"] == "heldout"
    assert "unknown field" not in stdout


def test_entities_and_eval_split_aliases(tmp_path, run_cli):
    item = {"user": "Who trains it?", "entities": ["Picochat"], "eval_split": "train"}
    report, _ = _eval(run_cli, tmp_path, item, "Picochat trains small models.")
    assert report["summary"]["passed"] == 1
    report, _ = _eval(run_cli, tmp_path, item, "Nobody does.")
    assert report["items"][0]["failed_rules"] == ["required_entities"]
