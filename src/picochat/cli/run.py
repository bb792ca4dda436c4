"""`picochat run tiny` and `picochat compare`: the whole factory, and runs side by side.

`run tiny` exposes every stage's own flags with a stage prefix (`--base-max-steps`,
`--sft-learning-rate`, `--tokenizer-type`, `--dpo-beta`, ...), built from the stage
configs by `add_config_arguments`, with `run tiny`'s smaller defaults.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from picochat import layout
from picochat.cli.console import console
from picochat.cli.options import add_config_arguments, config_from_args
from picochat.configs.run import RUN_TINY_DEFAULTS, GateConfig, RunConfig


def register(commands: argparse._SubParsersAction) -> None:
    from picochat.pipeline.settings import STAGE_FLAGS

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
    for stage, (config_cls, prefix) in STAGE_FLAGS.items():
        add_config_arguments(
            tiny.add_argument_group(f"{stage} stage (`{prefix}` flags)"),
            config_cls,
            prefix=prefix,
            include_paths=False,
            enforce_required=False,
            # The run resumes an interrupted stage and restarts a changed one by itself.
            skip=("resume", "force", "accept_changed_config"),
            defaults=RUN_TINY_DEFAULTS.get(stage),
        )
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
    from picochat.pipeline.settings import STAGE_FLAGS, StageSettings

    settings = StageSettings(
        **{
            # Path fields are the run's to wire (and --dpo-input is the run's own flag).
            stage: config_from_args(config_cls, args, prefix=prefix, include_paths=False)
            for stage, (config_cls, prefix) in STAGE_FLAGS.items()
        }
    )
    result = run_tiny(
        config_from_args(RunConfig, args),
        config_from_args(GateConfig, args, prefix="gate-"),
        settings,
        say=lambda text: console.print(text, markup=False),
        show_progress=not args.quiet,
    )
    if result.summary is not None:
        console.print(
            f"report: {result.out_dir / layout.SUMMARY_MD} (and {layout.REPORT_HTML})", markup=False
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
