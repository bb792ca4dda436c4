"""KeyIndex against a dict of lists: same ids in the same order through every merge,
in memory and through the sorted runs it writes to disk (sorted_runs.py)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

from picochat.data import key_index, sorted_runs
from picochat.data.document_table import DocumentTable
from picochat.data.key_index import KeyIndex
from picochat.data.sorted_runs import MemoryRun, merge_runs, write_run


def test_matches_a_dict_through_merges_and_rollbacks():
    rng = random.Random(5)
    index = KeyIndex(recent_entries=7)  # tiny: every few groups move into the sorted runs
    reference: dict[int, list[int]] = {}
    pool = [rng.getrandbits(64) for _ in range(60)]  # few keys: many ids per key
    next_id = 0
    for _group in range(120):
        keep = rng.random() < 0.8
        staged: dict[int, list[int]] = {}
        for _ in range(rng.randint(0, 6)):
            key = rng.choice(pool)
            index.add([key], next_id)
            staged.setdefault(key, []).append(next_id)
            # the open group is visible at once, after the committed ids
            assert (
                index.find(np.array([key], dtype=np.uint64)) == reference.get(key, []) + staged[key]
            )
            next_id += 1
        if keep:
            index.commit()
            for key, ids in staged.items():
                reference.setdefault(key, []).extend(ids)
        else:
            index.rollback()
    assert len(index) == sum(map(len, reference.values()))
    assert len(index._main[0]) > 0 and len(index._tail[0]) > 0  # both runs were exercised
    for key in pool:
        assert index.find(np.array([key], dtype=np.uint64)) == reference.get(key, [])
    rows = index.find_rows(np.array([[k] for k in pool], dtype=np.uint64))
    assert rows == [reference.get(k, []) for k in pool]  # all committed: no open group
    several = np.array(pool[:5] + [12345], dtype=np.uint64)
    assert sorted(index.find(several)) == sorted(i for k in pool[:5] for i in reference.get(k, []))


def _open_files_under(folder: Path) -> int:
    """This process's open files in `folder` (anonymous temp files show as deleted)."""
    fds = Path("/proc/self/fd")
    targets = [os.readlink(fd) for fd in fds.iterdir() if fd.is_symlink()]
    return sum(t.startswith(str(folder)) for t in targets)


def test_spills_sorted_runs_to_disk_and_matches_a_dict(tmp_path, monkeypatch):
    monkeypatch.setattr(sorted_runs, "MERGE_CHUNK", 3)  # merges cross many chunk edges
    merges: list[tuple[int, int]] = []

    def counting(older, newer, folder, chunk=None):
        merges.append((len(older), len(newer)))
        assert folder == tmp_path
        return merge_runs(older, newer, folder, chunk)

    monkeypatch.setattr(key_index, "merge_runs", counting)
    rng = random.Random(11)
    index = KeyIndex(recent_entries=5, memory_entries=16, folder=tmp_path)
    reference: dict[int, list[int]] = {}
    pool = [rng.getrandbits(64) for _ in range(25)]  # few keys: long runs of equal keys
    most_runs, next_id = 0, 0
    for group in range(400):
        staged: dict[int, list[int]] = {}
        for _ in range(rng.randint(0, 5)):
            keys = rng.sample(pool, rng.randint(1, 3))
            index.add(keys, next_id)
            for key in keys:
                staged.setdefault(key, []).append(next_id)
            key = rng.choice(keys)
            found = index.find(np.array([key], dtype=np.uint64))
            assert found == reference.get(key, []) + staged[key]  # the earliest first
            next_id += 1
        if rng.random() < 0.8:
            index.commit()
            for key, ids in staged.items():
                reference.setdefault(key, []).extend(ids)
        else:
            index.rollback()
        most_runs = max(most_runs, len(index._disk))
        if group % 37 == 0:
            rows = index.find_rows(np.array([[k] for k in pool], dtype=np.uint64))
            assert rows == [reference.get(k, []) for k in pool]
    total = sum(map(len, reference.values()))
    assert len(index) == total
    # spills (memory + tail) and disk merges (two disk runs, both over the budget) happened
    assert any(a > 16 and b > 16 for a, b in merges) and most_runs >= 2
    # run sizes at least double towards the oldest: O(log N) runs
    sizes = [len(run) for run in index._disk]
    assert all(older > 2 * newer for older, newer in zip(sizes, sizes[1:], strict=False))
    assert len(sizes) <= np.log2(total / 16) + 1
    for key in pool:
        assert index.find(np.array([key], dtype=np.uint64)) == reference.get(key, [])
    assert _open_files_under(tmp_path) == 2 * len(index._disk) > 0  # the file and its map
    index.close()
    assert _open_files_under(tmp_path) == 0 and len(index) == 0


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64])
def test_streamed_merge_equals_a_stable_sort(tmp_path, chunk):
    rng = np.random.default_rng(chunk)
    values = rng.integers(0, 2**64, size=4, dtype=np.uint64)  # 4 keys: long equal spans
    for n_old, n_new in [(0, 9), (9, 0), (1, 1), (20, 7), (7, 20), (33, 31)]:
        old_keys = np.sort(rng.choice(values, n_old))
        new_keys = np.sort(rng.choice(values, n_new))
        old_ids = np.arange(n_old, dtype=np.int32)
        new_ids = np.arange(n_old, n_old + n_new, dtype=np.int32)
        older = write_run(old_keys, old_ids, tmp_path) if n_old else MemoryRun(old_keys, old_ids)
        merged = merge_runs(older, MemoryRun(new_keys, new_ids), tmp_path, chunk)
        keys = np.concatenate([old_keys, new_keys])
        order = np.argsort(keys, kind="stable")  # equal keys: the older run's ids first
        assert merged.keys.tolist() == keys[order].tolist()
        assert merged.ids.tolist() == order.tolist()
        again = merge_runs(merged, MemoryRun(new_keys, new_ids + 100), tmp_path, chunk)
        assert (
            again.read(0, len(again))[1].tolist()
            == np.concatenate([order, new_ids + 100])[
                np.argsort(np.concatenate([keys[order], new_keys]), kind="stable")
            ].tolist()
        )
        for run in (older, merged, again):
            if hasattr(run, "close"):
                run.close()
    assert _open_files_under(tmp_path) == 0


def test_refuses_ids_it_cannot_store():
    with pytest.raises(ValueError, match="ids must be within"):
        KeyIndex().add([1], 2**31)


def test_document_table_reads_like_the_list_of_dicts():
    table = DocumentTable()
    assert table.append("a.txt", "web", None, 0, 5) == 0
    assert table.append("b.jsonl", "chat", 3, 7, 9) == 1
    table.mark(1, near_duplicate_of=0, similarity=0.9)
    table.mark(1, contained_in=0)
    expected = [
        {"id": 0, "source": "a.txt", "label": "web", "row": None, "char_start": 0, "char_end": 5},
        {"id": 1, "source": "b.jsonl", "label": "chat", "row": 3, "char_start": 7, "char_end": 9,
         "near_duplicate_of": 0, "similarity": 0.9, "contained_in": 0},
    ]  # fmt: skip
    assert table == expected and list(table) == expected and table[-1] == expected[1]
    assert table[:1] == expected[:1] and len(table) == 2 and table.source(1) == "b.jsonl"
    assert list(table.spans()) == [(0, 0, 5), (1, 7, 9)]
    with pytest.raises(IndexError):
        table[2]


def _words(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choices("etaoinshrdlucmfwyp", k=rng.randint(2, 8))) for _ in range(n)]


def _build(folder: Path, out: Path) -> dict[str, bytes]:
    from picochat.configs import CorpusConfig
    from picochat.data.corpus import build_corpus

    result = build_corpus(CorpusConfig(input=folder, out=out / "corpus.txt", min_score=80))
    found = {name: path.read_bytes() for name, path in result.paths.items()}
    assert b"wall_seconds" in found["manifest"]
    return found


def test_build_spilling_every_few_documents_writes_the_same_bytes(tmp_path, monkeypatch):
    """The same corpus.txt, manifest and report whether the dedup indexes stay in memory
    or spill to disk every few documents and merge their runs again and again."""
    rng = random.Random(3)
    folder = tmp_path / "in"
    folder.mkdir()
    docs = [" ".join(_words(rng, 80)) for _ in range(120)]
    for number in range(40):  # each file is a commit (and a chance to spill)
        lines = []
        for _ in range(6):
            text = rng.choice(docs)
            if rng.random() < 0.5:  # a near copy: a few words changed
                words = text.split()
                for at in rng.sample(range(len(words)), 3):
                    words[at] = "changed"
                text = " ".join(words)
            lines.append(text)
        (folder / f"part{number}.jsonl").write_text(
            "".join(json.dumps({"text": t}) + "\n" for t in lines)
        )
    repeated = [f"buy now {i % 3} and save big today\n" * 30 for i in range(6)]
    # filtered by --min-score after its documents went into the index: a rollback
    (folder / "part20b.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in repeated))

    def frozen(found: dict[str, bytes]) -> dict[str, bytes]:  # the wall time and output path vary
        import re

        return {
            name: re.sub(rb"(wall_seconds|created_at)\W+[^,\n]*|spill|whole", b"", data)
            for name, data in found.items()
        }

    whole = _build(folder, tmp_path / "whole")
    merges: list[int] = []

    def counting(older, newer, folder, chunk=None):
        merges.append(len(older) + len(newer))
        return merge_runs(older, newer, folder, chunk)

    monkeypatch.setattr(key_index, "merge_runs", counting)
    monkeypatch.setattr(key_index, "MEMORY_ENTRIES", 100)  # ~3 documents' band keys
    monkeypatch.setattr(key_index, "RECENT_ENTRIES", 10)
    monkeypatch.setattr(sorted_runs, "MERGE_CHUNK", 7)
    spilled = _build(folder, tmp_path / "spill")
    assert len(merges) > 15 and max(merges) > 1000  # spills, and merges of disk runs
    assert spilled["corpus"] == whole["corpus"]
    assert frozen(spilled) == frozen(whole)
    manifest = whole["manifest"].decode()
    assert '"near_duplicate_of"' in manifest and '"duplicate_of"' in manifest
    assert "filtered: quality score" in manifest
