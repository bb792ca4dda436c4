"""`picochat run tiny` and `picochat compare`: the whole factory, and runs side by side.

`run tiny` exposes every pipeline stage's own flags with the stage's prefix
(`--base-max-steps`, `--sft-learning-rate`, `--tokenizer-type`, `--dpo-beta`, ...),
one argument group per stage declaration (`picochat.stages.registry.PIPELINE`). A flag
not given takes `run tiny`'s default from the declaration (`Stage.run_config`), and
`--help` shows both defaults where they differ.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from picochat import layout
from picochat.cli.console import console
from picochat.cli.options import add_config_arguments, config_from_args, given_values
from picochat.configs.run import GateConfig, RunConfig
from picochat.stages.declaration import Stage
from picochat.stages.registry import PIPELINE


def _own_defaults_notes(stage: Stage) -> dict[str, str]:
    """Each differing flag's help names the stage command's own default."""
    command = f"`picochat {stage.command.group} {stage.command.name}` alone"
    return {
        name: f"{command}: {'unset, see its --help' if own is None else own}"
        for name, (own, _) in stage.differing_defaults().items()
    }


def _run_default(name: str, value: object) -> object:
    """None in a declaration's run defaults: the run-wide flag of the same name applies."""
    return f"the run's --{name}" if value is None else value


def _add_stage_flags(parser: argparse.ArgumentParser, stage: Stage) -> None:
    title = f"{stage.name} stage (`{stage.prefix}` flags)"
    reason = (
        f"run tiny's own defaults: {stage.run_defaults_reason}."
        if stage.run_defaults_reason
        else None
    )
    defaults = {k: _run_default(k, v) for k, v in stage.run_defaults.items()}
    add_config_arguments(
        parser.add_argument_group(title, reason),
        stage.config,
        prefix=stage.prefix,
        include_paths=False,  # the run wires every path from its folder
        enforce_required=False,
        # The run resumes an interrupted stage and restarts a changed one by itself.
        skip=("resume", "force", "accept_changed_config"),
        defaults=defaults,
        unset=True,
        notes=_own_defaults_notes(stage),
    )


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("run", help="Run every stage end to end.")
    sub = group.add_subparsers(dest="run_command", metavar="SUBCOMMAND", required=True)
    tiny = sub.add_parser(
        "tiny",
        help="dataset -> tokenizer -> base -> SFT -> (DPO) -> evals -> gates -> summary.",
        description=(
            "Run every stage into one run folder. With no arguments it runs on the bundled "
            "example pack. Rerunning the same command skips finished stages; an interrupted "
            "stage resumes. Stage flags are the stage commands' own, with a stage prefix."
        ),
    )
    add_config_arguments(tiny, RunConfig)
    add_config_arguments(tiny.add_argument_group("release gates"), GateConfig, prefix="gate-")
    for stage in PIPELINE:
        _add_stage_flags(tiny, stage)
    tiny.set_defaults(handler=_run_tiny)

    compare = commands.add_parser(
        "compare", help="Put runs side by side: configuration differences first, then every figure."
    )
    compare.add_argument("runs", nargs="+", type=Path, help="Run folders written by `run tiny`.")
    compare.add_argument(
        "--out", type=Path, metavar="PATH", help="Also write the comparison as Markdown."
    )
    compare.set_defaults(handler=_compare)


def _run_tiny(args: argparse.Namespace) -> int:
    from picochat.pipeline.run import run_tiny

    settings = {
        stage.name: stage.run_config(**given_values(stage.config, args, prefix=stage.prefix))
        for stage in PIPELINE
    }
    result = run_tiny(
        config_from_args(RunConfig, args),
        config_from_args(GateConfig, args, prefix="gate-"),
        settings,
        say=lambda text: console.print(text, markup=False),
        show_progress=not args.quiet,
    )
    if result.summary is not None:
        console.print(
            f"report: {result.out_dir / layout.SUMMARY_MD} (and {layout.REPORT_HTML})",
            markup=False,
        )
    return 0


def _compare(args: argparse.Namespace) -> int:
    from picochat.artifacts import atomic_write_text
    from picochat.cli.tables import print_blocks
    from picochat.errors import ConfigError
    from picochat.markdown import render
    from picochat.reports.compare import compare_blocks

    if len(args.runs) < 2:
        raise ConfigError(
            "compare needs at least two run folders.", fix="picochat compare runs/a runs/b"
        )
    blocks = compare_blocks(args.runs)
    print_blocks(blocks)
    if args.out:
        atomic_write_text(args.out, render(blocks))
        console.print(f"wrote {args.out}", markup=False)
    return 0
