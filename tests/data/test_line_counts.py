"""The duplicate-line counter: exact, in memory or spilled to disk."""

from __future__ import annotations

import numpy as np

from picochat.data import line_counts
from picochat.data.line_counts import RepeatedLines


def repeats(hashes: np.ndarray) -> int:
    """Lines equal to an earlier line: all but the first of each distinct value."""
    return len(hashes) - len(np.unique(hashes))


def test_spilled_count_equals_the_exact_count(tmp_path, monkeypatch):
    monkeypatch.setattr(line_counts, "BATCH", 500)
    rng = np.random.default_rng(0)
    pool = rng.integers(-(2**63), 2**63 - 1, size=3000, dtype=np.int64)  # repeats are certain
    counter = RepeatedLines(memory_lines=1000, folder=tmp_path)
    seen = []
    for _ in range(60):
        batch = rng.choice(pool, size=int(rng.integers(1, 200)))
        counter.add(batch)
        seen.append(batch)
    assert counter.lines == sum(len(b) for b in seen) > 1000
    assert list(tmp_path.iterdir())  # it did spill to disk
    assert counter.repeated() == repeats(np.concatenate(seen)) > 0
    assert not list(tmp_path.iterdir())  # and cleaned up


def test_below_the_memory_limit_nothing_touches_the_disk(tmp_path):
    counter = RepeatedLines(memory_lines=100, folder=tmp_path)
    counter.add(np.array([1, 2, 2, 3, 1], dtype=np.int64))
    assert counter.repeated() == 2 and not list(tmp_path.iterdir())


def test_data_build_gives_the_same_duplicate_line_rate_when_it_spills(tmp_path, monkeypatch):
    from picochat.configs import CorpusConfig
    from picochat.data.corpus import build_corpus

    folder = tmp_path / "src"
    folder.mkdir()
    for i in range(6):
        lines = [f"line {j % (3 + i)} of file {i % 2}" for j in range(40)]
        (folder / f"f{i}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = CorpusConfig(input=folder)
    in_memory = build_corpus(config, write=False).stats
    monkeypatch.setattr(line_counts, "MEMORY_LINES", 10)
    monkeypatch.setattr(line_counts, "BATCH", 16)
    made = []
    real_mkdtemp = line_counts.tempfile.mkdtemp
    monkeypatch.setattr(line_counts.tempfile, "mkdtemp",
                        lambda **kw: made.append(1) or real_mkdtemp(**kw))  # fmt: skip
    spilled = build_corpus(config, write=False).stats
    assert made  # the hashes did go to disk
    assert spilled["duplicate_line_rate"] == in_memory["duplicate_line_rate"] > 0
