"""KeyIndex against a dict of lists: same ids in the same order through every merge."""

from __future__ import annotations

import random

import numpy as np
import pytest

from picochat.data.document_table import DocumentTable
from picochat.data.key_index import KeyIndex


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
