"""The tokenizer stage: corpus.txt -> tokenizer.json (+ tokenizer_report.json in a run).

Its work is `picochat.tokenizer.train.train_tokenizer`; this module only declares it.
`tok train` alone writes no report; `run tiny` keeps one so the summary and preflight
read the tokenizer's figures from a file, not from hidden state.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import atomic_write_json, hash_inputs, report_header
from picochat.configs import TokenizerTrainConfig
from picochat.corpus_files import open_corpus_text
from picochat.stages.declaration import Command, RunSpec, Stage, runner

SUMMARY_KEYS = ("type", "vocab_size", "bytes_per_token", "corpus_tokens")


def _describe(result: Any) -> list[str]:
    lines = [
        f"{result.type} tokenizer, vocab size {result.vocab_size} -> {result.path}",
        f"corpus: {result.corpus_chars:,} chars, {result.corpus_bytes:,} bytes -> "
        f"{result.corpus_tokens:,} tokens ({result.bytes_per_token:.2f} bytes/token)",
    ]
    if result.type == "bpe":
        t = result.training
        lines.append(
            f"merges: {t['merges']} (stopped: {t['stop_reason']}; last merged pair seen "
            f"{t['last_merge_count']} times), {t['distinct_words']:,} distinct words"
        )
    sample = result.training.get("sample")
    if sample:
        lines.append(
            f"learned from a sample: {sample['trained_on_chars']:,} of {result.corpus_chars:,} "
            f"characters ({sample['method']}); the token count is estimated from it"
        )
    lines.append(f"sha256 {result.sha256}  ({result.wall_seconds:.2f} s)")
    return lines


def _wire(config: TokenizerTrainConfig, run: RunSpec) -> TokenizerTrainConfig:
    return replace(config, input=run.root / layout.CORPUS, out=run.root / layout.TOKENIZER)


def _validate(config: TokenizerTrainConfig, run: RunSpec) -> None:
    from picochat.tokenizer.train import check_config

    check_config(config)


def _record(result: Any, config: TokenizerTrainConfig, run: RunSpec) -> Path:
    """tokenizer_report.json: the stage report `tok train` alone does not write."""
    header = report_header(
        config, inputs=hash_inputs([config.input]), seed=None, wall_seconds=result.wall_seconds
    )
    body = {
        "type": result.type,
        "vocab_size": result.vocab_size,
        "sha256": result.sha256,
        "corpus_tokens": result.corpus_tokens,
        "bytes_per_token": result.bytes_per_token,
        "training": result.training,
    }
    return atomic_write_json(run.root / layout.TOKENIZER_REPORT, {**header, **body})


def _first_sentence(corpus: Path, limit: int = 60) -> str:
    with open_corpus_text(corpus) as handle:
        for line in handle:
            line = line.strip().lstrip("#").strip()
            if len(line) > 20:
                return line[:limit]
    return "Hello"


def _summarize(report: dict[str, Any], run: RunSpec) -> dict[str, Any]:
    """The report's figures and how the first corpus sentence splits into tokens."""
    from picochat.tokenizer import load_tokenizer

    tok = load_tokenizer(run.root / layout.TOKENIZER)
    text = _first_sentence(run.root / layout.CORPUS)
    ids = tok.encode(text)
    example = {"text": text, "ids": ids, "tokens": [tok.decode([i]) for i in ids]}
    return {**{k: report.get(k) for k in SUMMARY_KEYS}, "example": example}


STAGE = Stage(
    name="tokenizer",
    config=TokenizerTrainConfig,
    command=Command("tok", "train", "Learn a tokenizer from a corpus and write tokenizer.json."),
    run=runner("picochat.tokenizer.train", "train_tokenizer"),
    describe=_describe,
    report=layout.TOKENIZER_REPORT,
    needs=("corpus",),
    wire=_wire,
    validate=_validate,
    record=_record,
    summarize=_summarize,
)
