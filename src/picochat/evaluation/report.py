"""`score_items`: eval items + given replies -> the eval report dict (SPEC §11). Pure.

No model, no files written: `stage.evaluate_chat` generates the replies, adds the
report header and writes `eval_report.json` and `report.md` (`render_markdown`).
Scoring is deterministic given `seed` (only the bootstrap interval uses it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from picochat.artifacts import to_jsonable
from picochat.evaluation import advice, analysis
from picochat.evaluation.items import LEVEL_INFERENCE_RULE, EvalItem, EvalSet
from picochat.evaluation.metrics import DEGENERATE_RULE, ECHO_RULE, REPETITION_N, distinct_n
from picochat.evaluation.rules import REFUSAL_MARKERS, ItemResult, ScoringRules, score_item
from picochat.evaluation.support import SUPPORT_N, CorpusIndex
from picochat.evaluation.text import PHRASE_MATCHING_RULE, ngrams, words

SupportCorpus = CorpusIndex | str | Path | None


def _support_index(support_corpus: SupportCorpus) -> CorpusIndex | None:
    if support_corpus is None or isinstance(support_corpus, CorpusIndex):
        return support_corpus
    if isinstance(support_corpus, Path):
        return CorpusIndex.from_file(support_corpus)
    return CorpusIndex.from_text(support_corpus)


def _rules_block(rules: ScoringRules) -> dict[str, Any]:
    return {
        "phrase_matching": PHRASE_MATCHING_RULE,
        "refusal_markers": list(REFUSAL_MARKERS),
        "prompt_echo": ECHO_RULE,
        "degenerate_repetition": DEGENERATE_RULE,
        "min_reference_f1": rules.min_reference_f1,
        "min_corpus_support": rules.min_corpus_support,
        "corpus_support_ngram": SUPPORT_N,
        "corpus_support": f"share of the reply's word {SUPPORT_N}-grams with a non-stopword "
        "that occur in the support corpus",
        "token_f1": "SQuAD v2.0 compute_f1 (normalize_answer: lowercase, no punctuation, "
        "no articles a/an/the)",
        "rouge_l": "rouge-score RougeScorer(['rougeL'], use_stemmer=False) F-measure",
        "level_inference": LEVEL_INFERENCE_RULE,
        "interval": "pass_rate_ci: 95% Wilson score interval (stays open at 0/n and n/n)",
        "bootstrap": f"pass_rate_bootstrap_ci: percentile bootstrap, {analysis.BOOTSTRAP_RESAMPLES} resamples, "
        f"{analysis.CONFIDENCE:.0%}, seeded",
        "weak": f"pass rate < {analysis.WEAK_PASS_RATE:.0%} or {analysis.WEAK_GAP:.0%}+ "
        "below the overall pass rate",
    }


def _repetition_block(replies: Sequence[str]) -> dict[str, Any]:
    tokens = [words(r) for r in replies]
    # Corpus-level distinct-n (Li et al. 2016): distinct n-grams over all replies / all n-grams.
    out: dict[str, Any] = {"ngram": REPETITION_N}
    for n in (1, 2):
        grams = [g for t in tokens for g in ngrams(t, n)]
        out[f"distinct_{n}"] = len(set(grams)) / len(grams) if grams else None
    per_reply = [distinct_n(t, 1) for t in tokens]
    present = [v for v in per_reply if v is not None]
    out["mean_reply_distinct_1"] = sum(present) / len(present) if present else None
    return out


def _support_block(index: CorpusIndex | None) -> dict[str, Any] | None:
    if index is None:
        return None
    return {
        "source": index.source,
        "words": index.words,
        "distinct_ngrams": index.distinct_ngrams,
        "n": index.n,
    }


def _scoring_warnings(results: list[ItemResult]) -> list[str]:
    """Checks skipped, unreviewed items and inferred levels, counted."""
    warnings = []
    unchecked = sum(1 for r in results if r.skipped_checks)
    if unchecked:
        warnings.append(
            f"{unchecked} item(s) require corpus support but no support corpus was given: "
            "that check was skipped for them (pass --support-corpus)"
        )
    review = sum(1 for r in results if r.needs_review)
    if review:
        warnings.append(
            f"{review}/{len(results)} items are unreviewed scaffolding (needs_review: true)"
        )
    inferred = sum(1 for r in results if r.level_inferred)
    if inferred:
        warnings.append(
            f"{inferred}/{len(results)} item level(s) were inferred from their fields "
            "(rule under 'How replies were scored' / rules.level_inference)"
        )
    return warnings


def score_items(
    items: Sequence[EvalItem] | EvalSet,
    replies: Sequence[str],
    support_corpus: SupportCorpus = None,
    *,
    seed: int = 0,
    rules: ScoringRules | None = None,
) -> dict[str, Any]:
    """Score `replies[i]` against `items[i]`; returns the report (without the header).

    `support_corpus`: a `CorpusIndex`, a Path to a corpus file, corpus text, or None.
    """
    eval_set = items if isinstance(items, EvalSet) else None
    item_list = list(eval_set.items if eval_set else items)
    if len(item_list) != len(replies):
        raise ValueError(f"{len(item_list)} items but {len(replies)} replies")
    rules = rules or ScoringRules()
    index = _support_index(support_corpus)
    results = [
        score_item(i, item, reply, rules, index)
        for i, (item, reply) in enumerate(zip(item_list, replies, strict=True))
    ]
    summary = analysis.summarize(results, item_list, seed=seed, support_given=index is not None)
    ladder = analysis.ladder(results, seed)
    categories = analysis.breakdown(results, lambda r: r.category or "(none)", seed)
    report: dict[str, Any] = {
        "eval_file": eval_set.path if eval_set else None,
        "support_corpus": _support_block(index),
        "summary": summary,
        "repetition": _repetition_block(replies),
        "ladder": ladder,
        "ladder_guide": analysis.LADDER_GUIDE,
        "categories": categories,
        "clusters": analysis.clusters(results),
        "weak_levels": analysis.weak_groups(ladder, summary["pass_rate"]),
        "weak_categories": analysis.weak_groups(categories, summary["pass_rate"], min_items=2),
        "rules": _rules_block(rules),
        "warnings": list(eval_set.warnings) if eval_set else [],
        "unknown_fields": dict(eval_set.unknown_fields) if eval_set else {},
        "items": [to_jsonable(asdict(r)) for r in results],
    }
    report["warnings"] += _scoring_warnings(results)
    report["recommendations"] = advice.recommendations(report)
    return report
