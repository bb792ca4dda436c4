"""Run-folder I/O: atomic writes, content hashes, and the common report header.

Every artifact goes through here so that a crash never leaves a half-written file
that looks complete: data is written to `<name>.tmp`, flushed to disk, then renamed
over the target (`os.replace` is atomic on POSIX and Windows). Folders (checkpoints)
are built under a temporary name and swapped in whole.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from picochat.version import __version__

_HASH_CHUNK = 1 << 20


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not possible on every platform (Windows).
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open `path` for streaming writes; it appears only if the block completes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if "b" in mode:
        encoding = None
    # Closed by hand below: the rename must happen after close, and only on success.
    handle = open(tmp, mode, encoding=encoding, newline="" if encoding else None)  # noqa: SIM115
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        handle.close()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically."""
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def write_text_if_changed(path: str | Path, text: str) -> bool:
    """Write `text` atomically unless the file already holds exactly it; True if written.

    Reruns that produce the same artifact leave the file (and its mtime) untouched.
    """
    path = Path(path)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write_text(path, text)
    return True


def to_jsonable(value: Any) -> Any:
    """Dataclasses, paths and numpy/torch scalars as plain JSON; NaN and inf as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [to_jsonable(v) for v in value]  # e.g. a DocumentTable
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return to_jsonable(value.item())
    return str(value)


def json_chunks(data: Any, *, one_item_per_line: Collection[str] = ()) -> Iterator[str]:
    """`data` as the indented JSON every artifact uses, in pieces (NaN/inf become null).

    Top-level lists named in `one_item_per_line` (e.g. a manifest's 10,000 document
    spans) are written one compact item per line: still diff- and grep-friendly, and
    encoded by json's fast C encoder instead of the indenting Python one. Such a list may
    be any sequence (a `DocumentTable` of a million documents): it is converted and
    written an item at a time, never built whole.
    """
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = to_jsonable(data)
    if not isinstance(data, Mapping) or not one_item_per_line:
        yield json.dumps(to_jsonable(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        return
    yield "{"
    for number, (key, value) in enumerate(data.items()):
        yield ("," if number else "") + "\n  " + json.dumps(str(key)) + ": "
        long = isinstance(value, Sequence) and not isinstance(value, (str, bytes))
        if key in one_item_per_line and long and len(value):
            for position, item in enumerate(value):
                text = json.dumps(to_jsonable(item), ensure_ascii=False, allow_nan=False)
                yield ("[\n    " if position == 0 else ",\n    ") + text
            yield "\n  ]"
        else:
            text = json.dumps(to_jsonable(value), indent=2, ensure_ascii=False, allow_nan=False)
            yield text.replace("\n", "\n  ")
    yield "\n}\n"


def json_text(data: Any, *, one_item_per_line: Collection[str] = ()) -> str:
    """`data` as the indented JSON every artifact uses (see `json_chunks`)."""
    return "".join(json_chunks(data, one_item_per_line=one_item_per_line))


def atomic_write_json(
    path: str | Path, data: Any, *, one_item_per_line: Collection[str] = ()
) -> Path:
    """Write `data` as JSON (see `json_chunks`) atomically, streamed piece by piece."""
    with atomic_open(path, "w") as handle:
        for chunk in json_chunks(data, one_item_per_line=one_item_per_line):
            handle.write(chunk)
    return Path(path)


def _fsync_tree(folder: Path) -> None:
    """fsync every file under `folder`, then the folders: the swap must not outrun the data."""
    for child in sorted(folder.rglob("*")):
        if child.is_file() and not child.is_symlink():
            fd = os.open(child, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for child in [folder, *(c for c in folder.rglob("*") if c.is_dir())]:
        _fsync_dir(child)


def recover_dir(path: str | Path) -> bool:
    """Finish a folder swap that a crash cut between its two renames; True if it did.

    `atomic_dir` renames `path` -> `path.old`, then `path.tmp` -> `path`, and deletes
    `.old` only once `path` exists again. So `path` absent with `.old` present means the
    crash fell between the renames: `.tmp` is the complete new folder (fsynced before the
    first rename) and `.old` the complete previous one. The new one wins.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    old = path.with_name(path.name + ".old")
    if path.exists() or not old.is_dir():
        return False
    os.replace(tmp if tmp.is_dir() else old, path)
    shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(path.parent)
    return True


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a folder under a temporary name; swap it in whole when the block ends.

    A reader sees either the old complete folder or the new complete one, never a mix;
    every file is fsynced before the swap, and `recover_dir` finishes a swap a crash cut.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(path)
    tmp = path.with_name(path.name + ".tmp")
    old = path.with_name(path.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        _fsync_tree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(path.parent)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_inputs(paths: Mapping[str, str | Path | None] | list[str | Path | None]) -> dict[str, str]:
    """Map each input path to its sha256; a folder contributes each file inside it.

    Accepts a list of paths or a mapping (whose values are the paths); None is skipped.
    """
    values = paths.values() if isinstance(paths, Mapping) else paths
    hashes: dict[str, str] = {}
    for value in values:
        if value is None:
            continue
        p = Path(value)
        if p.is_dir():
            for child in sorted(c for c in p.rglob("*") if c.is_file()):
                hashes[str(child)] = sha256_file(child)
        elif p.is_file():
            hashes[str(p)] = sha256_file(p)
    return hashes


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def software_versions() -> dict[str, str | None]:
    """Versions that matter to rerun a stage (torch and numpy from their install metadata:
    imports nothing heavy)."""
    return {
        "picochat": __version__,
        "python": platform.python_version(),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "platform": f"{sys.platform}-{platform.machine()}",
    }


def report_header(
    config: Any,
    *,
    inputs: Mapping[str, str] | None = None,
    seed: int | None = None,
    wall_seconds: float | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """The keys every stage report starts with (SPEC §11)."""
    return {
        "config": to_jsonable(config),
        "inputs": dict(inputs or {}),
        "versions": software_versions(),
        "seed": seed,
        "device": device,
        "wall_seconds": None if wall_seconds is None else round(wall_seconds, 3),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
