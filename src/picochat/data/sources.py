"""Which files a corpus is built from, each with a source label.

Exactly one of `--input` (a file, or a folder read recursively), `--dataset-pack`
(its `corpus` entry: an input or a recipe) or `--recipe` names the sources. Files are
listed in sorted order so builds are reproducible. Nothing is dropped silently: a
file of another type, a hidden file or folder, or a file a recipe excludes is listed
as skipped with its reason.

Recipe format (paths relative to the recipe file):

    {"name": "...", "description": "...", "exclude": ["**/drafts/**"],
     "sources": [{"path": "notes/", "label": "notes", "include": ["**/*.md"],
                  "exclude": ["*.tmp.md"], "reason": "why this source is in"}]}

Globs match the path relative to the source folder (`**` spans folders; a glob with
no `/` matches the file name). An include glob that matches no file is an error: it
is almost always a typo, and a silently smaller corpus is worse than a stop.

Not here: reading the files (documents.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picochat.configs.data import CORPUS_SUFFIXES, CorpusConfig
from picochat.data.pack import DatasetPack, check_inside, load_dataset_pack, read_json_file
from picochat.errors import ConfigError, InputError
from picochat.layout import (
    CORPUS,
    CORPUS_MANIFEST,
    CORPUS_REPORT,
    corpus_outputs,
    is_corpus_shard,
)


@dataclass
class SourceFile:
    """A file to read: `path` on disk, `name` as shown in reports (display_name), `label`."""

    path: Path
    name: str
    label: str


@dataclass
class SkippedFile:
    name: str
    label: str
    reason: str


@dataclass
class Sources:
    """The resolved input: files to read, files skipped before reading, provenance."""

    kind: str  # "input" | "dataset_pack" | "recipe"
    files: list[SourceFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    config_files: list[Path] = field(default_factory=list)  # pack / recipe JSON
    pack: DatasetPack | None = None
    recipe: dict[str, Any] | None = None  # name, description, sources


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob (`*`, `?`, `[...]`, `**`) to a regex on '/'-separated paths."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 1
        elif char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(pattern: str, relative: str) -> bool:
    target = relative if "/" in pattern.rstrip("/") else relative.rsplit("/", 1)[-1]
    return glob_regex(pattern).match(target) is not None


def _walk(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Every file under `root` (sorted), with a skip reason for hidden entries."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in [d for d in dirs if d.startswith(".") or d == "__pycache__"]:
            dirs.remove(name)
            yield Path(folder) / name, "hidden or cache folder (not read)"
        for name in sorted(files):
            yield Path(folder) / name, "hidden file" if name.startswith(".") else None


def _type_reason(path: Path, root: Path | None = None) -> str | None:
    """Why a file found in a folder (`root`, when given as --input) is not read (None:
    it is read)."""
    if _earlier_output(path, root):
        return "an output of an earlier `data build` (corpus_manifest.json beside it)"
    if path.suffix.lower() in CORPUS_SUFFIXES:
        return None
    return (
        f"unsupported file type ({path.suffix or 'no suffix'}); read: {' '.join(CORPUS_SUFFIXES)}"
    )


def _earlier_output(path: Path, root: Path | None = None) -> bool:
    """corpus.txt / corpus_report.md next to a corpus_manifest.json, or a shard of a
    folder beside one: a built corpus, which read back as input would duplicate its own
    sources. A shard folder given itself as --input is read (as corpus.txt named is)."""
    if is_corpus_shard(path.name) and (path.parent.parent / CORPUS_MANIFEST).is_file():
        return root is None or path.parent.resolve() != root.resolve()
    return path.name in (CORPUS, CORPUS_REPORT) and (path.parent / CORPUS_MANIFEST).is_file()


def display_name(path: Path) -> str:
    """How a file is named in reports: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class _Collector:
    """Accumulates files, skipping outputs of this build and files listed twice."""

    def __init__(self, sources: Sources, outputs: set[Path]) -> None:
        self.sources = sources
        self.outputs = outputs
        self.seen: dict[Path, str] = {}

    def add(self, path: Path, label: str, reason: str | None) -> bool:
        resolved = path.resolve()
        name = display_name(path)
        if reason is None and resolved in self.outputs:
            reason = "an output of this build (not read as input)"
        if reason is None and resolved in self.seen:
            reason = f"already included by source `{self.seen[resolved]}`"
        if reason is not None:
            self.sources.skipped.append(SkippedFile(name, label, reason))
            return False
        self.seen[resolved] = label
        self.sources.files.append(SourceFile(path, name, label))
        return True


def _add_input(collector: _Collector, path: Path, label: str) -> None:
    if path.is_file():  # a file named explicitly is read whatever its suffix
        collector.add(path, label, None)
        return
    if not path.is_dir():
        raise InputError("input not found", file=path, fix="Pass an existing file or folder.")
    for child, reason in _walk(path):
        collector.add(child, label, reason or _type_reason(child, path))


def _globs(value: Any, what: str, recipe_path: Path) -> list[str]:
    """A glob list from a recipe (a single string is one glob)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(g, str) for g in value):
        return value
    raise InputError(f"{what} must be a list of glob strings", file=recipe_path)


def _recipe_source(
    collector: _Collector,
    recipe_path: Path,
    number: int,
    source: Any,
    global_exclude: list[str],
    allow_outside: bool = False,
) -> dict[str, Any]:
    """Add the files of one recipe source; returns its summary for the report."""
    if not isinstance(source, dict) or not isinstance(source.get("path"), str):
        raise InputError(
            f'source #{number} needs a "path" (relative to the recipe)', file=recipe_path
        )
    root = recipe_path.parent / source["path"]
    label = str(source.get("label") or Path(source["path"]).name or f"source{number}")
    where = f"source #{number} `{label}` ({source['path']})"
    root = check_inside(recipe_path, f"sources[{number}].path", root, allow_outside)
    if not root.exists():
        raise InputError(
            f"{where}: path not found: {root}", file=recipe_path,
            fix="Paths in a recipe are relative to the recipe file.",
        )  # fmt: skip
    include = _globs(source.get("include"), f"{where}: include", recipe_path)
    exclude = _globs(source.get("exclude"), f"{where}: exclude", recipe_path) + global_exclude
    candidates = [(root, None)] if root.is_file() else list(_walk(root))
    if not candidates:
        raise InputError(f"{where}: the folder has no files", file=recipe_path)
    matched_by = {glob: 0 for glob in include}
    count = 0
    for path, hidden in candidates:
        relative = path.name if root.is_file() else path.relative_to(root).as_posix()
        hits = [g for g in include if glob_match(g, relative)]
        for glob in hits:
            matched_by[glob] += 1
        if include and not hits:
            continue  # not selected: outside this source, not a skip
        excluded = next((g for g in exclude if glob_match(g, relative)), None)
        reason = hidden or (f"excluded by recipe glob `{excluded}`" if excluded else None)
        count += collector.add(path, label, reason or _type_reason(path))
    for glob, hits in matched_by.items():
        if hits == 0:
            raise InputError(
                f"{where}: include glob `{glob}` matches no file",
                file=recipe_path,
                fix="Fix the glob (it is matched against paths relative to the source "
                "folder) or remove it.",
            )
    return {"path": source["path"], "label": label, "reason": source.get("reason"), "files": count}


def _recipe_sources(collector: _Collector, recipe_path: Path, allow_outside: bool = False) -> None:
    recipe = read_json_file(recipe_path, "corpus recipe")
    if (
        not isinstance(recipe, dict)
        or not isinstance(recipe.get("sources"), list)
        or not (recipe["sources"])
    ):
        raise InputError(
            'a recipe is a JSON object with a non-empty "sources" list', file=recipe_path,
            fix='See SPEC §1: {"name", "description", "exclude", "sources": [{"path", ...}]}.',
        )  # fmt: skip
    global_exclude = _globs(recipe.get("exclude"), "`exclude`", recipe_path)
    listed = [
        _recipe_source(collector, recipe_path, number, source, global_exclude, allow_outside)
        for number, source in enumerate(recipe["sources"], start=1)
    ]
    collector.sources.config_files.append(recipe_path)
    collector.sources.recipe = {
        "path": str(recipe_path),
        "name": recipe.get("name"),
        "description": recipe.get("description"),
        "exclude": global_exclude,
        "sources": listed,
    }


def output_paths(out: Path | None, *, sharded: bool = False) -> list[Path]:
    """corpus.txt (`sharded`: the shard folder `out`) and the manifest and report beside
    it (what `data build` writes)."""
    if out is None:
        return []
    out = Path(out)
    if sharded:
        return list(corpus_outputs(out))
    if out.is_dir() or not out.suffix:  # a folder (existing, or a name without a suffix)
        out = out / CORPUS
    return list(corpus_outputs(out))


def resolve_sources(config: CorpusConfig) -> Sources:
    """List the files behind `--input`, `--dataset-pack` or `--recipe`."""
    given = [f for f in ("input", "dataset_pack", "recipe") if getattr(config, f) is not None]
    if len(given) != 1:
        raise ConfigError(
            "give exactly one of --input, --dataset-pack, --recipe"
            + (f" (got {', '.join('--' + g.replace('_', '-') for g in given)})" if given else ""),
            fix="e.g. `picochat data preview --input examples/tiny_corpus.txt`.",
        )
    outputs = {p.resolve() for p in output_paths(config.out, sharded=config.shard_mb is not None)}
    kind = given[0]
    sources = Sources(kind=kind)
    collector = _Collector(sources, outputs)
    allow_outside = getattr(config, "allow_outside_pack", False)
    if kind == "input":
        _add_input(collector, Path(config.input), "input")
    elif kind == "recipe":
        _recipe_sources(collector, Path(config.recipe), allow_outside)
    else:
        pack = load_dataset_pack(config.dataset_pack, allow_outside=allow_outside)
        sources.pack = pack
        sources.config_files.append(pack.path)
        if pack.corpus_recipe is not None:
            _recipe_sources(collector, pack.corpus_recipe, allow_outside)
        elif pack.corpus_input is not None:
            _add_input(collector, pack.corpus_input, pack.name)
        else:
            raise InputError(
                "the pack has no `corpus` entry",
                file=pack.path,
                fix='Add "corpus": {"input": "corpus.txt"} or {"recipe": "recipe.json"}.',
            )
    return sources
