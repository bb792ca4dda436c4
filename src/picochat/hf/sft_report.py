"""The report of `train hf-sft`: memorisation risk, a sample reply, hf_sft_report.json, report.md.

The memorisation check asks the fine-tuned model for greedy replies to training and to
validation prompts and counts replies that start with the reference answer word for
word (whitespace-normalised). A high train rate with a much lower validation rate means
the model copies its training answers rather than generalising.

Not for: computing losses or training (`picochat.hf.sft`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from picochat.data.chat import ChatExample
from picochat.markdown import Block, Bullets, Heading, Paragraph, Table, fixed, render
from picochat.training import stage_report
from picochat.training.finetune import peft_summary
from picochat.training.sft_diagnostics import divergence, is_exact, verdict


def exact_rate(
    chat_model: Any, rows: list[ChatExample], limit: int, max_new_tokens: int
) -> float | None:
    """Share of greedy replies that start with the row's reference answer."""
    rows = rows[:limit]
    if not rows:
        return None
    replies = chat_model.replies([r.messages[:-1] for r in rows], max_new_tokens)
    hits = sum(is_exact(reply, r.answer) for reply, r in zip(replies, rows, strict=True))
    return hits / len(rows)


def memorization_risk(
    chat_model: Any, train_rows: list[ChatExample], val_rows: list[ChatExample], config: Any
) -> dict[str, Any]:
    """{train_exact_rate, val_exact_rate, probes, verdict}: exact-answer reproduction."""
    limit, tokens = config.probe_rows, config.max_new_tokens
    train = exact_rate(chat_model, train_rows, limit, tokens)
    val = exact_rate(chat_model, val_rows, limit, tokens)
    result: dict[str, Any] = {
        "train_exact_rate": train,
        "val_exact_rate": val,
        "train_probes": min(limit, len(train_rows)),
        "val_probes": min(limit, len(val_rows)),
        "max_new_tokens": tokens,
        "model": "final_model",
    }
    if val is None:
        result["val_exact_rate_reason"] = "no validation rows"
    result["verdict"] = verdict(train, val)
    return result


@dataclass(frozen=True)
class HFSFTFacts:
    """What hf_sft_report.json is built from beside the shared `stage_report.RunFacts`."""

    model: dict[str, Any]  # `describe_model`
    rows: Any  # `picochat.hf.sft._Rows`: the chat file, split and encoded
    max_length: int  # --max-length, cut to the model's context
    trainable_parameters: int
    validation: dict[str, Any]  # the final weights over every validation row
    artifacts: dict[str, Any]  # model folder name -> path
    risk: dict[str, Any]  # `memorization_risk`
    sample: dict[str, Any] | None  # `sample_reply`


def describe_model(config: Any, model: Any, template: str, precision: str) -> dict[str, Any]:
    """The report's `model`: where it came from, its class, size, chat template, precision."""
    return {
        "source": str(config.model),
        "architecture": type(model).__name__,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "chat_template": template,
        "precision": precision,
    }


def sample_reply(chat_model: Any, rows: list[ChatExample], max_new_tokens: int) -> dict | None:
    """The first row's greedy reply beside its reference answer (None without rows)."""
    if not rows:
        return None
    row = rows[0]
    reply = chat_model.replies([row.messages[:-1]], max_new_tokens)[0]
    return {"prompt": row.prompt, "reply": reply, "reference": row.answer, "line": row.line}


def build_report(facts: stage_report.RunFacts, own: HFSFTFacts) -> dict[str, Any]:
    """hf_sft_report.json: the common header, then SPEC §11 sft keys plus model and artifacts.

    `final.val_loss` is the final weights over every validation row (`own.validation`);
    the periodic figures (history, best) cover `periodic_val_rows` of them."""
    config, loop, validation = facts.config, facts.loop, own.validation
    history = loop.history
    final_train = history[-1]["train_loss"] if history else None
    final_val = validation["val_loss"]
    sampled = validation["periodic_val_rows"] < validation["val_rows"]
    best = loop.best or {"step": None, "val_loss": None}
    report = facts.header()
    report.update(
        {
            "model": own.model,
            "dataset": _dataset(own.rows, config, own.max_length),
            "history": history,
            "best": {
                "step": best["step"],
                "val_loss": best["val_loss"],
                # Picked by the periodic figures: a sample of the rows under --eval-batches.
                "val_scope": f"periodic, {validation['periodic_val_rows']} of "
                f"{validation['val_rows']} rows"
                if sampled
                else "whole",
            },
            "final": {
                "step": loop.steps,
                "train_loss": final_train,
                "val_loss": final_val,
                "periodic_val_loss": history[-1]["val_loss"] if history else None,
                "val_scope": "whole",
                "val_rows": validation["val_rows"],
                "gap": None
                if final_val is None or final_train is None
                else final_val - final_train,
            },
            "stop_reason": loop.stop_reason,
            "stop_message": loop.stop_message,
            "diverged": loop.stop_reason == "diverged" or divergence(history),
            "memorization_risk": own.risk,
            "peft": _peft(config, own.trainable_parameters),
            "sample": own.sample,
            "artifacts": {name: str(path) for name, path in own.artifacts.items()},
        }
    )
    return report


def _dataset(rows: Any, config: Any, max_length: int) -> dict[str, Any]:
    data, train_set, val_set = rows.data, rows.train_set, rows.val_set
    encode_skipped = train_set.skipped + val_set.skipped
    return {
        "rows": data.rows,
        "usable": len(train_set.examples) + len(val_set.examples),
        "skipped": len(data.skipped) + len(encode_skipped),
        "skipped_rows": [{"line": s.line, "reason": s.reason} for s in data.skipped]
        + [{"line": line, "reason": why} for line, why in encode_skipped],
        "truncated": train_set.truncated + val_set.truncated,
        "max_length": max_length,  # --max-length, cut to the model's context
        "max_length_requested": config.max_length,
        "supervised_tokens": train_set.supervised_tokens,
        "train_rows": len(train_set.examples),
        "val_rows": len(val_set.examples),
    }


def _peft(config: Any, trainable_parameters: int) -> dict[str, Any] | None:
    targets = [t.strip() for t in config.lora_targets.split(",")]  # the model's module names
    peft = peft_summary(config, targets)
    return peft and {**peft, "trainable_parameters": trainable_parameters}


def _data(d: dict[str, Any]) -> list[Block]:
    skipped = stage_report.skipped_lines(d["skipped_rows"])
    cut = f"{d['max_length']} tokens"
    if d["max_length"] != d["max_length_requested"]:
        cut += f" (the model's context; --max-length asked for {d['max_length_requested']})"
    items = [
        f"rows {d['rows']}, usable {d['usable']}, skipped {d['skipped']}, "
        f"truncated {d['truncated']} (conversations cut to {cut})",
        "\n".join([f"train rows {d['train_rows']}, validation rows {d['val_rows']}, "
                   f"supervised answer tokens {d['supervised_tokens']}", *skipped]),
    ]  # fmt: skip
    return [Heading("Data"), Bullets(items)]


def _loss(report: dict[str, Any]) -> list[Block]:
    rows = stage_report.loss_rows(report["history"], stage_report.lr_cell)
    final, best = report["final"], report["best"]
    return [
        Heading("Loss"),
        Table([*stage_report.LOSS_HEADERS, "lr"], rows, align_right=(0, 1, 2, 3)),
        Paragraph(
            f"Stop reason: **{report['stop_reason']}** after {final['step']} steps. "
            f"Best validation loss {fixed(best['val_loss'])} at step {best['step']} "
            f"({best.get('val_scope', 'whole')}); final validation loss "
            f"{fixed(final['val_loss'])} over all {final.get('val_rows')} validation rows, "
            f"gap (val - train) {fixed(final['gap'])}; diverged: {report['diverged']}."
        ),
    ]


def _memorisation(risk: dict[str, Any]) -> list[Block]:
    return [
        Heading("Memorisation risk"),
        Bullets(
            [
                f"exact answers on training prompts: {fixed(risk['train_exact_rate'])} "
                f"({risk['train_probes']} probes)",
                f"exact answers on validation prompts: {fixed(risk['val_exact_rate'])} "
                f"({risk['val_probes']} probes)",
                f"verdict: {risk['verdict']}",
            ]
        ),
    ]


def _sample(sample: dict[str, Any] | None) -> list[Block]:
    if not sample:
        return []
    return [
        Heading("Sample (greedy, validation prompt when there is one)"),
        Paragraph(f"**User:** {sample['prompt']}"),
        Paragraph(f"**Model:** {sample['reply']}"),
        Paragraph(f"**Reference:** {sample['reference']}"),
    ]


def render_markdown(report: dict[str, Any]) -> str:
    """report.md: what was trained, on what, how the losses moved, what it memorised."""
    m = report["model"]
    tuning = f"LoRA r={report['peft']['rank']}" if report["peft"] else "full fine-tuning"
    return render(
        [
            Heading("Hugging Face SFT report", 1),
            Paragraph(
                f"Model `{m['source']}` ({m['architecture']}, {m['num_parameters']:,} "
                f"parameters, chat template: {m['chat_template']}, {m['precision']}); {tuning}."
            ),
            *_data(report["dataset"]),
            *_loss(report),
            *_memorisation(report["memorization_risk"]),
            *_sample(report.get("sample")),
        ]
    )
