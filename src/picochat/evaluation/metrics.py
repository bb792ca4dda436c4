"""Per-reply measurements: token-F1, ROUGE-L, repetition, prompt echo.

Each function measures one thing and returns numbers; deciding pass/fail is
`rules.py`'s job. Token-F1 is the official SQuAD v2.0 `compute_f1` (the v1.1
definition plus: when either side normalises to no tokens, F1 is 1 if both are empty
else 0). ROUGE-L F1 is `rouge_score.rouge_scorer.RougeScorer(["rougeL"],
use_stemmer=False)` (LCS over its default tokenizer). Corpus support lives in
`support.py`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from picochat.evaluation.text import ngrams, rouge_tokens, squad_tokens, words

REPETITION_N = 3
# A reply is degenerate when it loops: half its word 3-grams are repeats (6+ words),
# or a quarter or fewer of its words are distinct (8+ words), or one character
# repeats 10+ times in a row ("eeeeeeeeee", how char-level models stall).
DEGENERATE_REPEATED_NGRAM_RATE = 0.5
DEGENERATE_MIN_WORDS_NGRAM = 6
DEGENERATE_DISTINCT_1 = 0.25
DEGENERATE_MIN_WORDS_DISTINCT = 8
_CHAR_RUN = re.compile(r"(\w)\1{9,}")

DEGENERATE_RULE = (
    f"degenerate when >= {DEGENERATE_REPEATED_NGRAM_RATE:.0%} of the reply's word "
    f"{REPETITION_N}-grams repeat an earlier one ({DEGENERATE_MIN_WORDS_NGRAM}+ words), or "
    f"distinct-1 <= {DEGENERATE_DISTINCT_1} ({DEGENERATE_MIN_WORDS_DISTINCT}+ words), or one "
    "letter/digit repeats 10+ times in a row"
)

# Prompt echo: the reply repeats the prompt (starts with its first ECHO_PREFIX_WORDS
# words, or contains ECHO_COVERAGE of its word 3-grams) AND adds little: under
# ECHO_MAX_NEW_SHARE of the reply's words are absent from the prompt. The second part
# keeps "Paris is the capital of France." (3 of 6 words new) from counting as an echo
# of "Capital of France?".
ECHO_PREFIX_WORDS = 4
ECHO_COVERAGE = 0.8
ECHO_MAX_NEW_SHARE = 0.5
ECHO_RULE = (
    f"echo when the reply starts with the prompt's first {ECHO_PREFIX_WORDS} words or contains "
    f">= {ECHO_COVERAGE:.0%} of the prompt's word 3-grams, and under {ECHO_MAX_NEW_SHARE:.0%} "
    "of the reply's words are new (not in the prompt). Words as in phrase matching"
)


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token-F1 between a reply and a reference answer (0..1)."""
    pred, gold = squad_tokens(prediction), squad_tokens(reference)
    if not pred or not gold:
        return float(pred == gold)
    common = Counter(pred) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    # One DP row at a time: O(len(a) * len(b)) time, O(len(b)) memory.
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l_f1(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure of a reply against a reference, as `rouge-score` computes it."""
    pred, ref = rouge_tokens(prediction), rouge_tokens(reference)
    if not pred or not ref:
        return 0.0
    lcs = _lcs_length(ref, pred)
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def distinct_n(tokens: Sequence[str], n: int) -> float | None:
    """Distinct n-grams / n-grams (Li et al. 2016); None when there is no n-gram."""
    grams = ngrams(tokens, n)
    return len(set(grams)) / len(grams) if grams else None


def repeated_ngram_rate(tokens: Sequence[str], n: int = REPETITION_N) -> float | None:
    """Share of n-grams that repeat an earlier n-gram of the same text (1 - distinct-n)."""
    rate = distinct_n(tokens, n)
    return None if rate is None else 1.0 - rate


@dataclass
class Repetition:
    repeated_ngram_rate: float | None
    distinct_1: float | None
    distinct_2: float | None
    degenerate: bool


def repetition(reply: str) -> Repetition:
    """Repetition diagnostics of one reply, and whether it is degenerate (DEGENERATE_RULE)."""
    tokens = words(reply)
    rate = repeated_ngram_rate(tokens)
    d1 = distinct_n(tokens, 1)
    degenerate = bool(
        (
            rate is not None
            and len(tokens) >= DEGENERATE_MIN_WORDS_NGRAM
            and rate >= DEGENERATE_REPEATED_NGRAM_RATE
        )
        or (
            d1 is not None
            and len(tokens) >= DEGENERATE_MIN_WORDS_DISTINCT
            and d1 <= DEGENERATE_DISTINCT_1
        )
        or _CHAR_RUN.search(reply.lower())
    )
    return Repetition(rate, d1, distinct_n(tokens, 2), degenerate)


def prompt_echo(prompt: str, reply: str) -> bool:
    """Whether the reply mostly repeats the prompt instead of answering (ECHO_RULE)."""
    p, r = words(prompt), words(reply)
    if not p or not r:
        return False
    prompt_words = set(p)
    new_share = sum(1 for w in r if w not in prompt_words) / len(r)
    if new_share >= ECHO_MAX_NEW_SHARE:
        return False
    head = min(ECHO_PREFIX_WORDS, len(p))
    if r[:head] == p[:head]:
        return True
    prompt_grams = set(ngrams(p, 3))
    if not prompt_grams:  # prompts under 3 words: only the start rule applies
        return False
    return len(prompt_grams & set(ngrams(r, 3))) / len(prompt_grams) >= ECHO_COVERAGE
