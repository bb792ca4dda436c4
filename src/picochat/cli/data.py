"""`picochat data ...`: build and preview corpora, scaffold eval and preference files."""

from __future__ import annotations

import argparse

from picochat.cli.commands import add_command, not_built
from picochat.cli.console import console
from picochat.cli.options import config_from_args
from picochat.configs import (
    CorpusConfig,
    EvalStarterConfig,
    HFImportConfig,
    PreferenceStarterConfig,
)


def eval_starter(args: argparse.Namespace) -> int:
    from picochat.data.eval_starter import eval_starter as run

    result = run(config_from_args(EvalStarterConfig, args))
    counts = ", ".join(f"{name} {n}" for name, n in result.by_category.items())
    console.print(f"wrote {result.items} items ({counts}) to {result.out}")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print("Every row is marked needs_review: read and edit them before trusting a score.")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("data", help="Dataset stage: corpus building and data scaffolds.")
    sub = group.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    add_command(
        sub,
        "preview",
        config=CorpusConfig,
        skip=("out",),
        handler=not_built("data preview", 2),
        help="Print the corpus report for an input (tables); writes nothing.",
    )
    add_command(
        sub,
        "build",
        config=CorpusConfig,
        handler=not_built("data build", 2),
        help="Write corpus.txt, corpus_manifest.json and corpus_report.md.",
    )
    add_command(
        sub,
        "eval-starter",
        config=EvalStarterConfig,
        handler=eval_starter,
        help="Scaffold eval items from a corpus (needs_review: true).",
    )
    add_command(
        sub,
        "preference-starter",
        config=PreferenceStarterConfig,
        handler=not_built("data preference-starter", 8),
        help="Chosen/rejected pairs from chat rows with synthetic rejected answers.",
    )
    add_command(
        sub,
        "hf-import",
        config=HFImportConfig,
        handler=not_built("data hf-import", 10),
        help="Write a Hugging Face dataset split (hub id or local files) as a local corpus.",
    )
