"""Recommendations from eval figures: each names its finding, the evidence, an action.

Advice is only emitted when a measured figure triggers it, and the evidence string
quotes the figure (count, denominator, rate) so a reader can check it in the report.
Each rule below looks at one kind of figure; `recommendations` runs them in order.
Not a gate: release gates with thresholds live in `picochat.reports`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from picochat.markdown import pct

SMALL_EVAL_ITEMS = 30
MAX_LISTED = 8

Advice = dict[str, str]
Report = dict[str, Any]

LEVEL_ACTIONS = {
    "heldout": "Weak recall: check the facts are in the corpus/SFT rows at all; then "
    "more steps or passes, watching the validation gap.",
    "transfer": "Brittle behaviour: add paraphrased prompts of the same tasks to the SFT rows.",
    "adversarial": "Weak refusal: add refusal rows / DPO pairs for false-premise and "
    "unanswerable prompts.",
    "memorization": "The model may be copying: read the base memorisation report (train "
    "copy rate, canaries), deduplicate the corpus or train fewer passes.",
}


def _advice(finding: str, evidence: str, action: str) -> list[Advice]:
    return [{"finding": finding, "evidence": evidence, "action": action}]


def _rate(value: float | None) -> str:
    return pct(value, 0)


def _smoke_broken(report: Report) -> bool:
    smoke = report["ladder"]["smoke"]
    return bool(smoke["items"]) and smoke["passed"] < smoke["items"]


def _smoke(report: Report) -> list[Advice]:
    smoke = report["ladder"]["smoke"]
    if not _smoke_broken(report):
        return []
    return _advice(
        "Smoke items fail: the wiring is suspect.",
        f"smoke: {smoke['passed']}/{smoke['items']} passed ({_rate(smoke['pass_rate'])})",
        "Before reading the other levels (their advice is left out until smoke passes), "
        "check the chat template, that the tokenizer matches the checkpoint, and read a "
        "few replies by hand with `picochat chat`.",
    )


def _unsupported_claims(report: Report) -> list[Advice]:
    unanswerable = [i for i in report["items"] if i["answerable"] is False]
    claims = [i for i in unanswerable if "unsupported_claim" in i["failed_rules"]]
    if not claims:
        return []
    return _advice(
        "The model answers questions it should decline (unsupported claims).",
        f"{len(claims)}/{len(unanswerable)} unanswerable items answered without refusing "
        f"(unsupported_claim_rate {_rate(report['summary']['unsupported_claim_rate'])})",
        "Add SFT rows whose assistant turn declines questions the data cannot answer, "
        "and/or DPO pairs with the refusal as `chosen`; then rerun this eval.",
    )


def _over_refusal(report: Report) -> list[Advice]:
    s = report["summary"]
    if not s.get("over_refusal_rate"):
        return []
    answerable = [i for i in report["items"] if i["answerable"] is True]
    refused = [i for i in answerable if i["refused"]]
    return _advice(
        "The model refuses questions it should answer.",
        f"{len(refused)}/{len(answerable)} answerable items refused "
        f"(over_refusal_rate {_rate(s['over_refusal_rate'])})",
        "Balance refusal rows in the SFT/DPO data with answered ones on similar topics.",
    )


def _reply_shape(report: Report) -> list[Advice]:
    """Echoed prompts and looping or empty replies."""
    s, cl, out = report["summary"], report["clusters"], []
    if s.get("prompt_echo_rate"):
        out += _advice(
            "Replies echo the prompt.",
            f"{cl['prompt_echo']['items']}/{s['items']} replies echo the prompt "
            f"(prompt_echo_rate {_rate(s['prompt_echo_rate'])})",
            "SFT has not yet taught the answer turn: train SFT longer, check that the loss "
            "mask covers only the final assistant reply and that prompts end with "
            "<|assistant|>.",
        )
    if s.get("degenerate_rate"):
        out += _advice(
            "Replies loop (degenerate repetition) or are empty.",
            f"{cl['degenerate_repetition']['items']}/{s['items']} items "
            f"(mean repeated 3-gram rate {_rate(s['repetition_rate'])})",
            "Greedy decoding loops on under-trained models: more base training or data helps; "
            "for hand chats try --repetition-penalty (eval stays greedy to be comparable).",
        )
    return out


def _corpus_support(report: Report) -> list[Advice]:
    s, out = report["summary"], []
    if s.get("corpus_support_failure_rate"):
        out += _advice(
            "Replies fail the corpus-support check (wording absent from the corpus, or no "
            "content words at all).",
            f"corpus_support_failure_rate {_rate(s['corpus_support_failure_rate'])} "
            f"(threshold {report['rules']['min_corpus_support']} of content bigrams)",
            "Read the unsupported examples per item: invented wording calls for more training "
            "on the corpus or SFT rows that quote it; empty or looping replies, see above.",
        )
    skipped = [i for i in report["items"] if i["skipped_checks"]]
    if skipped:
        out += _advice(
            "Some checks could not run.",
            f"{len(skipped)} item(s) require corpus support but no --support-corpus was given",
            "Rerun with --support-corpus runs/<x>/corpus.txt to score them.",
        )
    return out


def _length(report: Report) -> list[Advice]:
    s = report["summary"]
    if not s.get("length_violation_rate"):
        return []
    return _advice(
        "Replies break their length bounds.",
        f"{report['clusters']['length']['items']} item(s) (length_violation_rate "
        f"{_rate(s['length_violation_rate'])})",
        "Align SFT answer lengths with the bounds, or raise --max-new-tokens if replies "
        "are cut off.",
    )


def _weak_spots(report: Report) -> list[Advice]:
    """Weak ladder levels (unless smoke already fails) and weak categories."""
    out = []
    for weak in report["weak_levels"]:
        if weak["name"] in LEVEL_ACTIONS and not _smoke_broken(report):
            out += _advice(
                f"Weak level: {weak['name']}.",
                f"{weak['passed']}/{weak['items']} passed ({_rate(weak['pass_rate'])}; "
                f"{weak['why']})",
                LEVEL_ACTIONS[weak["name"]],
            )
    weak_categories = report["weak_categories"]
    if weak_categories:
        listed = ", ".join(
            f"{w['name']} {w['passed']}/{w['items']}" for w in weak_categories[:MAX_LISTED]
        )
        more = len(weak_categories) - MAX_LISTED
        out += _advice(
            f"{len(weak_categories)} weak categor{'y' if len(weak_categories) == 1 else 'ies'}.",
            listed + (f" and {more} more" if more > 0 else ""),
            "Read their failed items below (reasons and replies) before changing the data.",
        )
    return out


def _eval_set(report: Report) -> list[Advice]:
    """What the eval file itself lacks: empty levels, unreviewed items, size, difficulty."""
    s, out = report["summary"], []
    missing = [level for level, entry in report["ladder"].items() if not entry["items"]]
    if missing:
        out += _advice(
            "Parts of the ladder are empty.",
            f"no items at level(s): {', '.join(missing)}",
            "Add items at those levels; until then the report says nothing about them.",
        )
    review = sum(1 for i in report["items"] if i["needs_review"])
    if review:
        out += _advice(
            "Unreviewed scaffolding is being scored.",
            f"{review}/{s['items']} items are marked needs_review (generated by eval-starter)",
            "Review and edit them, then remove needs_review, before quoting this pass rate.",
        )
    ci = s.get("pass_rate_ci")
    if ci and s["items"] < SMALL_EVAL_ITEMS:
        out += _advice(
            "The eval is small; its pass rate is uncertain.",
            f"{s['items']} items; 95% Wilson interval of the pass rate [{ci[0]:.0%}, {ci[1]:.0%}]",
            "Do not read differences smaller than the interval between runs; add items.",
        )
    if s["items"] and s["passed"] == s["items"]:
        out += _advice(
            "Every item passes.",
            f"{s['passed']}/{s['items']} passed",
            "The eval may be too easy for this model: add held-out, transfer and adversarial items.",
        )
    return out


RULES: tuple[Callable[[Report], list[Advice]], ...] = (
    _smoke,
    _unsupported_claims,
    _over_refusal,
    _reply_shape,
    _corpus_support,
    _length,
    _weak_spots,
    _eval_set,
)


def recommendations(report: Report) -> list[Advice]:
    """Recommendations for a report that already has summary, ladder, clusters, weak spots."""
    return [advice for rule in RULES for advice in rule(report)]
