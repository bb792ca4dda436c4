"""`picochat data ...`: build and preview corpora, scaffold eval and preference files."""

from __future__ import annotations

import argparse

from rich.markup import escape

from picochat.cli.commands import add_command
from picochat.cli.console import console
from picochat.cli.options import config_from_args
from picochat.configs import (
    CorpusConfig,
    EvalStarterConfig,
    HFImportConfig,
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


def _build(args: argparse.Namespace) -> int:
    from picochat.data.corpus import build_corpus

    result = build_corpus(config_from_args(CorpusConfig, args), write=True)
    stats = result.stats
    console.print(
        f"corpus: {stats['documents']:,} documents, {stats['chars']:,} characters from "
        f"{stats['files_included']:,} files ({stats['files_skipped']:,} skipped)"
    )
    for entry in result.manifest["pack_files"]:
        where = f"{entry['path']} ({entry['rows']:,} rows)" if entry["exists"] else "not given"
        console.print(f"pack {entry['role']}: {escape(where)}", soft_wrap=True)
    for name, path in result.paths.items():
        console.print(f"wrote {name}: {escape(str(path))}", soft_wrap=True)
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
    console.print(f"wrote {shards.folder}", markup=False)
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


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("data", help="Dataset stage: corpus building and data scaffolds.")
    sub = group.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    add_command(
        sub,
        "preview",
        config=CorpusConfig,
        skip=("out",),
        handler=_preview,
        help="Print the corpus report for an input (tables); writes nothing.",
    )
    add_command(
        sub,
        "build",
        config=CorpusConfig,
        handler=_build,
        help="Write corpus.txt, corpus_manifest.json and corpus_report.md.",
    )
    add_command(
        sub,
        "tokenize",
        config=TokenizeConfig,
        handler=_tokenize,
        help="Tokenize a corpus once, in parallel, into memory-mapped token shards.",
    )
    add_command(
        sub,
        "eval-starter",
        config=EvalStarterConfig,
        handler=_eval_starter,
        help="Scaffold eval items from a corpus (needs_review: true).",
    )
    add_command(
        sub,
        "preference-starter",
        config=PreferenceStarterConfig,
        handler=_preference_starter,
        help="Chosen/rejected pairs from chat rows with synthetic rejected answers.",
    )
    add_command(
        sub,
        "hf-import",
        config=HFImportConfig,
        handler=_hf_import,
        help="Write a Hugging Face dataset split (hub id or local files) as a local corpus.",
    )


def _preference_starter(args: argparse.Namespace) -> int:
    result = build_preference_starter(config_from_args(PreferenceStarterConfig, args))
    console.print(f"[bold yellow]Note:[/] {result.notice}")
    counts = ", ".join(f"{name} {count}" for name, count in sorted(result.strategy_counts.items()))
    console.print(f"{result.pairs} pairs from {result.chat_rows} chat rows ({counts})")
    for row in result.skipped:
        console.print(f"  skipped line {row.line}: {row.reason}")
    console.print(f"wrote {result.out}")
    return 0


def _hf_import(args: argparse.Namespace) -> int:
    from picochat.cli.tables import print_blocks
    from picochat.data.corpus_report import corpus_blocks
    from picochat.hf.dataset_import import import_hf_dataset

    result = import_hf_dataset(config_from_args(HFImportConfig, args))
    skipped = ", ".join(f"{n} {why}" for why, n in result.skipped.items()) or "none"
    console.print(
        f"Imported {result.rows_kept} of {result.rows_read} rows of {result.source} "
        f"(columns: {', '.join(result.columns)}); skipped: {skipped}.",
        markup=False,
    )
    print_blocks(corpus_blocks(result.corpus.manifest))
    for name, path in {"rows": result.rows_file, **result.corpus.paths}.items():
        console.print(f"wrote {name}: {path}", markup=False)
    console.print(f"wrote import report: {result.report}", markup=False)
    return 0
