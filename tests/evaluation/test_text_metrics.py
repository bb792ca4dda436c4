"""Normalisation, phrase matching and metrics, checked against their references."""

from __future__ import annotations

import collections
import re
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from picochat.evaluation.metrics import prompt_echo, repetition, rouge_l_f1, token_f1
from picochat.evaluation.text import contains_phrase, rouge_tokens, words

_REPO = Path(__file__).resolve().parents[2]
# ../shared/data beside the repo root (a worktree sits one level deeper).
SHAKESPEARE = (
    next(
        (
            p
            for p in (_REPO.parent / "shared", _REPO.parent.parent / "shared")
            if (p / "data" / "tinyshakespeare.txt").is_file()
        ),
        _REPO.parent / "shared",
    )
    / "data"
    / "tinyshakespeare.txt"
)


# --- the official SQuAD v2.0 evaluate script's definitions, written out independently ---
def _official_normalize_answer(s):
    def remove_articles(text):
        regex = re.compile(r"\b(a|an|the)\b", re.UNICODE)
        return re.sub(regex, " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def _official_compute_f1(a_gold, a_pred):
    gold_toks = _official_normalize_answer(a_gold).split() if a_gold else []
    pred_toks = _official_normalize_answer(a_pred).split() if a_pred else []
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


PAIRS = [
    ("The capital of France is Paris.", "Paris is the capital of France."),
    ("Denver Broncos", "The Denver Broncos won Super Bowl 50!"),
    ("a cat sat on the mat", "the the the cat"),
    ("It's 1,000 km away -- roughly.", "about 1000 kilometres away"),
    ("Café au lait, s'il vous plaît", "cafe au lait"),
    ("", "nothing"),
    ("the", "a"),
    ("Tokenizers split text into tokens; BPE merges pairs.", "BPE merges frequent pairs."),
]


def _shakespeare_pairs(limit: int = 60) -> list[tuple[str, str]]:
    if not SHAKESPEARE.is_file():
        pytest.skip(f"{SHAKESPEARE} is absent")
    lines = [ln.strip() for ln in SHAKESPEARE.read_text().splitlines() if len(ln.split()) >= 4]
    return list(zip(lines[:limit], lines[1 : limit + 1], strict=True))


def test_phrase_matching_uses_whole_words_and_ignores_case_and_punctuation():
    assert not contains_phrase("The tokenizer is ready.", "token")
    assert contains_phrase("A token, then another.", "token")
    assert contains_phrase("I live in NEW-YORK now", "new york")
    assert contains_phrase("new   york", "New York!")
    assert not contains_phrase("York New", "new york")
    assert not contains_phrase("anything", "...")
    assert words("Token-F1 isn't 0.5!") == ["token", "f1", "isn", "t", "0", "5"]


@pytest.mark.parametrize(("prediction", "reference"), PAIRS)
def test_token_f1_is_the_squad_definition(prediction, reference):
    assert token_f1(prediction, reference) == pytest.approx(
        _official_compute_f1(reference, prediction)
    )


def test_token_f1_on_real_text_equals_squad():
    for a, b in _shakespeare_pairs():
        assert token_f1(a, b) == pytest.approx(_official_compute_f1(b, a))
    assert token_f1("Paris", "Paris.") == 1.0
    assert token_f1("London", "Paris") == 0.0


def test_rouge_l_equals_rouge_score_on_real_sentence_pairs():
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs = PAIRS + _shakespeare_pairs()
    for prediction, reference in pairs:
        expected = scorer.score(reference, prediction)["rougeL"].fmeasure
        assert rouge_l_f1(prediction, reference) == pytest.approx(expected), (prediction, reference)
    assert any(0 < rouge_l_f1(p, r) < 1 for p, r in pairs)  # not a degenerate comparison


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "c", "the", "x1", "Y!", "é"]), max_size=12),
    st.lists(st.sampled_from(["a", "b", "c", "the", "x1", "Y!", "é"]), max_size=12),
)
def test_rouge_l_equals_rouge_score_on_random_token_sequences(pred, ref):
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    p, r = " ".join(pred), " ".join(ref)
    assert rouge_tokens(p) == scorer._tokenizer.tokenize(p)
    assert rouge_l_f1(p, r) == pytest.approx(scorer.score(r, p)["rougeL"].fmeasure)


def test_repetition_flags_loops_not_normal_sentences():
    looping = repetition("the king is dead the king is dead the king is dead the king is dead")
    assert looping.degenerate and looping.repeated_ngram_rate > 0.5
    assert repetition("eeeeeeeeeeeeeeee").degenerate
    assert repetition("a a a a a a a a a b").degenerate
    normal = repetition("The quick brown fox jumps over the lazy dog near the river bank.")
    assert not normal.degenerate
    assert normal.repeated_ngram_rate == 0.0
    assert normal.distinct_1 == pytest.approx(11 / 13)  # "the" three times
    assert repetition("hi").repeated_ngram_rate is None


def test_prompt_echo_rule():
    prompt = "What is the capital of France?"
    assert prompt_echo(prompt, "What is the capital of France? What is the capital")
    assert prompt_echo(prompt, "what is the capital city, hmm")  # starts with the prompt
    assert not prompt_echo(prompt, "The capital of France is Paris.")
    assert not prompt_echo(prompt, "Paris.")
    assert prompt_echo("Hello there", "hello there hello")
    assert not prompt_echo("Say hello.", "Hello!")
    assert not prompt_echo("Hello there", "Hello! How can I help you today?")
    assert not prompt_echo(prompt, "")


def test_prompt_echo_needs_the_reply_to_add_little():
    assert not prompt_echo("Capital of France?", "Paris is the capital of France.")
    assert prompt_echo("Capital of France?", "Capital of France.")
    long_answer = "What is the capital of France? It is Paris, a city on the Seine with museums."
    assert not prompt_echo("What is the capital of France?", long_answer)
