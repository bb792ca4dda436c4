"""Copy rate and held-out overlap against a sharded corpus, in bounded memory.

The same figures as `memorization.copy_diagnostics` (word 8-grams of the generated
continuations looked up in the training and the validation text), computed without the
text in memory: each side's tokens are read in blocks of `BLOCK_TOKENS`, turned back
into UTF-8 bytes with one vectorised gather (a special token becomes a newline, so
words never join across a document boundary), split into words and hashed
(`dedup.word_hashes`: whitespace words, as `str.split` on ASCII text), and every
8-gram hash is looked up in the set of wanted 8-gram hashes (`np.isin`). Memory: one
block (a few tens of MB) plus the wanted set. Collisions of the 64-bit n-gram hash are
negligible (about 2**-64 per pair). N-grams that span two blocks are missed (at most
7 per block of ~1 M tokens).

At most `MAX_SCAN_TOKENS` tokens of each side are read: above that, evenly spaced
blocks covering that many tokens, and the result says so (`scan` in the dict).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from picochat.data.dedup import _MIX1, splitmix64, word_hashes
from picochat.training.memorization import NGRAM_WORDS, copy_diagnostics

BLOCK_TOKENS = 1 << 20
MAX_SCAN_TOKENS = 1 << 26  # 67 M tokens (~240 MB of text) per side: seconds, not minutes


def _gram_hashes(hashes: np.ndarray, n: int) -> np.ndarray:
    if len(hashes) < n:
        return np.empty(0, dtype=np.uint64)
    m = len(hashes) - n + 1
    combined = hashes[:m].copy()
    for j in range(1, n):
        combined *= _MIX1
        combined += hashes[j : j + m]
    return splitmix64(combined)


def text_gram_hashes(text: str, n: int = NGRAM_WORDS) -> np.ndarray:
    """Hashes of every word n-gram of `text` (words as `str.split`, ASCII whitespace)."""
    return _gram_hashes(word_hashes(text.encode("utf-8"))[0], n)


class ByteTable:
    """Token id -> UTF-8 bytes, vectorised; special tokens decode to a newline."""

    def __init__(self, tokenizer: Any) -> None:
        parts = [
            b"\n" if tokenizer.is_special(i) else tokenizer.token_bytes(i)
            for i in range(tokenizer.vocab_size)
        ]
        self.lengths = np.array([len(p) for p in parts], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.flat = np.frombuffer(b"".join(parts), dtype=np.uint8)

    def decode(self, ids: np.ndarray) -> bytes:
        ids = np.asarray(ids, dtype=np.int64)
        lengths = self.lengths[ids]
        ends = np.cumsum(lengths)
        shift = np.repeat(self.starts[ids] - (ends - lengths), lengths)
        return self.flat[shift + np.arange(int(ends[-1]) if len(ends) else 0)].tobytes()


def _blocks(total: int, cap: int) -> tuple[list[tuple[int, int]], int]:
    """Block ranges to read from a side of `total` tokens, at most `cap` tokens."""
    count = -(-total // BLOCK_TOKENS)
    wanted = max(1, cap // BLOCK_TOKENS)
    chosen = range(count) if count <= wanted else np.linspace(0, count - 1, wanted).astype(int)
    ranges = [(int(b) * BLOCK_TOKENS, min(total, (int(b) + 1) * BLOCK_TOKENS)) for b in chosen]
    return ranges, sum(hi - lo for lo, hi in ranges)


def found_grams(
    tokens: Any, table: ByteTable, wanted: np.ndarray, n: int, cap: int
) -> tuple[set[int], dict[str, int]]:
    """Which `wanted` n-gram hashes occur in the token view; and how much was read."""
    found: set[int] = set()
    ranges, scanned = _blocks(len(tokens), cap)
    for lo, hi in ranges:
        grams = _gram_hashes(word_hashes(table.decode(tokens[lo:hi]))[0], n)
        found.update(int(h) for h in grams[np.isin(grams, wanted)])
    return found, {"tokens": len(tokens), "scanned_tokens": scanned}


def copy_diagnostics_shards(
    samples: list[str],
    train: Any,
    val: Any,
    tokenizer: Any,
    n: int = NGRAM_WORDS,
    max_scan_tokens: int = MAX_SCAN_TOKENS,
) -> dict[str, Any]:
    """`memorization.copy_diagnostics` for token views (see the module docstring)."""
    per_sample = [text_gram_hashes(s, n) for s in samples]
    wanted = np.unique(np.concatenate(per_sample)) if per_sample else np.empty(0, np.uint64)
    if len(wanted) == 0:  # nothing to look up: the empty result and its reasons
        return copy_diagnostics([], "", "", n)
    table = ByteTable(tokenizer)
    in_train, train_scan = found_grams(train, table, wanted, n, max_scan_tokens)
    in_val, val_scan = found_grams(val, table, wanted, n, max_scan_tokens)
    result = _from_found(samples, per_sample, in_train, in_val, n)
    whole = all(s["scanned_tokens"] == s["tokens"] for s in (train_scan, val_scan))
    result["scan"] = {
        "train": train_scan,
        "val": val_scan,
        "method": "token shards decoded block by block; word 8-grams hashed (64-bit) and "
        "looked up"
        + (
            ""
            if whole
            else f"; at most {max_scan_tokens:,} tokens per side, "
            "in evenly spaced blocks (a sample)"
        ),  # fmt: skip
    }
    return result


def _from_found(
    samples: list[str], per_sample: list[np.ndarray], in_train: set[int], in_val: set[int], n: int
) -> dict[str, Any]:
    """Rates and copied spans from the found hashes (same definitions as memorization)."""
    words = [s.split() for s in samples]
    total = sum(len(h) for h in per_sample)
    spans = []
    for sample_words, hashes in zip(words, per_sample, strict=True):
        copied = [int(h) in in_train for h in hashes]
        run_start = None
        for i in range(len(copied) + 1):
            hit = i < len(copied) and copied[i]
            if hit and run_start is None:
                run_start = i
            if not hit and run_start is not None:
                spans.append(" ".join(sample_words[run_start : i - 1 + n]))
                run_start = None
    spans.sort(key=lambda s: len(s.split()), reverse=True)
    flat = [int(h) for hashes in per_sample for h in hashes]
    return {
        "train_copy_rate": sum(h in in_train for h in flat) / total,
        "heldout_overlap": sum(h in in_val for h in flat) / total,
        "copied_spans": [{"text": s, "words": len(s.split())} for s in spans[:3]],
        "ngram_words": n,
        "generated_ngrams": total,
    }
