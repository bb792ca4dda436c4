"""Settings of the tokenizer stage (`picochat tok ...`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from picochat.configs.fields import option, path_option

TOKENIZER_TYPES = ("char", "byte", "bpe")


@dataclass
class TokenizerTrainConfig:
    """`tok train`: learn a tokenizer from a corpus."""

    input: Path | None = path_option(
        "The corpus.txt (or shard folder) to learn from.", required=True
    )
    out: Path | None = path_option("Where to write tokenizer.json.", required=True)
    type: str = option(
        "char",
        "char: one id per character seen (easiest to read); byte: 256 byte ids; "
        "bpe: byte-level learned merges.",
        choices=TOKENIZER_TYPES,
    )
    vocab_size: int = option(
        512,
        "bpe only: total vocabulary size, the 8 special tokens and 256 byte tokens included "
        "(so at least 264). char and byte vocabularies are fixed by the corpus / the bytes.",
    )
    min_freq: int = option(
        2, "bpe only: stop merging when the most frequent pair occurs fewer times."
    )
    max_train_chars: int = option(
        100_000_000,
        "Learn from at most this many characters: a larger corpus is sampled in evenly "
        "spaced slices (the report says how much text was seen). A char tokenizer still "
        "takes its alphabet from the whole corpus.",
    )


@dataclass
class TokenizerInspectConfig:
    """`tok inspect`: what a tokenizer does to text."""

    tokenizer: Path | None = path_option("The tokenizer.json to inspect.", required=True)
    text: str | None = option(None, "Show how this string maps to tokens, one by one.")
    input: Path | None = path_option(
        "A corpus to measure: unknown-character rate, missing characters, bytes per token."
    )
