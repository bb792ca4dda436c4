"""Where the bench scripts find the repo, their results folder and ../shared/data.

Imported as `from bench_paths import ...`: a script run as `python bench/NAME.py` has
bench/ on its path.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"


def shared_data(name: str) -> Path:
    """../shared/data/NAME beside the repo root or beside one of its parents (a worktree
    sits deeper); when none exists, the usual place, so a caller's message names it."""
    for parent in ROOT.parents:
        candidate = parent / "shared" / "data" / name
        if candidate.is_file():
            return candidate
    return ROOT.parent / "shared" / "data" / name


SHAKESPEARE = shared_data("tinyshakespeare.txt")
