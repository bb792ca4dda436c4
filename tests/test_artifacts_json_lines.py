"""atomic_write_json with one item per line: same JSON value, one line per item."""

from __future__ import annotations

import json
from pathlib import Path

from picochat.artifacts import atomic_write_json


def test_one_item_per_line_round_trips(tmp_path: Path):
    data = {
        "stats": {"rate": float("nan"), "n": 2},
        "documents": [{"source": Path("a.txt"), "span": [0, 5]}, {"source": "b", "span": [7, 9]}],
        "empty": [],
    }
    path = atomic_write_json(tmp_path / "m.json", data, one_item_per_line=("documents", "empty"))
    text = path.read_text()
    assert json.loads(text) == {
        "stats": {"rate": None, "n": 2},
        "documents": [{"source": "a.txt", "span": [0, 5]}, {"source": "b", "span": [7, 9]}],
        "empty": [],
    }
    assert '\n    {"source": "a.txt", "span": [0, 5]},\n' in text
    plain = atomic_write_json(tmp_path / "p.json", data)
    assert json.loads(plain.read_text()) == json.loads(text)
