"""The shape rules for `src/picochat`, kept by a test instead of by memory: every module
opens with a docstring and has at most 400 lines (DESIGN.md), no function has more
than 80 (issue #14; decorators not counted, its docstring counted). A module or
function that outgrows them is split before it lands.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "picochat"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50, f"found only {len(modules)} modules under {PACKAGE}"
    return modules


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    return [node for node in ast.walk(tree) if isinstance(node, kinds)]


def test_every_module_opens_with_a_docstring() -> None:
    missing = [
        str(path.relative_to(PACKAGE))
        for path in _modules()
        if ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]
    assert not missing, f"modules without a docstring: {missing}"


def test_no_module_over_the_line_limit() -> None:
    too_long = {
        str(path.relative_to(PACKAGE)): lines
        for path in _modules()
        if (lines := path.read_text(encoding="utf-8").count("\n")) > MAX_MODULE_LINES
    }
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def test_no_function_over_the_line_limit() -> None:
    too_long = {}
    for path in _modules():
        for function in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            lines = function.end_lineno - function.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                too_long[f"{path.relative_to(PACKAGE)}:{function.lineno} {function.name}"] = lines
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines: {too_long}"


def test_the_function_walk_sees_nested_and_async_functions() -> None:
    tree = ast.parse("def outer():\n    async def inner():\n        pass\n")
    assert [f.name for f in _functions(tree)] == ["outer", "inner"]
