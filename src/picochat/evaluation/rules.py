"""Score one reply against one eval item: which rules pass, which fail, and why.

An item passes when no rule fails. Rules (each failure names its rule and cluster):

- `must_include` / `must_include_any` / `required_entities`: whole-word phrase
  matching (`text.PHRASE_MATCHING_RULE`); every phrase, one phrase of each group,
  every entity.                                                  -> content_mismatch
- `reference_answer`: token-F1 below `min_reference_f1`.         -> content_mismatch
- `must_not_include`: a forbidden phrase appears.                -> forbidden_or_unsupported
- `corpus_support` (`require_corpus_support` items, when a support corpus is given):
  support below `min_corpus_support`, or nothing checkable.      -> forbidden_or_unsupported
- `unsupported_claim`: `answerable: false`, the reply does not refuse, and the item
  states no content rule of its own (its explicit rules decide it otherwise).
- `over_refusal`: `answerable: true` and the reply refuses.      -> refusal_failure
- `length`: outside min/max words (whitespace-separated) or chars (stripped). -> length
- `prompt_echo`: `metrics.ECHO_RULE`.                            -> prompt_echo
- `degenerate_repetition` (`metrics.DEGENERATE_RULE`) and `empty_reply`.
                                                                 -> degenerate_repetition

Refusal detection: the reply contains one of `REFUSAL_MARKERS` as whole words and
states no specific claim (number or name) outside the refusing clauses (`is_refusal`).
Not semantic truth: a fluent wrong answer that contains the required words passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from picochat.evaluation.items import EvalItem
from picochat.evaluation.metrics import prompt_echo, repetition, rouge_l_f1, token_f1
from picochat.evaluation.support import CorpusIndex
from picochat.evaluation.text import MatchableText

REFUSAL_MARKERS = (
    "i don't know", "i do not know", "i dont know", "i'm not sure", "i am not sure",
    "i cannot", "i can't", "i can not", "cannot answer", "can't answer", "i am unable",
    "i'm unable", "i am not able", "no information", "i don't have", "i do not have",
    "not in the text", "not in the corpus", "does not say", "doesn't say",
    "does not mention", "doesn't mention", "not mentioned", "no way to know",
    "is not known", "i have no", "no record", "i won't", "i will not", "i refuse",
    "not possible to know", "does not cover", "doesn't cover", "not covered",
)  # fmt: skip
# A claim beside a refusal: a number, or a capitalised word inside a clause (a name).
_CLAUSE_SPLIT = re.compile(r"[.;:!?\n]+|,?\s+but\s+", re.IGNORECASE)
_CLAIM_TOKEN = re.compile(r"\d|(?<=\w\s)[A-Z][a-z]+")

RULE_CLUSTERS = {
    "must_include": "content_mismatch",
    "must_include_any": "content_mismatch",
    "required_entities": "content_mismatch",
    "reference_answer": "content_mismatch",
    "must_not_include": "forbidden_or_unsupported",
    "corpus_support": "forbidden_or_unsupported",
    "unsupported_claim": "refusal_failure",
    "over_refusal": "refusal_failure",
    "length": "length",
    "prompt_echo": "prompt_echo",
    "degenerate_repetition": "degenerate_repetition",
    "empty_reply": "degenerate_repetition",
}


@dataclass
class ScoringRules:
    """The thresholds of the rules that need one (recorded in every report)."""

    min_reference_f1: float = 0.3
    min_corpus_support: float = 0.5


@dataclass
class ItemResult:
    """Everything measured about one reply, and the verdict."""

    index: int
    user: str
    reply: str
    passed: bool
    reasons: list[str]
    failed_rules: list[str]
    clusters: list[str]
    level: str
    level_inferred: bool
    category: str | None
    answerable: bool | None
    refused: bool
    matched: list[str]
    missing: list[str]
    forbidden_found: list[str]
    entities_matched: list[str]
    entities_missing: list[str]
    words: int
    chars: int
    length_violations: list[str]
    token_f1: float | None
    rouge_l: float | None
    support: float | None
    support_detail: dict[str, Any] | None
    prompt_echo: bool
    repeated_ngram_rate: float | None
    distinct_1: float | None
    distinct_2: float | None
    degenerate: bool
    needs_review: bool
    line: int | None
    skipped_checks: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _has_marker(clause: str) -> bool:
    text = MatchableText(clause)
    return any(text.contains(marker) for marker in REFUSAL_MARKERS)


def is_refusal(reply: str) -> bool:
    """Whether the reply declines to answer, and only that.

    It must contain a `REFUSAL_MARKERS` phrase ("sorry" alone is politeness, not a
    refusal), and no clause without one may state a specific claim (a number or a name):
    "Sorry for the wait: Bob founded Picochat in 2019." and "I don't know, but it was
    2019." are answers, not refusals.
    """
    clauses = [c.strip() for c in _CLAUSE_SPLIT.split(reply) if c.strip()]
    marked = [_has_marker(c) for c in clauses]
    if not any(marked):
        return False
    return not any(_CLAIM_TOKEN.search(c) for c, m in zip(clauses, marked, strict=True) if not m)


def _states_rules(item: EvalItem) -> bool:
    """Whether the item has explicit content rules that decide it (not the refusal check)."""
    return bool(
        item.must_include
        or item.must_include_any
        or item.required_entities
        or item.reference_answer is not None
        or item.must_not_include
    )


def _length_violations(item: EvalItem, n_words: int, n_chars: int) -> list[str]:
    out = []
    if item.min_words is not None and n_words < item.min_words:
        out.append(f"{n_words} words < min_words {item.min_words}")
    if item.max_words is not None and n_words > item.max_words:
        out.append(f"{n_words} words > max_words {item.max_words}")
    if item.min_chars is not None and n_chars < item.min_chars:
        out.append(f"{n_chars} chars < min_chars {item.min_chars}")
    if item.max_chars is not None and n_chars > item.max_chars:
        out.append(f"{n_chars} chars > max_chars {item.max_chars}")
    return out


Failure = tuple[str, str]  # (rule, reason)
# What an ItemResult repeats from its item, unchanged.
ITEM_FIELDS = ("user", "level", "level_inferred", "category", "answerable", "needs_review",
               "line", "extra")  # fmt: skip


def _content(item: EvalItem, reply: str, text: MatchableText, rules: ScoringRules):
    """Required, forbidden and reference content -> (failures, ItemResult fields)."""
    failures: list[Failure] = []
    matched, missing = text.split(item.must_include)
    if missing:
        failures.append(("must_include", f"missing required phrase(s): {', '.join(missing)}"))
    for group in item.must_include_any:
        found = [phrase for phrase in group if text.contains(phrase)]
        if found:
            matched.append(found[0])
        else:
            missing.append("one of: " + " | ".join(group))
            failures.append(("must_include_any", f"none of: {' | '.join(group)}"))
    entities_matched, entities_missing = text.split(item.required_entities)
    if entities_missing:
        failures.append(("required_entities", f"missing entities: {', '.join(entities_missing)}"))
    forbidden_found = [p for p in item.must_not_include if text.contains(p)]
    if forbidden_found:
        failures.append(("must_not_include", f"forbidden phrase(s): {', '.join(forbidden_found)}"))
    f1 = rouge = None
    if item.reference_answer is not None:
        f1, rouge = token_f1(reply, item.reference_answer), rouge_l_f1(reply, item.reference_answer)
        if f1 < rules.min_reference_f1:
            reason = f"token-F1 {f1:.2f} < {rules.min_reference_f1} vs reference"
            failures.append(("reference_answer", reason))
    fields = dict(matched=matched, missing=missing, forbidden_found=forbidden_found,
                  entities_matched=entities_matched, entities_missing=entities_missing,
                  token_f1=f1, rouge_l=rouge)  # fmt: skip
    return failures, fields


def _corpus_support(
    item: EvalItem,
    reply: str,
    text: MatchableText,
    rules: ScoringRules,
    support_index: CorpusIndex | None,
):
    """Support of the reply's wording in the corpus -> (failures, ItemResult fields)."""
    failures: list[Failure] = []
    support, detail, skipped = None, None, []
    if support_index is not None and text.words:
        measured = support_index.support(reply)
        support = measured.share
        detail = {
            "found": measured.found,
            "total": measured.total,
            "unsupported_examples": measured.unsupported[:5],
        }
    if item.require_corpus_support:
        if support_index is None:
            skipped.append("corpus_support: no support corpus given")
        elif support is None:
            failures.append(("corpus_support", "no content words to check against the corpus"))
        elif support < rules.min_corpus_support:
            reason = (
                f"corpus support {support:.2f} < {rules.min_corpus_support} "
                f"({detail['found']}/{detail['total']} content bigrams)"
            )
            failures.append(("corpus_support", reason))
    return failures, dict(support=support, support_detail=detail, skipped_checks=skipped)


def _behaviour(item: EvalItem, reply: str, text: MatchableText):
    """Refusals, length bounds, prompt echo, loops -> (failures, ItemResult fields)."""
    failures: list[Failure] = []
    refused = is_refusal(reply)
    # The refusal check is the rule only where the item states none of its own: an item
    # with explicit content rules is decided by them (the published packs rely on it).
    if item.answerable is False and not refused and text.words and not _states_rules(item):
        failures.append(("unsupported_claim", "answered an unanswerable item without refusing"))
    if item.answerable is True and refused:
        failures.append(("over_refusal", "refused an answerable item"))
    n_words, n_chars = len(reply.split()), len(reply.strip())
    violations = _length_violations(item, n_words, n_chars)
    if violations:
        failures.append(("length", "; ".join(violations)))
    echo = prompt_echo(item.user, reply)
    if echo:
        failures.append(("prompt_echo", "the reply repeats the prompt instead of answering"))
    rep = repetition(reply)
    if not text.words:
        failures.append(("empty_reply", "the reply has no words"))
    elif rep.degenerate:
        failures.append(("degenerate_repetition", "the reply loops (degenerate repetition)"))
    fields = dict(refused=refused, words=n_words, chars=n_chars, length_violations=violations,
                  prompt_echo=echo, repeated_ngram_rate=rep.repeated_ngram_rate,
                  distinct_1=rep.distinct_1, distinct_2=rep.distinct_2,
                  degenerate=rep.degenerate)  # fmt: skip
    return failures, fields


def score_item(
    index: int,
    item: EvalItem,
    reply: str,
    rules: ScoringRules | None = None,
    support_index: CorpusIndex | None = None,
) -> ItemResult:
    """Apply every rule of `item` to `reply` (see the module docstring)."""
    rules = rules or ScoringRules()
    text = MatchableText(reply)
    content_failures, content = _content(item, reply, text, rules)
    support_failures, support = _corpus_support(item, reply, text, rules, support_index)
    behaviour_failures, behaviour = _behaviour(item, reply, text)
    failures = content_failures + support_failures + behaviour_failures
    failed_rules = [rule for rule, _ in failures]
    verdict = dict(passed=not failures, reasons=[reason for _, reason in failures],
                   failed_rules=failed_rules,
                   clusters=sorted({RULE_CLUSTERS[rule] for rule in failed_rules}))  # fmt: skip
    copied = {name: getattr(item, name) for name in ITEM_FIELDS}
    return ItemResult(index=index, reply=reply, **verdict, **copied, **content, **support,
                      **behaviour)  # fmt: skip
