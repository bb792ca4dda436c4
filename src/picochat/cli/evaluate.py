"""`picochat eval chat`: generate replies to eval items and score them with rules."""

from __future__ import annotations

import argparse

from rich.markup import escape

from picochat.cli.commands import add_command
from picochat.cli.console import console
from picochat.cli.options import config_from_args
from picochat.configs import EvalConfig


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def eval_chat(args: argparse.Namespace) -> int:
    from picochat.evaluation.stage import evaluate_chat

    result = evaluate_chat(config_from_args(EvalConfig, args))
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    s = result.summary
    ci = s["pass_rate_ci"]
    ci_text = f" (95% CI {ci[0]:.1%}-{ci[1]:.1%})" if ci else ""
    console.print(f"passed {s['passed']}/{s['items']} = {_pct(s['pass_rate'])}{ci_text}")
    for key in ("unsupported_claim_rate", "prompt_echo_rate", "corpus_support_failure_rate"):
        console.print(f"{key}: {_pct(s[key])}")
    console.print(f"wrote {result.report_path} and {result.markdown_path}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser(
        "eval", help="Score a chat model on eval items with transparent rules."
    )
    sub = group.add_subparsers(dest="eval_command", metavar="SUBCOMMAND", required=True)
    add_command(
        sub,
        "chat",
        config=EvalConfig,
        handler=eval_chat,
        help="Generate a reply per eval item and score it; writes eval_report.json and report.md.",
    )
