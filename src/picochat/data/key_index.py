"""A compact multimap from 64-bit keys to ids: the dedup indexes of `data build` at scale.

A Python dict spends about 100 bytes on an entry (the key and value objects and the
table slot). The near-duplicate index puts 32 LSH band keys per document in its map,
so a 2 GB corpus of 330 K documents held ~1 GB of dict entries (`data build` peaked
at 0.9 MB of memory per MB of corpus). Here a committed entry costs 12 bytes: a
`uint64` key and an `int32` id in sorted numpy arrays, found by binary search.

Entries arrive in groups (one source file's documents): `add` puts an entry in the open
group, where `find` already sees it; `commit` closes the group and `rollback` drops it
(a file that --min-score filters out). Committed entries wait in a small dict until
there are `RECENT_ENTRIES` of them, then are sorted into a tail run, and the tail is
merged into the main run once it holds a quarter as many entries. Each merge is linear
(no re-sort of the main run) and each entry is copied a bounded number of times on
average, so building the index costs O(N log N) for the sorts of the small batches.

Memory stays bounded: once main and tail together would pass `MEMORY_ENTRIES`, they
are written as one sorted run to a temporary file (`sorted_runs.py`, in the caller's
`folder`) and memory starts over. Disk runs are kept oldest first and the newest two
merged (streamed, in chunks) while the newer is at least half the older, so run sizes
at least double towards the oldest: O(log N) runs, each entry rewritten O(log N) times.

`find(keys)` returns the ids in the order they were added (disk runs oldest first, main
run, tail, then the recent and open entries), so "the earliest document" means the
same as with a dict.

Not here: what the keys are (`dedup.py` folds LSH bands and exact-text digests into them).
"""

from __future__ import annotations

import os

import numpy as np

from picochat.data.sorted_runs import DiskRun, MemoryRun, merge_runs, merge_sorted

RECENT_ENTRIES = 1 << 16  # ~6 MB of dict entries before they move into the sorted runs
# In-memory main + tail entries before they go to disk: 24 MB as arrays, ~50 MB at the
# peak of the last in-memory merge (old, new and merged arrays at once). At 33 entries
# a document that is ~60 K documents (~400 MB of text in bench_data_scale), so small
# corpora never touch the disk; a disk run is searched as fast once its pages are cached.
MEMORY_ENTRIES = 1 << 21
_ID_LIMIT = np.iinfo(np.int32).max


def _run(entries: dict[int, list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Dict entries as a key-sorted run (ids of one key stay in insertion order)."""
    keys = np.fromiter(
        (key for key, ids in entries.items() for _ in ids), dtype=np.uint64,
        count=sum(len(ids) for ids in entries.values()),
    )  # fmt: skip
    ids = np.fromiter((i for found in entries.values() for i in found), dtype=np.int32,
                      count=len(keys))  # fmt: skip
    order = np.argsort(keys, kind="stable")
    return keys[order], ids[order]


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int32)


class KeyIndex:
    """uint64 key -> ids (several per key, in insertion order); 12 bytes a committed entry."""

    def __init__(
        self,
        recent_entries: int | None = None,
        memory_entries: int | None = None,
        folder: str | os.PathLike | None = None,
    ) -> None:
        """`folder`: where disk runs' temporary files go (None: the system's temp dir)."""
        # the defaults are read here, so a test can shrink them for a whole build
        self.recent_entries = RECENT_ENTRIES if recent_entries is None else recent_entries
        self.memory_entries = max(1, MEMORY_ENTRIES if memory_entries is None else memory_entries)
        self.folder = folder
        self._disk: list[DiskRun] = []  # oldest first
        self._main = self._tail = _empty()
        self._recent: dict[int, list[int]] = {}
        self._recent_size = 0
        self._open: dict[int, list[int]] = {}
        self._open_size = 0

    def __len__(self) -> int:
        committed = sum(map(len, self._disk)) + len(self._main[0]) + len(self._tail[0])
        return committed + self._recent_size + self._open_size

    def find(self, keys: np.ndarray) -> list[int]:
        """The ids stored under any of `keys` (uint64), run by run, the oldest run first."""
        return self.find_rows(keys.reshape(1, -1))[0] + self.find_open(keys.tolist())

    def find_rows(self, keys: np.ndarray) -> list[list[int]]:
        """For each row of `keys` ((n, k) uint64), the committed ids under any of its keys.

        One binary search per run for all the rows at once (a file's documents: nearly
        every key is absent), instead of numpy calls per document; the open group is not
        searched (`find_open`), since it grows while a file's documents are placed. The
        keys are searched in sorted order: neighbouring searches then share cache lines
        and pages, ~7x faster than in row order for 86 K keys in an 8 M-entry run.
        """
        width = keys.shape[1]
        flat = keys.reshape(-1)
        order = np.argsort(flat, kind="stable")
        ordered = flat[order]
        found: list[list[int]] = [[] for _ in range(keys.shape[0])]
        runs = [(run.keys, run.ids) for run in self._disk] + [self._main, self._tail]
        for run_keys, run_ids in runs:
            if not len(run_keys):
                continue
            lo = np.searchsorted(run_keys, ordered, side="left")
            hit = lo < len(run_keys)
            hit[hit] = run_keys[lo[hit]] == ordered[hit]
            where = np.flatnonzero(hit)
            hi = np.searchsorted(run_keys, ordered[where], side="right")
            # back in row order, so a row's ids come key by key as its keys were given
            back = np.argsort(order[where], kind="stable")
            rows = (order[where][back] // width).tolist()
            for row, a, b in zip(rows, lo[where][back].tolist(), hi[back].tolist(), strict=True):
                found[row].extend(run_ids[a:b].tolist())
        if self._recent:
            for position, key in enumerate(flat.tolist()):
                ids = self._recent.get(key)
                if ids:
                    found[position // width].extend(ids)
        return found

    def find_open(self, keys: list[int]) -> list[int]:
        """The ids of the open group under any of `keys`."""
        found: list[int] = []
        if self._open:
            for key in keys:
                found.extend(self._open.get(key, ()))
        return found

    def add(self, keys: list[int], value: int) -> None:
        """Put `value` under each of `keys` in the open group (seen by `find` at once)."""
        if not 0 <= value <= _ID_LIMIT:
            raise ValueError(f"ids must be within 0..{_ID_LIMIT}, got {value}")
        for key in keys:
            self._open.setdefault(key, []).append(value)
        self._open_size += len(keys)

    def rollback(self) -> None:
        """Drop the open group."""
        self._open.clear()
        self._open_size = 0

    def commit(self) -> None:
        """Keep the open group; move entries into the sorted runs when enough wait."""
        for key, ids in self._open.items():
            self._recent.setdefault(key, []).extend(ids)
        self._recent_size += self._open_size
        self.rollback()
        if self._recent_size < self.recent_entries:
            return
        self._tail = merge_sorted(*self._tail, *_run(self._recent))
        self._recent.clear()
        self._recent_size = 0
        if len(self._tail[0]) * 4 < len(self._main[0]):
            return
        if len(self._main[0]) + len(self._tail[0]) <= self.memory_entries:
            self._main = merge_sorted(*self._main, *self._tail)
        else:
            self._spill()
        self._tail = _empty()

    def _spill(self) -> None:
        """Main and tail, merged, become the newest disk run; then the newest runs merge
        while the newer is at least half the older (sizes double towards the oldest)."""
        main, tail = MemoryRun(*self._main), MemoryRun(*self._tail)
        self._disk.append(merge_runs(main, tail, self.folder))
        self._main = _empty()
        while len(self._disk) >= 2 and 2 * len(self._disk[-1]) >= len(self._disk[-2]):
            newer, older = self._disk.pop(), self._disk.pop()
            self._disk.append(merge_runs(older, newer, self.folder))
            older.close()
            newer.close()

    def close(self) -> None:
        """Remove the disk runs' files and forget every entry (also done at exit)."""
        for run in self._disk:
            run.close()
        self._disk.clear()
        self._main = self._tail = _empty()
        self._recent.clear()
        self._recent_size = 0
        self.rollback()
