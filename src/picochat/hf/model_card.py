"""The model card (README.md) of an export folder, written from the run's own reports.

The checkpoint's run folder is found from its path (`RUN/STAGE/checkpoint`), and every
figure comes from a report there: `base/train_report.json`, `sft/sft_report.json`,
`dpo/dpo_report.json`, `eval/*/eval_report.json`, `summary.json`. Nothing is estimated
or invented: a figure with no report says "not measured". A checkpoint outside a run
folder (or an imported one) gets a card with the model shape and that statement.

Not here: what the export writes besides the card (`export.py`, `gguf_export.py`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from picochat import layout

NOT_MEASURED = "not measured"
_STAGE_REPORTS = {
    "base": layout.BASE_REPORT,
    "sft": layout.SFT_REPORT,
    "dpo": layout.DPO_REPORT,
}
_SETTINGS = ("max_steps", "batch_size", "learning_rate", "warmup_steps", "weight_decay", "seed")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _fmt(value: Any) -> str:
    if value is None:
        return NOT_MEASURED
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def run_reports(checkpoint: Path) -> tuple[Path | None, dict[str, dict[str, Any]]]:
    """(run folder, {stage: report}) for a checkpoint at RUN/STAGE/checkpoint."""
    stage_dir = Path(checkpoint).resolve().parent
    stages = list(_STAGE_REPORTS)
    # Only the stages that led to this checkpoint: a base export says nothing of SFT.
    if stage_dir.name in stages:
        stages = stages[: stages.index(stage_dir.name) + 1]
    root = stage_dir.parent
    found = {s: _read(root / s / _STAGE_REPORTS[s]) for s in stages}
    found = {s: r for s, r in found.items() if r}
    return (root, found) if found else (None, {})


def _stage_lines(stage: str, report: dict[str, Any]) -> list[str]:
    config, best, final = (
        report.get("config") or {},
        report.get("best") or {},
        report.get("final") or {},
    )
    settings = ", ".join(f"{k} {_fmt(config[k])}" for k in _SETTINGS if k in config)
    data = report.get("dataset") or {}
    size = {
        "base": ("train_tokens", "training tokens"),
        "sft": ("train_rows", "training conversations"),
        "dpo": ("train_pairs", "training preference pairs"),
    }[stage]
    inputs = ", ".join(Path(p).name for p in (report.get("inputs") or {}))
    return [
        f"### {stage}",
        "",
        f"- data: {_fmt(data.get(size[0]))} {size[1]} from {inputs or NOT_MEASURED}",
        f"- settings: {settings or NOT_MEASURED}",
        f"- steps: {_fmt(report.get('steps'))} (stopped: {_fmt(report.get('stop_reason'))})",
        f"- best validation loss: {_fmt(best.get('val_loss'))} at step {_fmt(best.get('step'))}"
        + (f", {_fmt(best.get('val_bpb'))} bits per byte" if "val_bpb" in best else ""),
        f"- final train loss: {_fmt(final.get('train_loss', final.get('loss')))}",
        "",
    ]


def _eval_lines(root: Path | None) -> list[str]:
    reports = sorted((root / "eval").glob("*/eval_report.json")) if root else []
    lines = ["## Evaluation", ""]
    for path in reports:
        ladder = (_read(path) or {}).get("ladder") or {}
        cells = [
            f"{level} {info['passed']}/{info['items']}"
            for level, info in ladder.items()
            if isinstance(info, dict) and info.get("items")
        ]
        lines.append(f"- {path.parent.name}: {', '.join(cells) or NOT_MEASURED} items passed")
    if not reports:
        lines.append(f"- {NOT_MEASURED} (no eval/*/eval_report.json beside this run)")
    return [*lines, ""]


def _limits(reports: dict[str, dict[str, Any]], root: Path | None) -> list[str]:
    lines = [
        "## Limits",
        "",
        "- A small model trained from scratch by Picochat: it knows only its training "
        "text and will state false things fluently.",
    ]
    base = reports.get("base") or {}
    risk = (base.get("memorization") or {}).get("risk")
    lines.append(f"- memorisation risk (base): {_fmt(risk)}")
    sft_risk = ((reports.get("sft") or {}).get("memorization_risk") or {}).get("verdict")
    lines.append(f"- memorisation risk (sft): {_fmt(sft_risk)}")
    gates = ((_read(root / layout.SUMMARY_JSON) or {}) if root else {}).get("gates") or {}
    lines.append(f"- release gates: {_fmt(gates.get('status'))}")
    return [*lines, ""]


def model_card(
    checkpoint: Path, model_config: Any, *, fmt: str, usage: list[str], extra: list[str] = ()
) -> str:
    """The README.md text for an export of `checkpoint` in format `fmt`."""
    root, reports = run_reports(checkpoint)
    c = model_config
    lines = [
        "---",
        "library_name: " + ("transformers" if fmt == "hf" else "gguf"),
        "tags: [picochat, llama]",
        "---",
        "",
        f"# Picochat model ({fmt} export)",
        "",
        f"Exported by Picochat from `{checkpoint}`"
        + (f" (run folder `{root}`)." if root else " (no run folder found: figures not measured)."),
        "",
        "## Model",
        "",
        f"- Llama layout: {c.n_layer} layers, {c.n_head} heads ({c.n_kv_head} key/value), "
        f"width {c.n_embd}, MLP {c.mlp_hidden}, context {c.context_size}, vocab {c.vocab_size}",
        f"- rope theta {_fmt(float(c.rope_theta))}, tied embeddings: {c.tie_embeddings}",
        "",
        "## Training",
        "",
    ]
    for stage in _STAGE_REPORTS:
        if stage in reports:
            lines += _stage_lines(stage, reports[stage])
    if not reports:
        lines += [f"{NOT_MEASURED} (no stage reports found)", ""]
    lines += _eval_lines(root) + _limits(reports, root)
    lines += ["## Use", "", "```", *usage, "```", "", *extra]
    return "\n".join(lines).rstrip() + "\n"
