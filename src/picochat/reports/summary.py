"""The run summary: `summary.json`, `summary.md` and a self-contained `report.html`.

Every figure is copied from a stage report (never recomputed or rounded here), so the
summary and the stage reports cannot disagree; `artifacts` lists where each came from.
The Markdown follows SPEC §8's reading order: corpus -> tokenizer -> base -> base
memorisation -> SFT -> (DPO) -> eval -> ladder -> samples, then gates and stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import json_text, write_text_if_changed
from picochat.configs.run import GateConfig
from picochat.reports.gates import GateEvidence, evaluate_gates
from picochat.reports.html import markdown_to_html
from picochat.reports.summary_markdown import render_summary


def _gate_evidence(evals: dict[str, dict], leaks: list[dict], allow: bool) -> GateEvidence:
    """Gate inputs from the eval reports; each value names the report it came from."""
    values: dict[str, float | None] = {}
    sources: dict[str, str] = {}
    heldout = evals.get("heldout")
    if heldout:
        s = heldout["summary"]
        for gate, key in (
            ("heldout_pass_rate", "pass_rate"),
            ("prompt_echo_rate", "prompt_echo_rate"),
            ("unsupported_claim_rate", "unsupported_claim_rate"),
        ):
            values[gate] = s.get(key)
            sources[gate] = f"{layout.eval_report('heldout')} summary.{key}"
        refusals = [i for i in heldout["items"] if i.get("answerable") is False]
        if refusals:
            values["refusal_pass_rate"] = sum(i["passed"] for i in refusals) / len(refusals)
            sources["refusal_pass_rate"] = (
                f"{len(refusals)} held-out items with answerable=false in {layout.eval_report('heldout')}"
            )
        else:
            sources["refusal_pass_rate"] = "the held-out eval has no answerable=false items"
    fit = evals.get("sft_fit")
    if fit:
        values["sft_fit_pass_rate"] = fit["summary"].get("pass_rate")
        sources["sft_fit_pass_rate"] = f"{layout.eval_report('sft_fit')} summary.pass_rate"
    return GateEvidence(values=values, sources=sources, leaked_items=leaks, allow_leaky_eval=allow)


@dataclass(frozen=True)
class RunSummary:
    """What the summary is made of, gathered by the pipeline from the stage declarations.

    `data_sections` and `model_sections` map a stage name to what its declaration
    takes from its report (None: not run); the preflight plan and the contamination
    check sit between them, where the run does them.
    """

    root: Path
    inputs: dict[str, str | None]
    final_model: str
    settings: dict[str, Any]
    records: dict[str, dict[str, Any]]
    data_sections: dict[str, Any]
    model_sections: dict[str, Any]
    plan: dict[str, Any]
    leaked_items: list[dict[str, Any]]
    contamination_method: str
    allow_leaky_eval: bool
    eval_reports: dict[str, dict[str, Any]]
    gates: GateConfig


def write_summary(run: RunSummary) -> dict[str, Any]:
    """Write summary.json, summary.md and report.html of `run`; returns summary.json's data."""
    evidence = _gate_evidence(run.eval_reports, run.leaked_items, run.allow_leaky_eval)
    records = run.records
    summary = {
        "run": {"out_dir": str(run.root), "inputs": run.inputs, "final_model": run.final_model},
        # Settings only (compare diffs them); where the inputs live is under "run" above.
        "settings": run.settings,
        "stages": {
            name: {k: rec.get(k) for k in ("status", "wall_seconds", "report", "fingerprint")}
            for name, rec in records.items()
        },
        "wall_seconds": round(sum(r.get("wall_seconds") or 0.0 for r in records.values()), 3),
        **run.data_sections,
        "preflight": run.plan,
        "contamination": {"leaked_items": run.leaked_items, "method": run.contamination_method},
        **run.model_sections,
        "gates": evaluate_gates(run.gates, evidence),
        "artifacts": _artifacts(run.root),
    }
    root = run.root
    write_text_if_changed(root / layout.SUMMARY_JSON, json_text(summary))
    markdown = render_summary(summary, run.eval_reports, root)
    write_text_if_changed(root / layout.SUMMARY_MD, markdown)
    html = markdown_to_html(markdown, base=root, title="Picochat run summary")
    write_text_if_changed(root / layout.REPORT_HTML, html)
    return summary


def _artifacts(root: Path) -> dict[str, str]:
    """Every artifact of the run, relative to the run folder."""
    written_last = (layout.SUMMARY_JSON, layout.SUMMARY_MD, layout.REPORT_HTML)
    found = {n: n for n in layout.RUN_FILES if (root / n).exists() or n in written_last}
    for stage in layout.STAGE_DIRS:
        folder = root / stage
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                hidden = path.name.startswith(".")  # the folder lock: not an artifact
                if path.is_file() and not hidden and path.parent.name not in layout.CHECKPOINT_DIRS:
                    found[str(path.relative_to(root))] = str(path.relative_to(root))
            for ck in layout.CHECKPOINT_DIRS:
                if (folder / ck).is_dir():
                    found[f"{stage}/{ck}/"] = f"{stage}/{ck}"
    return found
