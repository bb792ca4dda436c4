"""Text statistics and the per-file source quality score (0-100).

A file starts at 100 and loses points for each problem found; the flags name the
problems, and `penalties` says how many points each one cost:

| flag                | penalty | when                                                              |
|---------------------|---------|-------------------------------------------------------------------|
| `very_short`        | 30      | fewer than 200 characters of text in the whole file               |
| `mostly_symbols`    | 30      | fewer than half of the non-space characters are letters           |
| `mostly_non_text`   | 40      | over 30% of the bytes in 40+ byte space-free tokens (base64,      |
|                     |         | minified code, URLs), or over 1% control / U+FFFD characters       |
| `highly_repetitive` | 25      | over half the non-empty lines (5 or more) repeat an earlier line of |
|                     |         | the file, or over half the word 5-grams (of the first 65,536)      |
|                     |         | repeat an earlier 5-gram of the file                               |
| `duplicate`         | 40 x f  | a fraction f of its documents are exact duplicates of earlier ones |
| `near_duplicate`    | 20 x f  | a fraction f of its documents are near-duplicates of earlier ones  |

The thresholds are deliberately plain so a reader can check them by hand; the score
ranks sources for review and for `--min-score`, it is not a measure of truth.
For scale, tinyshakespeare.txt: 94% letters among non-space characters, 21.5% of
its non-empty lines repeat (speaker names), 0.2% of its word 5-grams repeat.

Not here: deciding what the corpus keeps (corpus.py).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field, fields

import numpy as np

# Counts lines that repeat an earlier one; exact, and past 4 M lines its hashes spill to
# disk, so a multi-GB corpus does not hold them all (corpus.py uses it from here).
from picochat.data.line_counts import RepeatedLines  # noqa: F401

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
LONG_TOKEN_BYTES = 40
MAX_LONG_TOKEN_SHARE = 0.3
MAX_BAD_CHAR_SHARE = 0.01
MAX_REPEATED_LINE_SHARE = 0.5
MIN_LINES_FOR_REPETITION = 5
MAX_REPEATED_SHINGLE_SHARE = 0.5
SHINGLE_SAMPLE = 65536  # bounds the sort per file

_ASCII_LETTERS = string.ascii_letters.encode()
_NOT_LETTERS = re.compile(r"[\W\d_]+")
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_ASCII_CONTROL = bytes([*range(0, 9), 11, 12, *range(14, 32), 127])
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@dataclass
class TextStats:
    """Counts over some text (a document, a file, the corpus); they add up."""

    chars: int = 0
    bytes: int = 0
    non_space: int = 0
    letters: int = 0
    lines: int = 0
    empty_lines: int = 0
    non_ascii: int = 0
    bad_chars: int = 0
    long_token_bytes: int = 0

    def add(self, other: TextStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def text_stats(text: str, encoded: bytes, word_bytes: np.ndarray, lines: list[str]) -> TextStats:
    """Counts for one document.

    `encoded` is its UTF-8, `word_bytes` the byte length of each whitespace-separated
    word (dedup.word_hashes), `lines` = text.split("\\n").
    """
    if text.isascii():  # bytes.translate runs at memory speed; the regex only when needed
        letters = len(encoded) - len(encoded.translate(None, _ASCII_LETTERS))
        bad_chars = len(encoded) - len(encoded.translate(None, _ASCII_CONTROL))
        non_ascii = 0
    else:
        letters = len(_NOT_LETTERS.sub("", text))
        bad_chars = len(_BAD_CHARS.findall(text))
        non_ascii = sum(map(len, _NON_ASCII.findall(text)))
    # UTF-8 continuation bytes (len(encoded) - len(text) of them) all sit inside words.
    non_space = int(word_bytes.sum()) - (len(encoded) - len(text))
    return TextStats(
        chars=len(text),
        bytes=len(encoded),
        non_space=non_space,
        letters=letters,
        lines=len(lines),
        empty_lines=lines.count("") + sum(map(str.isspace, lines)),
        non_ascii=non_ascii,
        bad_chars=bad_chars,
        long_token_bytes=int(word_bytes[word_bytes >= LONG_TOKEN_BYTES].sum()),
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
    """How many entries repeat an earlier one (= len - number of distinct values)."""
    ordered = np.sort(hashes)  # cheaper than np.unique for the many small arrays here
    return int(np.count_nonzero(ordered[1:] == ordered[:-1]))


@dataclass
class FileQuality:
    score: int
    flags: list[str] = field(default_factory=list)
    penalties: dict[str, int] = field(default_factory=dict)
    measures: dict[str, float | None] = field(default_factory=dict)


def score_file(
    stats: TextStats,
    hashes: np.ndarray,
    shingles: np.ndarray,
    documents: int,
    duplicates: int,
    near_duplicates: int,
) -> FileQuality:
    """Score a file from its text statistics and its documents' duplicate status.

    `hashes`: its non-empty line hashes; `shingles`: its word 5-gram hashes (the
    first SHINGLE_SAMPLE are used).
    """
    letter_share = stats.letters / stats.non_space if stats.non_space else 0.0
    long_share = stats.long_token_bytes / stats.bytes if stats.bytes else 0.0
    bad_share = stats.bad_chars / stats.chars if stats.chars else 0.0
    repeated_share = repeated_count(hashes) / len(hashes) if len(hashes) else 0.0
    sample = shingles[:SHINGLE_SAMPLE]
    repeated_shingles = repeated_count(sample) / len(sample) if len(sample) else 0.0
    duplicate_share = duplicates / documents if documents else 0.0
    near_share = near_duplicates / documents if documents else 0.0
    problems = {
        "very_short": stats.chars < VERY_SHORT_CHARS,
        "mostly_symbols": letter_share < MIN_LETTER_SHARE,
        "mostly_non_text": long_share > MAX_LONG_TOKEN_SHARE or bad_share > MAX_BAD_CHAR_SHARE,
        "highly_repetitive": (
            len(hashes) >= MIN_LINES_FOR_REPETITION and repeated_share > MAX_REPEATED_LINE_SHARE
        )
        or repeated_shingles > MAX_REPEATED_SHINGLE_SHARE,
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
            "repeated_shingle_share": round(repeated_shingles, 4),
            "duplicate_share": round(duplicate_share, 4),
            "near_duplicate_share": round(near_share, 4),
        },
    )
