"""Declaring commands: flags come from a config dataclass, the work from a handler.

A stage's own command (`train sft`, `tok train`, `data build`, `eval chat`...) is
made from its declaration (`picochat.stages`): its flags from the stage's config,
its handler runs the stage and prints what the declaration says to print.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from picochat.cli.console import console
from picochat.cli.options import add_config_arguments, config_from_args
from picochat.stages.declaration import Stage
from picochat.stages.registry import STAGES

Handler = Callable[[argparse.Namespace], int | None]


@dataclass(frozen=True)
class CommandSpec:
    """A command that is not a stage: name, flags (a config class), handler, help.

    Instead of a handler, `run` (config -> result) and `describe` (result -> console
    lines or report blocks), as a stage declares them: the handler is then made here.
    """

    name: str
    config: type | None
    handler: Handler | None
    help: str
    skip: tuple[str, ...] = ()
    run: Callable[[Any], Any] | None = None
    describe: Callable[[Any], list[Any]] | None = None

    def make_handler(self) -> Handler:
        if self.handler is not None:
            return self.handler
        assert self.config is not None and self.run is not None and self.describe is not None
        config, run, describe = self.config, self.run, self.describe

        def handle(args: argparse.Namespace) -> int:
            show(describe(run(config_from_args(config, args))))
            return 0

        return handle


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    *,
    help: str,
    handler: Handler,
    config: type | None = None,
    skip: tuple[str, ...] = (),
    description: str | None = None,
    notes: dict[str, str] | None = None,
) -> argparse.ArgumentParser:
    """Add `name` with one flag per field of `config` (minus `skip`)."""
    parser = subparsers.add_parser(name, help=help, description=description or help)
    if config is not None:
        add_config_arguments(parser, config, skip=skip, notes=notes)
    parser.set_defaults(handler=handler)
    return parser


def show(items: Sequence[Any]) -> None:
    """Print a stage's console lines (plain text) and report blocks (as tables)."""
    from picochat.cli.tables import print_blocks

    for item in items:
        if isinstance(item, str):
            console.print(item, markup=False)
        else:
            print_blocks([item])


def _stage_handler(stage: Stage) -> Handler:
    def handle(args: argparse.Namespace) -> int:
        result = stage.run(config_from_args(stage.config, args), not args.quiet)
        if getattr(result, "report", ...) in (None, {}):  # a non-zero torchrun rank: rank 0 reports
            return 0
        show(stage.describe(result))
        return stage.exit_code(result)

    return handle


def run_tiny_notes(stage: Stage) -> dict[str, str]:
    """The stage command's help names `run tiny`'s different default, where there is one."""
    return {
        name: f"`run tiny` uses {f'the run --{name}' if run is None else run}"
        for name, (_, run) in stage.differing_defaults().items()
    }


def add_group(
    commands: argparse._SubParsersAction,
    name: str,
    help: str,
    specs: Sequence[CommandSpec] = (),
) -> argparse._SubParsersAction:
    """A command group (`picochat data ...`): its stage commands, then `specs`."""
    group = commands.add_parser(name, help=help)
    sub = group.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND", required=True)
    for stage in STAGES:
        if stage.command.group == name:
            parser = add_command(
                sub,
                stage.command.name,
                config=stage.config,
                handler=_stage_handler(stage),
                help=stage.command.help,
                skip=stage.command.skip,
                notes=run_tiny_notes(stage) if stage.in_run else None,
            )
            if stage.command.epilog is not None:
                parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keeps columns
                parser.epilog = stage.command.epilog()
    for spec in specs:
        add_command(
            sub,
            spec.name,
            config=spec.config,
            handler=spec.make_handler(),
            help=spec.help,
            skip=spec.skip,
        )
    return sub
