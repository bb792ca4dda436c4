"""The stages of `run tiny`, each wired to the run folder.

One function per stage: it fills the stage config's paths from the run folder, names
the files and upstream stages its fingerprint depends on, and calls the stage's own
function (the same one its CLI command calls). Nothing here trains or scores.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import hash_inputs, json_text, write_text_if_changed
from picochat.configs import EvalConfig
from picochat.data.chat import read_chat_jsonl
from picochat.data.contamination import ContaminationReport, check_contamination
from picochat.data.corpus import build_corpus
from picochat.data.sources import resolve_sources
from picochat.evaluation.items import read_eval_items
from picochat.pipeline import preflight as preflight_plan
from picochat.pipeline.run import RunContext, stop_if_interrupted, write_stage_report

CORPUS, MANIFEST, TOKENIZER = layout.CORPUS, layout.CORPUS_MANIFEST, layout.TOKENIZER


def corpus(ctx: RunContext) -> None:
    config = replace(
        ctx.settings.corpus,
        dataset_pack=ctx.inputs.pack,
        input=ctx.inputs.corpus_input,
        out=ctx.root / CORPUS,
    )
    sources = resolve_sources(config)
    files = {str(s.path): s.path for s in sources.files} | {str(p): p for p in sources.config_files}
    ctx.stage("corpus", config, lambda c: build_corpus(c).paths["manifest"], files=files)


def tokenizer(ctx: RunContext) -> None:
    from picochat.tokenizer.train import train_tokenizer

    config = replace(ctx.settings.tokenizer, input=ctx.root / CORPUS, out=ctx.root / TOKENIZER)

    def work(c: Any) -> Path:
        result = train_tokenizer(c)
        body = {
            "type": result.type,
            "vocab_size": result.vocab_size,
            "sha256": result.sha256,
            "corpus_tokens": result.corpus_tokens,
            "bytes_per_token": result.bytes_per_token,
            "training": result.training,
        }
        return write_stage_report(
            ctx.root / layout.TOKENIZER_REPORT,
            c,
            body,
            inputs=hash_inputs([c.input]),
            seed=None,
            wall_seconds=result.wall_seconds,
        )

    ctx.stage("tokenizer", config, work, upstream=("corpus",))


def _eval_sets(ctx: RunContext) -> dict[str, Path]:
    return {"heldout": ctx.inputs.eval, **ctx.inputs.external_evals}


def contamination(ctx: RunContext) -> ContaminationReport:
    """Eval prompts found in the SFT rows or the corpus; written to contamination.json."""
    items = [
        (item.user, item.line, item.level)
        for path in _eval_sets(ctx).values()
        for item in read_eval_items(path).items
    ]
    chat = read_chat_jsonl(ctx.inputs.chat)
    sft_texts = [
        " ".join(str(m.get("content") or "") for m in example.messages) for example in chat.examples
    ]
    report = check_contamination(items, sft_texts, ctx.root / CORPUS)
    write_text_if_changed(
        ctx.root / layout.CONTAMINATION,
        json_text(
            {
                "checked_items": report.checked_items,
                "exempt_items": report.exempt_items,
                "method": report.method,
                "leaked_items": report.leaked_items,
                "allowed": ctx.run.allow_leaky_eval,
            }
        ),
    )
    if report.leaked_items:
        verdict = (
            "allowed by --allow-leaky-eval" if ctx.run.allow_leaky_eval else "the gates will block"
        )
        ctx.say(
            f"[contamination] {len(report.leaked_items)} eval item(s) found in training data ({verdict})"
        )
    return report


def preflight(ctx: RunContext, leaks: ContaminationReport) -> dict[str, Any]:
    """The plan, recomputed only when what it plans changed (the probe takes seconds)."""
    path = ctx.root / layout.PREFLIGHT
    s = ctx.settings
    planned = {
        "base": s.base,
        "sft": s.sft,
        "dpo_steps": ctx.run.dpo_steps,
        "dpo": s.dpo if ctx.inputs.preferences is not None else None,
    }
    files = {"chat": ctx.inputs.chat, **{f"eval:{n}": p for n, p in _eval_sets(ctx).items()}}

    def work(_: Any) -> Path:
        preflight_plan.plan(ctx, leaks)
        return path

    ctx.stage("preflight", planned, work, files=files, upstream=("tokenizer",))
    plan = json.loads(path.read_text())
    ctx.say(preflight_plan.render(plan))
    return plan


def base(ctx: RunContext) -> None:
    from picochat.training.pretrain import train_base

    config = ctx.seeded(
        replace(
            ctx.settings.base,
            corpus=ctx.root / CORPUS,
            tokenizer=ctx.root / TOKENIZER,
            corpus_manifest=ctx.root / MANIFEST,
            out_dir=ctx.root / layout.BASE_DIR,
        )
    )

    def work(c: Any) -> Path:
        result = train_base(c, show_progress=ctx.show_progress)
        stop_if_interrupted("base", result)
        return result.report_path

    ctx.stage("base", config, work, upstream=("tokenizer",), resumable=True)


def sft(ctx: RunContext) -> None:
    from picochat.training.sft import train_sft

    config = ctx.seeded(
        replace(
            ctx.settings.sft,
            input=ctx.inputs.chat,
            tokenizer=ctx.root / TOKENIZER,
            checkpoint=ctx.root / layout.BASE_DIR / layout.BEST_CHECKPOINT,
            out_dir=ctx.root / layout.SFT_DIR,
        )
    )

    def work(c: Any) -> Path:
        result = train_sft(c, show_progress=ctx.show_progress)
        stop_if_interrupted("sft", result)
        return result.report_path

    ctx.stage(
        "sft", config, work, files={"chat": ctx.inputs.chat}, upstream=("base",), resumable=True
    )


def dpo(ctx: RunContext) -> str | None:
    """The DPO stage when preferences are given; returns "dpo" if it is the final model."""
    if ctx.inputs.preferences is None:
        ctx.records.drop("dpo")
        return None
    from picochat.training.dpo import train_dpo

    config = replace(
        ctx.settings.dpo,
        input=ctx.inputs.preferences,
        tokenizer=ctx.root / TOKENIZER,
        checkpoint=ctx.root / layout.SFT_DIR / layout.CHECKPOINT,
        out_dir=ctx.root / layout.DPO_DIR,
    )
    if ctx.run.dpo_steps is not None:
        config = replace(config, max_steps=ctx.run.dpo_steps)
    config = ctx.seeded(config)

    def work(c: Any) -> Path:
        result = train_dpo(c, show_progress=ctx.show_progress)
        stop_if_interrupted("dpo", result)
        return result.report_path

    files = {"preferences": ctx.inputs.preferences}
    ctx.stage("dpo", config, work, files=files, upstream=("sft",), resumable=True)
    return "dpo"


def sft_fit_items(chat_path: Path, out: Path) -> Path:
    """The chat rows as eval items: the trained answer is the reference answer.

    Multi-turn rows keep their earlier turns as `context`, so the model is asked
    exactly what it was trained on.
    """
    chat = read_chat_jsonl(chat_path)
    lines = []
    for example in chat.examples:
        *before, answer = example.messages
        *context, last_user = before
        row = {
            "user": str(last_user.get("content") or ""),
            "reference_answer": str(answer.get("content") or ""),
            "category": "sft_fit",
            "level": "memorization",
            "source": f"{chat_path.name}:{example.line}",
        }
        if context:
            row["context"] = context
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    write_text_if_changed(out, "".join(lines))
    return out


def evals(ctx: RunContext, final: str) -> dict[str, Path]:
    """Score the final model on SFT-fit, held-out and external evals; name -> report."""
    from picochat.evaluation.stage import evaluate_chat

    eval_dir = ctx.root / layout.EVAL_DIR
    sets = {"sft_fit": sft_fit_items(ctx.inputs.chat, eval_dir / layout.SFT_FIT_ITEMS)}
    sets |= _eval_sets(ctx)
    reports = {}
    for name, items in sets.items():
        config = replace(
            ctx.settings.eval,
            input=items,
            checkpoint=ctx.root / final / layout.CHECKPOINT,
            tokenizer=ctx.root / TOKENIZER,
            out_dir=eval_dir / name,
            support_corpus=None if name == "sft_fit" else ctx.root / CORPUS,
        )
        config = ctx.seeded(config)

        def work(c: EvalConfig) -> Path:
            return evaluate_chat(c).report_path

        ctx.stage(f"eval:{name}", config, work, files={"items": items}, upstream=(final, "corpus"))
        reports[name] = ctx.root / layout.eval_report(name)
    return reports


def summarize(
    ctx: RunContext,
    gates: Any,
    leaks: ContaminationReport,
    plan: dict[str, Any],
    evals_done: dict[str, Path],
    final: str,
) -> dict[str, Any]:
    from picochat.reports.summary import write_summary

    summary = write_summary(ctx, gates, leaks, plan, evals_done, final)
    ctx.say(f"gates: {summary['gates']['status']}; summary: {ctx.root / layout.SUMMARY_MD}")
    return summary
