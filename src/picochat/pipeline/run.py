"""`run tiny`: every stage of the registry in order, into one run folder.

The flow: resolve the inputs, wire every stage's config to the run folder, check
every stage's inputs (nothing trains before all of them pass), then run the stages
in registry order (`picochat.stages.registry.PIPELINE`), with the contamination check
and the preflight plan before the first stage that trains, and the summary last.
`stages.json` records what ran (`records.py`, `jobs.py`), so rerunning the same
command skips finished stages and resumes an interrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.configs.run import GateConfig, RunConfig
from picochat.errors import ConfigError
from picochat.locks import folder_lock
from picochat.pipeline.inputs import resolve_inputs
from picochat.pipeline.jobs import JobRunner, RunInterrupted
from picochat.pipeline.records import StageRecords
from picochat.stages.declaration import Job, RunSpec, Stage
from picochat.stages.registry import PIPELINE

__all__ = ["RunInterrupted", "RunResult", "run_tiny", "stage_settings"]


@dataclass
class RunResult:
    out_dir: Path
    summary: dict[str, Any] | None
    ran: list[str]
    skipped: list[str]
    preflight: dict[str, Any]


def stage_settings(
    given: Mapping[str, Any] | None = None, *, device: str = "auto"
) -> dict[str, Any]:
    """Every pipeline stage's config: those given, `run tiny`'s defaults for the rest;
    `device` (the run's --device) wherever a stage's own --STAGE-device was not given."""
    given = given or {}
    configs = {s.name: given.get(s.name) or s.run_config() for s in PIPELINE}
    return {
        name: replace(c, device=device) if getattr(c, "device", "") is None else c
        for name, c in configs.items()
    }


def _work(stage: Stage, run: RunSpec, show_progress: bool) -> Callable[[Any], Path | None]:
    def work(config: Any) -> Path | None:
        result = stage.run(config, show_progress)
        # Training stages return (not raise) when Ctrl-C stopped them; the run stops too.
        if getattr(result, "stop_reason", None) == "interrupted":
            raise KeyboardInterrupt(stage.name)
        return stage.recorded(result, config, run)

    return work


def _plan_jobs(
    run: RunSpec, settings: Mapping[str, Any]
) -> tuple[RunSpec, list[Stage], dict[str, list[Job]]]:
    """The stages this run has, the final model, and every job wired and checked."""
    active = [s for s in PIPELINE if s.enabled is None or s.enabled(run)]
    run = replace(run, final=[s.name for s in active if s.chat_model][-1])
    jobs = {s.name: s.jobs(settings[s.name], run) for s in active}
    for stage in active:  # every input checked before anything trains
        for job in jobs[stage.name]:
            if stage.validate is not None:
                stage.validate(job.config, run)
    return run, active, jobs


def run_tiny(
    run: RunConfig,
    gates: GateConfig | None = None,
    settings: Mapping[str, Any] | None = None,
    *,
    say: Callable[[str], None] = print,
    show_progress: bool = True,
) -> RunResult:
    """Run every stage into `run.out_dir` (locked meanwhile); returns what ran and the summary.

    `settings` maps a stage name to its config (path fields are wired here); a stage
    not named gets `run tiny`'s defaults (`stage_settings`).
    """
    root = Path(run.out_dir).resolve()
    if root.exists() and not root.is_dir():
        raise ConfigError(
            "--out-dir is an existing file, not a folder.",
            file=root,
            fix="Pass a folder path to --out-dir (it is created if missing).",
        )
    with folder_lock(root):
        return _run_locked(root, run, gates or GateConfig(), settings, say, show_progress)


def _run_locked(
    root: Path,
    run: RunConfig,
    gates: GateConfig,
    given: Mapping[str, Any] | None,
    say: Callable[[str], None],
    show_progress: bool,
) -> RunResult:
    from picochat.pipeline import checks, finish  # import torch; keep `--help` fast

    settings = stage_settings(given, device=run.device)
    inputs = resolve_inputs(run, allow_outside=settings["corpus"].allow_outside_pack)
    spec = RunSpec(root=root, inputs=inputs, seed=run.seed, dpo_steps=run.dpo_steps)
    spec, active, jobs = _plan_jobs(spec, settings)
    runner = JobRunner(root, StageRecords.load(root), say, force=run.force)
    for stage in PIPELINE:
        if stage not in active:
            runner.records.drop(stage.name)
    plan: dict[str, Any] | None = None
    for stage in active:
        if stage.trains and plan is None:
            leaks = checks.contamination(spec, allow_leaky_eval=run.allow_leaky_eval, say=say)
            plan = checks.preflight(runner, spec, active, jobs, leaks, show_progress=show_progress)
            if run.preflight_only:
                say(f"preflight only: plan written to {root / layout.PREFLIGHT}")
                return RunResult(root, None, runner.ran, runner.skipped, plan)
        for job in jobs[stage.name]:
            runner.run(job, _work(stage, spec, show_progress), resumable=stage.trains)
    summary = finish.summarize(
        spec, active, settings, run, gates, runner.records.records, leaks, plan
    )
    say(f"gates: {summary['gates']['status']}; summary: {root / layout.SUMMARY_MD}")
    return RunResult(root, summary, runner.ran, runner.skipped, plan or {})
