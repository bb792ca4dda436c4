"""What one stage declares: the single home of everything the tree needs to know about it.

A `Stage` names its config class and flag prefix, `run tiny`'s defaults where they
differ on purpose (and why), its own command and the function that runs it, its
output folder and report, the stages it needs, how it checks its inputs before
anything trains, how preflight estimates it, what the summary takes from its report
and how the console prints its result. The CLI (`picochat.cli`), `run tiny`
(`picochat.pipeline`), preflight and the summary iterate over these declarations.

Not for: the stage's work (data/, tokenizer/, training/, evaluation/, hf/) nor the
order of stages (`picochat.stages.registry`).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.markdown import fmt

# Exit code of a run stopped by Ctrl-C/SIGTERM (after saving), as the shell's 128 + SIGINT.
EXIT_INTERRUPTED = 130
# `run tiny`'s run-wide flags: a stage's own (--base-seed, --sft-device) is unset there
# unless given, so the run's applies (`seeded`; `picochat.pipeline.run.stage_settings`).
RUN_WIDE = ("seed", "device")


@dataclass(frozen=True)
class RunInputs:
    """The input files of a run (`picochat.pipeline.inputs` resolves and checks them)."""

    pack: Path | None
    corpus_input: Path | None
    chat: Path
    eval: Path
    preferences: Path | None
    external_evals: dict[str, Path]

    def files(self) -> dict[str, Path | None]:
        """Every input file by role (folders excluded: the corpus stage hashes those)."""
        files = {
            "pack": self.pack,
            "chat": self.chat,
            "eval": self.eval,
            "preferences": self.preferences,
        }
        return files | {f"external:{n}": p for n, p in self.external_evals.items()}

    def eval_sets(self) -> dict[str, Path]:
        """The eval sets scored on the final model besides the SFT-fit one."""
        return {"heldout": self.eval, **self.external_evals}


@dataclass(frozen=True)
class RunSpec:
    """What a stage reads of the run it is part of: its folder, inputs and run-wide flags."""

    root: Path
    inputs: RunInputs
    seed: int
    dpo_steps: int | None = None
    final: str = "sft"  # the stage whose checkpoint the evals score

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage


@dataclass(frozen=True)
class Job:
    """One recorded unit of `run tiny`: a stage, or one eval set of the eval stage."""

    name: str
    config: Any
    files: dict[str, Path | None] = field(default_factory=dict)
    upstream: tuple[str, ...] = ()


@dataclass(frozen=True)
class Command:
    """The stage's own command: `picochat GROUP NAME`."""

    group: str
    name: str
    help: str
    skip: tuple[str, ...] = ()
    epilog: Callable[[], str] | None = None  # text after the flags in --help (kept as written)


@dataclass
class Plan:
    """The preflight plan as the stages fill it in, in pipeline order.

    `facts` become the plan's top-level keys; the base stage's estimate sets the
    figures later stages scale from (`context`, `seconds_per_token`).
    """

    root: Path
    inputs: RunInputs
    show_progress: bool = True
    facts: dict[str, Any] = field(default_factory=dict)
    passes: dict[str, float] = field(default_factory=dict)
    eta: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    probe: dict[str, Any] = field(default_factory=dict)
    tokenizer: Any = None
    context: int = 0
    seconds_per_token: float = 0.0
    seconds_per_chat_sequence: float = 0.0


def runner(module: str, function: str, *, progress: bool = False, **kwargs: Any) -> Callable:
    """The stage's function, named here and imported when it runs (no torch at import).

    The call is `function(config, **kwargs)`, plus `show_progress` when `progress`.
    """

    def run(config: Any, show_progress: bool = True) -> Any:
        work = getattr(importlib.import_module(module), function)
        extra = {"show_progress": show_progress} if progress else {}
        return work(config, **kwargs, **extra)

    run.__qualname__ = f"runner({module}.{function})"
    return run


def seeded(config: Any, seed: int) -> Any:
    """The run's seed unless the stage's own seed flag was given (None: not given)."""
    if getattr(config, "seed", 0) is None:
        return replace(config, seed=seed)
    return config


def final_line(report: dict[str, Any], extra: str) -> str:
    """Where a training stage stopped and its last evaluation (which may be earlier:
    Ctrl-C at step 15 with --eval-every 50 stops at 15 and was last evaluated at 0)."""
    final = report["final"]
    steps = report.get("steps", final["step"])
    evaluated = "" if final["step"] == steps else f"; last evaluation at step {final['step']}"
    return (
        f"final step {steps}{evaluated}: train loss {fmt(final['train_loss'])}, "
        f"val loss {fmt(final['val_loss'])}, {extra}"
    )


@dataclass(frozen=True)
class Stage:
    """One stage, declared once. Hooks left None mean "nothing to do" for that part."""

    name: str
    config: type
    command: Command
    run: Callable[[Any, bool], Any]  # (config, show_progress) -> the stage's result
    # the result for the console: lines, or report blocks (`picochat.markdown`)
    describe: Callable[[Any], list[Any]]
    prefix: str = ""  # `run tiny`'s flag prefix (--base-max-steps); default: the name and "-"
    folder: str | None = None  # sub-folder of a run (None: the run folder itself)
    report: str | None = None  # the report file in `folder`
    # `run tiny`'s defaults where they differ from the config's on purpose, and why
    # (the RUN_WIDE flags are added: None, the run's own).
    run_defaults: Mapping[str, Any] = field(default_factory=dict)
    run_defaults_reason: str = ""
    needs: tuple[str, ...] = ()
    # preflight runs before the first stage that trains; an interrupted one resumes from
    # its checkpoint when the run is started again
    trains: bool = False
    chat_model: bool = False  # its checkpoint can be the final (evaluated) model
    in_run: bool = True  # part of `run tiny`
    # (config, run) -> config with every path filled in from the run folder
    wire: Callable[[Any, RunSpec], Any] | None = None
    # (wired config, run) -> input files whose contents the stage's fingerprint depends on
    files: Callable[[Any, RunSpec], dict[str, Path | None]] | None = None
    # (run) -> is the stage part of this run (DPO only with preference pairs)
    enabled: Callable[[RunSpec], bool] | None = None
    # (job config, run) -> raise a PicochatError before anything trains
    validate: Callable[[Any, RunSpec], None] | None = None
    # (result, config, run) -> the report file recorded in stages.json
    # (default: the result's `report_path`)
    record: Callable[[Any, Any, RunSpec], Path | None] | None = None
    # (job config, plan) -> add this stage's figures, ETA and warnings to the preflight plan
    estimate: Callable[[Any, Plan], None] | None = None
    # (run) -> the stage's report(s) as written (default: the JSON at `report_path`)
    read: Callable[[RunSpec], Any] | None = None
    # what summary.json keeps of the stage's report: these keys, or a function
    summary_keys: tuple[str, ...] = ()
    summarize: Callable[[Any, RunSpec], Any] | None = None  # (report, run) -> its part
    # (config, run) -> several jobs instead of one (the eval stage: one per eval set)
    fan_out: Callable[[Any, RunSpec], list[Job]] | None = None

    def __post_init__(self) -> None:
        # frozen: the derived fields are set once, here
        if not self.prefix:
            object.__setattr__(self, "prefix", f"{self.name}-")
        own = {f.name for f in dataclasses.fields(self.config)}
        run_wide = {k: None for k in RUN_WIDE if k in own and k not in self.run_defaults}
        if self.in_run and run_wide:
            object.__setattr__(self, "run_defaults", {**self.run_defaults, **run_wide})

    def run_config(self, **given: Any) -> Any:
        """The stage config of `run tiny`: its run defaults, then the flags given."""
        return self.config(**{**self.run_defaults, **given})

    def jobs(self, config: Any, run: RunSpec) -> list[Job]:
        """The recorded jobs of this stage in `run`, configs wired to the run folder."""
        if self.fan_out is not None:
            return self.fan_out(config, run)
        wired = seeded(self.wire(config, run) if self.wire else config, run.seed)
        files = self.files(wired, run) if self.files else {}
        return [Job(self.name, wired, files, self.needs)]

    def report_path(self, root: Path) -> Path | None:
        """Where this stage's report lies in the run folder at `root`."""
        if self.report is None:
            return None
        return (root / self.folder if self.folder else root) / self.report

    def read_report(self, run: RunSpec) -> Any:
        """The stage's report(s) in `run`, None when it has not written one."""
        if self.read is not None:
            return self.read(run)
        path = self.report_path(run.root)
        return json.loads(path.read_text()) if path is not None and path.is_file() else None

    def recorded(self, result: Any, config: Any, run: RunSpec) -> Path | None:
        """The report file of a finished job, for stages.json."""
        if self.record is not None:
            return self.record(result, config, run)
        return getattr(result, "report_path", None)

    def summary_part(self, report: Any, run: RunSpec) -> Any:
        """What summary.json keeps of the stage's report (None when there is none)."""
        if report is None:
            return None
        if self.summarize is not None:
            return self.summarize(report, run)
        return {k: report.get(k) for k in self.summary_keys} if self.summary_keys else None

    def exit_code(self, result: Any) -> int:
        return EXIT_INTERRUPTED if getattr(result, "stop_reason", None) == "interrupted" else 0

    def differing_defaults(self) -> dict[str, tuple[Any, Any]]:
        """field -> (the command's default, run tiny's default), where they differ."""
        own = {f.name: f.default for f in dataclasses.fields(self.config)}
        return {k: (own.get(k), v) for k, v in self.run_defaults.items() if own.get(k) != v}


def checkpoint_of(run: RunSpec, stage: str, *, best: bool = False) -> Path:
    """A stage's (best) checkpoint folder in the run."""
    return run.stage_dir(stage) / (layout.BEST_CHECKPOINT if best else layout.CHECKPOINT)
