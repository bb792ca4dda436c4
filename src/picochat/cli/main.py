"""`picochat` entry point: builds the command tree and turns errors into exit codes.

Each command group lives in its own module with a `register(subparsers)` function;
a command's handler receives the parsed flags and returns an exit code. Errors the
user can fix (`PicochatError`) print without a traceback and exit 2 (`--debug`
shows the traceback); Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.markup import escape

from picochat.cli import chat, data, evaluate, export, imports, run, serve, tok, train
from picochat.cli.console import err_console, set_quiet
from picochat.errors import PicochatError, from_os_error

GROUPS = (data, tok, train, evaluate, chat, run, export, imports, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="picochat",
        description=(
            "An honest small-language-model factory: "
            "dataset -> tokenizer -> base -> SFT (+LoRA) -> DPO -> eval -> chat -> report."
        ),
    )
    parser.add_argument("--debug", action="store_true", help="Show the full traceback on errors.")
    parser.add_argument("--quiet", action="store_true", help="Print only errors and final paths.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for group in GROUPS:
        group.register(commands)
    _accept_global_flags(commands)
    return parser


def _accept_global_flags(commands: argparse._SubParsersAction) -> None:
    """--debug and --quiet after the subcommand too (`picochat train base ... --quiet`).

    SUPPRESS as the default: a subcommand that does not see the flag leaves the value
    the top-level parser set, instead of resetting it to False.
    """
    for parser in set(commands.choices.values()):
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            for action in nested:
                _accept_global_flags(action)
            continue
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="Show the full traceback on errors.")  # fmt: skip
        parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                            help="Print only errors and final paths.")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    code = _run(argv)
    if "picochat.training.distributed" in sys.modules:  # a training stage ran
        from picochat.training.distributed import exit_after_group

        exit_after_group(code)  # under torchrun: leaves here, see why there
    return code


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    set_quiet(args.quiet)
    try:
        return int(args.handler(args) or 0)
    except PicochatError as error:
        if args.debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
        return error.exit_code
    except OSError as os_error:  # read-only folder, full disk...: the user's to fix
        error = from_os_error(os_error)
        if error is None or args.debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
        return error.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
