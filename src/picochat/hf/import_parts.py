"""Imported rows written as resumable parts: `hf_rows/part_00000.jsonl`, ... + state.

`data hf-import` streams rows of any size of dataset into JSONL parts of about
`PART_BYTES` of text each (the dataset stage then reads them one part at a time, so
its memory does not grow with the import). Each part is written atomically, and after
each one `hf_rows_state.json` (beside the folder) records the rows read and kept so far. An import that
stops (a crash, Ctrl-C, a full disk) keeps every finished part; `--resume` with the
same settings skips the rows already read and goes on from the next part.

Not for reading datasets (`dataset_import.py`) or building the corpus (`corpus.py`).
"""

from __future__ import annotations

import errno
import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picochat.artifacts import atomic_open, atomic_write_json
from picochat.byte_progress import ByteProgress
from picochat.errors import ConfigError, InputError

PART_BYTES = 16 << 20  # text per part: what the dataset stage holds at once (~6x)


def state_path(folder: Path) -> Path:
    """Beside the parts folder, so the dataset stage never reads it as a source."""
    return folder.with_name(folder.name + "_state.json")


def part_name(number: int) -> str:
    return f"part_{number:05d}.jsonl"


@dataclass
class PartsState:
    settings: dict[str, Any]
    rows_read: int = 0
    rows_kept: int = 0
    text_bytes: int = 0
    parts: int = 0
    skipped: Counter = field(default_factory=Counter)
    complete: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "skipped": dict(self.skipped)}


def start_state(folder: Path, settings: dict[str, Any], resume: bool) -> PartsState:
    """A fresh state (the folder emptied), or with --resume the saved one."""
    path = state_path(folder)
    if resume and path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("settings") != settings:
            raise ConfigError(
                f"--resume: the interrupted import used other settings ({saved.get('settings')}).",
                fix="Resume with the same flags, or start again without --resume.",
            )
        state = PartsState(**{**saved, "skipped": Counter(saved.get("skipped", {}))})
        for extra in folder.glob("part_*.jsonl"):  # a part past the state is unfinished
            if int(extra.stem.split("_")[1]) >= state.parts:
                extra.unlink()
        return state
    shutil.rmtree(folder, ignore_errors=True)
    path.unlink(missing_ok=True)
    folder.mkdir(parents=True)
    return PartsState(settings)


def write_parts(
    folder: Path,
    state: PartsState,
    rows: Iterator[tuple[int, str]],
    *,
    read_so_far: Callable[[], int],
    skipped: Counter,
    max_bytes: int | None,
    quiet: bool = False,
) -> PartsState:
    """Append (row index, text) rows as parts until `rows` ends or `max_bytes` of text.

    `read_so_far()` and `skipped` count this session's rows (read, and read but not
    kept); they are added to what the state held when it started.
    """
    base_read, base_skipped = state.rows_read, Counter(state.skipped)
    progress = ByteProgress("hf-import", max_bytes, quiet=quiet)
    progress.advance(state.text_bytes)
    buffer: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal buffer, size
        if buffer:
            try:
                with atomic_open(folder / part_name(state.parts)) as handle:
                    handle.write("".join(buffer))
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                raise InputError(
                    f"The disk filled up after {state.parts} finished parts "
                    f"({state.rows_read:,} rows read); they are kept.",
                    file=folder,
                    fix="Free disk space and run the same command with --resume.",
                ) from error
            state.parts += 1
        # Everything read so far is now in a finished part or counted as skipped.
        state.rows_read = base_read + read_so_far()
        state.skipped = base_skipped + skipped
        state.rows_kept += len(buffer)
        state.text_bytes += size
        atomic_write_json(state_path(folder), state.to_json())
        buffer, size = [], 0

    try:
        for index, text in rows:
            nbytes = len(text.encode("utf-8"))
            buffer.append(json.dumps({"text": text, "hf_row": index}, ensure_ascii=False) + "\n")
            size += nbytes
            progress.advance(nbytes)
            if max_bytes is not None and state.text_bytes + size >= max_bytes:
                break
            if size >= PART_BYTES:
                flush()
        state.complete = True
        flush()
    finally:
        progress.close()
    return state
