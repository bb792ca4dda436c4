"""An item's explicit rules decide it; the refusal check is the rule only where it has none."""

from __future__ import annotations

import json


def _eval(run_cli, tmp_path, item, reply):
    items, replies = tmp_path / "items.jsonl", tmp_path / "replies.jsonl"
    items.write_text(json.dumps(item) + "\n", encoding="utf-8")
    replies.write_text(json.dumps({"reply": reply}) + "\n", encoding="utf-8")
    out = tmp_path / "eval"
    code, _, err = run_cli("eval", "chat", "--input", items, "--replies", replies, "--out-dir", out)
    assert code == 0, err
    return json.loads((out / "eval_report.json").read_text())


def test_published_pack_item_passes_on_its_own_rules(tmp_path, run_cli):
    item = {"user": "Does Picochat know everything?", "answerable": False,
            "must_include": ["no"], "must_not_include": ["yes"]}  # fmt: skip
    report = _eval(run_cli, tmp_path, item, "No. Picochat should be honest when it does not know.")
    assert report["summary"]["passed"] == 1
    # The diagnostic still says the reply did not refuse.
    assert report["summary"]["unsupported_claim_rate"] == 1.0


def test_without_rules_the_refusal_check_decides(tmp_path, run_cli):
    item = {"user": "Who founded Picochat?", "answerable": False}
    report = _eval(run_cli, tmp_path, item, "Sorry for the wait: Bob founded Picochat in 2019.")
    assert report["summary"]["passed"] == 0
    assert report["items"][0]["failed_rules"] == ["unsupported_claim"]
