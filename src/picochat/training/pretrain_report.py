"""The base-pretraining report: train_report.json (SPEC §11 keys) and report.md.

Not for: measuring anything; every figure here comes from the loop's history, the token
data or the memorisation diagnostics. A figure that was not measured is null with a
sibling `<key>_reason`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import atomic_write_text
from picochat.markdown import Block, Bullets, Code, Heading, Paragraph, fixed, render
from picochat.training import stage_report
from picochat.training.loop import LoopResult
from picochat.training.token_data import TokenData
from picochat.training.whole_validation import apply_to_report, describe


def _final(loop: LoopResult) -> dict[str, Any]:
    why = f"no evaluation ran before the run stopped ({loop.stop_reason} at step {loop.steps})"
    final = stage_report.final_figures(loop, why)
    if loop.history:
        final["checkpoint_step"] = loop.steps
    return final


def _recommended(loop: LoopResult) -> dict[str, Any]:
    best = loop.best
    if best is None:
        return {
            "step": loop.steps,
            "folder": layout.CHECKPOINT,
            "reason": "no validation loss was measured, so only the last weights exist",
        }
    if loop.stop_reason == "diverged":
        why = "training diverged; this is the best weights before it"
    elif best["step"] == loop.history[-1]["step"]:
        why = "the last evaluation is also the best: validation loss was still improving"
    else:
        why = (
            f"lowest periodic validation loss ({best['val_loss']:.4f}); later steps fit the training "
            "windows more without carrying over to held-out text"
        )
    return {"step": best["step"], "folder": layout.BEST_CHECKPOINT, "reason": why}


def _memorization(config: Any, diagnostics: dict[str, Any]) -> dict[str, Any]:
    copy = diagnostics["copy"]
    memorization = {
        "train_copy_rate": copy["train_copy_rate"],
        "heldout_overlap": copy["heldout_overlap"],
        "copied_spans": copy["copied_spans"],
        "canaries": [
            {k: c[k] for k in ("text", "hit", "exposure_bits", "rank", "candidates")}
            for c in diagnostics["canaries"]
        ],
        "risk": diagnostics["risk"],
        "risk_reason": diagnostics["risk_reason"],
        "ngram_words": copy["ngram_words"],
        "generated_ngrams": copy["generated_ngrams"],
        "measured_on": f"{diagnostics['measured_on']}; greedy continuations of prompts cut "
        "from the training text",
    }
    memorization["loss_gap"] = diagnostics.get("loss_gap")
    memorization["short_ngrams"] = diagnostics.get("short_ngrams")
    if "scan" in copy:  # sharded corpora: what the n-gram lookup read (all, or a sample)
        memorization["copy_scan"] = copy["scan"]
    for key in ("train_copy_rate", "heldout_overlap"):
        if f"{key}_reason" in copy:
            memorization[f"{key}_reason"] = copy[f"{key}_reason"]
    if not diagnostics["canaries"]:
        memorization["canaries_reason"] = (
            "no canaries were inserted (--canary-count 0)"
            if not config.canary_count
            else diagnostics["measured_on"]
        )
    return memorization


def _dataset(data: TokenData) -> dict[str, Any]:
    dataset = {
        "split_mode": data.split_mode,
        "split_reason": data.split_reason,
        "train_tokens": int(len(data.train)),
        "val_tokens": int(len(data.val)),
        "val_documents": data.val_documents,
        "train_documents": data.train_documents,
        "unknown_token_rate": data.unknown_rate,
        "warnings": data.warnings,
    }
    if data.val_documents is None:
        dataset["val_documents_reason"] = "window split: validation is the corpus tail"
    names = getattr(data, "val_document_names", None)
    if names is not None:  # which documents: at most MAX_NAMED_DOCUMENTS, all counted above
        dataset["val_document_names"] = names
        dataset["val_document_names_listed"] = f"{len(names)} of {data.val_documents}"
    return dataset


def build_report(
    facts: stage_report.RunFacts,
    *,
    num_parameters: int,
    data: TokenData,
    diagnostics: dict[str, Any],
    whole: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None),
) -> dict[str, Any]:
    """train_report.json; `whole` holds the (final, best) whole-validation figures
    (`whole_validation.final_and_best`), which replace the periodic ones in `final`/`best`."""
    loop = facts.loop
    report = facts.header()
    report.update(
        {
            "model": {"num_parameters": num_parameters},
            "dataset": _dataset(data),
            "history": loop.history,
            "best": dict(loop.best) if loop.best else None,
            "final": _final(loop),
            "recommended_checkpoint": _recommended(loop),
            **facts.stop_keys(),
            "tokens_seen": loop.tokens_seen,
            "dataset_passes": loop.tokens_seen / max(1, len(data.train)),
            "memorization": _memorization(facts.config, diagnostics),
            "sample": diagnostics["samples"][0] if diagnostics["samples"] else None,
            "throughput": {
                "tokens_per_sec": loop.tokens_per_sec,
                "train_seconds": loop.train_seconds,
            },
        }
    )
    apply_to_report(report["final"], report["best"], whole)
    report["validation_scope"] = _scope(loop, whole[0])
    if report["best"] is None:
        report["best_reason"] = "no evaluation ran before the run stopped"
    return report


def _scope(loop: LoopResult, final: dict[str, Any] | None) -> dict[str, Any]:
    """How many validation tokens the periodic evaluations and the final/best figures scored."""
    periodic = loop.history[-1].get("val_targets") if loop.history else None
    return {
        "periodic_val_tokens": periodic,
        "final_and_best": describe(final),
        "final_and_best_val_tokens": final["val_tokens"] if final else None,
        "val_tokens_total": final["val_tokens_total"] if final else None,
    }


HOW_TO_READ = (
    "**How to read this.** A falling *train* loss only means the model fits its training\n"
    "windows. The *validation* loss, on text the model never trained on, tells whether\n"
    "that fit carries over. When validation stops improving while train keeps falling,\n"
    "the model is memorising; use the recommended checkpoint, not the last one."
)


def _outcome(report: dict[str, Any]) -> list[Block]:
    rec, final = report["recommended_checkpoint"], report["final"]
    periodic = (report.get("validation_scope") or {}).get("periodic_val_tokens")
    each = f"{periodic:,} tokens each (--eval-batches)." if periodic else "a sample."
    items = [
        f"Recommended checkpoint: step {rec['step']} in `{rec['folder']}/`: {rec['reason']}.",
        *stage_report.figures_lines(
            report, gap=f"gap {fixed(final['gap'])} (validation - train)", periodic=each, bpb=True
        ),
        stage_report.model_line(report),
        f"Tokens seen: {report['tokens_seen']:,} = {report['dataset_passes']:.2f} passes "
        f"over the training tokens; throughput {fixed(report['throughput']['tokens_per_sec'], 0)} "
        "tokens/s.",
    ]
    return stage_report.outcome(report, items)


def _data_split(ds: dict[str, Any]) -> list[Block]:
    items = [
        f"Mode: **{ds['split_mode']}** ({ds['split_reason']}).",
        f"Train tokens {ds['train_tokens']:,}; validation tokens {ds['val_tokens']:,}"
        + (f" from {ds['val_documents']} held-out documents." if ds["val_documents"] else "."),
        *_held_out(ds),
        "Train and validation are cut apart as text before tokenizing: no token is shared.",
        "BPB = validation loss in bits per UTF-8 byte of the scored validation text (comparable "
        "across tokenizers); special tokens count 0 bytes and are left out of BPB.",
        "Train loss in the history is measured at each evaluation on fixed training windows "
        "(as many as validation windows, at most 64, spread over the training text) with the same "
        "weights, so the gap compares like with like.",
    ]
    return [Heading("Data split"), Bullets(items + [f"Warning: {w}" for w in ds["warnings"]])]


def _held_out(ds: dict[str, Any]) -> list[str]:
    """The held-out documents by source (the first 10; train_report.json lists more)."""
    names = ds.get("val_document_names")
    if not names:
        return []
    shown = ", ".join(f"`{n['source'] or 'document'}` (id {n['id']})" for n in names[:10])
    more = ds["val_documents"] - min(10, len(names))
    return [
        f"Held-out documents: {shown}"
        + (f" and {more:,} more (train_report.json names up to 100)." if more > 0 else ".")
    ]


def _curve(history: list[dict[str, Any]]) -> list[Block]:
    rows = stage_report.loss_rows(
        history,
        lambda h: fixed(h.get("val_bpb")),
        stage_report.lr_cell,
        lambda h: fixed(h.get("tokens_per_sec"), 0),
    )
    return stage_report.curve_section(
        [*stage_report.LOSS_HEADERS, "val BPB", "lr", "tokens/s"], rows
    )


def _memorisation(mem: dict[str, Any]) -> list[Block]:
    items = [
        f"Train copy rate: {fixed(mem['train_copy_rate'], 3)}: share of generated "
        f"{mem['ngram_words']}-word spans found verbatim in the training text (greedy "
        "continuations of prompts taken from the training text).",
        f"Held-out overlap: {fixed(mem['heldout_overlap'], 3)}: the same against validation "
        "text. Copying far more from training than from held-out text means memorising.",
    ]
    items += _more_signals(mem)
    items += [f'Copied span ({s["words"]} words): "{s["text"]}"' for s in mem["copied_spans"]]
    items += [
        f"Canary `{c['text']}`: {'HIT' if c['hit'] else 'miss'}, exposure "
        f"{c['exposure_bits']:.2f} bits (rank {c['rank']} of {c['candidates']})."
        for c in mem["canaries"]
    ]
    if not mem["canaries"]:
        items.append("No canaries were inserted (`--canary-count N` adds them).")
    return [
        Heading("Memorisation"),
        Paragraph(
            f"Risk: **{mem['risk']}** ({mem['risk_reason']}). Measured on {mem['measured_on']}."
        ),
        Bullets(items),
        Paragraph(
            "A tiny model cannot learn what the corpus does not contain; on a tiny or repeated\n"
            "corpus it mostly memorises. See `canary_probe.txt` and `sample.txt`."
        ),
    ]


def _more_signals(mem: dict[str, Any]) -> list[str]:
    """The loss-gap and 3-gram lines of the memorisation section (when measured)."""
    items = []
    gap, short = mem.get("loss_gap") or {}, mem.get("short_ngrams") or {}
    if gap:
        items.append(
            f"Loss gap: {fixed(gap.get('gap'))} nats/token (validation "
            f"{fixed(gap.get('val_loss'))} - train {fixed(gap.get('train_loss'))}, same weights, "
            f"step {gap.get('step')}): how much likelier training tokens are than held-out ones."
            + (f" {gap['gap_reason']}." if gap.get("gap_reason") else "")
        )
    if short:
        items.append(
            f"Short spans: {fixed(short.get('train_copy_rate'), 3)} of generated "
            f"{short.get('ngram_words')}-word spans are in the training text, "
            f"{fixed(short.get('heldout_overlap'), 3)} in held-out text; training text is "
            f"{fixed(short.get('size_ratio'), 1)}x larger, so size alone explains up to "
            f"{fixed(short.get('size_bound'), 3)}; excess: {short.get('excess')}."
        )
    return items


def render_markdown(report: dict[str, Any]) -> str:
    """report.md: outcome, data split, learning curve, memorisation, a sample."""
    return render(
        [
            Heading("Base pretraining report", 1),
            Paragraph(HOW_TO_READ),
            *_outcome(report),
            *_data_split(report["dataset"]),
            *_curve(report["history"]),
            *_memorisation(report["memorization"]),
            Heading("Sample (unconditional, temperature 1.0)"),
            Code(report["sample"] or ""),
        ]
    )


def write_report_files(out_dir: Path, report: dict[str, Any], diagnostics: dict[str, Any]) -> None:
    samples = [
        f"--- sample {i + 1} (from <|bos|> alone, temperature 1.0) ---\n{text}\n"
        for i, text in enumerate(diagnostics["samples"])
    ]
    samples += [
        f"--- greedy continuation {i + 1} of a training-text prompt (copy-rate probe) ---\n{text}\n"
        for i, text in enumerate(diagnostics["continuations"])
    ]
    atomic_write_text(out_dir / layout.SAMPLE, "".join(samples) or "(no usable weights)\n")
    if diagnostics["canaries"]:
        blocks = [
            f"canary: {c['text']}\nprompt: {c['prefix']}\ngreedy: {c['continuation']!r}\n"
            f"hit: {c['hit']}\nrank: {c['rank']} of {c['candidates']}\n"
            f"exposure_bits: {c['exposure_bits']:.3f}\n"
            for c in diagnostics["canaries"]
        ]
        atomic_write_text(out_dir / layout.CANARY_PROBE, "\n".join(blocks))
    stage_report.write_stage_files(
        out_dir,
        layout.BASE_REPORT,
        report,
        render_markdown(report),
        layout.LOSS_CURVE,
        secondary=("val_bpb", "validation bits per byte"),
        title="Base pretraining",
    )
