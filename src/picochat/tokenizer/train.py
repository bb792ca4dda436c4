"""`picochat tok train`: read a corpus, learn a tokenizer, write tokenizer.json atomically.

Checks the settings before reading and the corpus before learning, so every mistake is
a clear `PicochatError`. The training statistics written into the file's metadata are
deterministic (no timings), so the same corpus and flags give a byte-identical file and
the same sha256 that checkpoints record.

Not for the algorithms themselves (char.py, bpe_train.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picochat.artifacts import sha256_bytes
from picochat.configs.tokenizer import TOKENIZER_TYPES, TokenizerTrainConfig
from picochat.corpus_files import corpus_size, read_corpus_bytes
from picochat.errors import ConfigError, InputError
from picochat.tokenizer.base import Tokenizer
from picochat.tokenizer.bpe import GPT4_SPLIT_PATTERN, BPETokenizer
from picochat.tokenizer.bpe_train import count_words, train_bpe
from picochat.tokenizer.byte import NUM_BASE_TOKENS, ByteTokenizer
from picochat.tokenizer.char import CharTokenizer
from picochat.tokenizer.corpus_sample import scan_corpus
from picochat.tokenizer.io import save_tokenizer

# A sampled corpus's token count is estimated from this many characters of the sample
# (the evenly spaced slices mix the whole corpus; encoding all of a 100 M sample would
# take a minute for an estimate).
COUNT_CHARS = 8_000_000


@dataclass
class TokenizerTrainResult:
    """What `tok train` did; `tokenizer` is the trained tokenizer, already saved."""

    path: Path
    type: str
    vocab_size: int
    sha256: str
    corpus_chars: int
    corpus_bytes: int
    corpus_tokens: int
    bytes_per_token: float
    training: dict[str, Any]
    wall_seconds: float
    tokenizer: Tokenizer = field(repr=False)


def read_corpus(path: Path | None) -> tuple[str, bytes]:
    """The corpus text (and its raw bytes), or an InputError naming what is wrong."""
    if path is None:
        raise ConfigError("no corpus given.", fix="Pass --input corpus.txt.")
    path = Path(path)
    try:
        raw = read_corpus_bytes(path) if path.is_dir() else path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            "corpus file not found.",
            file=path,
            fix="Check the path, or build one with `picochat data build`.",
        ) from None
    except OSError as error:
        raise InputError(
            f"cannot read the corpus ({error.strerror or error}).",
            file=path,
            fix="Check the file's permissions.",
        ) from None
    try:
        text = raw.decode("utf-8-sig")  # a leading byte-order mark is not text to learn
    except UnicodeDecodeError as error:
        raise InputError(
            f"the corpus is not UTF-8 text (byte {error.start} cannot be decoded).",
            file=path,
            line=raw[: error.start].count(b"\n") + 1,
            fix="Convert it to UTF-8, or build it with `picochat data build`, which skips such files.",
        ) from None
    if not text.strip():
        raise InputError(
            "the corpus is empty (no text to learn a tokenizer from).",
            file=path,
            fix="Point --input at a corpus with text in it.",
        )
    return text, raw


def check_config(config: TokenizerTrainConfig) -> None:
    if config.type not in TOKENIZER_TYPES:
        raise ConfigError(
            f"unknown tokenizer type {config.type!r}.",
            fix=f"Use --type {' or '.join(TOKENIZER_TYPES)}.",
        )
    if config.out is None:
        raise ConfigError("no output path given.", fix="Pass --out tokenizer.json.")
    if config.input is not None and Path(config.out).resolve() == Path(config.input).resolve():
        raise ConfigError(
            "--out is the corpus file itself; writing would destroy the corpus.",
            fix="Pass another --out path, e.g. tokenizer.json.",
        )
    if config.type == "bpe":
        if config.vocab_size < NUM_BASE_TOKENS:
            raise ConfigError(
                f"--vocab-size {config.vocab_size} is smaller than the base alphabet of a "
                f"byte-level BPE tokenizer ({NUM_BASE_TOKENS} = 8 special tokens + 256 bytes).",
                fix=f"Use --vocab-size {NUM_BASE_TOKENS} or more (512 to 4096 suits small corpora).",
            )
        if config.min_freq < 1:
            raise ConfigError(
                f"--min-freq must be at least 1, got {config.min_freq}.",
                fix="Use --min-freq 2 (the default) to merge only pairs seen twice or more.",
            )


def train_tokenizer(config: TokenizerTrainConfig) -> TokenizerTrainResult:
    """Learn the tokenizer `config` describes and write it to `config.out`."""
    check_config(config)
    started = time.perf_counter()
    if config.max_train_chars < 1:
        raise ConfigError(f"--max-train-chars must be >= 1, got {config.max_train_chars}.")
    exists = config.input is not None and Path(config.input).exists()
    sampled = exists and corpus_size(config.input) > config.max_train_chars
    if sampled:  # a large corpus: one streamed pass and an evenly spaced sample
        scan = scan_corpus(config.input, config.max_train_chars, alphabet=config.type == "char")
        text, sha, n_chars, n_bytes = scan.text, scan.sha256, scan.chars, scan.bytes
    else:
        text, raw = read_corpus(config.input)
        sha, n_chars, n_bytes = sha256_bytes(raw), len(text), len(raw)
        del raw
    training: dict[str, Any] = {
        "corpus_sha256": sha,
        "corpus_chars": n_chars,
        "corpus_bytes": n_bytes,
    }
    if sampled:
        training["sample"] = scan.sample
    tokenizer: Tokenizer
    if config.type == "char":
        tokenizer = CharTokenizer.train("".join(sorted(scan.alphabet)) if sampled else text)
        training["alphabet_size"] = len(tokenizer.chars)
    elif config.type == "byte":
        tokenizer = ByteTokenizer()
    else:
        words = count_words([text], GPT4_SPLIT_PATTERN)
        learned = train_bpe(words, vocab_size=config.vocab_size, min_freq=config.min_freq)
        tokenizer = BPETokenizer(learned.merged_tokens, learned.merges, GPT4_SPLIT_PATTERN)
        training.update(
            vocab_size_requested=config.vocab_size,
            min_freq=config.min_freq,
            merges=len(learned.merges),
            stop_reason=learned.stop_reason,
            distinct_words=learned.distinct_words,
            last_merge_count=learned.last_merge_count,
        )
    tokenizer.metadata["training"] = training
    if sampled:  # the rate of the sample's first COUNT_CHARS, scaled (the shard index is exact)
        counted = text[:COUNT_CHARS]
        rate = len(tokenizer.encode_array(counted)) / max(1, len(counted.encode("utf-8")))
        corpus_tokens = round(rate * n_bytes)
    else:
        corpus_tokens = len(tokenizer.encode_array(text))
    path = save_tokenizer(tokenizer, config.out)
    return TokenizerTrainResult(
        path=path,
        type=tokenizer.type,
        vocab_size=tokenizer.vocab_size,
        sha256=tokenizer.sha256,
        corpus_chars=n_chars,
        corpus_bytes=n_bytes,
        corpus_tokens=corpus_tokens,
        bytes_per_token=n_bytes / corpus_tokens,
        training=training,
        wall_seconds=time.perf_counter() - started,
        tokenizer=tokenizer,
    )
