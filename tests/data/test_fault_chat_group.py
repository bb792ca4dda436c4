"""The chat `group` field keeps its rows on one side of the SFT split (as DPO does)."""

from __future__ import annotations

import json

from picochat.data.chat import read_chat_jsonl, split_chat_examples


def test_rows_of_a_group_are_never_split(tmp_path):
    rows = [{"user": f"Question number {i}?", "assistant": f"Answer {i}.", "group": f"g{i % 4}"}
            for i in range(40)]  # fmt: skip
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    chat = read_chat_jsonl(path)
    assert len(chat.examples) == 40 and not chat.skipped
    train, val = split_chat_examples(chat.examples, val_fraction=0.25, seed=0)
    assert train and val
    group_of = {e.line: rows[e.line - 1]["group"] for e in chat.examples}
    assert not {group_of[e.line] for e in train} & {group_of[e.line] for e in val}
