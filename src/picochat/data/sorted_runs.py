"""Key-sorted runs of (uint64 key, int32 id) entries, in memory or in a temporary file.

The on-disk half of `KeyIndex` (key_index.py): a multi-GB corpus puts tens of millions
of dedup entries in its index, more than `data build` should hold on the heap. A full
in-memory run is written to an anonymous temporary file (`DiskRun`: the keys, then
the ids; removed when closed or when the process ends, even on a crash) and looked up
through a read-only memory map: mapped pages are the kernel's page cache, counted in
RSS but not in anonymous memory, and dropped under memory pressure.

`merge_runs` merges two runs into a new disk run in chunks of `MERGE_CHUNK` entries
from each side (read with `pread`, not through the map, so a merge does not fault a
whole run into the process), so merging costs the same memory at any run size. For
equal keys the older run's entries come first, so ids stay in insertion order.

Not here: when to spill or merge (`KeyIndex`), what the keys are (`dedup.py`).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
from typing import IO

import numpy as np

# Entries read from each side per step of a streamed merge: 3 MB a side, and the step's
# merge arrays ~7 MB more; big enough that the per-step numpy calls cost nothing.
MERGE_CHUNK = 1 << 18
_ENTRY_BYTES = 12  # an 8-byte key and a 4-byte id


def merge_sorted(
    keys: np.ndarray, ids: np.ndarray, new_keys: np.ndarray, new_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two key-sorted runs as one, in linear time; for equal keys the older run first."""
    slots = np.searchsorted(keys, new_keys, side="right") + np.arange(len(new_keys))
    merged_keys = np.empty(len(keys) + len(new_keys), dtype=np.uint64)
    merged_ids = np.empty(len(merged_keys), dtype=np.int32)
    old = np.ones(len(merged_keys), dtype=bool)
    old[slots] = False
    merged_keys[slots], merged_ids[slots] = new_keys, new_ids
    merged_keys[old], merged_ids[old] = keys, ids
    return merged_keys, merged_ids


class MemoryRun:
    """A sorted run held in numpy arrays (the in-memory side of a merge)."""

    def __init__(self, keys: np.ndarray, ids: np.ndarray) -> None:
        self.keys, self.ids = keys, ids

    def __len__(self) -> int:
        return len(self.keys)

    def read(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        return self.keys[lo:hi], self.ids[lo:hi]


def _pread_array(fd: int, dtype: type, offset: int, count: int) -> np.ndarray:
    out = np.empty(count, dtype=dtype)
    view = memoryview(out).cast("B")
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got <= 0:
            raise OSError(f"sorted run file ended at byte {offset + done}")
        done += got
    return out


def _pwrite_array(fd: int, array: np.ndarray, offset: int) -> None:
    view = memoryview(np.ascontiguousarray(array)).cast("B")
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)


class DiskRun:
    """A sorted run in an anonymous temporary file: `keys` and `ids` are read-only maps."""

    def __init__(self, file: IO[bytes], size: int) -> None:
        self._file = file
        self._size = size
        self._map = mmap.mmap(file.fileno(), size * _ENTRY_BYTES, access=mmap.ACCESS_READ)
        self.keys = np.frombuffer(self._map, dtype=np.uint64, count=size)
        self.ids = np.frombuffer(self._map, dtype=np.int32, count=size, offset=size * 8)

    def __len__(self) -> int:
        return self._size

    def read(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Entries lo..hi as fresh arrays, read from the file (not faulted into the map)."""
        fd = self._file.fileno()
        keys = _pread_array(fd, np.uint64, lo * 8, hi - lo)
        return keys, _pread_array(fd, np.int32, self._size * 8 + lo * 4, hi - lo)

    def close(self) -> None:
        """Remove the file (the map goes when the last array viewing it does)."""
        del self.keys, self.ids
        # BufferError: a caller still holds a slice of the map; it is freed with that
        with contextlib.suppress(BufferError):
            self._map.close()
        self._file.close()


class _RunWriter:
    """Writes `size` sorted entries, in order, into a new temporary file."""

    def __init__(self, folder: str | None, size: int) -> None:
        # Next to the caller's output when it gives a folder (/tmp may be RAM-backed);
        # an anonymous file leaves nothing behind on a crash.
        self._file = tempfile.TemporaryFile(prefix="picochat-keys-", dir=folder)  # noqa: SIM115
        self._size = size
        self._written = 0

    def write(self, keys: np.ndarray, ids: np.ndarray) -> None:
        fd = self._file.fileno()
        _pwrite_array(fd, keys.astype(np.uint64, copy=False), self._written * 8)
        _pwrite_array(fd, ids.astype(np.int32, copy=False), self._size * 8 + self._written * 4)
        self._written += len(keys)

    def finish(self) -> DiskRun:
        if self._written != self._size:
            raise AssertionError(f"sorted run: wrote {self._written} of {self._size} entries")
        return DiskRun(self._file, self._size)


def write_run(keys: np.ndarray, ids: np.ndarray, folder: str | None) -> DiskRun:
    """One sorted in-memory run as a disk run."""
    writer = _RunWriter(folder, len(keys))
    writer.write(keys, ids)
    return writer.finish()


def merge_runs(
    older: DiskRun | MemoryRun,
    newer: DiskRun | MemoryRun,
    folder: str | None,
    chunk: int | None = None,
) -> DiskRun:
    """`older` and `newer` merged into a new disk run, `chunk` entries a side at a time.

    Each step takes a cut (ac, bc) such that the entries before it, merged, are exactly
    the next part of the whole merge: every newer entry before the cut is below the
    first older entry after it (equal keys: older first), and every older entry before
    it is at most the first newer entry after it. One side's window is taken whole
    and the other side cut by binary search inside its own window.
    """
    chunk = chunk or MERGE_CHUNK
    na, nb = len(older), len(newer)
    writer = _RunWriter(folder, na + nb)
    a0 = b0 = 0
    while a0 < na or b0 < nb:
        a1, b1 = min(a0 + chunk, na), min(b0 + chunk, nb)
        if a1 == na and b1 == nb:
            ac, bc = na, nb
        elif a1 < na and (b1 == nb or older.keys[a1] <= newer.keys[b1 - 1]):
            # every newer entry below older[a1] lies in newer's window
            ac = a1
            bc = b0 + int(np.searchsorted(newer.keys[b0:b1], older.keys[a1], side="left"))
        else:
            # every older entry at or below newer[b1 - 1] lies in older's window
            bc = b1
            ac = a0 + int(np.searchsorted(older.keys[a0:a1], newer.keys[b1 - 1], side="right"))
        writer.write(*merge_sorted(*older.read(a0, ac), *newer.read(b0, bc)))
        a0, b0 = ac, bc
    return writer.finish()
