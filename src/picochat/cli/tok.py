"""`picochat tok ...`: train and inspect tokenizers."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from picochat.cli.commands import add_command
from picochat.cli.console import console
from picochat.cli.options import config_from_args
from picochat.configs import TokenizerInspectConfig, TokenizerTrainConfig


def _train(args: argparse.Namespace) -> int:
    from picochat.tokenizer.train import train_tokenizer

    result = train_tokenizer(config_from_args(TokenizerTrainConfig, args))
    console.print(
        f"[bold]{result.type}[/] tokenizer, vocab size {result.vocab_size} -> {escape(str(result.path))}"
    )
    console.print(
        f"corpus: {result.corpus_chars:,} chars, {result.corpus_bytes:,} bytes -> "
        f"{result.corpus_tokens:,} tokens ({result.bytes_per_token:.2f} bytes/token)"
    )
    if result.type == "bpe":
        t = result.training
        console.print(
            f"merges: {t['merges']} (stopped: {t['stop_reason']}; last merged pair seen "
            f"{t['last_merge_count']} times), {t['distinct_words']:,} distinct words"
        )
    sample = result.training.get("sample")
    if sample:
        console.print(
            f"learned from a sample: {sample['trained_on_chars']:,} of {result.corpus_chars:,} "
            f"characters ({sample['method']}); the token count is estimated from it"
        )
    console.print(f"sha256 {result.sha256}  ({result.wall_seconds:.2f} s)")
    return 0


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
    group = commands.add_parser("tok", help="Tokenizer stage: train (char, byte, bpe) and inspect.")
    sub = group.add_subparsers(dest="tok_command", metavar="SUBCOMMAND", required=True)
    add_command(
        sub,
        "train",
        config=TokenizerTrainConfig,
        handler=_train,
        help="Learn a tokenizer from a corpus and write tokenizer.json.",
    )
    add_command(
        sub,
        "inspect",
        config=TokenizerInspectConfig,
        handler=_inspect,
        help="Vocab, special tokens, token-by-token mapping, unknown rate, bytes per token.",
    )
