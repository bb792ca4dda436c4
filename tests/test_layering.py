"""Data flows one way through `src/picochat`: no module imports a higher layer, and no
two packages import each other (directly or round a longer loop).

Every import counts, also the lazy ones inside functions and those under
TYPE_CHECKING: a lazy import is still a dependency, only a later one. A "unit" is a
subpackage (`picochat/model/`) or a top-level module (`picochat/generation.py`);
imports inside one unit are free. A unit may import units of its own rank or lower;
same-rank imports must not form a cycle. A new package must be given a rank here.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "picochat"

# Higher ranks may import lower ones, never the reverse (DESIGN.md: cli -> pipeline ->
# stages -> (data, tokenizer, model) -> artifacts).
RANKS: dict[str, int] = {
    # 0, base: no Picochat imports but each other's. The Markdown/plot toolkit is here so
    # every stage report (data, training, evaluation, hf) can use it.
    "version": 0,
    "errors": 0,
    "artifacts": 0,
    "runtime": 0,
    "byte_progress": 0,
    "layout": 0,
    "markdown": 0,
    "plots": 0,
    "locks": 0,
    "outdir": 0,
    "corpus_files": 0,
    # 1: the config dataclasses every layer reads (defaults and help text, no behaviour).
    "configs": 1,
    # 2: the building blocks, which know nothing of stages.
    "data": 2,
    "tokenizer": 2,
    "model": 2,
    "chat_format": 2,
    # 3: sampling from a model.
    "generation": 3,
    # 4: what the stages run: training loops, the eval scorer, the Hugging Face path
    # (import, export, hf-sft, adapters: it uses the training loop and the chat template).
    "training": 4,
    "evaluation": 4,
    "hf": 4,
    # 5: the stage declarations, and the interactive chat loop (native or HF engines).
    "stages": 5,
    "chat_session": 5,
    # 6: what reads finished stages (summary, gates, compare, HTML) and the server.
    "reports": 6,
    "serve": 6,
    # 7: run tiny.
    "pipeline": 7,
    # 8: argument parsing; 9: the public API (`import picochat`) and `python -m picochat`.
    "cli": 8,
    "picochat": 9,
    "__main__": 9,
}


def unit_of(module: str, root: Path = PACKAGE) -> str | None:
    """The unit of a dotted module name inside the package, None outside it."""
    parts = module.split(".")
    if parts[0] != root.name:
        return None
    return parts[1] if len(parts) > 1 else root.name


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_unit(name: str, root: Path) -> bool:
    return (root / name).is_dir() or (root / f"{name}.py").is_file()


def imported_units(path: Path, root: Path = PACKAGE) -> Iterator[tuple[int, str]]:
    """(line, unit) of every import of the package in one file, lazy ones included."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this file's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from picochat import errors` imports the unit, `import __version__` the API
            targets = [
                f"{base}.{alias.name}" if base == root.name and _is_unit(alias.name, root) else base
                for alias in node.names
            ]
        else:
            continue
        for unit in {unit_of(target, root) for target in targets} - {None}:
            yield node.lineno, unit


@functools.cache
def import_graph(root: Path = PACKAGE) -> dict[str, dict[str, list[str]]]:
    """unit -> {imported unit: ["file:line", ...]} over every .py file under `root`."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(root.rglob("*.py")):
        source = unit_of(_module_name(path, root), root)
        edges = graph.setdefault(source, {})
        for line, target in imported_units(path, root):
            if target != source:
                edges.setdefault(target, []).append(f"{path.relative_to(root)}:{line}")
    return graph


def upward_imports(graph: dict[str, dict[str, list[str]]], ranks: dict[str, int]) -> list[str]:
    return [
        f"{where}: {source} (rank {ranks[source]}) imports {target} (rank {ranks[target]})"
        for source, edges in graph.items()
        for target, places in edges.items()
        if ranks[target] > ranks[source]
        for where in places
    ]


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected groups of more than one unit (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        for target in graph.get(unit, {}):
            if target not in index:
                visit(target)
                low[unit] = min(low[unit], low[target])
            elif target in stack:
                low[unit] = min(low[unit], index[target])
        if low[unit] == index[unit]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == unit:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for unit in sorted(graph):
        if unit not in index:
            visit(unit)
    return found


def test_every_unit_has_a_rank():
    units = set(import_graph()) | {t for edges in import_graph().values() for t in edges}
    assert sorted(units - set(RANKS)) == [], "give each new package a rank in RANKS"


def test_no_module_imports_a_higher_layer():
    found = upward_imports(import_graph(), RANKS)
    assert not found, "upward imports:\n" + "\n".join(found)


def test_no_import_cycles_between_packages():
    found = cycles(import_graph())
    assert not found, f"packages that import each other: {found}"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "picochat" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "picochat"


def test_the_walk_finds_lazy_upward_imports_and_cycles(tmp_path):
    """The checker itself, on a made-up package: a lazy import inside a function, a
    relative import and `from picochat import unit` are all seen."""
    root = _write(
        tmp_path,
        {
            "__init__.py": "",
            "artifacts.py": "def f():\n    from picochat.model.x import y\n",
            "model/__init__.py": "",
            "model/x.py": "from ..data import z\ny = 1\n",
            "data/__init__.py": "from picochat import model\nz = 2\n",
        },
    )
    ranks = {"picochat": 9, "artifacts": 0, "model": 2, "data": 2}
    graph = import_graph(root)
    assert upward_imports(graph, ranks) == [
        "artifacts.py:2: artifacts (rank 0) imports model (rank 2)"
    ]
    assert cycles(graph) == [["data", "model"]]
