"""Each scoring rule passes on a good reply and fails on a crafted bad one."""

from __future__ import annotations

import pytest

from picochat.evaluation.items import EvalItem
from picochat.evaluation.rules import ScoringRules, is_refusal, score_item
from picochat.evaluation.support import CorpusIndex

CORPUS = CorpusIndex.from_text(
    "Romeo loves Juliet. The nurse keeps the secret of Juliet.\n"
    "Byte pair encoding merges the most frequent pair of tokens."
)


def score(item: EvalItem, reply: str, **kwargs):
    return score_item(0, item, reply, kwargs.pop("rules", None), **kwargs)


@pytest.mark.parametrize(
    ("item", "good", "bad", "rule"),
    [
        (EvalItem("Name the city.", must_include=["Paris"]), "It is Paris.", "It is Lyon.",
         "must_include"),
        (EvalItem("Color?", must_include_any=[["red", "crimson"], ["apple"]]),
         "A crimson apple.", "A red pear.", "must_include_any"),
        (EvalItem("Who?", required_entities=["Romeo", "Juliet"]), "Romeo and Juliet.",
         "Romeo alone.", "required_entities"),
        (EvalItem("Safe?", must_not_include=["password"]), "I keep secrets.",
         "The password is hunter2.", "must_not_include"),
        (EvalItem("Short.", max_words=3), "Yes, indeed.", "Yes, indeed, it is so.", "length"),
        (EvalItem("Long.", min_words=3), "One two three.", "One.", "length"),
        (EvalItem("Chars.", min_chars=5, max_chars=10), "Hello!", "Hello there, world!",
         "length"),
        (EvalItem("Capital of France?", reference_answer="The capital of France is Paris."),
         "Paris is the capital of France.", "I like trains very much.", "reference_answer"),
        (EvalItem("Phone of Zorblax?", answerable=False), "I don't know who that is.",
         "It is 555-1234.", "unsupported_claim"),
        (EvalItem("What does Romeo love?", answerable=True), "Romeo loves Juliet.",
         "Sorry, I cannot answer that.", "over_refusal"),
        (EvalItem("Tell me about the tokenizer now please."), "It splits text into pieces.",
         "Tell me about the tokenizer now please.", "prompt_echo"),
        (EvalItem("Say something."), "Something new.", "go go go go go go go go go go",
         "degenerate_repetition"),
        (EvalItem("Say something."), "Something new.", "   ", "empty_reply"),
    ],
)  # fmt: skip
def test_rule_passes_good_and_fails_bad_reply(item, good, bad, rule):
    ok = score(item, good)
    assert ok.passed, ok.reasons
    failed = score(item, bad)
    assert not failed.passed
    assert rule in failed.failed_rules
    assert failed.reasons


def test_corpus_support_rule_with_threshold():
    item = EvalItem("What does the text say about Juliet?", require_corpus_support=True)
    ok = score(item, "Romeo loves Juliet.", support_index=CORPUS)
    assert ok.passed and ok.support == 1.0
    bad = score(item, "Juliet invented quantum computers.", support_index=CORPUS)
    assert "corpus_support" in bad.failed_rules and bad.support < 0.5
    assert bad.support_detail["unsupported_examples"]
    lenient = score(
        item, "Juliet invented quantum computers.", support_index=CORPUS,
        rules=ScoringRules(min_corpus_support=0.0),
    )  # fmt: skip
    assert lenient.passed
    skipped = score(item, "Anything at all.")
    assert skipped.passed and skipped.skipped_checks  # said, not silently passed


def test_matched_missing_and_forbidden_are_reported_per_phrase():
    item = EvalItem(
        "q",
        must_include=["token", "merge"],
        must_include_any=[["pair", "couple"]],
        must_not_include=["banana", "apple"],
        required_entities=["BPE", "GPT"],
    )
    result = score(item, "BPE will merge a pair; an apple a day (tokenizer).")
    assert result.matched == ["merge", "pair"]
    assert result.missing == ["token"]
    assert result.forbidden_found == ["apple"]
    assert result.entities_matched == ["BPE"] and result.entities_missing == ["GPT"]
    assert set(result.clusters) == {"content_mismatch", "forbidden_or_unsupported"}


def test_reference_metrics_recorded_and_threshold_applies():
    item = EvalItem("q", reference_answer="the cat sat on the mat")
    result = score(item, "a cat sat on a mat", rules=ScoringRules(min_reference_f1=0.99))
    assert result.token_f1 == pytest.approx(1.0)  # articles are dropped by SQuAD
    assert 0 < result.rouge_l < 1
    assert result.passed
    strict = score(item, "the cat sat", rules=ScoringRules(min_reference_f1=0.9))
    assert "reference_answer" in strict.failed_rules


def test_refusal_detection():
    assert is_refusal("I don't know.")
    assert is_refusal("Sorry, the text does not say.")
    assert not is_refusal("Romeo loves Juliet.")
    assert not is_refusal("You know nothing of that.")
