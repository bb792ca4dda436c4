"""A crash between the two renames of a folder swap is recovered from, newest copy first."""

from __future__ import annotations

import os

from picochat.artifacts import atomic_dir, recover_dir


def test_crash_between_renames_recovers_the_new_complete_copy(tmp_path):
    target = tmp_path / "checkpoint"
    with atomic_dir(target) as tmp:
        (tmp / "w").write_text("old", encoding="utf-8")
    new = tmp_path / "checkpoint.tmp"
    new.mkdir()
    (new / "w").write_text("new", encoding="utf-8")
    os.replace(target, tmp_path / "checkpoint.old")  # the first rename happened, not the second
    assert recover_dir(target)
    assert (target / "w").read_text(encoding="utf-8") == "new"
    assert not (tmp_path / "checkpoint.old").exists() and not new.exists()


def test_only_the_old_copy_left_is_restored_and_a_complete_folder_is_untouched(tmp_path):
    target = tmp_path / "checkpoint"
    (tmp_path / "checkpoint.old").mkdir()
    (tmp_path / "checkpoint.old" / "w").write_text("old", encoding="utf-8")
    assert recover_dir(target) and (target / "w").read_text(encoding="utf-8") == "old"
    assert not recover_dir(target)  # nothing to do


def test_next_swap_recovers_first(tmp_path):
    target = tmp_path / "c"
    (tmp_path / "c.old").mkdir()
    (tmp_path / "c.old" / "w").write_text("old", encoding="utf-8")
    with atomic_dir(target) as tmp:
        (tmp / "w").write_text("newer", encoding="utf-8")
    assert (target / "w").read_text(encoding="utf-8") == "newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
