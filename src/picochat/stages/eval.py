"""The eval stage: score the final model on the SFT rows, the held-out and external evals.

Its work is `picochat.evaluation.stage.evaluate_chat` (`eval chat`); in a run it
fans out into one job per eval set (`eval:sft_fit`, `eval:heldout`, `eval:NAME`).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import write_text_if_changed
from picochat.configs import EvalConfig
from picochat.markdown import pct
from picochat.stages.declaration import (
    Command,
    Job,
    Plan,
    RunSpec,
    Stage,
    checkpoint_of,
    runner,
    seeded,
)

MIN_EVAL_ITEMS = 30  # below this a pass rate's 95% interval is wider than about +-0.18
SFT_FIT = "sft_fit"


def _describe(result: Any) -> list[str]:
    lines = [f"warning: {warning}" for warning in result.warnings]
    s = result.summary
    ci = s["pass_rate_ci"]
    ci_text = f" (95% Wilson CI {pct(ci[0], 1)}-{pct(ci[1], 1)})" if ci else ""
    lines.append(f"passed {s['passed']}/{s['items']} = {pct(s['pass_rate'], 1)}{ci_text}")
    for key in ("unsupported_claim_rate", "prompt_echo_rate", "corpus_support_failure_rate"):
        lines.append(f"{key}: {pct(s[key], 1)}")
    lines.append(f"wrote {result.report_path} and {result.markdown_path}")
    return lines


def sft_fit_items(chat_path: Path, out: Path) -> Path:
    """The chat rows as eval items: the trained answer is the reference answer.

    Multi-turn rows keep their earlier turns as `context`, so the model is asked
    exactly what it was trained on.
    """
    from picochat.data.chat import read_chat_jsonl

    chat = read_chat_jsonl(chat_path)
    lines = []
    for example in chat.examples:
        *before, answer = example.messages
        *context, last_user = before
        row = {
            "user": str(last_user.get("content") or ""),
            "reference_answer": str(answer.get("content") or ""),
            "category": SFT_FIT,
            "level": "memorization",
            "source": f"{chat_path.name}:{example.line}",
        }
        if context:
            row["context"] = context
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    write_text_if_changed(out, "".join(lines))
    return out


def _eval_sets(run: RunSpec) -> dict[str, Path]:
    """Every eval set of the run, the SFT rows first (their items file is written here)."""
    eval_dir = run.root / layout.EVAL_DIR
    fit = sft_fit_items(run.inputs.chat, eval_dir / layout.SFT_FIT_ITEMS)
    return {SFT_FIT: fit, **run.inputs.eval_sets()}


def _jobs(config: EvalConfig, run: RunSpec) -> list[Job]:
    jobs = []
    for name, items in _eval_sets(run).items():
        wired = replace(
            config,
            input=items,
            checkpoint=checkpoint_of(run, run.final),
            tokenizer=run.root / layout.TOKENIZER,
            out_dir=run.root / layout.EVAL_DIR / name,
            support_corpus=None if name == SFT_FIT else run.root / layout.CORPUS,
        )
        job = Job(f"eval:{name}", seeded(wired, run.seed), {"items": items}, (run.final, "corpus"))
        jobs.append(job)
    return jobs


def _validate(config: EvalConfig, run: RunSpec) -> None:
    from picochat.evaluation.items import read_eval_items

    read_eval_items(config.input)


def _ci_half_width(n: int) -> float | None:
    """Normal-approximation 95% half-width of a pass rate near 0.5 over n items."""
    return None if n == 0 else round(1.96 * math.sqrt(0.25 / n), 3)


def _estimate(config: EvalConfig, plan: Plan) -> None:
    """Items per eval set (the SFT rows aside), warning where a pass rate says little."""
    from picochat.evaluation.items import read_eval_items

    counts = {name: len(read_eval_items(p).items) for name, p in plan.inputs.eval_sets().items()}
    plan.facts["eval_items"] = counts
    for name, n in counts.items():
        if n < MIN_EVAL_ITEMS:
            plan.warnings.append(
                f"Eval `{name}` has {n} items: a pass rate over so few has a 95% interval of about "
                f"+-{_ci_half_width(n)}; differences smaller than that are noise."
            )


def _read(run: RunSpec) -> dict[str, dict[str, Any]]:
    """Every eval report of the run that exists, by eval set."""
    names = [SFT_FIT, *run.inputs.eval_sets()]
    paths = {name: run.root / layout.eval_report(name) for name in names}
    return {name: json.loads(p.read_text()) for name, p in paths.items() if p.is_file()}


def _summarize(reports: dict[str, dict[str, Any]], run: RunSpec) -> dict[str, Any]:
    return {
        name: {
            "summary": r["summary"],
            "ladder": r.get("ladder"),
            "report": layout.eval_report(name),
        }
        for name, r in reports.items()
    }


STAGE = Stage(
    name="eval",
    config=EvalConfig,
    command=Command(
        "eval",
        "chat",
        "Generate a reply per eval item and score it; writes eval_report.json and report.md.",
    ),
    run=runner("picochat.evaluation.stage", "evaluate_chat"),
    describe=_describe,
    folder=layout.EVAL_DIR,
    run_defaults={"max_new_tokens": 64, "batch_size": 32},
    run_defaults_reason="shorter replies, generated 32 at a time, to keep the run's evals quick",
    needs=("sft",),
    fan_out=_jobs,
    validate=_validate,
    estimate=_estimate,
    read=_read,
    summarize=_summarize,
)
