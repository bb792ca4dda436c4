"""The workbench's view of a runs folder: each run's artifacts, read as they are on disk.

Everything shown comes from a file the run wrote (nothing is computed or invented
here): `stages.json` (what ran and its status), `corpus_manifest.json` and
`corpus_report.md`, `tokenizer_report.json`, each training stage's report and its
`metrics.jsonl` when present (the rows a stage appends while it trains: a run still
training shows its curve as it grows, before the final report exists), eval reports,
`summary.json` (release gates with their evidence) and the `sample.txt` files. A
missing file is reported as missing, with the file name.

Sections follow SPEC §8's order: corpus, tokenizer, base loss curves, memorisation,
SFT, DPO, eval items, release gates, samples.

Not here: HTTP routes (`workbench.py`), comparing runs (`picochat.reports.compare`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.errors import InputError

# The loss-like series a curve may carry, in drawing order.
CURVE_KEYS = ("train_loss", "val_loss", "val_bpb", "loss", "val_rewards/accuracies")
STAGE_REPORTS = {"base": layout.BASE_REPORT, "sft": layout.SFT_REPORT, "dpo": layout.DPO_REPORT}


def read_json(path: Path) -> Any:
    """The parsed file, or None when it is missing or being rewritten (not yet complete)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_text(path: Path, limit: int = 20_000) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:limit]
    except OSError:
        return None


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Rows of a metrics.jsonl; a half-written last line (a stage writing now) is skipped."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return rows
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def run_folder(runs_dir: Path, name: str) -> Path:
    """`runs_dir/name`, refusing names that leave the folder."""
    path = (runs_dir / name).resolve()
    if path.parent != runs_dir.resolve() or not (path / layout.STAGE_RECORDS).is_file():
        raise InputError(f"no run named {name!r} in {runs_dir}.", file=runs_dir)
    return path


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """Every folder of `runs_dir` with a stages.json, newest first."""
    runs = []
    if not runs_dir.is_dir():
        return runs
    for folder in sorted(runs_dir.iterdir()):
        stages = read_json(folder / layout.STAGE_RECORDS) if folder.is_dir() else None
        if not isinstance(stages, dict):
            continue
        summary = read_json(folder / layout.SUMMARY_JSON) or {}
        runs.append(
            {
                "name": folder.name,
                "stages": {name: s.get("status") for name, s in stages.items()},
                "finished": bool(summary),
                "gates": (summary.get("gates") or {}).get("status"),
                "final_model": (summary.get("run") or {}).get("final_model"),
                "modified": (folder / layout.STAGE_RECORDS).stat().st_mtime,
            }
        )
    return sorted(runs, key=lambda r: -r["modified"])


def _training(run: Path, stage: str) -> dict[str, Any]:
    report = read_json(run / stage / STAGE_REPORTS[stage])
    metrics = read_metrics(run / stage / "metrics.jsonl")
    history = (report or {}).get("history") or metrics
    section: dict[str, Any] = {
        "file": f"{stage}/{STAGE_REPORTS[stage]}",
        "written": report is not None,
        "curve": [
            {k: row[k] for k in ("step", *CURVE_KEYS) if row.get(k) is not None} for row in history
        ],
        "curve_source": "report history" if (report or {}).get("history") else "metrics.jsonl",
    }
    if report:
        keep = ("best", "final", "stop_reason", "stop_message", "steps", "dataset", "model")
        section.update({k: report.get(k) for k in keep if k in report})
        for key in ("memorization", "memorization_risk", "diverged", "beta", "metrics_note"):
            if key in report:
                section[key] = report[key]
    return section


def _eval_items(run: Path) -> dict[str, Any]:
    evals = {}
    folder = run / layout.EVAL_DIR
    for path in sorted(folder.glob(f"*/{layout.EVAL_REPORT}")) if folder.is_dir() else []:
        report = read_json(path) or {}
        items = [
            {
                k: item.get(k)
                for k in ("index", "user", "reply", "passed", "level", "category", "reasons")
            }
            for item in report.get("items") or []
        ]
        evals[path.parent.name] = {
            "file": str(path.relative_to(run)),
            "summary": report.get("summary"),
            "ladder": report.get("ladder"),
            "items": items,
        }
    return evals


def run_story(runs_dir: Path, name: str) -> dict[str, Any]:
    """A run's artifacts as sections in SPEC §8's order (see module docstring)."""
    run = run_folder(runs_dir, name)
    stages = read_json(run / layout.STAGE_RECORDS) or {}
    summary = read_json(run / layout.SUMMARY_JSON) or {}
    manifest = read_json(run / layout.CORPUS_MANIFEST) or {}
    base = _training(run, "base")
    sections = [
        {
            "id": "corpus",
            "title": "Corpus",
            "stats": manifest.get("stats"),
            "files": [
                {
                    k: f.get(k)
                    for k in (
                        "path",
                        "label",
                        "included",
                        "reason",
                        "quality_score",
                        "quality_flags",
                    )
                }
                for f in (manifest.get("files") or [])[:200]
            ],
            "report_md": read_text(run / layout.CORPUS_REPORT),
        },
        {
            "id": "tokenizer",
            "title": "Tokenizer",
            "report": read_json(run / layout.TOKENIZER_REPORT),
        },
        {"id": "base", "title": "Base pretraining", **base},
        {"id": "memorization", "title": "Memorisation", "report": base.get("memorization")},
        {"id": "sft", "title": "Chat SFT", **_training(run, "sft")},
        {"id": "dpo", "title": "DPO", **_training(run, "dpo")},
        {"id": "eval", "title": "Eval items", "evals": _eval_items(run)},
        {"id": "gates", "title": "Release gates", **(summary.get("gates") or {})},
        {
            "id": "samples",
            "title": "Samples",
            "samples": {
                stage: read_text(run / stage / layout.SAMPLE) for stage in ("base", "sft", "dpo")
            },
        },
    ]
    statuses = {stage: record.get("status") for stage, record in stages.items()}
    return {
        "name": name,
        "stages": statuses,
        "live": not summary or "running" in statuses.values(),
        "final_model": (summary.get("run") or {}).get("final_model"),
        "sections": sections,
    }
