"""Dataset packs: one JSON file binding a corpus with chat, eval and preference files.

    {"name": "tiny-demo-pack", "description": "...",
     "corpus": {"recipe": "corpus_recipe.json"},   // or {"input": "corpus.txt" | "folder/"}
     "chat": "tiny_chat.jsonl", "eval": "tiny_eval.jsonl",
     "preferences": "preferences.jsonl"}           // optional

Paths are relative to the pack file. `load_dataset_pack` resolves them and checks
that each named file exists, so every stage that takes a pack fails early with the
pack file and the missing path named. Reading the chat/eval rows is not done here
(see the chat, eval and preference readers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat.errors import InputError

PACK_FILES = ("chat", "eval", "preferences")


@dataclass(frozen=True)
class DatasetPack:
    """A loaded pack; every path is absolute and exists (None where not given)."""

    path: Path
    name: str
    description: str
    corpus_input: Path | None
    corpus_recipe: Path | None
    chat: Path | None
    eval: Path | None
    preferences: Path | None

    def files(self) -> dict[str, Path | None]:
        """The non-corpus files by role: chat, eval, preferences."""
        return {role: getattr(self, role) for role in PACK_FILES}


def read_json_file(path: Path, what: str) -> Any:
    """Parse a JSON config file; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found", file=path, fix=f"Check the path of the {what} file.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{what} is not UTF-8 text", file=path) from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{what} is not valid JSON ({error.msg}, column {error.colno})",
            file=path,
            line=error.lineno,
            fix="Fix the JSON syntax (a missing comma or quote is the usual cause).",
        ) from None


OUTSIDE_FLAG = "--allow-outside-pack"


def check_inside(config_file: Path, key: str, path: Path, allow_outside: bool) -> Path:
    """`path` if it lies inside `config_file`'s folder (or `allow_outside`); else an error.

    A pack or recipe from elsewhere must not read `/etc/passwd` into a corpus silently.
    """
    folder = config_file.resolve().parent
    resolved = path.resolve()
    if allow_outside or resolved == folder or folder in resolved.parents:
        return resolved
    raise InputError(
        f"`{key}` points outside the folder of {config_file.name}: {resolved}",
        file=config_file,
        fix=f"Move the file next to {config_file.name}, or pass {OUTSIDE_FLAG} (run tiny: "
        f"--data{OUTSIDE_FLAG[1:]}) if you trust this file to read from elsewhere.",
    )


def _pack_path(
    pack: Path, key: str, value: Any, *, folder_ok: bool = False, allow_outside: bool = False
) -> Path:
    if not isinstance(value, str) or not value:
        raise InputError(f"`{key}` must be a path (a string relative to the pack file)", file=pack)
    path = check_inside(pack, key, pack.parent / value, allow_outside)
    exists = path.exists() if folder_ok else path.is_file()
    if not exists:
        raise InputError(
            f"`{key}` points at a missing {'path' if folder_ok else 'file'}: {path}",
            file=pack,
            fix=f"Create {value} next to the pack, or fix `{key}` (paths are relative to the pack).",
        )
    return path


def load_dataset_pack(path: str | Path, *, allow_outside: bool = False) -> DatasetPack:
    """Read and check a dataset pack JSON file; its paths must stay in its folder unless
    `allow_outside`."""
    pack = Path(path).resolve()
    data = read_json_file(pack, "dataset pack")
    if not isinstance(data, dict):
        raise InputError("a dataset pack must be a JSON object", file=pack)
    corpus_input = corpus_recipe = None
    corpus = data.get("corpus")
    if isinstance(corpus, str):  # the published packs' form: a corpus file or folder
        corpus = {"input": corpus}
    if corpus is not None:
        if not isinstance(corpus, dict) or len({"recipe", "input"} & corpus.keys()) != 1:
            raise InputError(
                '`corpus` must be "file-or-folder", {"recipe": "recipe.json"} or '
                '{"input": "file-or-folder"}',
                file=pack,
            )
        if "recipe" in corpus:
            corpus_recipe = _pack_path(
                pack, "corpus.recipe", corpus["recipe"], allow_outside=allow_outside
            )
        else:
            corpus_input = _pack_path(
                pack, "corpus.input", corpus["input"], folder_ok=True, allow_outside=allow_outside
            )
    paths = {
        role: _pack_path(pack, role, data[role], allow_outside=allow_outside)
        if data.get(role) is not None
        else None
        for role in PACK_FILES
    }
    return DatasetPack(
        path=pack,
        name=str(data.get("name") or pack.stem),
        description=str(data.get("description") or ""),
        corpus_input=corpus_input,
        corpus_recipe=corpus_recipe,
        **paths,
    )


def count_rows(path: Path) -> int:
    """Non-blank lines of a JSONL file (rows are parsed by each stage's own reader)."""
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def pack_summary(pack: DatasetPack) -> list[dict[str, Any]]:
    """One entry per pack role: path, whether it exists, its row count."""
    summary = []
    for role, path in pack.files().items():
        summary.append(
            {
                "role": role,
                "path": None if path is None else str(path),
                "exists": path is not None and path.is_file(),
                "rows": count_rows(path) if path is not None and path.is_file() else None,
            }
        )
    return summary
