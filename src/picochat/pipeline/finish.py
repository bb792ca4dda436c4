"""The end of `run tiny`: each stage's part of the summary, then the summary files.

Walks the registry: every stage that ran gives what its declaration takes from its
report (`Stage.summarize`); `picochat.reports.summary` writes summary.json, summary.md
and report.html from those typed values and the gates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from picochat import layout
from picochat.artifacts import to_jsonable
from picochat.configs.run import GateConfig, RunConfig
from picochat.data.contamination import ContaminationReport
from picochat.reports.summary import RunSummary, write_summary
from picochat.stages.declaration import RunSpec, Stage
from picochat.stages.registry import PIPELINE


def summarize(
    run: RunSpec,
    active: Sequence[Stage],
    settings: Mapping[str, Any],
    config: RunConfig,
    gates: GateConfig,
    records: dict[str, dict[str, Any]],
    leaks: ContaminationReport,
    plan: dict[str, Any],
) -> dict[str, Any]:
    """Gather every stage report of `run` into the summary files; returns summary.json."""
    reports = {s.name: s.read_report(run) if s in active else None for s in PIPELINE}
    sections = {s.name: s.summary_part(reports[s.name], run) for s in PIPELINE}
    first_trained = next(i for i, s in enumerate(PIPELINE) if s.trains)
    run_settings = {
        f.name: to_jsonable(getattr(config, f.name))
        for f in fields(config)
        if not f.metadata.get("path")
    }
    summary = RunSummary(
        root=run.root,
        inputs={k: str(v) if v else None for k, v in run.inputs.files().items()},
        final_model=f"{run.final}/{layout.CHECKPOINT}",
        settings={
            "run": run_settings,
            "gates": to_jsonable(gates),
            **{name: to_jsonable(cfg) for name, cfg in settings.items()},
        },
        records=records,
        data_sections={s.name: sections[s.name] for s in PIPELINE[:first_trained]},
        model_sections={s.name: sections[s.name] for s in PIPELINE[first_trained:]},
        plan=plan,
        leaked_items=leaks.leaked_items,
        contamination_method=leaks.method,
        allow_leaky_eval=config.allow_leaky_eval,
        eval_reports=reports["eval"] or {},
        gates=gates,
    )
    return write_summary(summary)
