"""The spilling duplicate-line counter gives RepeatedLines' exact figure."""

from __future__ import annotations

import numpy as np

from picochat.data import line_counts
from picochat.data.line_counts import SpillingRepeatedLines
from picochat.data.quality import RepeatedLines


def test_spilled_count_equals_the_in_memory_count(tmp_path, monkeypatch):
    monkeypatch.setattr(line_counts, "BATCH", 500)
    rng = np.random.default_rng(0)
    pool = rng.integers(-(2**63), 2**63 - 1, size=3000, dtype=np.int64)  # repeats are certain
    reference, spilled = RepeatedLines(), SpillingRepeatedLines(memory_lines=1000, folder=tmp_path)
    for _ in range(60):
        batch = rng.choice(pool, size=int(rng.integers(1, 200)))
        reference.add(batch)
        spilled.add(batch)
    assert spilled.lines == reference.lines > 1000
    assert list(tmp_path.iterdir())  # it did spill to disk
    assert spilled.repeated() == reference.repeated() > 0
    assert not list(tmp_path.iterdir())  # and cleaned up


def test_below_the_memory_limit_nothing_touches_the_disk(tmp_path):
    counter = SpillingRepeatedLines(memory_lines=100, folder=tmp_path)
    counter.add(np.array([1, 2, 2, 3, 1], dtype=np.int64))
    assert counter.repeated() == 2 and not list(tmp_path.iterdir())
