"""Chat JSONL reader: both row forms, tool calls, bad rows by line, strict mode, grouped split."""

from __future__ import annotations

import json

import pytest

from picochat.data.chat import read_chat_jsonl, split_chat_examples
from picochat.data.jsonl import iter_jsonl
from picochat.data.splits import grouped_split, normalize_prompt
from picochat.errors import InputError

GOOD = {"user": "What is LoRA?", "assistant": "Low-rank adapters."}
TOOL_ROW = {
    "messages": [
        {"role": "system", "content": "You can call corpus_search."},
        {"role": "user", "content": "Look up top-p."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "corpus_search", "arguments": {"query": "top-p"}},
                }
            ],
        },
        {
            "role": "tool",
            "name": "corpus_search",
            "tool_call_id": "c1",
            "content": "Top-p keeps ...",
        },
        {"role": "assistant", "content": "Top-p keeps the smallest set of tokens."},
    ]
}


def write_lines(path, lines):
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_both_row_forms_and_system(tmp_path):
    path = write_lines(
        tmp_path / "chat.jsonl",
        [
            GOOD,
            {"system": "Be brief.", "user": "Hi", "assistant": "Hello."},
            {
                "messages": [
                    {"role": "user", "content": "A?"},
                    {"role": "assistant", "content": "B."},
                    {"role": "user", "content": "C?"},
                    {"role": "assistant", "content": "D."},
                ]
            },
        ],
    )
    data = read_chat_jsonl(path)
    assert data.rows == 3 and not data.skipped
    first, second, third = data.examples
    assert first.messages == [
        {"role": "user", "content": "What is LoRA?"},
        {"role": "assistant", "content": "Low-rank adapters."},
    ]
    assert [m["role"] for m in second.messages] == ["system", "user", "assistant"]
    assert third.prompt == "C?" and third.answer == "D." and third.group_key == "c"
    assert [e.line for e in data.examples] == [1, 2, 3]


def test_tool_calling_row_keeps_calls_and_tool_turn(tmp_path):
    data = read_chat_jsonl(write_lines(tmp_path / "chat.jsonl", [TOOL_ROW]))
    assert not data.skipped
    messages = data.examples[0].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[2]["tool_calls"][0]["function"]["name"] == "corpus_search"
    assert messages[2]["content"] == ""  # null content beside tool calls becomes ""
    assert messages[3]["tool_call_id"] == "c1"
    assert data.examples[0].prompt == "Look up top-p."


BAD_ROWS = [
    ('{"user": "x", "assistant": ', "invalid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ({"user": "x"}, "missing field 'assistant'"),
    ({"assistant": "x"}, "missing field 'user'"),
    ({"user": "", "assistant": "a"}, "'user' is empty"),
    ({"user": "q", "assistant": "   "}, "'assistant' is empty"),
    ({"user": 3, "assistant": "a"}, "'user' must be a string"),
    ({"system": ["x"], "user": "q", "assistant": "a"}, "'system' must be a string"),
    ({"messages": "hi"}, "non-empty list"),
    ({"messages": []}, "non-empty list"),
    ({"messages": ["hi"]}, "messages[0] is not an object"),
    ({"messages": [{"role": "bot", "content": "x"}]}, "has role 'bot'"),
    ({"messages": [{"content": "x"}]}, "has role None"),
    ({"messages": [{"role": "user", "content": "q"}]}, "last turn is 'user'"),
    (
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"},
                {"role": "tool", "content": "t"},
            ]
        },
        "last turn is 'tool'",
    ),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant"}]}, "has no 'content'"),
    (
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]},
        "messages[0].content is empty",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": {"t": 1}},
                {"role": "assistant", "content": "a"},
            ]
        },
        "must be a string, got dict",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "system", "content": "s"},
                {"role": "assistant", "content": "a"},
            ]
        },
        "only the first message",
    ),
    (
        {"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]},
        "no user message",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "q", "tool_calls": [{"name": "f"}]},
                {"role": "assistant", "content": "a"},
            ]
        },
        "only assistant messages",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "", "tool_calls": [{"arguments": {}}]},
                {"role": "assistant", "content": "a"},
            ]
        },
        "each call needs a name",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "", "tool_calls": [{"name": "f"}]},
            ]
        },
        "final assistant message is empty",
    ),
    (
        {
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
            "user": "q",
        },
        "both 'messages'",
    ),
]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS)
def test_bad_row_is_skipped_with_reason_and_line(tmp_path, row, reason):
    # good row, blank line, bad row, good row: the bad row is physical line 3
    path = write_lines(tmp_path / "chat.jsonl", [GOOD, "", row, TOOL_ROW])
    data = read_chat_jsonl(path)
    assert [e.line for e in data.examples] == [1, 4]
    assert len(data.skipped) == 1
    assert data.skipped[0].line == 3
    assert reason in data.skipped[0].reason
    assert data.rows == 3


def test_undecodable_line_is_one_bad_row(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_bytes(
        json.dumps(GOOD).encode()
        + b'\n{"user": "\xff", "assistant": "a"}\n'
        + json.dumps(GOOD).encode()
        + b"\n"
    )
    data = read_chat_jsonl(path)
    assert [e.line for e in data.examples] == [1, 3]
    assert data.skipped[0].line == 2 and "UTF-8" in data.skipped[0].reason


def test_byte_order_mark_is_ignored(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n")
    assert len(read_chat_jsonl(path).examples) == 1


def test_strict_raises_on_first_bad_row_with_file_line_fix(tmp_path):
    path = write_lines(tmp_path / "chat.jsonl", [GOOD, GOOD, {"user": "x"}, "{oops"])
    with pytest.raises(InputError) as caught:
        read_chat_jsonl(path, strict=True)
    error = caught.value
    assert error.file == str(path) and error.line == 3
    assert "missing field 'assistant'" in error.message and error.fix
    assert f"{path}:3" in str(error)


def test_strict_reports_invalid_json_line(tmp_path):
    path = write_lines(tmp_path / "chat.jsonl", [GOOD, "", "{oops"])
    with pytest.raises(InputError) as caught:
        read_chat_jsonl(path, strict=True)
    assert caught.value.line == 3 and "invalid JSON" in caught.value.message


def test_missing_file_and_folder_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_chat_jsonl(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="folder"):
        read_chat_jsonl(tmp_path)


def test_iter_jsonl_skips_blank_lines_and_numbers_physically(tmp_path):
    path = write_lines(tmp_path / "x.jsonl", ["", GOOD, "   ", "7"])
    rows = list(iter_jsonl(path))
    assert [(r.line, r.error is None) for r in rows] == [(2, True), (4, False)]


def test_normalize_prompt():
    assert normalize_prompt("  What is LoRA?! ") == "what is lora"
    assert normalize_prompt("what   is\tLoRA") == "what is lora"
    assert normalize_prompt("Ｗhat is LoRA") == "what is lora"  # NFKC folds full-width letters
    assert normalize_prompt("top-p, top_k") == "top p top k"


def _variant_rows(tmp_path):
    rows = []
    for i in range(12):
        topic = f"topic {i}"
        rows += [
            {"user": f"What is {topic}?", "assistant": f"Answer {i}."},
            {"user": f"what is {topic.upper()}", "assistant": f"Answer {i} again."},
            {
                "messages": [
                    {"role": "user", "content": "earlier"},
                    {"role": "assistant", "content": "ok"},
                    {"role": "user", "content": f"  What is {topic} !"},
                    {"role": "assistant", "content": "x"},
                ]
            },
        ]
    return read_chat_jsonl(write_lines(tmp_path / "chat.jsonl", rows))


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 1337])
def test_grouped_split_keeps_near_identical_prompts_together(tmp_path, seed):
    data = _variant_rows(tmp_path)
    train, val = data.split(val_fraction=0.25, seed=seed)
    train_keys = {normalize_prompt(e.prompt) for e in train}
    val_keys = {normalize_prompt(e.prompt) for e in val}
    assert not train_keys & val_keys
    assert len(train) + len(val) == 36
    assert len(val_keys) == 3 and len(val) == 9  # round(0.25 * 12 groups), 3 rows each
    assert [e.line for e in train] == sorted(e.line for e in train)  # file order kept


def test_grouped_split_is_deterministic_and_seed_dependent(tmp_path):
    data = _variant_rows(tmp_path)
    first = data.split(0.25, seed=5)
    again = split_chat_examples(data.examples, val_fraction=0.25, seed=5)
    assert [e.line for e in first[1]] == [e.line for e in again[1]]
    val_sets = {tuple(e.line for e in data.split(0.25, seed=s)[1]) for s in range(10)}
    assert len(val_sets) > 1


def test_grouped_split_edge_cases():
    two = ["a", "b"]
    train, val = grouped_split(two, str, val_fraction=0.01, seed=0)
    assert len(val) == 1 and len(train) == 1  # at least one validation row with >= 2 groups
    train, val = grouped_split(["a", "a", "a"], str, val_fraction=0.5, seed=0)
    assert val == [] and train == ["a", "a", "a"]  # one group: nothing to hold out
    train, val = grouped_split(two, str, val_fraction=0.99, seed=0)
    assert len(train) == 1  # never all groups in validation
    assert grouped_split(two, str, val_fraction=0.0, seed=0) == (two, [])
    with pytest.raises(ValueError):
        grouped_split(two, str, val_fraction=1.0, seed=0)
