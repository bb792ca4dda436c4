"""The run summary: `summary.json`, `summary.md` and a self-contained `report.html`.

Every figure is copied from a stage report (never recomputed or rounded here), so the
summary and the stage reports cannot disagree; `artifacts` lists where each came from.
The Markdown follows SPEC §8's reading order: corpus -> tokenizer -> base -> base
memorisation -> SFT -> (DPO) -> eval -> ladder -> samples, then gates and stages.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import json_text, to_jsonable, write_text_if_changed
from picochat.reports.gates import GateEvidence, evaluate_gates
from picochat.reports.html import markdown_to_html
from picochat.reports.summary_markdown import render_summary


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _pick(report: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    return None if report is None else {k: report.get(k) for k in keys}


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


def _tokenizer_example(root: Path, text: str) -> dict[str, Any]:
    from picochat.tokenizer import load_tokenizer

    tok = load_tokenizer(root / layout.TOKENIZER)
    ids = tok.encode(text)
    return {"text": text, "ids": ids, "tokens": [tok.decode([i]) for i in ids]}


def _first_sentence(corpus: Path, limit: int = 60) -> str:
    with open(corpus, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip().lstrip("#").strip()
            if len(line) > 20:
                return line[:limit]
    return "Hello"


def write_summary(
    ctx: Any,
    gates_config: Any,
    leaks: Any,
    plan: dict[str, Any],
    eval_paths: dict[str, Path],
    final: str,
) -> dict[str, Any]:
    """Gather every stage report of the run in `ctx` into the summary files."""
    root: Path = ctx.root
    manifest = _read(root / layout.CORPUS_MANIFEST) or {}
    tok_report = _read(root / layout.TOKENIZER_REPORT) or {}
    base = _read(root / layout.BASE_DIR / layout.BASE_REPORT)
    sft = _read(root / layout.SFT_DIR / layout.SFT_REPORT)
    dpo = _read(root / layout.DPO_DIR / layout.DPO_REPORT) if final == "dpo" else None
    evals = {name: _read(path) for name, path in eval_paths.items()}
    evals = {k: v for k, v in evals.items() if v is not None}
    gates = evaluate_gates(
        gates_config, _gate_evidence(evals, leaks.leaked_items, ctx.run.allow_leaky_eval)
    )
    records = ctx.records.records
    summary = {
        "run": {
            "out_dir": str(root),
            "inputs": {k: str(v) if v else None for k, v in ctx.inputs.files().items()},
            "final_model": f"{final}/{layout.CHECKPOINT}",
        },
        # Settings only (compare diffs them); where the inputs live is under "run" above.
        "settings": {
            "run": {
                f.name: to_jsonable(getattr(ctx.run, f.name))
                for f in fields(ctx.run)
                if not f.metadata.get("path")
            },
            "gates": to_jsonable(gates_config),
            **{name: to_jsonable(cfg) for name, cfg in ctx.settings.as_dict().items()},
        },
        "stages": {
            name: {k: rec.get(k) for k in ("status", "wall_seconds", "report", "fingerprint")}
            for name, rec in records.items()
        },
        "wall_seconds": round(sum(r.get("wall_seconds") or 0.0 for r in records.values()), 3),
        "corpus": {**manifest.get("stats", {}), "corpus_sha256": manifest.get("corpus_sha256")},
        "tokenizer": {
            **{
                k: tok_report.get(k)
                for k in ("type", "vocab_size", "bytes_per_token", "corpus_tokens")
            },
            "example": _tokenizer_example(root, _first_sentence(root / layout.CORPUS)),
        },
        "preflight": plan,
        "contamination": {"leaked_items": leaks.leaked_items, "method": leaks.method},
        "base": _pick(
            base,
            (
                "model",
                "dataset",
                "final",
                "best",
                "recommended_checkpoint",
                "stop_reason",
                "tokens_seen",
                "dataset_passes",
                "memorization",
                "sample",
                "throughput",
            ),
        ),
        "sft": _pick(
            sft,
            (
                "dataset",
                "final",
                "best",
                "stop_reason",
                "diverged",
                "memorization_risk",
                "peft",
                "sample",
            ),
        ),
        "dpo": _pick(dpo, ("dataset", "best", "stop_reason", "beta", "reference", "final")),
        "eval": {
            name: {
                "summary": r["summary"],
                "ladder": r.get("ladder"),
                "report": layout.eval_report(name),
            }
            for name, r in evals.items()
        },
        "gates": gates,
        "artifacts": _artifacts(root),
    }
    if dpo is not None and dpo.get("history"):
        summary["dpo"]["last"] = dpo["history"][-1]
    write_text_if_changed(root / layout.SUMMARY_JSON, json_text(summary))
    markdown = render_summary(summary, evals, root)
    write_text_if_changed(root / layout.SUMMARY_MD, markdown)
    write_text_if_changed(
        root / layout.REPORT_HTML,
        markdown_to_html(markdown, base=root, title="Picochat run summary"),
    )
    return summary


def _artifacts(root: Path) -> dict[str, str]:
    """Every artifact of the run, relative to the run folder."""
    written_last = (layout.SUMMARY_JSON, layout.SUMMARY_MD, layout.REPORT_HTML)
    found = {n: n for n in layout.RUN_FILES if (root / n).exists() or n in written_last}
    for stage in layout.STAGE_DIRS:
        folder = root / stage
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and path.parent.name not in layout.CHECKPOINT_DIRS:
                    found[str(path.relative_to(root))] = str(path.relative_to(root))
            for ck in layout.CHECKPOINT_DIRS:
                if (folder / ck).is_dir():
                    found[f"{stage}/{ck}/"] = f"{stage}/{ck}"
    return found
