"""Preference reader, grouped pair split, and the synthetic preference starter (module + CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picochat.configs import PreferenceStarterConfig
from picochat.data.chat import read_chat_jsonl
from picochat.data.preference_starter import STRATEGIES, build_preference_starter
from picochat.data.preferences import read_preferences_jsonl
from picochat.errors import InputError

EXAMPLE_CHAT = Path(__file__).resolve().parents[2] / "examples" / "tiny_chat.jsonl"
GOOD = {"user": "What is DPO?", "chosen": "Preference tuning.", "rejected": "A fish."}


def write_lines(path, lines):
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_row_forms(tmp_path):
    rows = [
        GOOD,
        {
            "prompt": "Why beta?",
            "chosen": "It limits drift.",
            "rejected": "No reason.",
            "category": "dpo",
        },
        {"system": "Be brief.", "user": "Hi", "chosen": "Hello.", "rejected": "Hi"},
        {
            "messages": [
                {"role": "user", "content": "A?"},
                {"role": "assistant", "content": "B."},
                {"role": "user", "content": "C?"},
            ],
            "chosen": "D.",
            "rejected": "E.",
            "group": 7,
        },
        {
            "user": "TRL style?",
            "chosen": [{"role": "assistant", "content": "Yes."}],
            "rejected": {"role": "assistant", "content": "No."},
            "synthetic": True,
            "strategy": "echo",
        },
    ]
    data = read_preferences_jsonl(write_lines(tmp_path / "p.jsonl", rows))
    assert not data.skipped and data.rows == 5
    a, b, c, d, e = data.pairs
    assert (
        a.messages == [{"role": "user", "content": "What is DPO?"}] and a.group_key == "what is dpo"
    )
    assert b.prompt == "Why beta?" and b.category == "dpo"
    assert [m["role"] for m in c.messages] == ["system", "user"]
    assert d.prompt == "C?" and len(d.messages) == 3 and d.group_key == "group:7"
    assert (e.chosen, e.rejected) == ("Yes.", "No.")
    assert e.extra == {"synthetic": True, "strategy": "echo"}


BAD_ROWS = [
    ("{not json", "invalid JSON"),
    ({"chosen": "a", "rejected": "b"}, "missing the prompt"),
    ({"user": "q", "rejected": "b"}, "missing field 'chosen'"),
    ({"user": "q", "chosen": "a"}, "missing field 'rejected'"),
    ({"user": "q", "chosen": "a", "rejected": "  "}, "'rejected' is empty"),
    ({"user": "q", "chosen": 1, "rejected": "b"}, "'chosen' must be a string"),
    ({"user": "q", "chosen": "Same answer.", "rejected": " Same answer. "}, "identical"),
    ({"user": "", "chosen": "a", "rejected": "b"}, "'user' is empty"),
    ({"prompt": 5, "chosen": "a", "rejected": "b"}, "'prompt' must be a string"),
    ({"user": "q", "prompt": "q", "chosen": "a", "rejected": "b"}, "both 'user' and 'prompt'"),
    (
        {
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}],
            "chosen": "a",
            "rejected": "b",
        },
        "must end where the assistant answers",
    ),
    (
        {"messages": [{"role": "wizard", "content": "q"}], "chosen": "a", "rejected": "b"},
        "has role 'wizard'",
    ),
    ({"user": "q", "chosen": "a", "rejected": "b", "group": ["g"]}, "'group' must be"),
    ({"user": "q", "chosen": "a", "rejected": "b", "category": 3}, "'category' must be a string"),
    (
        {"user": "q", "chosen": {"role": "user", "content": "a"}, "rejected": "b"},
        "role 'assistant'",
    ),
]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS)
def test_bad_row_is_listed_with_line_and_reason(tmp_path, row, reason):
    data = read_preferences_jsonl(write_lines(tmp_path / "p.jsonl", [GOOD, "", row, GOOD]))
    assert [p.line for p in data.pairs] == [1, 4]
    assert [s.line for s in data.skipped] == [3]
    assert reason in data.skipped[0].reason


def test_strict_raises_with_file_and_line(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [GOOD, {"user": "q", "chosen": "a"}])
    with pytest.raises(InputError) as caught:
        read_preferences_jsonl(path, strict=True)
    assert caught.value.line == 2 and caught.value.file == str(path) and caught.value.fix


def test_split_by_group_then_by_prompt(tmp_path):
    rows = []
    for g in range(6):  # explicit groups: different prompts that must stay together
        rows += [
            {"user": f"Question {g} {v}", "chosen": "c", "rejected": "r", "group": f"g{g}"}
            for v in "abc"
        ]
    for i in range(6):  # no group: near-identical prompts group together
        rows += [
            {"user": f"What is item {i}?", "chosen": "c", "rejected": "r"},
            {"user": f"WHAT is item {i}", "chosen": "c2", "rejected": "r2"},
        ]
    data = read_preferences_jsonl(write_lines(tmp_path / "p.jsonl", rows))
    for seed in range(5):
        train, val = data.split(val_fraction=0.25, seed=seed)
        assert val and train
        assert not {p.group_key for p in train} & {p.group_key for p in val}
        assert len(train) + len(val) == len(rows)


def _starter(tmp_path, chat=EXAMPLE_CHAT, seed=0, name="prefs.jsonl"):
    return build_preference_starter(
        PreferenceStarterConfig(input=chat, out=tmp_path / name, seed=seed)
    )


def test_starter_output_passes_reader_and_is_labelled(tmp_path):
    result = _starter(tmp_path)
    chat = read_chat_jsonl(EXAMPLE_CHAT)
    answers = {e.line: e for e in chat.examples}
    data = read_preferences_jsonl(result.out, strict=True)
    assert len(data.pairs) == result.pairs == len(chat.examples)
    assert set(result.strategy_counts) == set(STRATEGIES)
    assert sum(result.strategy_counts.values()) == result.pairs
    assert max(result.strategy_counts.values()) - min(result.strategy_counts.values()) <= 1
    other_answers = {e.answer for e in chat.examples}
    for pair in data.pairs:
        assert pair.extra["synthetic"] is True
        strategy = pair.extra["strategy"]
        source = answers[pair.extra["source_line"]]
        assert pair.chosen == source.answer and pair.messages == source.messages[:-1]
        assert pair.chosen != pair.rejected
        if strategy == "echo":
            assert pair.rejected == source.prompt
        elif strategy == "truncated":
            assert source.answer.startswith(pair.rejected) and len(pair.rejected) < len(
                source.answer
            )
        elif strategy == "off_topic":
            assert pair.rejected in other_answers and pair.rejected != source.answer
        else:
            assert strategy == "evasive"


def test_starter_is_deterministic_under_seed(tmp_path):
    first = _starter(tmp_path, seed=3, name="a.jsonl").out.read_bytes()
    second = _starter(tmp_path, seed=3, name="b.jsonl").out.read_bytes()
    other = _starter(tmp_path, seed=4, name="c.jsonl").out.read_bytes()
    assert first == second
    assert first != other


def test_starter_skips_tool_call_targets_and_bad_rows(tmp_path):
    chat = write_lines(
        tmp_path / "chat.jsonl",
        [
            {
                "user": "What is a canary in training?",
                "assistant": "A random secret string inserted into training text.",
            },
            {"user": "broken"},
            {
                "messages": [
                    {"role": "user", "content": "Search it"},
                    {
                        "role": "assistant",
                        "content": "Calling.",
                        "tool_calls": [{"name": "corpus_search"}],
                    },
                ]
            },
            {"user": "What is LoRA?", "assistant": "Low-rank adapters on frozen weights."},
        ],
    )
    result = _starter(tmp_path, chat=chat)
    assert result.pairs == 2
    assert [(s.line, "tool call" in s.reason or "missing" in s.reason) for s in result.skipped] == [
        (2, True),
        (3, True),
    ]


def test_starter_with_no_usable_rows_leaves_existing_output_untouched(tmp_path):
    out = tmp_path / "prefs.jsonl"
    out.write_text("keep me\n")
    chat = write_lines(tmp_path / "chat.jsonl", [{"user": "x"}])
    with pytest.raises(InputError, match="no usable chat rows"):
        build_preference_starter(PreferenceStarterConfig(input=chat, out=out, seed=0))
    assert out.read_text() == "keep me\n"


def test_preference_starter_cli(tmp_path, run_cli):
    out = tmp_path / "data" / "preferences.jsonl"
    code, stdout, _ = run_cli(
        "data", "preference-starter", "--input", EXAMPLE_CHAT, "--out", out, "--seed", "1"
    )
    assert code == 0
    text = " ".join(stdout.split())
    assert "not alignment" in text and "SYNTHETIC" in text
    for strategy in STRATEGIES:
        assert strategy in text
    assert len(read_preferences_jsonl(out, strict=True).pairs) == 92


def test_preference_starter_cli_bad_input(tmp_path, run_cli):
    code, _, stderr = run_cli(
        "data",
        "preference-starter",
        "--input",
        tmp_path / "none.jsonl",
        "--out",
        tmp_path / "p.jsonl",
    )
    assert code == 2
    assert "not found" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "p.jsonl").exists()
