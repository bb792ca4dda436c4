"""Bad input: a clear message naming file and line, exit 2, earlier artifacts untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

GOOD = "A small model learns what its corpus contains, and nothing else. " * 5


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def bad_jsonl(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "in").mkdir()
    (tmp / "in" / "rows.jsonl").write_text(
        '{"text": "fine row"}\n\n{"text": "broken\n{"text": "ok"}\n', encoding="utf-8"
    )
    return ["--input", str(tmp / "in")], [str(tmp / "in" / "rows.jsonl") + ":3", "not valid JSON"]


def pack_missing_file(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "c.txt").write_text(GOOD, encoding="utf-8")
    pack = tmp / "pack.json"
    pack.write_text(json.dumps({"name": "p", "corpus": {"input": "c.txt"}, "chat": "gone.jsonl"}))
    return ["--dataset-pack", str(pack)], [str(pack), "`chat`", "gone.jsonl"]


def pack_missing_corpus(tmp: Path) -> tuple[list[str], list[str]]:
    pack = tmp / "pack.json"
    pack.write_text(json.dumps({"name": "p", "corpus": {"input": "nowhere/"}}))
    return ["--dataset-pack", str(pack)], [str(pack), "nowhere"]


def recipe_glob_matches_nothing(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "docs").mkdir()
    (tmp / "docs" / "a.txt").write_text(GOOD, encoding="utf-8")
    recipe = tmp / "recipe.json"
    recipe.write_text(
        json.dumps({"sources": [{"path": "docs", "label": "docs", "include": ["*.txt", "*.rst"]}]})
    )
    return ["--recipe", str(recipe)], [str(recipe), "`docs`", "`*.rst` matches no file"]


def recipe_bad_json(tmp: Path) -> tuple[list[str], list[str]]:
    recipe = tmp / "recipe.json"
    recipe.write_text('{"sources": [\n  {"path": "x",}\n]}\n')
    return ["--recipe", str(recipe)], [str(recipe) + ":2", "not valid JSON"]


def two_inputs(tmp: Path) -> tuple[list[str], list[str]]:
    return ["--input", str(tmp), "--recipe", str(tmp / "r.json")], ["exactly one of"]


def nothing_usable(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "in").mkdir()
    (tmp / "in" / "empty.txt").write_bytes(b"")
    (tmp / "in" / "image.png").write_bytes(b"\x89PNG")
    return ["--input", str(tmp / "in")], ["no documents to write", "data preview"]


def missing_input(tmp: Path) -> tuple[list[str], list[str]]:
    return ["--input", str(tmp / "nope.txt")], [str(tmp / "nope.txt"), "not found"]


@pytest.mark.parametrize(
    "make_bad",
    [
        bad_jsonl,
        pack_missing_file,
        pack_missing_corpus,
        recipe_glob_matches_nothing,
        recipe_bad_json,
        two_inputs,
        missing_input,
    ],  # fmt: skip
)
def test_bad_input_fails_cleanly_and_keeps_earlier_artifacts(run_cli, tmp_path, make_bad):
    good = tmp_path / "good.txt"
    good.write_text(GOOD, encoding="utf-8")
    out = tmp_path / "run" / "corpus.txt"
    assert run_cli("data", "build", "--input", good, "--out", out)[0] == 0
    before = snapshot(out.parent)
    assert set(before) == {"corpus.txt", "corpus_manifest.json", "corpus_report.md"}

    bad = tmp_path / "bad"
    bad.mkdir()
    args, expected = make_bad(bad)
    code, stdout, stderr = run_cli("data", "build", *args, "--out", out)
    assert code == 2
    assert "Traceback" not in stderr + stdout
    message = " ".join(stderr.split())  # rich may wrap long lines
    for fragment in expected:
        assert fragment in message, (fragment, message)
    assert snapshot(out.parent) == before  # untouched, and no *.tmp left behind

    if make_bad is not nothing_usable:  # a preview of unusable files shows why instead
        code, _, stderr = run_cli("data", "preview", *args)
        assert code == 2 and "Traceback" not in stderr


def test_build_requires_out_and_valid_ranges(run_cli, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(GOOD, encoding="utf-8")
    code, _, err = run_cli("data", "build", "--input", good)
    assert code == 2 and "--out" in err
    code, _, err = run_cli("data", "preview", "--input", good, "--min-score", "120")
    assert code == 2 and "--min-score" in err
    code, _, err = run_cli("data", "preview")
    assert code == 2 and "exactly one of" in err


def test_malformed_jsonl_via_subprocess_has_no_traceback(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "rows.jsonl").write_text('{"text": "a"}\nnot json\n', encoding="utf-8")
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-m", "picochat", "data", "preview", "--input", str(tmp_path / "rows.jsonl")],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert done.returncode == 2
    assert "rows.jsonl:2" in done.stderr and "Traceback" not in done.stderr
