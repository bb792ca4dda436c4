"""`picochat compare`: runs side by side, configuration differences first.

The loop this supports is "one change, rerun, compare": the first table lists every
setting that differs between the runs (and nothing that does not), then the figures
follow in the summary's reading order: losses, BPB, memorisation, eval pass rates by
eval and ladder level, gates. Values come from each run's `summary.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.data.pack import read_json_file
from picochat.errors import InputError
from picochat.markdown import Block, Heading, Paragraph, Table, pct

# (row label, path into summary.json, formatter)
FIGURES: tuple[tuple[str, tuple[str, ...], Any], ...] = (
    ("base final train loss", ("base", "final", "train_loss"), None),
    ("base final val loss", ("base", "final", "val_loss"), None),
    ("base final val BPB", ("base", "final", "val_bpb"), None),
    ("base best val BPB", ("base", "best", "val_bpb"), None),
    ("base gap (val - train)", ("base", "final", "gap"), None),
    ("base dataset passes", ("base", "dataset_passes"), None),
    ("base train copy rate", ("base", "memorization", "train_copy_rate"), pct),
    ("base held-out overlap", ("base", "memorization", "heldout_overlap"), pct),
    ("base memorisation risk", ("base", "memorization", "risk"), None),
    ("SFT final val loss", ("sft", "final", "val_loss"), None),
    ("SFT gap (val - train)", ("sft", "final", "gap"), None),
    ("SFT memorisation verdict", ("sft", "memorization_risk", "verdict"), None),
    ("gates", ("gates", "status"), None),
)


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def load_summary(run: Path) -> dict[str, Any]:
    path = Path(run) / layout.SUMMARY_JSON
    if not path.is_file():
        raise InputError(
            f"{run} has no summary.json.",
            file=path,
            fix="Compare folders written by `picochat run tiny` (finished runs).",
        )
    summary = read_json_file(path, layout.SUMMARY_JSON)
    if not isinstance(summary, dict):
        raise InputError(
            "summary.json is not a JSON object.",
            file=path,
            fix="Rerun `picochat run tiny` on that folder to rewrite its summary.",
        )
    return summary


def compare_blocks(runs: list[Path]) -> list[Block]:
    """Report blocks comparing `runs` (at least two)."""
    summaries = [load_summary(r) for r in runs]
    names = [Path(r).name or str(r) for r in runs]
    # Inputs are part of what a run was told to do: a different file is a difference too.
    flat = [
        _flatten({**s.get("settings", {}), "inputs": (s.get("run") or {}).get("inputs", {})})
        for s in summaries
    ]
    keys = sorted(set().union(*flat))
    differing = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
    blocks: list[Block] = [
        Heading("Picochat run comparison", 1),
        Heading("Configuration differences"),
    ]
    if differing:
        blocks.append(
            Table(["setting", *names], [[k, *(f.get(k) for f in flat)] for k in differing])
        )
    else:
        blocks.append(Paragraph("The runs have identical settings."))
    rows = []
    for label, path, formatter in FIGURES:
        values = [_get(s, path) for s in summaries]
        rows.append([label, *(formatter(v) if formatter else v for v in values)])
    eval_names = sorted({n for s in summaries for n in (s.get("eval") or {})})
    for name in eval_names:
        rows.append(
            [
                f"eval {name} pass rate",
                *(pct(_get(s, ("eval", name, "summary", "pass_rate"))) for s in summaries),
            ]
        )
        levels = sorted(
            {lvl for s in summaries for lvl in (_get(s, ("eval", name, "ladder")) or {})}
        )
        for level in levels:
            rows.append(
                [
                    f"  {name} / {level}",
                    *(
                        pct(_get(s, ("eval", name, "ladder", level, "pass_rate")))
                        for s in summaries
                    ),
                ]
            )
    blocks += [Heading("Figures"), Table(["figure", *names], rows)]
    return blocks
