"""`render_markdown(report)`: the eval report as `report.md`, written for a person.

Order: what this measures, summary, ladder (with its reading guide), failure
clusters, weak spots, recommendations, categories, rules, then every item with its
reply and verdict. Only figures already in the report dict appear; nothing is
recomputed here.
"""

from __future__ import annotations

from typing import Any

from picochat.reports.markdown import Table, render_table

_MAX_REPLY_CHARS = 600


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    return [render_table(Table(headers, rows)), ""]


def _rate_row(summary: dict, key: str, label: str, fmt=_pct) -> list[str]:
    value = summary.get(key)
    note = summary.get(f"{key}_reason", "")
    return [label, fmt(value), note]


def _summary(report: dict) -> list[str]:
    s = report["summary"]
    ci, wilson = s.get("pass_rate_ci"), s.get("pass_rate_wilson_ci")
    ci_text = f"[{ci[0]:.1%}, {ci[1]:.1%}]" if ci else "n/a"
    if wilson:
        ci_text += f"; Wilson 95% [{wilson[0]:.1%}, {wilson[1]:.1%}]"
    rows = [
        ["items", s["items"], ""],
        ["passed", s["passed"], ""],
        ["pass rate", _pct(s["pass_rate"]), f"95% CI {ci_text} ({report['rules']['bootstrap']})"],
        _rate_row(s, "unsupported_claim_rate", "unsupported claim rate (of unanswerable)"),
        _rate_row(s, "refusal_rate", "refusal rate (of unanswerable)"),
        _rate_row(s, "over_refusal_rate", "over-refusal rate (of answerable)"),
        _rate_row(s, "prompt_echo_rate", "prompt echo rate"),
        _rate_row(s, "missing_support_rate", "missing support rate (required phrases missing)"),
        _rate_row(s, "missing_entity_rate", "missing entity rate"),
        _rate_row(s, "length_violation_rate", "length violation rate"),
        _rate_row(s, "corpus_support_failure_rate", "corpus support failure rate"),
        _rate_row(s, "token_f1", "token-F1 vs reference (mean)", _num),
        _rate_row(s, "rouge_l", "ROUGE-L F1 vs reference (mean)", _num),
        _rate_row(s, "repetition_rate", "repeated 3-gram rate (mean)", _pct),
        _rate_row(s, "degenerate_rate", "degenerate replies", _pct),
    ]
    rep = report["repetition"]
    rows.append(["distinct-1 / distinct-2 (all replies)", f"{_num(rep['distinct_1'])} / "
                 f"{_num(rep['distinct_2'])}", ""])  # fmt: skip
    return ["## Summary", "", *_table(["figure", "value", "note"], rows)]


def _ladder(report: dict) -> list[str]:
    rows = []
    for level, e in report["ladder"].items():
        ci = e.get("pass_rate_ci")
        rows.append(
            [
                level,
                e["items"],
                e["passed"],
                _pct(e["pass_rate"]),
                f"[{ci[0]:.0%}, {ci[1]:.0%}]" if ci else "n/a",
                e["inferred_level_items"],
                e["meaning_of_failures"],
            ]
        )
    headers = ["level", "items", "passed", "pass rate", "95% CI", "inferred", "failures mean"]
    return [
        "## Eval ladder",
        "",
        "Read from the top: a failure low on the ladder makes the levels above it moot.",
        "",
        *_table(headers, rows),
    ]


def _clusters(report: dict) -> list[str]:
    rows = [
        [name, c["items"], _pct(c["share_of_items"]), c["description"],
         ", ".join(f"{k} x{v}" for k, v in c["rules"].items()) or "-",
         ", ".join(f"#{i}" for i in c["item_indices"][:8]) or "-"]
        for name, c in report["clusters"].items()
    ]  # fmt: skip
    headers = ["cluster", "items", "share", "what", "rules", "items (first 8)"]
    return ["## Failure clusters", "", *_table(headers, rows)]


def _weak(report: dict) -> list[str]:
    lines = ["## Weak levels and categories", ""]
    weak = [("level", w) for w in report["weak_levels"]]
    weak += [("category", w) for w in report["weak_categories"]]
    if not weak:
        return [*lines, f"None ({report['rules']['weak']}).", ""]
    rows = [[kind, w["name"], f"{w['passed']}/{w['items']}", _pct(w["pass_rate"]), w["why"]]
            for kind, w in weak]  # fmt: skip
    return [*lines, *_table(["kind", "name", "passed", "pass rate", "why"], rows)]


def _recommendations(report: dict) -> list[str]:
    lines = ["## Recommendations", ""]
    if not report["recommendations"]:
        return [*lines, "No figure triggered a recommendation.", ""]
    for i, r in enumerate(report["recommendations"], 1):
        lines.append(f"{i}. **{r['finding']}** Evidence: {r['evidence']}. {r['action']}")
    return [*lines, ""]


def _categories(report: dict) -> list[str]:
    rows = [[name, c["items"], c["passed"], _pct(c["pass_rate"]),
             ", ".join(f"{k} x{v}" for k, v in c["failed_rules"].items()) or "-"]
            for name, c in sorted(report["categories"].items())]  # fmt: skip
    return ["## Categories", "", *_table(["category", "items", "passed", "pass rate",
                                          "failed rules"], rows)]  # fmt: skip


def _rules(report: dict) -> list[str]:
    r = report["rules"]
    lines = ["## How replies were scored", ""]
    for key in ("phrase_matching", "prompt_echo", "degenerate_repetition", "corpus_support",
                "token_f1", "rouge_l", "level_inference", "weak"):  # fmt: skip
        lines.append(f"- **{key}**: {r[key]}")
    lines.append(f"- **reference answer passes** at token-F1 >= {r['min_reference_f1']}; "
                 f"**corpus support passes** at >= {r['min_corpus_support']}")  # fmt: skip
    lines.append("- **refusal** = the reply contains one of: " + ", ".join(
        f"'{m}'" for m in r["refusal_markers"]))  # fmt: skip
    return [*lines, ""]


def _quote(text: str) -> str:
    if len(text) > _MAX_REPLY_CHARS:
        text = text[:_MAX_REPLY_CHARS] + f" [... {len(text) - _MAX_REPLY_CHARS} more chars]"
    return "\n".join("> " + line for line in (text or "(empty reply)").splitlines() or [""])


def _item(i: dict) -> list[str]:
    verdict = "PASS" if i["passed"] else "FAIL"
    where = f", line {i['line']}" if i.get("line") else ""
    level = i["level"] + (" (inferred)" if i["level_inferred"] else "")
    lines = [f"### #{i['index']} {verdict} · {level} · {i['category'] or '-'}{where}", "",
             f"**User:** {i['user']}", "", "**Reply:**", "", _quote(i["reply"]), ""]  # fmt: skip
    facts = []
    for key, label in (("matched", "matched"), ("missing", "missing"),
                       ("forbidden_found", "forbidden found"),
                       ("entities_matched", "entities matched"),
                       ("entities_missing", "entities missing")):  # fmt: skip
        if i[key]:
            facts.append(f"{label}: {', '.join(i[key])}")
    if i["token_f1"] is not None:
        facts.append(f"token-F1 {i['token_f1']:.2f}, ROUGE-L {i['rouge_l']:.2f}")
    if i["support"] is not None:
        facts.append(f"corpus support {i['support']:.2f}")
    if i["refused"]:
        facts.append("refusal detected")
    if i["needs_review"]:
        facts.append("needs review")
    facts += [f"not checked: {s}" for s in i["skipped_checks"]]
    lines += [f"- {f}" for f in facts]
    lines += [f"- **why it failed:** {reason}" for reason in i["reasons"]]
    return [*lines, ""]


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report.md text."""
    s = report["summary"]
    head = [
        "# Eval report",
        "",
        f"{s['passed']}/{s['items']} items passed ({_pct(s['pass_rate'])}). "
        "These are transparent rule checks on generated replies, not semantic truth: "
        "read the failed items below before trusting any figure.",
        "",
    ]
    if report.get("eval_file"):
        head += [f"Eval file: `{report['eval_file']}`", ""]
    if report.get("warnings"):
        head += ["**Warnings**", "", *[f"- {w}" for w in report["warnings"]], ""]
    parts = [head, _summary(report), _ladder(report), _clusters(report), _weak(report),
             _recommendations(report), _categories(report), _rules(report)]  # fmt: skip
    failed = [i for i in report["items"] if not i["passed"]]
    passed = [i for i in report["items"] if i["passed"]]
    parts.append([f"## Items ({len(failed)} failed first, then {len(passed)} passed)", ""])
    for item in failed + passed:
        parts.append(_item(item))
    return "\n".join(line for part in parts for line in part).rstrip() + "\n"
