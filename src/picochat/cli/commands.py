"""Declaring a command: its flags come from a config dataclass, its work from a handler."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from picochat.cli.options import add_config_arguments

Handler = Callable[[argparse.Namespace], int | None]


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    *,
    help: str,
    handler: Handler,
    config: type | None = None,
    skip: tuple[str, ...] = (),
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add `name` with one flag per field of `config` (minus `skip`)."""
    parser = subparsers.add_parser(name, help=help, description=description or help)
    if config is not None:
        add_config_arguments(parser, config, skip=skip)
    parser.set_defaults(handler=handler)
    return parser
