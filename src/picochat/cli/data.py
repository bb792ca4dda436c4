"""`picochat data ...`: preview corpora, scaffold eval and preference files.

`data build` and `data hf-import` are stages: their commands come from their
declarations (`picochat.stages.corpus`, `picochat.stages.hf_import`).
"""

from __future__ import annotations

import argparse

from picochat.cli.commands import CommandSpec, add_group
from picochat.cli.console import console
from picochat.cli.options import config_from_args
from picochat.configs import (
    CorpusConfig,
    EvalStarterConfig,
    PreferenceStarterConfig,
    TokenizeConfig,
)
from picochat.data.preference_starter import build_preference_starter


def _preview(args: argparse.Namespace) -> int:
    from picochat.cli.tables import print_blocks
    from picochat.data.corpus import build_corpus
    from picochat.data.corpus_report import corpus_blocks

    result = build_corpus(config_from_args(CorpusConfig, args), write=False)
    print_blocks(corpus_blocks(result.manifest))
    console.print(
        "\nPreview only: nothing was written. `picochat data build ... --out PATH` writes it."
    )
    return 0


def _tokenize(args: argparse.Namespace) -> int:
    from picochat.data.tokenize_shards import tokenize_corpus

    result = tokenize_corpus(config_from_args(TokenizeConfig, args))
    shards = result.shards
    what = f"tokenized in {result.seconds:.1f} s ({result.mb_per_s:.2f} MB/s, {result.workers} processes)"
    console.print(
        f"{len(shards):,} tokens, {len(shards.documents):,} documents, "
        f"{len(shards.shards)} shards: {what if result.built else 'reused (already built)'}",
        markup=False,
    )
    console.print(f"{'wrote' if result.built else 'reused'} {shards.folder}", markup=False)
    return 0


def _eval_starter(args: argparse.Namespace) -> int:
    from picochat.data.eval_starter import eval_starter as run

    result = run(config_from_args(EvalStarterConfig, args))
    counts = ", ".join(f"{name} {n}" for name, n in result.by_category.items())
    console.print(f"wrote {result.items} items ({counts}) to {result.out}")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print("Every row is marked needs_review: read and edit them before trusting a score.")
    return 0


def _preference_starter(args: argparse.Namespace) -> int:
    result = build_preference_starter(config_from_args(PreferenceStarterConfig, args))
    console.print(f"[bold yellow]Note:[/] {result.notice}")
    counts = ", ".join(f"{name} {count}" for name, count in sorted(result.strategy_counts.items()))
    console.print(f"{result.pairs} pairs from {result.chat_rows} chat rows ({counts})")
    for row in result.skipped:
        console.print(f"  skipped line {row.line}: {row.reason}")
    console.print(f"wrote {result.out}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    specs = (
        CommandSpec(
            "preview",
            CorpusConfig,
            _preview,
            "Print the corpus report for an input (tables); writes nothing.",
            skip=("out", "shard_mb"),
        ),
        CommandSpec(
            "tokenize",
            TokenizeConfig,
            _tokenize,
            "Tokenize a corpus once, in parallel, into memory-mapped token shards.",
        ),
        CommandSpec(
            "eval-starter",
            EvalStarterConfig,
            _eval_starter,
            "Scaffold eval items from a corpus (needs_review: true).",
        ),
        CommandSpec(
            "preference-starter",
            PreferenceStarterConfig,
            _preference_starter,
            "Chosen/rejected pairs from chat rows with synthetic rejected answers.",
        ),
    )
    add_group(commands, "data", "Dataset stage: corpus building and data scaffolds.", specs)
