"""`export hf` never deletes what it did not write (issue: it emptied foreign folders)."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")


def _export(run_cli, tiny_files, out, *extra):
    tok, ckpt = tiny_files
    return run_cli(
        "export", "hf", "--checkpoint", ckpt, "--tokenizer", tok, "--out-dir", out, *extra
    )


def test_foreign_nonempty_folder_is_refused_and_kept(run_cli, tiny_files, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious", encoding="utf-8")
    code, _, err = _export(run_cli, tiny_files, out)
    assert code == 2
    assert "--force" in err and "notes.txt" in err and "Traceback" not in err
    assert (out / "notes.txt").read_text(encoding="utf-8") == "precious"


def test_own_earlier_export_is_replaced_and_force_replaces_foreign(run_cli, tiny_files, tmp_path):
    out = tmp_path / "hf"
    assert _export(run_cli, tiny_files, out)[0] == 0
    assert _export(run_cli, tiny_files, out)[0] == 0  # its own marker: replaced quietly
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x", encoding="utf-8")
    assert _export(run_cli, tiny_files, tmp_path / "other", "--force")[0] == 0
    assert not (tmp_path / "other" / "x.txt").exists()
    assert (tmp_path / "other" / "config.json").is_file()


def test_file_target_is_refused_not_renamed(run_cli, tiny_files, tmp_path):
    target = tmp_path / "model"
    target.write_text("a file", encoding="utf-8")
    code, _, err = _export(run_cli, tiny_files, target, "--force")
    assert code == 2 and "is an existing file" in err
    assert target.read_text(encoding="utf-8") == "a file"
    assert not (tmp_path / "model.old").exists()


def test_folder_holding_the_input_checkpoint_is_refused_even_with_force(
    run_cli, tiny_files, tmp_path
):
    _, ckpt = tiny_files
    code, _, err = _export(run_cli, tiny_files, ckpt.parent, "--force")
    assert code == 2 and "would delete it" in err
    assert (ckpt / "model.safetensors").is_file()
