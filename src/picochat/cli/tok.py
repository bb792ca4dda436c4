"""`picochat tok ...`: inspect tokenizers (`tok train` is a stage: `picochat.stages.tokenizer`)."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from picochat.cli.commands import CommandSpec, add_group
from picochat.cli.console import console
from picochat.cli.options import config_from_args
from picochat.configs import TokenizerInspectConfig


def _inspect(args: argparse.Namespace) -> int:
    from picochat.tokenizer.inspection import inspect_tokenizer

    report = inspect_tokenizer(config_from_args(TokenizerInspectConfig, args))
    console.print(
        f"[bold]{escape(str(report.path))}[/]: {report.type} tokenizer, "
        f"vocab size {report.vocab_size}, sha256 {report.sha256[:16]}..."
    )
    specials = ", ".join(f"{escape(name)}={i}" for i, name in report.special_tokens)
    console.print(f"special tokens: {specials}")
    if report.training:
        console.print(
            "training: " + ", ".join(f"{k}={v}" for k, v in report.training.items()),
            soft_wrap=True,
        )
    if report.pieces is not None:
        table = Table(title=f"{len(report.pieces)} tokens", title_justify="left")
        for column in ("#", "id", "token", "text", "bytes"):
            table.add_column(column, justify="right" if column in ("#", "id", "bytes") else "left")
        for n, piece in enumerate(report.pieces):
            table.add_row(
                str(n),
                str(piece.id),
                escape(piece.token),
                escape(repr(piece.text)),
                str(piece.num_bytes),
            )
        console.print(table)
    if report.corpus is not None:
        c = report.corpus
        console.print(
            f"corpus {escape(str(c.path))}: {c.chars:,} chars, {c.bytes:,} bytes, {c.tokens:,} tokens; "
            f"{c.bytes_per_token:.3f} bytes/token, {c.chars_per_token:.3f} chars/token"
        )
        console.print(
            f"unknown characters: {c.unknown_chars:,} ({c.unknown_rate:.4%}), "
            f"{c.distinct_missing} distinct"
        )
        if c.missing:
            table = Table(title="missing characters (most frequent)", title_justify="left")
            table.add_column("char")
            table.add_column("code point")
            table.add_column("count", justify="right")
            for char, count in c.missing:
                table.add_row(escape(repr(char)), f"U+{ord(char):04X}", f"{count:,}")
            console.print(table)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    inspect = CommandSpec(
        "inspect",
        TokenizerInspectConfig,
        _inspect,
        "Vocab, special tokens, token-by-token mapping, unknown rate, bytes per token.",
    )
    add_group(commands, "tok", "Tokenizer stage: train (char, byte, bpe) and inspect.", [inspect])
