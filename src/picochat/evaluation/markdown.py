"""`render_markdown(report)`: the eval report as `report.md`, written for a person.

Order: what this measures, summary, ladder (with its reading guide), failure
clusters, weak spots, recommendations, categories, rules, then every item with its
reply and verdict. Only figures already in the report dict appear; nothing is
recomputed here.
"""

from __future__ import annotations

from typing import Any

from picochat.markdown import Block, Bullets, Heading, Paragraph, Table, fixed, pct, render

_MAX_REPLY_CHARS = 600


def _rate_row(summary: dict, key: str, label: str, digits: int | None = None) -> list[str]:
    """[label, value, reason]: a rate as a percentage, or a mean with `digits` decimals."""
    value = summary.get(key)
    note = summary.get(f"{key}_reason", "")
    return [label, pct(value, 1) if digits is None else fixed(value, digits), note]


def _summary(report: dict) -> list[Block]:
    s = report["summary"]
    ci, boot = s.get("pass_rate_ci"), s.get("pass_rate_bootstrap_ci")
    ci_text = f"[{ci[0]:.1%}, {ci[1]:.1%}]" if ci else "n/a"
    ci_text += f" ({report['rules'].get('interval', 'Wilson score interval')})"
    if boot:
        ci_text += f"; {report['rules']['bootstrap']}: [{boot[0]:.1%}, {boot[1]:.1%}]"
    rows = [
        ["items", s["items"], ""],
        ["passed", s["passed"], ""],
        ["pass rate", pct(s["pass_rate"], 1), f"95% CI {ci_text}"],
        _rate_row(s, "unsupported_claim_rate", "unsupported claim rate (of unanswerable)"),
        _rate_row(s, "refusal_rate", "refusal rate (of unanswerable)"),
        _rate_row(s, "over_refusal_rate", "over-refusal rate (of answerable)"),
        _rate_row(s, "prompt_echo_rate", "prompt echo rate"),
        _rate_row(s, "missing_support_rate", "missing support rate (required phrases missing)"),
        _rate_row(s, "missing_entity_rate", "missing entity rate"),
        _rate_row(s, "length_violation_rate", "length violation rate"),
        _rate_row(s, "corpus_support_failure_rate", "corpus support failure rate"),
        _rate_row(s, "token_f1", "token-F1 vs reference (mean)", 3),
        _rate_row(s, "rouge_l", "ROUGE-L F1 vs reference (mean)", 3),
        _rate_row(s, "repetition_rate", "repeated 3-gram rate (mean)"),
        _rate_row(s, "degenerate_rate", "degenerate replies"),
    ]
    rep = report["repetition"]
    rows.append(["distinct-1 / distinct-2 (all replies)", f"{fixed(rep['distinct_1'], 3)} / "
                 f"{fixed(rep['distinct_2'], 3)}", ""])  # fmt: skip
    return [Heading("Summary"), Table(["figure", "value", "note"], rows)]


def _ladder(report: dict) -> list[Block]:
    rows = []
    for level, e in report["ladder"].items():
        ci = e.get("pass_rate_ci")
        rows.append(
            [
                level,
                e["items"],
                e["passed"],
                pct(e["pass_rate"], 1),
                f"[{ci[0]:.0%}, {ci[1]:.0%}]" if ci else "n/a",
                e["inferred_level_items"],
                e["meaning_of_failures"],
            ]
        )
    headers = [
        "level",
        "items",
        "passed",
        "pass rate",
        "95% Wilson CI",
        "inferred",
        "failures mean",
    ]
    return [
        Heading("Eval ladder"),
        Paragraph("Read from the top: a failure low on the ladder makes the levels above it moot."),
        Table(headers, rows),
    ]


def _clusters(report: dict) -> list[Block]:
    rows = [
        [name, c["items"], pct(c["share_of_items"], 1), c["description"],
         ", ".join(f"{k} x{v}" for k, v in c["rules"].items()) or "-",
         ", ".join(f"#{i}" for i in c["item_indices"][:8]) or "-"]
        for name, c in report["clusters"].items()
    ]  # fmt: skip
    headers = ["cluster", "items", "share", "what", "rules", "items (first 8)"]
    return [Heading("Failure clusters"), Table(headers, rows)]


def _weak(report: dict) -> list[Block]:
    heading = Heading("Weak levels and categories")
    weak = [("level", w) for w in report["weak_levels"]]
    weak += [("category", w) for w in report["weak_categories"]]
    if not weak:
        return [heading, Paragraph(f"None ({report['rules']['weak']}).")]
    rows = [[kind, w["name"], f"{w['passed']}/{w['items']}", pct(w["pass_rate"], 1), w["why"]]
            for kind, w in weak]  # fmt: skip
    return [heading, Table(["kind", "name", "passed", "pass rate", "why"], rows)]


def _recommendations(report: dict) -> list[Block]:
    if not report["recommendations"]:
        return [Heading("Recommendations"), Paragraph("No figure triggered a recommendation.")]
    numbered = [
        f"{i}. **{r['finding']}** Evidence: {r['evidence']}. {r['action']}"
        for i, r in enumerate(report["recommendations"], 1)
    ]
    return [Heading("Recommendations"), Paragraph("\n".join(numbered))]


def _categories(report: dict) -> list[Block]:
    rows = [[name, c["items"], c["passed"], pct(c["pass_rate"], 1),
             ", ".join(f"{k} x{v}" for k, v in c["failed_rules"].items()) or "-"]
            for name, c in sorted(report["categories"].items())]  # fmt: skip
    headers = ["category", "items", "passed", "pass rate", "failed rules"]
    return [Heading("Categories"), Table(headers, rows)]


def _rules(report: dict) -> list[Block]:
    r = report["rules"]
    lines = []
    for key in ("phrase_matching", "prompt_echo", "degenerate_repetition", "corpus_support",
                "token_f1", "rouge_l", "level_inference", "weak"):  # fmt: skip
        lines.append(f"**{key}**: {r[key]}")
    lines.append(f"**reference answer passes** at token-F1 >= {r['min_reference_f1']}; "
                 f"**corpus support passes** at >= {r['min_corpus_support']}")  # fmt: skip
    lines.append("**refusal** = the reply contains one of: " + ", ".join(
        f"'{m}'" for m in r["refusal_markers"]))  # fmt: skip
    return [Heading("How replies were scored"), Bullets(lines)]


def _quote(text: str) -> str:
    if len(text) > _MAX_REPLY_CHARS:
        text = text[:_MAX_REPLY_CHARS] + f" [... {len(text) - _MAX_REPLY_CHARS} more chars]"
    return "\n".join("> " + line for line in (text or "(empty reply)").splitlines() or [""])


def _item(i: dict) -> list[Block]:
    verdict = "PASS" if i["passed"] else "FAIL"
    where = f", line {i['line']}" if i.get("line") else ""
    level = i["level"] + (" (inferred)" if i["level_inferred"] else "")
    blocks: list[Block] = [
        Heading(f"#{i['index']} {verdict} · {level} · {i['category'] or '-'}{where}", 3),
        Paragraph(f"**User:** {i['user']}"),
        Paragraph("**Reply:**"),
        Paragraph(_quote(i["reply"])),
    ]
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
    facts += [f"**why it failed:** {reason}" for reason in i["reasons"]]
    return blocks + ([Bullets(facts)] if facts else [])


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report.md text."""
    s = report["summary"]
    head: list[Block] = [
        Heading("Eval report", 1),
        Paragraph(
            f"{s['passed']}/{s['items']} items passed ({pct(s['pass_rate'], 1)}). "
            "These are transparent rule checks on generated replies, not semantic truth: "
            "read the failed items below before trusting any figure."
        ),
    ]
    if report.get("eval_file"):
        head.append(Paragraph(f"Eval file: `{report['eval_file']}`"))
    if report.get("warnings"):
        head += [Paragraph("**Warnings**"), Bullets(list(report["warnings"]))]
    failed = [i for i in report["items"] if not i["passed"]]
    passed = [i for i in report["items"] if i["passed"]]
    blocks = [*head, *_summary(report), *_ladder(report), *_clusters(report), *_weak(report),
              *_recommendations(report), *_categories(report), *_rules(report),
              Heading(f"Items ({len(failed)} failed first, then {len(passed)} passed)")]  # fmt: skip
    for item in failed + passed:
        blocks += _item(item)
    return render(blocks)
