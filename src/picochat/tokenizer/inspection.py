"""`picochat tok inspect`: what a tokenizer does to text, measured.

Gathers the figures (vocab, special tokens, a string token by token, a corpus's unknown
characters and compression) into a dataclass; the CLI only prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picochat.configs.tokenizer import TokenizerInspectConfig
from picochat.tokenizer.base import Tokenizer
from picochat.tokenizer.io import load_tokenizer
from picochat.tokenizer.special import SPECIAL_TOKENS
from picochat.tokenizer.train import read_corpus

MISSING_SHOWN = 20


@dataclass
class TokenPiece:
    id: int
    token: str  # name in tokenizer.json
    text: str  # the text it stands for (bytes that are not whole characters: escaped)
    num_bytes: int  # text bytes it counts for in bits per byte (0: special, <unk>)


@dataclass
class CorpusMeasure:
    path: Path
    chars: int
    bytes: int
    tokens: int
    bytes_per_token: float
    chars_per_token: float
    unknown_chars: int
    unknown_rate: float  # unknown characters / characters
    distinct_missing: int
    missing: list[tuple[str, int]]  # most frequent characters the tokenizer lacks


@dataclass
class TokenizerInspection:
    path: Path
    type: str
    vocab_size: int
    sha256: str
    special_tokens: list[tuple[int, str]]
    training: dict[str, Any]
    pieces: list[TokenPiece] | None = None
    corpus: CorpusMeasure | None = None
    tokenizer: Tokenizer | None = field(default=None, repr=False)


def token_pieces(tokenizer: Tokenizer, text: str) -> list[TokenPiece]:
    """`text` encoded (special spellings as plain text), one entry per token."""
    lengths = tokenizer.token_byte_lengths()
    pieces = []
    for token_id in tokenizer.encode(text):
        shown = tokenizer.token_bytes(token_id).decode("utf-8", errors="backslashreplace")
        name = tokenizer.id_to_token(token_id)
        pieces.append(TokenPiece(token_id, name, shown, int(lengths[token_id])))
    return pieces


def measure_corpus(tokenizer: Tokenizer, path: Path) -> CorpusMeasure:
    text, raw = read_corpus(path)
    tokens = len(tokenizer.encode_array(text))
    missing = tokenizer.unknown_characters(text)
    unknown = sum(missing.values())
    return CorpusMeasure(
        path=Path(path),
        chars=len(text),
        bytes=len(raw),
        tokens=tokens,
        bytes_per_token=len(raw) / tokens,
        chars_per_token=len(text) / tokens,
        unknown_chars=unknown,
        unknown_rate=unknown / len(text),
        distinct_missing=len(missing),
        missing=missing.most_common(MISSING_SHOWN),
    )


def inspect_tokenizer(config: TokenizerInspectConfig) -> TokenizerInspection:
    tokenizer = load_tokenizer(config.tokenizer)
    return TokenizerInspection(
        path=Path(config.tokenizer),
        type=tokenizer.type,
        vocab_size=tokenizer.vocab_size,
        sha256=tokenizer.sha256,
        special_tokens=[(tokenizer.token_to_id(t), t) for t in SPECIAL_TOKENS],
        training=dict(tokenizer.metadata.get("training") or {}),
        pieces=token_pieces(tokenizer, config.text) if config.text is not None else None,
        corpus=measure_corpus(tokenizer, config.input) if config.input is not None else None,
        tokenizer=tokenizer,
    )
