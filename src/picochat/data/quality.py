"""Text statistics and the per-file source quality score (0-100).

A file starts at 100 and loses points for each problem found; the flags name the
problems, and `penalties` says how many points each one cost:

| flag                | penalty | when                                                              |
|---------------------|---------|-------------------------------------------------------------------|
| `very_short`        | 30      | fewer than 200 characters of text in the whole file               |
| `mostly_symbols`    | 30      | fewer than half of the non-space characters are letters           |
| `mostly_non_text`   | 40      | over 30% of characters in 40+ character space-free tokens (base64, |
|                     |         | minified code, URLs), or over 1% control / U+FFFD characters       |
| `highly_repetitive` | 25      | over half the non-empty lines (5 or more) repeat an earlier line of |
|                     |         | the file, or the first 64 KiB compress below 20% with zlib         |
| `duplicate`         | 40 x f  | a fraction f of its documents are exact duplicates of earlier ones |
| `near_duplicate`    | 20 x f  | a fraction f of its documents are near-duplicates of earlier ones  |

The thresholds are deliberately plain so a reader can check them by hand; the score
ranks sources for review and for `--min-score`, it is not a measure of truth.
English prose compresses to about 45% with zlib level 1 and has ~80% letters.

Not here: deciding what the corpus keeps (corpus.py).
"""

from __future__ import annotations

import re
import string
import zlib
from dataclasses import dataclass, field, fields

import numpy as np

PENALTIES = {
    "very_short": 30,
    "mostly_symbols": 30,
    "mostly_non_text": 40,
    "highly_repetitive": 25,
    "duplicate": 40,
    "near_duplicate": 20,
}
VERY_SHORT_CHARS = 200
MIN_LETTER_SHARE = 0.5
LONG_TOKEN_CHARS = 40
MAX_LONG_TOKEN_SHARE = 0.3
MAX_BAD_CHAR_SHARE = 0.01
MAX_REPEATED_LINE_SHARE = 0.5
MIN_LINES_FOR_REPETITION = 5
ZLIB_SAMPLE_BYTES = 64 * 1024
MIN_ZLIB_RATIO = 0.2

_ASCII_LETTERS = string.ascii_letters.encode()
_NOT_LETTERS = re.compile(r"[\W\d_]+")
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@dataclass
class TextStats:
    """Counts over some text (a document, a file, the corpus); they add up."""

    chars: int = 0
    non_space: int = 0
    letters: int = 0
    lines: int = 0
    empty_lines: int = 0
    non_ascii: int = 0
    bad_chars: int = 0
    long_token_chars: int = 0

    def add(self, other: TextStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def text_stats(text: str, encoded: bytes, words: list[str], lines: list[str]) -> TextStats:
    """Counts for one document; `words` = text.split(), `lines` = text.split('\\n')."""
    word_lengths = list(map(len, words))
    ascii_only = text.isascii()
    if ascii_only:  # bytes.translate runs at memory speed; the regex only when needed
        letters = len(encoded) - len(encoded.translate(None, _ASCII_LETTERS))
        non_ascii = 0
    else:
        letters = len(_NOT_LETTERS.sub("", text))
        non_ascii = sum(map(len, _NON_ASCII.findall(text)))
    long_tokens = 0
    if word_lengths and max(word_lengths) >= LONG_TOKEN_CHARS:
        long_tokens = sum(n for n in word_lengths if n >= LONG_TOKEN_CHARS)
    return TextStats(
        chars=len(text),
        non_space=sum(word_lengths),
        letters=letters,
        lines=len(lines),
        empty_lines=lines.count("") + sum(map(str.isspace, lines)),
        non_ascii=non_ascii,
        bad_chars=len(_BAD_CHARS.findall(text)),
        long_token_chars=long_tokens,
    )


def line_hashes(lines: list[str]) -> np.ndarray:
    """64-bit hashes of the non-empty lines, to count repeated lines.

    Python's `hash()` is salted per process, which is harmless here: only equality
    within this one process is used, never a stored value; a collision among a
    million distinct lines has odds of about 1e-8.
    """
    kept = [line for line in lines if line and not line.isspace()]
    return np.fromiter(map(hash, kept), dtype=np.int64, count=len(kept))


def repeated_count(hashes: np.ndarray) -> int:
    """How many entries repeat an earlier one."""
    return int(len(hashes) - len(np.unique(hashes)))


@dataclass
class FileQuality:
    score: int
    flags: list[str] = field(default_factory=list)
    penalties: dict[str, int] = field(default_factory=dict)
    measures: dict[str, float | None] = field(default_factory=dict)


def score_file(
    stats: TextStats,
    hashes: np.ndarray,
    sample: bytes,
    documents: int,
    duplicates: int,
    near_duplicates: int,
) -> FileQuality:
    """Score a file from its text statistics and its documents' duplicate status."""
    letter_share = stats.letters / stats.non_space if stats.non_space else 0.0
    long_share = stats.long_token_chars / stats.chars if stats.chars else 0.0
    bad_share = stats.bad_chars / stats.chars if stats.chars else 0.0
    repeated_share = repeated_count(hashes) / len(hashes) if len(hashes) else 0.0
    zlib_ratio = len(zlib.compress(sample, 1)) / len(sample) if len(sample) >= 1024 else None
    duplicate_share = duplicates / documents if documents else 0.0
    near_share = near_duplicates / documents if documents else 0.0
    problems = {
        "very_short": stats.chars < VERY_SHORT_CHARS,
        "mostly_symbols": letter_share < MIN_LETTER_SHARE,
        "mostly_non_text": long_share > MAX_LONG_TOKEN_SHARE or bad_share > MAX_BAD_CHAR_SHARE,
        "highly_repetitive": (
            len(hashes) >= MIN_LINES_FOR_REPETITION and repeated_share > MAX_REPEATED_LINE_SHARE
        )
        or (zlib_ratio is not None and zlib_ratio < MIN_ZLIB_RATIO),
    }
    penalties = {flag: PENALTIES[flag] for flag, hit in problems.items() if hit}
    for flag, share in (("duplicate", duplicate_share), ("near_duplicate", near_share)):
        if share > 0:
            penalties[flag] = max(1, round(PENALTIES[flag] * share))
    return FileQuality(
        score=max(0, 100 - sum(penalties.values())),
        flags=list(penalties),
        penalties=penalties,
        measures={
            "letter_share": round(letter_share, 4),
            "long_token_share": round(long_share, 4),
            "bad_char_share": round(bad_share, 4),
            "repeated_line_share": round(repeated_share, 4),
            "zlib_ratio": None if zlib_ratio is None else round(zlib_ratio, 4),
            "duplicate_share": round(duplicate_share, 4),
            "near_duplicate_share": round(near_share, 4),
        },
    )
