"""The run folder's file and folder names are spelled in `picochat.layout` only."""

from __future__ import annotations

import ast
from pathlib import Path

from picochat import layout

SRC = Path(layout.__file__).parent
# Names with a dot or an underscore (file names, best_checkpoint, token_cache...). The
# bare folder names ("checkpoint", "base", "eval") are also config fields and stage
# names, so a search for them would mostly find those.
SEARCHED = {
    value
    for key, value in vars(layout).items()
    if key.isupper() and isinstance(value, str) and ("." in value or "_" in value)
}


def _spelled(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        f"{path.relative_to(SRC)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and id(node) not in docstrings
        and isinstance(node.value, str)
        and node.value in SEARCHED
    ]


def test_no_module_but_layout_spells_a_run_folder_name():
    found = [
        hit
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "layout.py"
        for hit in _spelled(path)
    ]
    assert found == []


def test_layout_lists_each_run_level_file_once():
    assert len(set(layout.RUN_FILES)) == len(layout.RUN_FILES)
    assert layout.eval_report("heldout") == "eval/heldout/eval_report.json"
