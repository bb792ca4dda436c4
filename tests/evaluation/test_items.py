"""The eval JSONL reader: every SPEC §6 field, file:line errors, unknown fields, levels."""

from __future__ import annotations

import json

import pytest

from picochat.errors import InputError
from picochat.evaluation.items import LEVELS, read_eval_items

FULL_ROW = {
    "user": "What is BPE?",
    "category": "tokenizer",
    "answerable": True,
    "must_include": ["merge"],
    "must_include_any": [["pair", "pairs"], ["byte", "bytes"]],
    "must_not_include": ["banana"],
    "required_entities": ["BPE"],
    "min_words": 3,
    "max_words": 60,
    "min_chars": 10,
    "max_chars": 400,
    "reference_answer": "BPE merges the most frequent pair of bytes.",
    "require_corpus_support": True,
    "level": "transfer",
    "split": "test",
}


def write(tmp_path, rows, name="eval.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_reads_every_spec_field(tmp_path):
    eval_set = read_eval_items(write(tmp_path, [FULL_ROW]))
    item = eval_set.items[0]
    for key, value in FULL_ROW.items():
        assert getattr(item, key) == value, key
    assert not item.level_inferred and item.line == 1
    assert eval_set.warnings == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"category": "x"}, "`user`"),
        ({"user": "q", "must_include": "Paris"}, "`must_include` must be a list"),
        ({"user": "q", "must_include_any": ["a", "b"]}, "must_include_any"),
        ({"user": "q", "answerable": "no"}, "`answerable` must be true or false"),
        ({"user": "q", "min_words": True}, "`min_words` must be a whole number"),
        ({"user": "q", "max_chars": -1}, "`max_chars` must be >= 0"),
        ({"user": "q", "min_words": 5, "max_words": 2}, "larger than `max_words`"),
        ({"user": "q", "level": "easy"}, "`level` must be one of"),
        ({"user": "q", "must_not_include": ["!!"]}, "no letters or digits"),
        ("[1, 2]", "JSON object"),
        ("{not json", "invalid JSON"),
    ],
)
def test_bad_rows_name_file_line_and_fix(tmp_path, row, message):
    path = write(tmp_path, [{"user": "fine"}, "", row])
    with pytest.raises(InputError) as info:
        read_eval_items(path)
    error = info.value
    assert error.line == 3 and error.file == str(path)
    assert message in str(error)
    assert error.fix
    assert f"{path}:3" in str(error)


def test_all_bad_rows_are_listed(tmp_path):
    path = write(tmp_path, [{"user": ""}, {"user": "ok"}, {"user": 3}])
    with pytest.raises(InputError, match="2 bad eval row.*line 1.*line 3"):
        read_eval_items(path)


def test_unknown_fields_warned_once_and_kept(tmp_path):
    rows = [{"user": "a", "colour": "red"}, {"user": "b", "colour": "blue", "id": "x"}]
    eval_set = read_eval_items(write(tmp_path, rows))
    assert eval_set.unknown_fields == {"colour": {"first_line": 1, "rows": 2}}
    assert len(eval_set.warnings) == 1 and "colour" in eval_set.warnings[0]
    assert eval_set.items[1].extra == {"id": "x", "colour": "blue"}


@pytest.mark.parametrize(
    ("row", "level"),
    [
        ({"user": "q", "answerable": False, "must_include": ["x"]}, "adversarial"),
        ({"user": "q", "category": "Smoke test"}, "smoke"),
        ({"user": "q", "category": "paraphrase"}, "transfer"),
        ({"user": "q", "category": "memorisation probe"}, "memorization"),
        ({"user": "q", "split": "train"}, "memorization"),
        ({"user": "q", "reference_answer": "a"}, "heldout"),
        ({"user": "q", "required_entities": ["Rome"]}, "heldout"),
        ({"user": "q", "max_words": 5}, "smoke"),
    ],
)
def test_level_inferred_when_absent(tmp_path, row, level):
    item = read_eval_items(write(tmp_path, [row])).items[0]
    assert item.level == level and item.level_inferred
    assert level in LEVELS


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="no items"):
        read_eval_items(write(tmp_path, [""]))
    with pytest.raises(InputError, match="not found"):
        read_eval_items(tmp_path / "absent.jsonl")


def test_context_turns_come_before_the_user_prompt(tmp_path):
    from picochat.evaluation.items import read_eval_items
    from picochat.evaluation.stage import conversations

    path = tmp_path / "eval.jsonl"
    context = [
        {"role": "user", "content": "What is SFT?"},
        {"role": "assistant", "content": "Fine-tuning."},
    ]
    path.write_text(
        json.dumps({"user": "Does it add facts?", "context": context})
        + "\n"
        + json.dumps({"user": "x", "context": [{"role": "robot", "content": "hi"}]})
        + "\n"
    )
    with pytest.raises(InputError) as error:
        read_eval_items(path)
    assert error.value.line == 2 and "context" in str(error.value)
    path.write_text(json.dumps({"user": "Does it add facts?", "context": context}) + "\n")
    (conversation,) = conversations(read_eval_items(path).items)
    assert conversation == [*context, {"role": "user", "content": "Does it add facts?"}]
