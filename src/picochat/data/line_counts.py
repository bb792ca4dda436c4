"""The exact duplicate-line count of a corpus of any size, in bounded memory.

Keeping every line hash in memory costs 8 bytes per line, up to twice that while an
array grows (a 2 GB corpus of 28-character lines: ~75 M lines, 0.6-1.2 GB).
`RepeatedLines` counts lines equal to an earlier line, exactly, and keeps at most
`memory_lines` hashes in memory (4 M): beyond that, hashes go to `PARTITIONS` temporary files
by their top bits (equal hashes always share a file), in batches of `BATCH` hashes;
`repeated()` then sorts one partition at a time. Memory: `memory_lines` x 8 bytes plus
one partition (total / 64). Disk: 8 bytes per line, in a temporary folder removed when
counting ends.

Not for hashing lines (quality.line_hashes) or scoring files.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

PARTITIONS = 64
BATCH = 1 << 20  # hashes buffered before they are partitioned and appended to the files
MEMORY_LINES = 1 << 22  # 4 M lines (32 MB) are counted in memory, as before


class RepeatedLines:
    """Counts corpus lines that repeat an earlier line (by 64-bit hash), exactly."""

    def __init__(self, memory_lines: int | None = None, folder: Path | None = None) -> None:
        self.memory_lines = MEMORY_LINES if memory_lines is None else memory_lines
        self.lines = 0
        self._parts: list[np.ndarray] = []
        self._buffered = 0
        self._parent = folder
        self._folder: Path | None = None  # set once the hashes spill to disk

    def add(self, hashes: np.ndarray) -> None:
        self._parts.append(np.asarray(hashes, dtype=np.int64))
        self._buffered += len(hashes)
        self.lines += len(hashes)
        if self._folder is not None and self._buffered >= BATCH:
            self._spill()
        elif self._folder is None and self.lines > self.memory_lines:
            self._folder = Path(tempfile.mkdtemp(prefix="picochat-lines-", dir=self._parent))
            self._spill()

    def _spill(self) -> None:
        parts, self._parts, self._buffered = self._parts, [], 0
        batch: list[np.ndarray] = []
        size = 0
        for part in parts:  # BATCH hashes at a time: the temporaries stay ~5 x 8 MB
            batch.append(part)
            size += len(part)
            if size >= BATCH:
                self._write(np.concatenate(batch).view(np.uint64))
                batch, size = [], 0
        if batch:
            self._write(np.concatenate(batch).view(np.uint64))

    def _write(self, hashes: np.ndarray) -> None:
        partition = (hashes >> np.uint64(64 - 6)).astype(np.int64)  # top 6 bits: 64 files
        order = np.argsort(partition, kind="stable")
        bounds = np.searchsorted(partition[order], np.arange(PARTITIONS + 1))
        for number in range(PARTITIONS):
            lo, hi = bounds[number], bounds[number + 1]
            if hi > lo:
                with open(self._folder / f"{number:02d}.bin", "ab") as handle:
                    hashes[order[lo:hi]].tofile(handle)

    def repeated(self) -> int:
        """Lines equal (by hash) to an earlier line; frees the memory and the files."""
        if self._folder is None:
            view = np.concatenate(self._parts) if self._parts else np.empty(0, np.int64)
            view.sort()
            return int(np.count_nonzero(view[1:] == view[:-1]))
        try:
            if self._parts:
                self._spill()
            total = 0
            for path in sorted(self._folder.glob("*.bin")):
                part = np.fromfile(path, dtype=np.uint64)
                part.sort()
                total += int(np.count_nonzero(part[1:] == part[:-1]))
            return total
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)
