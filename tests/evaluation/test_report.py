"""The eval report: SPEC §11 keys, rates and their denominators, CI, clusters, advice, CLI."""

from __future__ import annotations

import json

import pytest

from picochat.configs import EvalConfig
from picochat.evaluation.analysis import bootstrap_ci
from picochat.evaluation.items import EvalItem, read_eval_items
from picochat.evaluation.markdown import render_markdown
from picochat.evaluation.report import score_items
from picochat.evaluation.stage import evaluate_chat

SUMMARY_KEYS = {
    "items", "passed", "pass_rate", "pass_rate_ci", "unsupported_claim_rate",
    "prompt_echo_rate", "missing_support_rate", "missing_entity_rate",
    "length_violation_rate", "corpus_support_failure_rate", "token_f1", "rouge_l",
    "repetition_rate",
}  # fmt: skip
ITEM_KEYS = {"user", "reply", "passed", "reasons", "matched", "missing", "forbidden_found", "level"}
HEADER_KEYS = {"config", "inputs", "versions", "seed", "wall_seconds"}

ROWS = [
    {"user": "Say hello.", "level": "smoke", "must_include_any": [["hello", "hi"]]},
    {"user": "Capital of France?", "must_include": ["Paris"], "reference_answer": "Paris."},
    {"user": "Who loves Juliet?", "required_entities": ["Romeo"], "require_corpus_support": True},
    {"user": "Phone number of Zorblax?", "answerable": False, "category": "unanswerable"},
    {"user": "Phone number of Quentavia?", "answerable": False, "category": "unanswerable"},
    {"user": "Describe the sea in detail please.", "min_words": 3, "max_words": 30},
]
GOOD = ["Hello!", "Paris.", "Romeo loves Juliet.", "I don't know.", "Sorry, I cannot say.",
        "The sea is wide and deep and blue."]  # fmt: skip
BAD = ["Say hello.", "Lyon.", "A man.", "It is 555-1234.", "I don't know.",
       "sea sea sea sea sea sea sea sea sea sea"]  # fmt: skip
CORPUS = "Romeo loves Juliet. The sea is wide and deep and blue."


@pytest.fixture
def eval_file(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def test_report_has_spec_keys_and_measured_rates(eval_file):
    report = score_items(read_eval_items(eval_file), BAD, CORPUS, seed=0)
    s = report["summary"]
    assert set(s) >= SUMMARY_KEYS
    assert {"ladder", "categories", "clusters", "recommendations", "items"} <= set(report)
    assert all(set(item) >= ITEM_KEYS for item in report["items"])
    assert s["items"] == 6 and s["passed"] == 1  # only the second refusal passes
    assert s["unsupported_claim_rate"] == 0.5  # 1 of the 2 unanswerable items
    assert s["prompt_echo_rate"] == pytest.approx(1 / 6)
    assert s["missing_support_rate"] == 0.5  # "Say hello." has "hello"; "Lyon." lacks Paris
    assert s["missing_entity_rate"] == 1.0
    assert s["length_violation_rate"] == 0.0  # the looping reply has 10 words: in bounds
    assert s["corpus_support_failure_rate"] == 1.0  # "A man." has no content bigram found
    assert s["token_f1"] == 0.0 and s["rouge_l"] == 0.0
    assert s["repetition_rate"] > 0
    assert report["clusters"]["degenerate_repetition"]["item_indices"] == [5]
    assert report["clusters"]["refusal_failure"]["rules"] == {"unsupported_claim": 1}
    assert report["ladder"]["smoke"] == report["ladder"]["smoke"] | {"items": 2, "passed": 0}
    assert report["ladder"]["smoke"]["inferred_level_items"] == 1  # the length-only item
    assert report["ladder"]["smoke"]["pass_rate"] == 0.0
    assert report["ladder"]["transfer"]["pass_rate"] is None
    assert report["ladder"]["transfer"]["pass_rate_reason"]
    first = report["items"][0]
    assert first["reply"] == "Say hello." and "prompt_echo" in first["failed_rules"]
    assert first["matched"] == ["hello"] and first["missing"] == []
    assert report["items"][1]["missing"] == ["Paris"]


def test_good_replies_pass_and_rates_are_zero(eval_file):
    report = score_items(read_eval_items(eval_file), GOOD, CORPUS, seed=0)
    s = report["summary"]
    assert s["passed"] == 6, [i["reasons"] for i in report["items"]]
    assert s["unsupported_claim_rate"] == 0.0 and s["prompt_echo_rate"] == 0.0
    assert s["token_f1"] == 1.0


def test_zero_denominators_are_null_with_reason():
    report = score_items([EvalItem("Hi there friend")], ["Hello."])
    s = report["summary"]
    for key in ("unsupported_claim_rate", "missing_entity_rate", "length_violation_rate",
                "token_f1", "rouge_l", "corpus_support_failure_rate", "repetition_rate"):  # fmt: skip
        assert s[key] is None and s[f"{key}_reason"], key
    assert "support-corpus" in s["corpus_support_failure_rate_reason"]


def test_skipped_support_check_and_unreviewed_items_are_warned():
    items = [EvalItem("Who?", require_corpus_support=True, needs_review=True), EvalItem("Hi")]
    report = score_items(items, ["Romeo.", "Hello."])
    assert report["items"][0]["passed"] and report["items"][0]["skipped_checks"]
    assert any("1 item(s) require corpus support" in w for w in report["warnings"])
    assert any("1/2 items are unreviewed" in w for w in report["warnings"])


def test_bootstrap_ci_contains_estimate_narrows_and_is_seeded():
    small = [True] * 6 + [False] * 4
    large = small * 20
    lo_s, hi_s = bootstrap_ci(small, seed=1)
    lo_l, hi_l = bootstrap_ci(large, seed=1)
    assert lo_s <= 0.6 <= hi_s and lo_l <= 0.6 <= hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 2  # width shrinks ~ 1/sqrt(n)
    assert bootstrap_ci(small, seed=1) == [lo_s, hi_s]
    assert bootstrap_ci([], seed=1) is None
    assert bootstrap_ci([True, True], seed=1) == [1.0, 1.0]


def test_recommendations_cite_the_figures(eval_file):
    report = score_items(read_eval_items(eval_file), BAD, CORPUS, seed=0)
    by_finding = {r["finding"]: r for r in report["recommendations"]}
    claim = next(r for f, r in by_finding.items() if "unsupported" in f)
    assert "1/2" in claim["evidence"] and "50%" in claim["evidence"]
    smoke = next(r for f, r in by_finding.items() if f.startswith("Smoke"))
    assert "0/2" in smoke["evidence"]
    assert all(r["action"] for r in report["recommendations"])
    weak = {w["name"] for w in report["weak_levels"]}
    assert {"smoke", "heldout"} <= weak


def test_markdown_reads_like_a_report(eval_file):
    report = score_items(read_eval_items(eval_file), BAD, CORPUS, seed=0)
    text = render_markdown(report)
    for heading in ("# Eval report", "## Summary", "## Eval ladder", "## Failure clusters",
                    "## Recommendations", "## How replies were scored", "## Items"):  # fmt: skip
        assert heading in text
    assert "> It is 555-1234." in text
    assert "smoke failures = wiring is broken" in text
    assert text.index("FAIL") < text.index("PASS")  # failed items come first


def test_evaluate_chat_with_a_reply_function(eval_file, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS)
    seen = []

    def reply_fn(conversations):
        seen.append(len(conversations))
        return [GOOD[[r["user"] for r in ROWS].index(c[-1]["content"])] for c in conversations]

    config = EvalConfig(
        input=eval_file, out_dir=tmp_path / "eval", support_corpus=corpus, batch_size=4
    )
    result = evaluate_chat(config, reply_fn=reply_fn)
    assert seen == [4, 2]
    report = json.loads(result.report_path.read_text())
    assert set(report) >= HEADER_KEYS
    assert str(eval_file) in report["inputs"] and str(corpus) in report["inputs"]
    assert report["summary"]["passed"] == 6
    assert result.markdown_path.read_text().startswith("# Eval report")


def test_cli_scores_saved_replies(run_cli, eval_file, tmp_path):
    replies = tmp_path / "replies.jsonl"
    replies.write_text("".join(json.dumps({"reply": r}) + "\n" for r in BAD))
    out = tmp_path / "eval"
    code, stdout, _ = run_cli("eval", "chat", "--input", eval_file, "--replies", replies,
                              "--out-dir", out, "--seed", 3)  # fmt: skip
    assert code == 0, stdout
    assert "passed 1/6" in stdout
    report = json.loads((out / "eval_report.json").read_text())
    assert report["seed"] == 3 and report["summary"]["passed"] == 1
    assert (out / "report.md").is_file()


def test_cli_errors_are_clear(run_cli, eval_file, tmp_path):
    code, _, err = run_cli("eval", "chat", "--input", eval_file, "--out-dir", tmp_path / "e")
    assert code == 2 and "--checkpoint" in err and "Traceback" not in err
    short = tmp_path / "short.jsonl"
    short.write_text('{"reply": "one"}\n')
    code, _, err = run_cli("eval", "chat", "--input", eval_file, "--replies", short,
                           "--out-dir", tmp_path / "e")  # fmt: skip
    assert code == 2 and "1 replies for 6 eval items" in err
    assert not (tmp_path / "e").exists()


def test_wilson_interval_stays_open_when_every_item_passes():
    from picochat.evaluation.analysis import wilson_ci

    assert bootstrap_ci([True] * 10, seed=0) == [1.0, 1.0]
    low, high = wilson_ci([True] * 10)
    assert high == pytest.approx(1.0) and 0.6 < low < 0.8  # 0.7225 for 10/10
    assert wilson_ci([True, False]) == pytest.approx([0.0945, 0.9055], abs=1e-3)


def test_headline_and_ladder_intervals_are_wilson_and_stay_open_at_zero_of_n(eval_file):
    """0/6 passing: the headline, ladder and category intervals are Wilson's (named in
    the report), never the bootstrap's collapsed [0%, 0%] (issue 15)."""
    report = score_items(read_eval_items(eval_file), ["Lyon."] * 6, CORPUS, seed=0)
    s = report["summary"]
    assert s["passed"] == 0
    assert s["pass_rate_ci_method"] == "wilson"
    assert s["pass_rate_ci"][0] == 0.0 and s["pass_rate_ci"][1] == pytest.approx(0.390, abs=1e-3)
    assert s["pass_rate_bootstrap_ci"] == [0.0, 0.0]  # kept beside it, for reference
    assert all(e["pass_rate_ci"][1] > 0 for e in report["ladder"].values() if e["items"])
    assert all(e["pass_rate_ci"][1] > 0 for e in report["categories"].values())
    markdown = render_markdown(report)
    assert "95% CI [0.0%, 39.0%] (pass_rate_ci: 95% Wilson score interval" in markdown
    assert "95% Wilson CI" in markdown and "[0%, 0%]" not in markdown
