"""Exact and near-duplicate detection for corpus documents.

Words are whitespace-separated tokens (case kept), hashed straight from the UTF-8
bytes with a vectorised polynomial hash (`word_hashes`): no per-word Python work, and
deterministic across processes (Python's `hash()` of str is salted per process).

Exact duplicates: two documents are the same after whitespace normalisation (the
same word sequence); compared by a 16-byte BLAKE2b digest of the word hashes.

Near duplicates: MinHash over word 5-gram shingles, LSH banding to find candidate
pairs, and signature agreement (the MinHash estimate of Jaccard similarity) to
confirm them. A shingle hash combines 5 consecutive word hashes; each of the 128
permutations is `(a * x + b) mod 2**32` with a random odd `a`, a bijection of the
pseudo-random 32-bit shingle hash, so P(minima agree) is the Jaccard similarity.
Accuracy is checked against exact set Jaccard in tests/data/test_dedup.py (no MinHash
library is a dependency of Picochat).

Memory per indexed document: one 12-byte entry per LSH band (32 at the default
threshold) and its id; the signature (128 x 4 bytes) is kept in a temporary file.
Nothing keeps document text.

Not here: deciding what to drop or how to score files (see corpus.py, quality.py).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from picochat.data.key_index import KeyIndex

SHINGLE_WORDS = 5
NUM_PERM = 128
_BLOCK_BYTES = 2 << 20  # (permutations x shingles) work block that stays in cache
_U32_MAX = np.iinfo(np.uint32).max
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def exact_key(word_hashes: np.ndarray) -> bytes:
    """Digest of a document's whitespace-normalised text, i.e. of its word sequence.

    Computed from the 64-bit word hashes: two different word sequences of equal
    length share a digest only if some word pair collides (odds about 2**-64 each).
    """
    return hashlib.blake2b(word_hashes.tobytes(), digest_size=16).digest()


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, element-wise on uint64 (wraps mod 2**64 by design)."""
    x = x + _GOLDEN
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


# Bytes str.split() treats as whitespace in ASCII text (non-ASCII spaces stay in words).
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_CHUNK = 1 << 18  # bytes hashed at a time: bounds the arrays below for huge documents
_BASE = 0x100000001B3  # odd, so invertible mod 2**64
_BASE_INVERSE = pow(_BASE, -1, 2**64)
_BYTE_VALUE = np.arange(1, 257, dtype=np.uint64)  # byte b counts as b + 1, so NUL is not 0


@functools.cache
def _powers(base: int) -> np.ndarray:
    """[1, base, base**2, ...] mod 2**64, _CHUNK + 1 entries (2 MiB, built on first use)."""
    powers = np.ones(_CHUNK + 1, dtype=np.uint64)
    np.cumprod(np.full(_CHUNK, base, dtype=np.uint64), dtype=np.uint64, out=powers[1:])
    return powers


def _chunks(data: bytes) -> list[tuple[int, int]]:
    """Cut `data` into pieces of at most _CHUNK bytes, at whitespace where possible."""
    cuts, lo = [], 0
    while len(data) - lo > _CHUNK:
        hi = lo + _CHUNK
        cut = max(data.rfind(c, lo, hi) for c in (b" ", b"\n", b"\t"))
        cut = hi if cut <= lo else cut + 1
        cuts.append((lo, cut))
        lo = cut
    cuts.append((lo, len(data)))
    return cuts


def word_hashes(encoded: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(64-bit hash, byte length) of each whitespace-separated word of UTF-8 text.

    Vectorised polynomial hashing: with prefix sums H[i] = sum_{j<i} (b_j + 1) B^j,
    the word b[s:e] hashes to (H[e] - H[s]) * B^-s (all mod 2**64), then splitmix64.
    Deterministic across processes, unlike Python's `hash()`.
    """
    hashes, lengths = [], []
    for lo, hi in _chunks(encoded):
        b = np.frombuffer(encoded, dtype=np.uint8, count=hi - lo, offset=lo)
        edges = np.diff((~_SPACE[b]).view(np.int8), prepend=0, append=0)
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        prefix = np.zeros(len(b) + 1, dtype=np.uint64)
        powers, inverse = _powers(_BASE), _powers(_BASE_INVERSE)
        np.cumsum(_BYTE_VALUE[b] * powers[: len(b)], out=prefix[1:])
        hashes.append(splitmix64((prefix[ends] - prefix[starts]) * inverse[starts]))
        lengths.append(ends - starts)
    return np.concatenate(hashes), np.concatenate(lengths)


def shingle_hashes(word_hashes: np.ndarray, k: int = SHINGLE_WORDS) -> np.ndarray:
    """32-bit hashes of every run of `k` consecutive words (one for shorter texts)."""
    if len(word_hashes) == 0:
        return np.empty(0, dtype=np.uint32)
    h = word_hashes
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
        if n_docs == 1 and lengths[0] <= self._block:  # the common one-file-one-document case
            out = self._buf[:, : lengths[0]]
            np.multiply(self._a, shingle_sets[0][None, :], out=out)
            out += self._b
            return out.min(axis=1)[None, :]
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


class SignatureFile:
    """MinHash signatures in an anonymous temporary file, read back by slot.

    512 bytes a document is too much to hold for millions of documents, and only the
    few LSH candidates of a document are ever read back (one `pread` each).
    """

    def __init__(self, num_perm: int, folder: str | os.PathLike | None = None) -> None:
        self.row_bytes = num_perm * 4
        self.num_perm = num_perm
        # Closed by close() or at exit; an anonymous file leaves nothing behind on a crash.
        self._file = tempfile.TemporaryFile(prefix="picochat-minhash-", dir=folder)  # noqa: SIM115
        self._rows = 0

    def append(self, signature: np.ndarray) -> int:
        """Store a signature; returns its slot."""
        self._file.write(np.ascontiguousarray(signature, dtype=np.uint32).tobytes())
        self._rows += 1
        return self._rows - 1

    def rows(self, slots: Sequence[int]) -> np.ndarray:
        """(len(slots), num_perm) signatures."""
        self._file.flush()
        fd = self._file.fileno()
        data = b"".join(os.pread(fd, self.row_bytes, slot * self.row_bytes) for slot in slots)
        return np.frombuffer(data, dtype=np.uint32).reshape(len(slots), self.num_perm)

    def truncate(self, rows: int) -> None:
        """Forget every slot from `rows` on."""
        self._file.flush()
        self._file.truncate(rows * self.row_bytes)
        self._file.seek(rows * self.row_bytes)
        self._rows = rows

    def close(self) -> None:
        self._file.close()


class NearDuplicateIndex:
    """LSH index over MinHash signatures; the insertions of one file can be undone.

    Documents are inserted in corpus order; `best_match` looks only at documents
    already inserted, so each pair is reported once, on its later document. Memory per
    document: one 12-byte `KeyIndex` entry per band (the band number is folded into
    the key, so one index serves every band) and 8 bytes for its id; the signature
    itself waits on disk (`SignatureFile`) for the rare candidate check.
    """

    def __init__(
        self, threshold: float, num_perm: int = NUM_PERM, folder: str | os.PathLike | None = None
    ) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands, self.rows = lsh_shape(num_perm, threshold)
        self._keys = KeyIndex(folder=folder)
        self._sigs = SignatureFile(num_perm, folder)
        self._ids = array("q")  # slot -> caller's document id
        self._committed = 0  # slots before `begin`
        self._row_weights = splitmix64(np.arange(1, self.rows + 1, dtype=np.uint64))
        self._band_salts = splitmix64(np.arange(self.bands, dtype=np.uint64) + _GOLDEN)

    def __len__(self) -> int:
        return len(self._ids)

    def band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """(n, bands) uint64 bucket keys (each folds `rows` signature values and its band)."""
        grouped = signatures.reshape(len(signatures), self.bands, self.rows).astype(np.uint64)
        return splitmix64(
            (grouped * self._row_weights).sum(axis=2, dtype=np.uint64) ^ self._band_salts
        )

    def committed_candidates(self, keys: np.ndarray) -> list[list[int]]:
        """Each row's candidates among the documents inserted before `begin`, for a
        file's documents at once (pass row i to `best_match`)."""
        return self._keys.find_rows(keys)

    def best_match(
        self, signature: np.ndarray, keys: np.ndarray, committed: list[int] | None = None
    ) -> NearMatch | None:
        """The most similar inserted document at or above the threshold, if any
        (`committed`: this document's row of `committed_candidates`, when known)."""
        keys = np.asarray(keys, dtype=np.uint64)
        if committed is None:
            candidates = self._keys.find(keys)
        else:
            candidates = committed + self._keys.find_open(keys.tolist())
        if not candidates:
            return None
        slots = sorted(set(candidates))  # sorted: ties go to the earliest
        similarity = (self._sigs.rows(slots) == signature).mean(axis=1)
        best = int(np.argmax(similarity))
        if similarity[best] < self.threshold:
            return None
        return NearMatch(other=self._ids[slots[best]], similarity=float(similarity[best]))

    def insert(self, doc_id: int, signature: np.ndarray, keys: np.ndarray) -> None:
        slot = self._sigs.append(signature)
        self._ids.append(doc_id)
        self._keys.add(np.asarray(keys, dtype=np.uint64).tolist(), slot)

    def begin(self) -> None:
        """Keep the insertions so far; start a group that `rollback` can undo (one file)."""
        self._keys.commit()
        self._committed = len(self._ids)

    def rollback(self) -> None:
        """Undo the insertions since `begin` (a file that was left out)."""
        self._keys.rollback()
        self._sigs.truncate(self._committed)
        del self._ids[self._committed :]

    def close(self) -> None:
        """Remove the signature file and the key index's runs (also removed at exit)."""
        self._sigs.close()
        self._keys.close()
