"""Contamination also checks reference answers against the corpus (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

from picochat.data.contamination import check_contamination

ANSWER = "The warmup raises the learning rate linearly over the first twenty steps."
ITEM = ("How does the schedule start?", 3, "heldout", ANSWER)


def test_an_answer_pasted_into_the_corpus_is_flagged_but_does_not_block(tmp_path: Path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Some notes.\n" + ANSWER.upper() + "\nMore notes.\n")
    report = check_contamination([ITEM], [], corpus)
    assert report.checked_answers == 1
    assert [(a["line"], a["field"], a["kind"], a["answer"]) for a in report.leaked_answers] == [
        (3, "answer", "verbatim", ANSWER)
    ]
    assert report.leaked_items == []  # the prompt did not leak: the gates stay open
    assert "Reference answers" in report.method


def test_a_one_word_paraphrase_of_the_answer_is_flagged_a_different_one_is_not(tmp_path: Path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(ANSWER.replace("linearly", "steadily"))
    assert len(check_contamination([ITEM], [], corpus).leaked_answers) == 1
    corpus.write_text("The learning rate decays along a cosine after the warmup ends.")
    assert check_contamination([ITEM], [], corpus).leaked_answers == []


def test_short_answers_and_sft_rows_are_not_searched(tmp_path: Path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The capital of France is Paris.")
    short = ("Capital of France?", 1, "heldout", "Paris.")
    report = check_contamination([short, ITEM], ["User: hi\nAssistant: " + ANSWER], corpus)
    assert report.checked_answers == 1 and report.leaked_answers == []


def test_the_bundled_pack_figures_quoted_in_the_docstring():
    """examples/: 0 of 33 prompts and 5 of 16 checked answers against tiny_corpus.txt."""
    from picochat.data import contamination
    from picochat.data.chat import read_chat_jsonl
    from picochat.evaluation.items import read_eval_items

    examples = Path(__file__).resolve().parents[2] / "examples"
    items = [
        (i.user, i.line, i.level, i.reference_answer)
        for i in read_eval_items(examples / "tiny_eval.jsonl").items
    ]
    chat = read_chat_jsonl(examples / "tiny_chat.jsonl")
    sft = [" ".join(str(m.get("content") or "") for m in e.messages) for e in chat.examples]
    report = check_contamination(items, sft, examples / "tiny_corpus.txt")
    assert (report.checked_items, len(report.leaked_items)) == (33, 0)
    assert (report.checked_answers, len(report.leaked_answers)) == (16, 5)
    assert "5 of 16 checked answers" in " ".join(contamination.__doc__.split())
    assert json.dumps(report.leaked_answers)  # serialisable for contamination.json
