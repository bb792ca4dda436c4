"""The bundled example pack: every file passes its reader with zero skipped rows, and the
eval items, recipe and pack keep to the SPEC.md formats."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from picochat.data.chat import read_chat_jsonl
from picochat.data.jsonl import iter_jsonl
from picochat.data.preferences import read_preferences_jsonl
from picochat.data.splits import normalize_prompt
from picochat.tokenizer.special import SPECIAL_TOKENS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EVAL_FIELDS = {
    "user", "category", "answerable", "must_include", "must_include_any", "must_not_include",
    "required_entities", "min_words", "max_words", "min_chars", "max_chars", "reference_answer",
    "require_corpus_support", "level", "split",
}  # fmt: skip
LEVELS = {"smoke", "heldout", "transfer", "adversarial", "memorization"}


def eval_items() -> list[dict]:
    rows = list(iter_jsonl(EXAMPLES / "tiny_eval.jsonl"))
    assert all(row.error is None for row in rows), [(r.line, r.error) for r in rows if r.error]
    return [row.obj for row in rows]


def word_ngrams(text: str, n: int) -> set[str]:
    words = normalize_prompt(text).split()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_chat_file_is_clean_and_covers_every_form():
    data = read_chat_jsonl(EXAMPLES / "tiny_chat.jsonl", strict=True)
    assert not data.skipped and 60 <= len(data.examples) <= 120
    raw = [row.obj for row in iter_jsonl(EXAMPLES / "tiny_chat.jsonl")]
    assert sum("user" in r and "system" not in r for r in raw) >= 10
    assert sum("system" in r for r in raw) >= 3
    messages_rows = [e.messages for e, r in zip(data.examples, raw, strict=True) if "messages" in r]
    assert sum(sum(m["role"] == "user" for m in msgs) >= 2 for msgs in messages_rows) >= 3
    tool_rows = [msgs for msgs in messages_rows if any(m["role"] == "tool" for m in msgs)]
    assert tool_rows and all(any(m.get("tool_calls") for m in msgs) for msgs in tool_rows)
    assert sum("don't know" in e.answer for e in data.examples) >= 4  # refusal rows
    assert all(len(e.answer.split()) <= 40 for e in data.examples)  # short, memorisable answers


def test_preference_file_is_clean():
    data = read_preferences_jsonl(EXAMPLES / "preferences.jsonl", strict=True)
    assert not data.skipped and len(data.pairs) >= 15
    assert {p.category for p in data.pairs} >= {"refusal", "grounding", "echo", "brevity"}


def test_eval_items_use_only_spec_fields_and_every_one_of_them():
    items = eval_items()
    assert 30 <= len(items) <= 40
    used = set()
    for item in items:
        extra = set(item) - EVAL_FIELDS - {"id", "notes"}
        assert not extra, (item.get("id"), extra)
        used |= set(item) & EVAL_FIELDS
        assert isinstance(item["user"], str) and item["user"].strip()
        for key in ("must_include", "must_not_include", "required_entities"):
            assert all(isinstance(x, str) and x for x in item.get(key, [])), key
        for group in item.get("must_include_any", []):
            assert isinstance(group, list) and group and all(isinstance(x, str) for x in group)
        for key in ("min_words", "max_words", "min_chars", "max_chars"):
            assert isinstance(item.get(key, 0), int)
        for key in ("answerable", "require_corpus_support"):
            assert isinstance(item.get(key, True), bool)
    assert used == EVAL_FIELDS
    levels = [item.get("level") for item in items]
    assert set(levels) - {None} == LEVELS
    assert levels.count(None) >= 2  # some items leave the level to the eval
    assert len({item["id"] for item in items}) == len(items)


def test_only_memorization_items_repeat_training_prompts():
    chat = read_chat_jsonl(EXAMPLES / "tiny_chat.jsonl")
    prompts = [m["content"] for e in chat.examples for m in e.messages if m["role"] == "user"]
    exact = {normalize_prompt(p) for p in prompts}
    chat_ngrams = set().union(*(word_ngrams(p, 5) for p in prompts))
    corpus_ngrams = word_ngrams((EXAMPLES / "tiny_corpus.txt").read_text(), 5)
    for item in eval_items():
        leaked = normalize_prompt(item["user"]) in exact
        overlap = word_ngrams(item["user"], 5) & (chat_ngrams | corpus_ngrams)
        if item.get("level") == "memorization":
            assert leaked, item["id"]  # probes repeat a training prompt on purpose
        else:
            assert not leaked and not overlap, (item["id"], overlap)


def test_pack_and_recipe_point_at_real_files():
    pack = json.loads((EXAMPLES / "tiny_dataset_pack.json").read_text())
    assert {"name", "description", "corpus", "chat", "eval", "preferences"} <= set(pack)
    for key in ("chat", "eval", "preferences"):
        assert (EXAMPLES / pack[key]).is_file()
    recipe_path = EXAMPLES / pack["corpus"]["recipe"]
    recipe = json.loads(recipe_path.read_text())
    assert {"name", "description", "exclude", "sources"} <= set(recipe)
    assert len({s["label"] for s in recipe["sources"]}) >= 2
    for source in recipe["sources"]:
        assert {"path", "label", "include", "exclude", "reason"} <= set(source)
        folder = recipe_path.parent / source["path"]
        names = [p.name for p in folder.iterdir() if p.is_file()]
        kept = [n for n in names if any(fnmatch.fnmatch(n, g) for g in source["include"])]
        kept = [
            n
            for n in kept
            if not any(fnmatch.fnmatch(n, g) for g in source["exclude"] + recipe["exclude"])
        ]
        assert kept, source["path"]  # every glob selects at least one file
    assert fnmatch.fnmatch("scratch_draft.txt", recipe["sources"][1]["exclude"][0])


def recipe_documents() -> list[Path]:
    root = EXAMPLES / "corpus"
    files = sorted(root.rglob("*.md")) + sorted(root.rglob("*.txt"))
    return [p for p in files if not p.name.endswith("_draft.txt")]


def test_tiny_corpus_is_the_recipe_text_in_one_file():
    corpus = (EXAMPLES / "tiny_corpus.txt").read_text()
    assert 30_000 <= len(corpus.encode()) <= 60_000
    for path in recipe_documents():
        assert path.read_text().strip() in corpus, path.name
    assert "DRAFT" not in corpus


@pytest.mark.parametrize("name", ["tiny_chat.jsonl", "tiny_eval.jsonl", "preferences.jsonl"])
def test_rows_use_only_corpus_characters_and_no_special_tokens(name):
    corpus_chars = set((EXAMPLES / "tiny_corpus.txt").read_text())
    text = (EXAMPLES / name).read_text()
    strings: list[str] = []

    def collect(value):
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            for v in value:
                collect(v)

    for line in text.splitlines():
        collect(json.loads(line))
    missing = set("".join(strings)) - corpus_chars
    assert not missing, f"a char tokenizer trained on the corpus would map {missing} to <unk>"
    for token in SPECIAL_TOKENS:
        assert token not in text and token not in (EXAMPLES / "tiny_corpus.txt").read_text()
