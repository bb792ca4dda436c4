"""From item results to the figures of an eval report: rates, ladder, clusters, advice.

Every rate names its denominator; a rate whose denominator is zero is `None` with a
sibling `<key>_reason`. Every pass-rate interval (`pass_rate_ci`: headline, ladder,
categories) is the 95% Wilson score interval: at 0/n and n/n it stays open (0/16 reads
[0%, 19.4%]), where a bootstrap collapses to a point. The seeded percentile bootstrap
is kept beside it (`pass_rate_bootstrap_ci`): resampling n pass/fail outcomes with
replacement gives a pass count distributed exactly Binomial(n, p̂), so
`BOOTSTRAP_RESAMPLES` binomial draws are the bootstrap, without materialising
n × resamples indices. Not a renderer: see `report.py`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from picochat.evaluation.items import LEVELS
from picochat.evaluation.rules import RULE_CLUSTERS, ItemResult

BOOTSTRAP_RESAMPLES = 10_000
INTERVAL_METHOD = "wilson"
CONFIDENCE = 0.95
# A level or category is weak below this pass rate, or this far below the overall one.
WEAK_PASS_RATE = 0.5
WEAK_GAP = 0.2

LADDER_GUIDE = {
    "smoke": "smoke failures = wiring is broken (template, tokenizer, checkpoint, generation)",
    "heldout": "held-out failures = weak recall / generalisation",
    "transfer": "transfer failures = brittle behaviour (works only on the trained phrasing)",
    "adversarial": "adversarial failures = weak refusal (answers what it should decline)",
    "memorization": "memorisation-probe failures = the model may be copying its training text",
}

CLUSTERS = {
    "content_mismatch": "required phrases, any-of groups, entities or reference answer missed",
    "forbidden_or_unsupported": "forbidden phrases present, or reply not supported by the corpus",
    "refusal_failure": "answered an unanswerable item (unsupported claim) or refused an answerable one",
    "prompt_echo": "the reply repeats the prompt instead of answering",
    "length": "reply outside its word or character bounds",
    "degenerate_repetition": "the reply loops or is empty",
}


def bootstrap_ci(
    passed: Sequence[bool], *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> list[float] | None:
    """95% percentile-bootstrap interval of the pass rate; None for no items."""
    n = len(passed)
    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    rates = rng.binomial(n, sum(passed) / n, size=resamples) / n
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(rates, [tail, 100 - tail])
    return [float(low), float(high)]


def wilson_ci(passed: Sequence[bool], z: float = 1.959964) -> list[float] | None:
    """95% Wilson score interval: unlike the bootstrap, it stays open at 0/n and n/n."""
    n = len(passed)
    if n == 0:
        return None
    p = sum(passed) / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    # Exact ends at 0/n and n/n (the formula leaves ~1e-17 of rounding there).
    return [0.0 if p == 0 else low, 1.0 if p == 1 else high]


def _rate(out: dict[str, Any], key: str, hits: int, total: int, empty_reason: str) -> None:
    out[key] = hits / total if total else None
    if not total:
        out[f"{key}_reason"] = empty_reason


def _mean(out: dict[str, Any], key: str, values: Sequence[float | None], empty_reason: str) -> None:
    present = [v for v in values if v is not None]
    out[key] = float(np.mean(present)) if present else None
    if not present:
        out[f"{key}_reason"] = empty_reason


def _has_length_bound(item: Any) -> bool:
    return any(
        v is not None for v in (item.min_words, item.max_words, item.min_chars, item.max_chars)
    )


# (summary key, which items it applies to, which results count as a hit, reason when none apply)
FAILURE_RATES: tuple[tuple[str, Callable, Callable, str], ...] = (
    ("unsupported_claim_rate", lambda i: i.answerable is False,
     # Measured on every unanswerable item, also those whose own rules decide them.
     lambda r: not r.refused and r.words > 0, "no item is marked answerable: false"),
    ("refusal_rate", lambda i: i.answerable is False, lambda r: r.refused,
     "no item is marked answerable: false"),
    ("over_refusal_rate", lambda i: i.answerable is True, lambda r: r.refused,
     "no item is marked answerable: true"),
    ("prompt_echo_rate", lambda i: True, lambda r: r.prompt_echo, "no items"),
    ("missing_support_rate", lambda i: bool(i.must_include or i.must_include_any),
     lambda r: bool({"must_include", "must_include_any"} & set(r.failed_rules)),
     "no item has must_include or must_include_any"),
    ("missing_entity_rate", lambda i: bool(i.required_entities),
     lambda r: bool(r.entities_missing), "no item has required_entities"),
    ("length_violation_rate", _has_length_bound, lambda r: bool(r.length_violations),
     "no item has a length bound"),
)  # fmt: skip
CORPUS_SUPPORT_RATE = (
    "corpus_support_failure_rate",
    lambda i: i.require_corpus_support,
    lambda r: "corpus_support" in r.failed_rules,
    "no item has require_corpus_support: true",
)
DEGENERATE_RATE = ("degenerate_rate", lambda i: True, lambda r: r.degenerate, "no items")


def summarize(
    results: Sequence[ItemResult], items: Sequence[Any], *, seed: int, support_given: bool
) -> dict[str, Any]:
    """The `summary` block: pass rate with its interval and every failure rate."""
    n = len(results)
    passed = [r.passed for r in results]
    out: dict[str, Any] = {"items": n, "passed": sum(passed)}
    _rate(out, "pass_rate", sum(passed), n, "no items")
    # Wilson: with every item passing (or failing) every bootstrap resample is identical
    # and that interval collapses to a point; Wilson's says how wide the doubt still is.
    out["pass_rate_ci"] = wilson_ci(passed)
    out["pass_rate_ci_method"] = INTERVAL_METHOD
    out["pass_rate_wilson_ci"] = out["pass_rate_ci"]
    out["pass_rate_bootstrap_ci"] = bootstrap_ci(passed, seed=seed)
    pairs = list(zip(results, items, strict=True))

    def rate(key: str, applies: Callable, hit: Callable, reason: str) -> None:
        hits = sum(1 for r, i in pairs if applies(i) and hit(r))
        total = sum(1 for _, i in pairs if applies(i))
        _rate(out, key, hits, total, reason)

    for spec in FAILURE_RATES:
        rate(*spec)
    if support_given:
        rate(*CORPUS_SUPPORT_RATE)
    else:
        out["corpus_support_failure_rate"] = None
        out["corpus_support_failure_rate_reason"] = "no --support-corpus was given"
    _mean(out, "token_f1", [r.token_f1 for r in results], "no item has a reference_answer")
    _mean(out, "rouge_l", [r.rouge_l for r in results], "no item has a reference_answer")
    repeated = [r.repeated_ngram_rate for r in results]
    _mean(out, "repetition_rate", repeated, "no reply has 3 or more words")
    rate(*DEGENERATE_RATE)
    return out


def breakdown(results: Sequence[ItemResult], key: Callable[[ItemResult], str], seed: int) -> dict:
    """{group: {items, passed, pass_rate, pass_rate_ci (Wilson), failed_rules}} per group."""
    groups: dict[str, list[ItemResult]] = {}
    for r in results:
        groups.setdefault(key(r), []).append(r)
    out = {}
    for name, members in groups.items():
        passed = [r.passed for r in members]
        out[name] = {
            "items": len(members),
            "passed": sum(passed),
            "pass_rate": sum(passed) / len(members),
            "pass_rate_ci": wilson_ci(passed),
            "pass_rate_ci_method": INTERVAL_METHOD,
            "pass_rate_bootstrap_ci": bootstrap_ci(passed, seed=seed),
            "failed_rules": dict(Counter(rule for r in members for rule in r.failed_rules)),
        }
    return out


def ladder(results: Sequence[ItemResult], seed: int) -> dict[str, dict[str, Any]]:
    """Every level in ladder order, with items, pass rate and how many were inferred."""
    by_level = breakdown(results, lambda r: r.level, seed)
    out = {}
    for level in LEVELS:
        entry = by_level.get(level) or {
            "items": 0,
            "passed": 0,
            "pass_rate": None,
            "pass_rate_reason": "no items at this level",
            "pass_rate_ci": None,
            "failed_rules": {},
        }
        entry["inferred_level_items"] = sum(
            1 for r in results if r.level == level and r.level_inferred
        )
        entry["meaning_of_failures"] = LADDER_GUIDE[level]
        out[level] = entry
    return out


def clusters(results: Sequence[ItemResult]) -> dict[str, dict[str, Any]]:
    """Failed items grouped by kind of failure (an item can sit in several clusters)."""
    n = len(results)
    out = {}
    for name, description in CLUSTERS.items():
        members = [r for r in results if name in r.clusters]
        out[name] = {
            "description": description,
            "items": len(members),
            "share_of_items": len(members) / n if n else None,
            "rules": dict(
                Counter(
                    rule for r in members for rule in r.failed_rules if RULE_CLUSTERS[rule] == name
                )
            ),
            "item_indices": [r.index for r in members],
        }
    return out


def weak_groups(groups: dict[str, dict], overall: float | None, min_items: int = 1) -> list[dict]:
    """Groups whose pass rate is below WEAK_PASS_RATE or WEAK_GAP under the overall rate."""
    weak = []
    for name, g in groups.items():
        if g["items"] < min_items or g["pass_rate"] is None:
            continue
        reasons = []
        if g["pass_rate"] < WEAK_PASS_RATE:
            reasons.append(f"pass rate {g['pass_rate']:.0%} < {WEAK_PASS_RATE:.0%}")
        if overall is not None and g["pass_rate"] <= overall - WEAK_GAP:
            reasons.append(f"{WEAK_GAP:.0%}+ below the overall {overall:.0%}")
        if reasons:
            weak.append(
                {
                    "name": name,
                    "items": g["items"],
                    "passed": g["passed"],
                    "pass_rate": g["pass_rate"],
                    "why": "; ".join(reasons),
                }
            )
    return sorted(weak, key=lambda w: (w["pass_rate"], -w["items"]))
