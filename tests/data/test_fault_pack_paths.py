"""Pack and recipe paths stay inside their folder unless --allow-outside-pack; the
published packs' string `corpus` form reads."""

from __future__ import annotations

import json

TEXT = "A small model learns what its corpus holds and little else. " * 20


def _pack(tmp_path, corpus, name="pack"):
    folder = tmp_path / name
    folder.mkdir()
    pack = folder / "pack.json"
    pack.write_text(json.dumps({"name": "p", "corpus": corpus}), encoding="utf-8")
    return folder, pack


def test_pack_path_outside_its_folder_is_refused_unless_allowed(tmp_path, run_cli):
    secret = tmp_path / "secret.txt"
    secret.write_text(TEXT, encoding="utf-8")
    _, pack = _pack(tmp_path, {"input": "../secret.txt"})
    code, _, err = run_cli("data", "preview", "--dataset-pack", pack)
    assert code == 2 and "outside the folder" in err and "--allow-outside-pack" in err
    assert "Traceback" not in err
    out = tmp_path / "c" / "corpus.txt"
    code, _, err = run_cli("--quiet", "data", "build", "--dataset-pack", pack, "--out", out,
                           "--allow-outside-pack")  # fmt: skip
    assert code == 0, err
    assert "little else" in out.read_text(encoding="utf-8")


def test_recipe_source_outside_its_folder_is_refused(tmp_path, run_cli):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.txt").write_text(TEXT, encoding="utf-8")
    folder = tmp_path / "r"
    folder.mkdir()
    recipe = folder / "recipe.json"
    recipe.write_text(json.dumps({"sources": [{"path": "../elsewhere"}]}), encoding="utf-8")
    code, _, err = run_cli("data", "preview", "--recipe", recipe)
    assert code == 2 and "sources[1].path" in err and "--allow-outside-pack" in err


def test_string_corpus_form_reads_as_input(tmp_path, run_cli):
    folder, pack = _pack(tmp_path, "corpus.txt")
    (folder / "corpus.txt").write_text(TEXT, encoding="utf-8")
    out = tmp_path / "c" / "corpus.txt"
    code, _, err = run_cli("--quiet", "data", "build", "--dataset-pack", pack, "--out", out)
    assert code == 0, err
    assert out.read_text(encoding="utf-8").strip()
