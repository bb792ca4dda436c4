"""`data hf-import` faults: a malformed row is named by its own line; a read-only output
is blamed on the output, not on the rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("datasets")


def _rows(count: int) -> list[str]:
    return [json.dumps({"text": f"row {i} has enough text to be kept here"}) for i in range(count)]


def test_malformed_row_is_named_by_its_line(tmp_path):
    rows = _rows(3000)
    rows[2500] = '{"text": "broken'  # line 2501; the parser reads blocks and says "row 2500"
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    # A real process: datasets' logger writes to the stderr it found at import time.
    done = subprocess.run(
        [sys.executable, "-m", "picochat", "data", "hf-import", "--dataset", str(data),
         "--out", str(tmp_path / "c.txt")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")},
    )  # fmt: skip
    err = done.stderr
    assert done.returncode == 2 and "rows.jsonl:2501" in err and "Traceback" not in err
    assert "Failed to load JSON" not in err  # datasets' own line, with its block's "row 2500"


def test_read_only_output_is_not_blamed_on_the_rows(tmp_path, run_cli):
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(_rows(20)) + "\n", encoding="utf-8")
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here ({done.stderr.strip()})")
    try:
        code, _, err = run_cli("data", "hf-import", "--dataset", data, "--out", mount / "c.txt")
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    assert code == 2 and "read-only" in err and "well formed" not in err
