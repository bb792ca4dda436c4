"""The SFT report: sft_report.json (SPEC §11 keys), report.md, sample.txt, loss_curve.png.

Not for: measuring anything; every figure comes from the reader, the renderer, the
loop's history or the greedy probe in `sft.py`. A figure that was not measured is null
with a sibling `<key>_reason`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import atomic_write_json, atomic_write_text, report_header
from picochat.markdown import Block, Bullets, Heading, Paragraph, Table, fixed, pct, render
from picochat.plots import plot_history
from picochat.training.loop import LoopResult
from picochat.training.sft_diagnostics import DIVERGENCE_TOLERANCE, divergence
from picochat.training.whole_validation import apply_to_report, describe


def _final(loop: LoopResult) -> dict[str, Any]:
    keys = ("train_loss", "val_loss", "val_bpb", "gap")
    if not loop.history:
        reason = f"no evaluation ran before the run stopped ({loop.stop_reason})"
        return {"step": loop.steps, **dict.fromkeys(keys), **{f"{k}_reason": reason for k in keys}}
    last = loop.history[-1]
    final = {k: last.get(k) for k in ("step", "train_loss", "val_loss", "val_bpb")}
    final["gap"] = None
    if final["val_loss"] is not None and final["train_loss"] is not None:
        final["gap"] = final["val_loss"] - final["train_loss"]
    else:
        final["gap_reason"] = final["val_loss_reason"] = "no validation rows"
    return final


def _dataset(dataset: Any, rendered: Any, train: list, val: list) -> dict[str, Any]:
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
    *,
    config: Any,
    inputs: dict[str, str],
    wall_seconds: float,
    device: str,
    model: Any,
    dataset: Any,
    rendered: Any,
    train: list,
    val: list,
    loop: LoopResult,
    probes: dict[str, Any],
    peft: dict[str, Any] | None,
    whole: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None),
) -> dict[str, Any]:
    """sft_report.json; `whole` holds the (final, best) whole-validation figures
    (`whole_validation.final_and_best`), which replace the periodic ones in `final`/`best`."""
    ds = _dataset(dataset, rendered, train, val)
    report = report_header(
        config, inputs=inputs, seed=config.seed, wall_seconds=wall_seconds, device=device
    )
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
            "stop_reason": loop.stop_reason,
            "stop_message": loop.stop_message,
            "steps": loop.steps,
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
    report["validation_scope"] = {
        "final_and_best": describe(whole[0]) + " (supervised answer tokens)",
        "periodic_val_rows": min(len(val), config.eval_batches * config.batch_size) or len(val),
        "val_rows": len(val),
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
    final, best, peft = report["final"], report["best"], report["peft"]
    mode = "full fine-tuning (every weight trained)"
    if peft:
        mode = (
            f"LoRA rank {peft['rank']}, alpha {peft['alpha']} (scale "
            f"{peft['alpha'] / peft['rank']:g}) on {', '.join(peft['targets'])}; base frozen"
        )
    items = [
        f"Stopped: **{report['stop_reason']}** ({report['stop_message']}) after "
        f"{report['steps']} steps.",
        f"Training: {mode}; {report['model']['trainable_parameters']:,} of "
        f"{report['model']['num_parameters']:,} parameters trained.",
        f"Final (step {final['step']}): train loss {fixed(final['train_loss'])}, validation "
        f"loss {fixed(final['val_loss'])}, gap **{fixed(final['gap'])}** (validation - train, "
        "nats per answer token).",
    ]
    if best:
        items.append(f"Best validation: step {best['step']}, loss {fixed(best['val_loss'])}.")
    scope = report.get("validation_scope")
    if scope:
        items.append(
            f"Final and best validation figures score {scope['final_and_best']}; the learning "
            f"curve's periodic evaluations score {scope['periodic_val_rows']} of "
            f"{scope['val_rows']} validation rows (--eval-batches)."
        )
    items += [
        f"Validation loss diverged while train loss fell: **{report['diverged']}** "
        f"(rule: {report['diverged_rule']}).",
        f"Supervised answer tokens seen: {report['supervised_tokens_seen']:,} = "
        f"{report['answer_passes']:.1f} passes over the training answers.",
    ]
    return [Heading("Outcome"), Bullets(items)]


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
    rows = [
        [str(h["step"]), fixed(h.get("train_loss")), fixed(h.get("val_loss")), f"{h['lr']:.2e}"]
        for h in history
    ]
    return [
        Heading("Learning curve"),
        Paragraph(f"![loss curve]({layout.LOSS_CURVE})"),
        Table(["step", "train loss", "val loss", "lr"], rows),
    ]


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
    atomic_write_json(out_dir / layout.SFT_REPORT, report)
    atomic_write_text(out_dir / layout.STAGE_MARKDOWN, render_markdown(report))
    blocks = [
        f"--- {p['split']} line {p['line']} ({'EXACT' if p['exact'] else 'differs'}) ---\n"
        f"user:      {p['user']}\nreference: {p['reference']}\nreply:     {p['reply']}\n"
        for p in probes["probes"]
    ]
    header = "Greedy replies of the final SFT weights (train and validation prompts).\n\n"
    atomic_write_text(out_dir / layout.SAMPLE, header + "\n".join(blocks))
    best = report.get("best")
    plot_history(
        report["history"],
        out_dir / layout.LOSS_CURVE,
        title="Chat SFT (loss per answer token)",
        mark_step=best["step"] if best else None,
    )
