"""`run tiny`: dataset -> tokenizer -> base -> SFT -> (DPO) -> evals -> gates -> summary.

Each stage gets its paths from the run folder and its settings from `StageSettings`;
`stages.json` records what ran (see `records.py`), so rerunning the same command
skips finished stages and resumes an interrupted one. The contamination check and
the preflight plan come before any training.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import atomic_write_json, recover_dir, report_header
from picochat.configs.run import GateConfig, RunConfig
from picochat.errors import ConfigError, PicochatError
from picochat.locks import folder_lock
from picochat.pipeline.inputs import RunInputs, resolve_inputs
from picochat.pipeline.records import (
    COMPLETE,
    FAILED,
    INTERRUPTED,
    StageRecords,
    fingerprint,
)
from picochat.pipeline.settings import StageSettings


class RunInterrupted(PicochatError):
    """Ctrl-C or SIGTERM stopped a stage; its checkpoint is saved and a rerun resumes."""

    exit_code = 130


@dataclass
class RunResult:
    out_dir: Path
    summary: dict[str, Any] | None
    ran: list[str]
    skipped: list[str]
    preflight: dict[str, Any]


@dataclass
class RunContext:
    root: Path
    run: RunConfig
    settings: StageSettings
    inputs: RunInputs
    records: StageRecords
    say: Callable[[str], None]
    show_progress: bool
    fingerprints: dict[str, str] = dataclasses.field(default_factory=dict)
    ran: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)

    def seeded(self, config: Any) -> Any:
        """The run's seed unless the stage's own seed flag was given."""
        if getattr(config, "seed", 0) is None:
            return replace(config, seed=self.run.seed)
        return config

    def stage(
        self,
        name: str,
        config: Any,
        work: Callable[[Any], Path | None],
        *,
        files: dict[str, Path | None] | None = None,
        upstream: tuple[str, ...] = (),
        resumable: bool = False,
    ) -> None:
        """Run `work(config)` unless the stage is done with the same fingerprint."""
        fp = fingerprint(
            name, config, self.root, files, {u: self.fingerprints[u] for u in upstream}
        )
        self.fingerprints[name] = fp
        if not self.run.force and self.records.is_done(name, fp):
            self.skipped.append(name)
            self.say(f"[{name}] unchanged since the last run: skipped")
            return
        resume = resumable and not self.run.force and self.records.can_resume(name, fp)
        if resume and has_resume_state(config.out_dir):
            config = replace(config, resume=True)
            self.say(f"[{name}] resuming from its checkpoint")
        else:
            if resume:  # e.g. killed before its first periodic checkpoint
                self.say(f"[{name}] restarting: its interrupted attempt left no checkpoint")
            else:
                self.say(f"[{name}] running")
            resume = False
            if hasattr(config, "force"):  # the run owns its stage folders: restart them clean
                config = replace(config, force=True)
        self.records.start(name, fp, resume=resume)
        started = time.perf_counter()
        try:
            report = work(config)
        except KeyboardInterrupt:
            self.records.finish(name, INTERRUPTED, time.perf_counter() - started, None)
            raise RunInterrupted(
                f"`{name}` was interrupted.", fix="Rerun the same command to resume."
            ) from None
        except BaseException:
            self.records.finish(name, FAILED, time.perf_counter() - started, None)
            raise
        self.records.finish(name, COMPLETE, time.perf_counter() - started, report)
        self.ran.append(name)


def has_resume_state(out_dir: Path | None) -> bool:
    """Whether a training stage's folder holds a checkpoint it can resume from."""
    from picochat.model.checkpoint import TRAINING_STATE_FILE  # imports torch
    from picochat.training.loop import CHECKPOINT_DIR

    if out_dir is None:
        return False
    folder = Path(out_dir) / CHECKPOINT_DIR
    recover_dir(folder)  # a crash between a save's two renames
    return (folder / TRAINING_STATE_FILE).is_file()


def stop_if_interrupted(stage: str, result: Any) -> None:
    """Training stages return (not raise) when Ctrl-C stopped them; the run stops too."""
    if getattr(result, "stop_reason", None) == "interrupted":
        raise KeyboardInterrupt(stage)


def run_tiny(
    run: RunConfig,
    gates: GateConfig | None = None,
    settings: StageSettings | None = None,
    *,
    say: Callable[[str], None] = print,
    show_progress: bool = True,
) -> RunResult:
    """Run every stage into `run.out_dir` (locked meanwhile); returns what ran and the summary."""
    root = Path(run.out_dir).resolve()
    if root.exists() and not root.is_dir():
        raise ConfigError(
            "--out-dir is an existing file, not a folder.",
            file=root,
            fix="Pass a folder path to --out-dir (it is created if missing).",
        )
    with folder_lock(root):
        return _run_locked(root, run, gates, settings, say, show_progress)


def _run_locked(root, run, gates, settings, say, show_progress) -> RunResult:
    from picochat.pipeline import stages  # imports torch; keep `--help` fast
    from picochat.pipeline.validate import check_before_training

    ctx = RunContext(
        root=root,
        run=run,
        settings=(settings or StageSettings()).on_device(run.device),
        inputs=resolve_inputs(
            run, allow_outside=(settings or StageSettings()).corpus.allow_outside_pack
        ),
        records=StageRecords.load(root),
        say=say,
        show_progress=show_progress,
    )
    gates = gates or GateConfig()
    stages.corpus(ctx)
    stages.tokenizer(ctx)
    check_before_training(ctx)  # every later stage's inputs and flags, before base trains
    contamination = stages.contamination(ctx)
    preflight = stages.preflight(ctx, contamination)
    if run.preflight_only:
        say(f"preflight only: plan written to {root / layout.PREFLIGHT}")
        return RunResult(root, None, ctx.ran, ctx.skipped, preflight)
    stages.base(ctx)
    stages.sft(ctx)
    final = stages.dpo(ctx) or "sft"
    evals = stages.evals(ctx, final)
    summary = stages.summarize(ctx, gates, contamination, preflight, evals, final)
    return RunResult(root, summary, ctx.ran, ctx.skipped, preflight)


def write_stage_report(
    path: Path,
    config: Any,
    body: dict[str, Any],
    *,
    inputs: dict[str, str],
    seed: int | None,
    wall_seconds: float,
) -> Path:
    """A small stage report for stages whose own command writes none (tokenizer, preflight)."""
    header = report_header(config, inputs=inputs, seed=seed, wall_seconds=wall_seconds)
    return atomic_write_json(path, {**header, **body})
