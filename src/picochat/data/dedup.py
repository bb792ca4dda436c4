"""Exact and near-duplicate detection for corpus documents.

Exact duplicates: two documents are the same after whitespace normalisation (runs of
whitespace become one space, ends stripped); compared by a 16-byte BLAKE2b digest.

Near duplicates: MinHash over word 5-gram shingles ("words" are whitespace-separated
tokens, case kept), with LSH banding to find candidate pairs and the signature
agreement (the MinHash estimate of Jaccard similarity) to confirm them. Everything is
vectorised in numpy and deterministic: words get ids from a per-build vocabulary
(first-seen order), ids are mixed with splitmix64, and 5 consecutive word hashes are
combined into a shingle hash; nothing uses Python's `hash()` (salted per process).
Each permutation is `(a * x + b) mod 2**32` with a random odd `a`, a bijection of the
32-bit shingle hash `x`, so for every permutation the minimum is a uniform draw from
the shingle set and P(min agrees) = Jaccard. Accuracy is checked against exact set
Jaccard in tests/data/test_dedup.py.

Memory per indexed document: its signature (128 x 4 bytes) plus one LSH bucket entry
per band; the vocabulary grows with distinct words. Nothing keeps document text.

Not here: deciding what to drop or how to score files (see corpus.py, quality.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SHINGLE_WORDS = 5
NUM_PERM = 128
_BLOCK_BYTES = 2 << 20  # (permutations x shingles) work block that stays in cache
_U32_MAX = np.iinfo(np.uint32).max
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def exact_key(words: Sequence[str]) -> bytes:
    """Digest of a document's whitespace-normalised text (its whitespace-split words)."""
    return hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=16).digest()


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, element-wise on uint64 (wraps mod 2**64 by design)."""
    x = x + _GOLDEN
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


class WordVocab:
    """Word -> id in first-seen order: a deterministic stand-in for hashing strings."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def ids(self, words: Sequence[str]) -> np.ndarray:
        ids = self._ids
        return np.fromiter(
            (ids.setdefault(w, len(ids)) for w in words), dtype=np.uint64, count=len(words)
        )


def shingle_hashes(word_ids: np.ndarray, k: int = SHINGLE_WORDS) -> np.ndarray:
    """32-bit hashes of every run of `k` consecutive words (one for shorter texts)."""
    if len(word_ids) == 0:
        return np.empty(0, dtype=np.uint32)
    h = splitmix64(word_ids.astype(np.uint64))
    k = min(k, len(h))
    m = len(h) - k + 1
    combined = h[:m].copy()
    for j in range(1, k):  # order-sensitive: ((h0*C + h1)*C + h2)...
        combined *= _MIX1
        combined += h[j : j + m]
    return (splitmix64(combined) >> np.uint64(32)).astype(np.uint32)


class MinHasher:
    """MinHash signatures (num_perm uint32 each) for many documents at once."""

    def __init__(self, num_perm: int = NUM_PERM, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self._a = (rng.integers(0, 2**31, num_perm, dtype=np.uint32) * 2 + 1)[:, None]
        self._b = rng.integers(0, 2**32, num_perm, dtype=np.uint32)[:, None]
        self._block = max(1, _BLOCK_BYTES // (4 * num_perm))
        self._buf = np.empty((num_perm, self._block), dtype=np.uint32)

    def signatures(self, shingle_sets: Sequence[np.ndarray]) -> np.ndarray:
        """(len(shingle_sets), num_perm) signatures; an empty set gives all 2**32-1."""
        n_docs = len(shingle_sets)
        sig = np.full((self.num_perm, n_docs), _U32_MAX, dtype=np.uint32)
        lengths = np.fromiter((len(s) for s in shingle_sets), dtype=np.int64, count=n_docs)
        if n_docs == 0 or lengths.sum() == 0:
            return sig.T.copy()
        values = np.concatenate(shingle_sets)
        doc_of = np.repeat(np.arange(n_docs), lengths)  # owning document of each shingle
        for lo in range(0, len(values), self._block):
            block = values[lo : lo + self._block]
            out = self._buf[:, : len(block)]
            np.multiply(self._a, block[None, :], out=out)
            out += self._b
            owners = doc_of[lo : lo + len(block)]
            # Shingles are grouped by document: reduce each group inside this block.
            starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
            mins = np.minimum.reduceat(out, starts, axis=1)
            docs = owners[starts]
            sig[:, docs] = np.minimum(sig[:, docs], mins)
        return sig.T.copy()


def lsh_shape(num_perm: int, threshold: float, recall: float = 0.99) -> tuple[int, int]:
    """(bands, rows): the most rows per band that still make a pair at `threshold` a
    candidate with probability >= `recall` (candidates are then checked exactly)."""
    for rows in sorted((r for r in range(1, num_perm + 1) if num_perm % r == 0), reverse=True):
        bands = num_perm // rows
        if 1.0 - (1.0 - threshold**rows) ** bands >= recall:
            return bands, rows
    return num_perm, 1


@dataclass
class NearMatch:
    """The closest earlier indexed document to a new one."""

    other: int
    similarity: float


class NearDuplicateIndex:
    """LSH index over MinHash signatures; supports undoing the latest insertions.

    Documents are inserted in corpus order; `best_match` looks only at documents
    already inserted, so each pair is reported once, on its later document.
    """

    def __init__(self, threshold: float, num_perm: int = NUM_PERM) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands, self.rows = lsh_shape(num_perm, threshold)
        self._buckets: list[dict[int, list[int]]] = [{} for _ in range(self.bands)]
        self._sigs = np.empty((1024, num_perm), dtype=np.uint32)
        self._ids: list[int] = []
        self._band_keys: list[list[int]] = []
        weights = splitmix64(np.arange(1, self.rows + 1, dtype=np.uint64))
        self._row_weights = weights  # folds `rows` values of a band into one key

    def band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """(n, bands) uint64 bucket keys."""
        grouped = signatures.reshape(len(signatures), self.bands, self.rows).astype(np.uint64)
        return splitmix64((grouped * self._row_weights).sum(axis=2, dtype=np.uint64))

    def best_match(self, signature: np.ndarray, keys: Sequence[int]) -> NearMatch | None:
        """The most similar inserted document at or above the threshold, if any."""
        candidates: set[int] = set()
        for band, key in enumerate(keys):
            found = self._buckets[band].get(key)
            if found:
                candidates.update(found)
        if not candidates:
            return None
        rows = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        similarity = (self._sigs[rows] == signature).mean(axis=1)
        best = int(np.argmax(similarity))
        if similarity[best] < self.threshold:
            return None
        return NearMatch(other=self._ids[int(rows[best])], similarity=float(similarity[best]))

    def insert(self, doc_id: int, signature: np.ndarray, keys: Sequence[int]) -> None:
        slot = len(self._ids)
        if slot == len(self._sigs):
            self._sigs = np.concatenate([self._sigs, np.empty_like(self._sigs)])
        self._sigs[slot] = signature
        self._ids.append(doc_id)
        self._band_keys.append(list(keys))
        for band, key in enumerate(keys):
            self._buckets[band].setdefault(key, []).append(slot)

    def __len__(self) -> int:
        return len(self._ids)

    def truncate(self, size: int) -> None:
        """Forget every insertion after the first `size` (a file that was left out)."""
        while len(self._ids) > size:
            slot = len(self._ids) - 1
            for band, key in enumerate(self._band_keys.pop()):
                bucket = self._buckets[band][key]
                bucket.pop()  # slots are appended in order: the last one is this slot
                if not bucket:
                    del self._buckets[band][key]
            self._ids.pop()
            assert slot == len(self._ids)
