"""`picochat eval chat`: generate replies to eval items and score them with rules."""

from __future__ import annotations

import argparse

from picochat.cli.commands import add_command, not_built
from picochat.configs import EvalConfig


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser(
        "eval", help="Score a chat model on eval items with transparent rules."
    )
    sub = group.add_subparsers(dest="eval_command", metavar="SUBCOMMAND", required=True)
    add_command(
        sub,
        "chat",
        config=EvalConfig,
        handler=not_built("eval chat", 7),
        help="Generate a reply per eval item and score it; writes eval_report.json and report.md.",
    )
