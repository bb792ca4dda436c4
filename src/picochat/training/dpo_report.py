"""The DPO report: dpo_report.json (SPEC §11 keys), report.md and the curve PNG.

Not for: measuring anything; every figure comes from the loop's history, the pair
split or the reference computation. A figure that was not measured is null with a
sibling `<key>_reason`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.markdown import Block, Bullets, Heading, Paragraph, Table, fixed, render
from picochat.training import stage_report
from picochat.training.dpo_loss import METRIC_NAMES
from picochat.training.loop import LoopResult

VAL_KEYS = tuple(f"val_{name}" for name in METRIC_NAMES)
# The loop's generic keys that mean nothing here: train_loss repeats `loss`, no BPB.
_DROPPED = ("train_loss", "val_bpb")


def _history(loop: LoopResult, val_reason: str | None) -> list[dict[str, Any]]:
    history = []
    for entry in loop.history:
        row = {k: v for k, v in entry.items() if k not in _DROPPED}
        for key in VAL_KEYS:
            row.setdefault(key, None)
            if row[key] is None:
                row[f"{key}_reason"] = val_reason or "not measured"
        history.append(row)
    return history


def _best(loop: LoopResult, history: list[dict[str, Any]]) -> dict[str, Any] | None:
    if loop.best is None:
        return None
    entry = next(h for h in history if h["step"] == loop.best["step"])
    keys = ("step", "val_loss", "val_rewards/accuracies", "val_rewards/margins")
    return {k: entry.get(k) for k in keys} | {"folder": layout.BEST_CHECKPOINT}


def _dataset(data: Any) -> dict[str, Any]:
    pairs = data.all_pairs
    flags = [p.pair.extra.get("synthetic") is True for p in pairs]
    return {
        "rows": data.dataset.rows,
        "pairs": len(pairs),
        "train_pairs": len(data.train),
        "val_pairs": len(data.val),
        "train_groups": len({p.pair.group_key for p in data.train}),
        "val_groups": len({p.pair.group_key for p in data.val}),
        "split": "by group (`group`, else the normalised final prompt), before tokenizing",
        "skipped": len(data.skipped),
        "skipped_rows": [{"line": s.line, "reason": s.reason} for s in data.skipped],
        "truncated": sum(p.truncated for p in pairs),
        "synthetic_pairs": sum(flags),
        "all_synthetic": bool(pairs) and all(flags),
        "strategies": dict(
            Counter(p.pair.extra["strategy"] for p in pairs if "strategy" in p.pair.extra)
        ),
        "categories": dict(Counter(p.pair.category for p in pairs if p.pair.category)),
    }


def build_report(
    facts: stage_report.RunFacts,
    *,
    model_info: dict[str, int],
    data: Any,
    reference: dict[str, Any],
    peft: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """dpo_report.json from the pair split (`data`), the reference log-probs' facts and
    the loop's history (train metrics as running means, val ones on every pair)."""
    config, loop = facts.config, facts.loop
    val_reason = None if data.val else "no validation pairs (one group only, or --val-fraction 0)"
    history = _history(loop, val_reason)
    report = facts.header()
    last = history[-1] if history else None
    report.update(
        {
            "model": model_info,
            "dataset": _dataset(data),
            "history": history,
            "best": _best(loop, history),
            "final": None
            if last is None
            else {k: last.get(k) for k in ("step", *METRIC_NAMES, *VAL_KEYS)},
            **facts.stop_keys(),
            "beta": config.beta,
            "reference": reference,
            "peft": peft,
            "tokens_seen": loop.tokens_seen,
            "throughput": {
                "tokens_per_sec": loop.tokens_per_sec,
                "train_seconds": loop.train_seconds,
            },
            "metrics_note": "train metrics are means over the optimizer steps since the "
            "previous evaluation (TRL logs the same running means); val_ metrics are "
            "measured on every validation pair with the weights at that step",
        }
    )
    if report["best"] is None:
        report["best_reason"] = val_reason or "no evaluation ran before the run stopped"
    if report["final"] is None:
        report["final_reason"] = "no evaluation ran before the run stopped"
    return report


WHAT_THIS_IS = (
    "**What this is.** Direct preference optimisation nudges a chat model toward the\n"
    "`chosen` answers and away from the `rejected` ones, relative to a frozen reference.\n"
    "It is **not a substitute for pretraining, SFT coverage or held-out eval**: it cannot\n"
    "add knowledge, and a rising reward accuracy only says the model ranks these pairs\n"
    "the way the file does. Judge the model with `picochat eval`, not with this report."
)
HOW_TO_READ = [
    "`rewards/chosen` = beta x (policy - reference) log-prob of the chosen answer; "
    "`rewards/rejected` likewise; `rewards/margins` = their difference; "
    "`rewards/accuracies` = share of pairs with chosen reward > rejected reward.",
    "Step 0 is measured before any update (validation only). When the reference is the\n"
    "  policy's start it shows loss ln 2 = 0.6931, rewards 0 and accuracy 0 (a tie is no win).",
    "Both rewards falling while the margin grows means the model lowers the chosen\n"
    "  answers too, only less: watch `logps/chosen` and the samples, not just accuracy.",
    "Train figures are running means since the previous evaluation; validation\n"
    "  figures are measured on every held-out pair.",
]


def _synthetic(ds: dict[str, Any]) -> list[Block]:
    if not ds["synthetic_pairs"]:
        return []
    share = "All" if ds["all_synthetic"] else f"{ds['synthetic_pairs']} of {ds['pairs']}"
    return [
        Paragraph(
            f"**Synthetic pairs.** {share} pairs are labelled `synthetic` (rejected answers made\n"
            "by `data preference-starter`: echo, evasive, off-topic, truncated). They test the\n"
            "DPO mechanics (loss falls from ln 2, rewards separate), **not alignment**: do not\n"
            "report a model tuned on them as safer or better aligned."
        )
    ]


def _outcome(report: dict[str, Any]) -> list[Block]:
    best = report["best"]
    kept = f"No best checkpoint: {report.get('best_reason')}."
    if best:
        kept = (
            f"Best validation loss {fixed(best['val_loss'])} at step {best['step']} "
            f"(reward accuracy {fixed(best['val_rewards/accuracies'], 3)}, margin "
            f"{fixed(best['val_rewards/margins'])}): `best_checkpoint/`."
        )
    items = [kept, stage_report.model_line(report)]
    return stage_report.outcome(report, items, f"; beta {report['beta']}")


def _pairs(ds: dict[str, Any]) -> list[Block]:
    skips = stage_report.skipped_lines(ds["skipped_rows"], more_in=layout.DPO_REPORT)
    items = [
        f"{ds['pairs']} usable pairs from {ds['rows']} rows: {ds['train_pairs']} train "
        f"({ds['train_groups']} groups), {ds['val_pairs']} validation ({ds['val_groups']} "
        f"groups), split {ds['split']}.",
        "\n".join([f"Skipped {ds['skipped']}; context cut from the left in {ds['truncated']}.",
                   *skips]),
    ]  # fmt: skip
    if ds["strategies"]:
        items.append(f"Rejected-answer strategies: {ds['strategies']}.")
    return [Heading("Pairs"), Bullets(items)]


def _reference(ref: dict[str, Any]) -> list[Block]:
    return [
        Heading("Reference"),
        Bullets(
            [
                f"{ref['source']}: `{ref['checkpoint']}` (model.safetensors sha256 "
                f"{ref['sha256'][:16]}...).",
                f"Log-probabilities computed {ref['computed']}; kept in `{ref['file']}`.",
                *_ties(ref.get("tie_tolerance")),
            ]
        ),
    ]


def _ties(ties: dict[str, Any] | None) -> list[str]:
    """How a tie is decided in the reward metrics (a margin within float noise is no win)."""
    if not ties:
        return []
    return [
        f"Ties: a log-ratio or margin within {ties['rtol']:.1e} of the log-prob sums' size "
        "counts as exactly 0 (not a win): float noise, not preference ("
        + ties.get("method", "")
        + ")."
    ]


def _metrics(history: list[dict[str, Any]]) -> list[Block]:
    rows = [
        [str(h["step"]), fixed(h.get("loss")), fixed(h.get("val_loss")),
         fixed(h.get("rewards/accuracies"), 3), fixed(h.get("val_rewards/accuracies"), 3),
         fixed(h.get("rewards/margins")), fixed(h.get("val_rewards/margins")),
         fixed(h.get("logps/chosen"), 2), fixed(h.get("logps/rejected"), 2)]
        for h in history
    ]  # fmt: skip
    headers = ["step", "loss", "val loss", "reward acc", "val reward acc", "margin",
               "val margin", "logps chosen", "logps rejected"]  # fmt: skip
    return [
        Heading("How to read the metrics (TRL's names)"),
        Bullets(HOW_TO_READ),
        Paragraph(f"![DPO curve]({layout.DPO_CURVE})"),
        Table(headers, rows),
    ]


def render_markdown(report: dict[str, Any]) -> str:
    """report.md: what DPO is, outcome, pairs, reference, the metrics by step."""
    return render(
        [
            Heading("DPO report", 1),
            Paragraph(WHAT_THIS_IS),
            *_synthetic(report["dataset"]),
            *_outcome(report),
            *_pairs(report["dataset"]),
            *_reference(report["reference"]),
            *_metrics(report["history"]),
        ]
    )


def write_report_files(out_dir: Path, report: dict[str, Any]) -> None:
    stage_report.write_stage_files(
        out_dir,
        layout.DPO_REPORT,
        report,
        render_markdown(report),
        layout.DPO_CURVE,
        series=(("loss", "train DPO loss"), ("val_loss", "validation DPO loss")),
        secondary=("val_rewards/accuracies", "validation reward accuracy"),
        title="DPO",
        ylabel="DPO loss (nats per pair)",
    )
