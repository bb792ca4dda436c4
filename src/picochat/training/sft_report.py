"""The SFT report: sft_report.json (SPEC §11 keys), report.md, sample.txt, loss_curve.png.

Not for: measuring anything; every figure comes from the reader, the renderer, the
loop's history or the greedy probe in `sft.py`. A figure that was not measured is null
with a sibling `<key>_reason`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import atomic_write_text
from picochat.markdown import Block, Bullets, Heading, Paragraph, fixed, pct, render
from picochat.training import stage_report
from picochat.training.loop import LoopResult
from picochat.training.sft_diagnostics import DIVERGENCE_TOLERANCE, divergence
from picochat.training.whole_validation import apply_to_report, describe


def _final(loop: LoopResult) -> dict[str, Any]:
    final = stage_report.final_figures(
        loop, f"no evaluation ran before the run stopped ({loop.stop_reason})"
    )
    if loop.history and final["gap"] is None:
        final["gap_reason"] = final["val_loss_reason"] = "no validation rows"
    return final


def _dataset(data: Any) -> dict[str, Any]:
    dataset, rendered, train, val = data.dataset, data.rendered, data.train_seq, data.val_seq
    skipped = [{"line": s.line, "reason": s.reason} for s in dataset.skipped] + rendered.skipped
    skipped.sort(key=lambda s: s["line"])
    return {
        "rows": dataset.rows,
        "usable": len(rendered.sequences),
        "skipped": len(skipped),
        "truncated": len(rendered.truncated),
        "supervised_tokens": sum(s.supervised_tokens for s in rendered.sequences),
        "train_rows": len(train),
        "val_rows": len(val),
        "train_supervised_tokens": sum(s.supervised_tokens for s in train),
        "val_supervised_tokens": sum(s.supervised_tokens for s in val),
        "skipped_rows": skipped,
        "truncated_rows": rendered.truncated,
    }


def _memorization_risk(probes: dict[str, Any], steps: int) -> dict[str, Any]:
    risk = {
        "train_exact_rate": probes["train_exact_rate"],
        "val_exact_rate": probes["val_exact_rate"],
        "verdict": probes["verdict"],
        "train_probes": probes["train_probes"],
        "val_probes": probes["val_probes"],
        "rule": "a greedy reply is exact when, whitespace collapsed, it starts with "
        "the whole trained answer",
        "measured_on": f"final weights (step {steps}), greedy decoding",
    }
    if risk["val_exact_rate"] is None:
        risk["val_exact_rate_reason"] = (
            "no validation rows (too few prompt groups or --val-fraction 0)"
        )
    if risk["train_exact_rate"] is None:
        risk["train_exact_rate_reason"] = "no training rows were probed (--probe-rows)"
    return risk


def _sample(probes: dict[str, Any]) -> dict[str, Any]:
    """The report's sample: the first validation probe's reply (a training one without)."""
    shown = [p for p in probes["probes"] if p["split"] == "val"] or probes["probes"]
    if not shown:
        return {"sample_reason": "no prompts were probed"}
    first = shown[0]
    return {
        "sample": first["reply"],
        "sample_prompt": first["user"],
        "sample_split": first["split"],
    }


def build_report(
    facts: stage_report.RunFacts,
    *,
    model: Any,
    data: Any,
    probes: dict[str, Any],
    peft: dict[str, Any] | None,
    whole: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None),
) -> dict[str, Any]:
    """sft_report.json from the chat file's rows (`data`: dataset, rendered, train_seq,
    val_seq), the greedy probes and the trained `model`. `whole` holds the (final, best)
    whole-validation figures (`whole_validation.final_and_best`), which replace the
    periodic ones in `final`/`best`."""
    config, loop = facts.config, facts.loop
    ds = _dataset(data)
    report = facts.header()
    report.update(
        {
            "model": {
                "num_parameters": model.num_parameters(),
                "trainable_parameters": sum(
                    p.numel() for p in model.parameters() if p.requires_grad
                ),
                "context_size": model.config.context_size,
                "base_checkpoint": str(config.checkpoint),
            },
            "dataset": ds,
            "history": loop.history,
            "best": dict(loop.best) if loop.best else None,
            "final": _final(loop),
            **facts.stop_keys(),
            "diverged": loop.stop_reason == "diverged" or divergence(loop.history),
            "diverged_rule": (
                "the last validation loss is more than "
                f"{DIVERGENCE_TOLERANCE - 1:.0%} above the best one while the train loss "
                "is below its value at the best step (or the loss became NaN/inf)"
            ),
            "supervised_tokens_seen": loop.tokens_seen,
            "answer_passes": loop.tokens_seen / max(1, ds["train_supervised_tokens"]),
            "memorization_risk": _memorization_risk(probes, loop.steps),
            "peft": peft,
            "sample": None,
            "throughput": {
                "supervised_tokens_per_sec": loop.tokens_per_sec,
                "train_seconds": loop.train_seconds,
            },
        }
    )
    report.update(_sample(probes))
    apply_to_report(report["final"], report["best"], whole)
    val_rows = ds["val_rows"]
    report["validation_scope"] = {
        "final_and_best": describe(whole[0]) + " (supervised answer tokens)",
        "periodic_val_rows": min(val_rows, config.eval_batches * config.batch_size) or val_rows,
        "val_rows": val_rows,
    }
    if loop.best is None:
        report["best_reason"] = "no validation loss was measured (no validation rows)"
    return report


HOW_TO_READ = (
    "**How to read this.** SFT teaches the *behaviour* in the chat rows (the reply\n"
    "format, the role tokens, when to stop); it does not create knowledge. Facts the base\n"
    "model never saw in pretraining come back only as copies of the training answers.\n"
    "LoRA adapts the base cheaply to a domain or style; it does not teach facts the base\n"
    "never saw either. On a small chat file the model soon reproduces its training answers\n"
    "word for word: compare the exact-answer rates on training and validation prompts."
)


def _outcome(report: dict[str, Any]) -> list[Block]:
    peft, gap = report["peft"], fixed(report["final"]["gap"])
    scope = report.get("validation_scope") or {}
    rows = f"{scope.get('periodic_val_rows')} of {scope.get('val_rows')} validation rows"
    mode = "full fine-tuning (every weight trained)"
    if peft:
        mode = (
            f"LoRA rank {peft['rank']}, alpha {peft['alpha']} (scale "
            f"{peft['alpha'] / peft['rank']:g}) on {', '.join(peft['targets'])}; base frozen"
        )
    items = [
        f"Training: {mode}; {report['model']['trainable_parameters']:,} of "
        f"{report['model']['num_parameters']:,} parameters trained.",
        *stage_report.figures_lines(
            report,
            gap=f"gap **{gap}** (validation - train, nats per answer token)",
            periodic=rows + " (--eval-batches).",
        ),
        f"Validation loss diverged while train loss fell: **{report['diverged']}** "
        f"(rule: {report['diverged_rule']}).",
        f"Supervised answer tokens seen: {report['supervised_tokens_seen']:,} = "
        f"{report['answer_passes']:.1f} passes over the training answers.",
    ]
    return stage_report.outcome(report, items)


def _data(ds: dict[str, Any]) -> list[Block]:
    items = [
        f"Rows {ds['rows']}: usable {ds['usable']}, skipped {ds['skipped']}, truncated "
        f"{ds['truncated']} (earlier context cut from the left; the answer is always kept).",
        f"Split (grouped by normalised prompt): {ds['train_rows']} train rows, "
        f"{ds['val_rows']} validation rows.",
        f"Supervised tokens (final assistant message + its end token): "
        f"{ds['supervised_tokens']:,}; every earlier turn is context only.",
    ]
    items += [f"Skipped line {s['line']}: {s['reason']}" for s in ds["skipped_rows"]]
    items += [f"Truncated line {t['line']}: {t['reason']}" for t in ds["truncated_rows"]]
    return [Heading("Data"), Bullets(items)]


def _curve(history: list[dict[str, Any]]) -> list[Block]:
    return stage_report.curve_section(
        [*stage_report.LOSS_HEADERS, "lr"], stage_report.loss_rows(history, stage_report.lr_cell)
    )


def _memorisation(risk: dict[str, Any]) -> list[Block]:
    return [
        Heading("Memorisation risk"),
        Paragraph(f"**{risk['verdict']}**"),
        Bullets(
            [
                f"Exact answers on training prompts: {pct(risk['train_exact_rate'], 0)} of "
                f"{risk['train_probes']}; on validation prompts: "
                f"{pct(risk['val_exact_rate'], 0)} of {risk['val_probes']}.",
                f"Rule: {risk['rule']}. Measured on {risk['measured_on']}.",
                "A high training rate with a low validation rate means the model recalls its "
                "rows,\n  not that it learned to answer: check held-out prompts with "
                "`picochat eval chat`.",
            ]
        ),
        Paragraph("See `sample.txt` for every probed prompt, its trained answer and the reply."),
    ]


def render_markdown(report: dict[str, Any]) -> str:
    """report.md: outcome, data, learning curve, memorisation risk."""
    return render(
        [
            Heading("Chat SFT report", 1),
            Paragraph(HOW_TO_READ),
            *_outcome(report),
            *_data(report["dataset"]),
            *_curve(report["history"]),
            *_memorisation(report["memorization_risk"]),
        ]
    )


def write_report_files(out_dir: Path, report: dict[str, Any], probes: dict[str, Any]) -> None:
    blocks = [
        f"--- {p['split']} line {p['line']} ({'EXACT' if p['exact'] else 'differs'}) ---\n"
        f"user:      {p['user']}\nreference: {p['reference']}\nreply:     {p['reply']}\n"
        for p in probes["probes"]
    ]
    header = "Greedy replies of the final SFT weights (train and validation prompts).\n\n"
    atomic_write_text(out_dir / layout.SAMPLE, header + "\n".join(blocks))
    stage_report.write_stage_files(
        out_dir,
        layout.SFT_REPORT,
        report,
        render_markdown(report),
        layout.LOSS_CURVE,
        title="Chat SFT (loss per answer token)",
    )
