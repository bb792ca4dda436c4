"""`picochat run tiny` and `picochat compare`: the whole factory, and runs side by side."""

from __future__ import annotations

import argparse

from picochat.cli.commands import not_built


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("run", help="Run every stage end to end.")
    sub = group.add_subparsers(dest="run_command", metavar="SUBCOMMAND", required=True)
    tiny = sub.add_parser(
        "tiny", help="dataset -> tokenizer -> base -> SFT -> (DPO) -> eval -> summary."
    )
    tiny.set_defaults(handler=not_built("run tiny", 9))
    compare = commands.add_parser(
        "compare", help="Put runs side by side: config differences first."
    )
    compare.add_argument("runs", nargs="+", help="Run folders to compare.")
    compare.set_defaults(handler=not_built("compare", 9))
