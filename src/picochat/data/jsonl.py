"""Line-by-line JSONL reading shared by every Picochat file reader.

`iter_jsonl(path)` yields one `JsonlRow(line, obj, error)` per non-blank line, so a
reader can report a bad row as `file:line` and carry on with the rest. Bytes are
decoded per line: one undecodable line is one bad row, not a failed file. Blank lines
are not rows. A missing file or a folder is an `InputError` straight away; so is a line
over `MAX_ROW_BYTES` (16 MB), which is never read whole.

Also here: `SkippedRow` (what readers list for each bad row, `skipped_summary` words
them for an error) and `RowProblem`, the exception a row validator raises;
`collect_rows` turns those into skipped rows, or into an `InputError` naming file and
line in strict mode.

Not here: what a valid row looks like (each reader decides: `chat`, `preferences`,
`picochat.evaluation.items`).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from picochat.data.splits import grouped_split
from picochat.errors import InputError

T = TypeVar("T")

# The longest line a row may be (also a segmented read's row limit, `segments`): far past
# any real chat, preference or eval row. A file with no line ends (a JSON array, a binary
# file) would otherwise be read whole into memory as one line.
MAX_ROW_BYTES = 16 << 20


@dataclass(frozen=True)
class JsonlRow:
    """One non-blank line: its 1-based number, and either the parsed object or an error."""

    line: int
    obj: dict[str, Any] | None
    error: str | None = None


@dataclass(frozen=True)
class SkippedRow:
    """A row a reader left out, with the reason a person can act on."""

    line: int
    reason: str


@dataclass
class RowsRead(Generic[T]):
    """What a row reader found in a file: its row count, the usable rows (each with a
    `group_key`) and every skipped row with its reason."""

    path: Path
    rows: int
    usable: list[T] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)

    @classmethod
    def read(
        cls, path: str | Path, parse: Callable[[dict[str, Any], int], T], *, strict: bool, fix: str
    ) -> Any:
        """Read `path` with `collect_rows` (bad rows skipped with reasons, or raise when
        strict) into this class."""
        usable, skipped, rows = collect_rows(path, parse, strict=strict, fix=fix)
        return cls(path=Path(path), rows=rows, usable=usable, skipped=skipped)

    def split(self, val_fraction: float, seed: int) -> tuple[list[T], list[T]]:
        """Grouped (train, validation) split: rows of one `group_key` stay on one side."""
        key = operator.attrgetter("group_key")
        return grouped_split(self.usable, key, val_fraction=val_fraction, seed=seed)


def skipped_summary(skipped: Sequence[SkippedRow], shown: int = 3) -> str:
    """The "N skipped: line L: why; ..." text of an error about skipped rows (the first
    `shown` of them, in the order given)."""
    listed = "; ".join(f"line {r.line}: {r.reason}" for r in skipped[:shown])
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"{len(skipped)} skipped" + (f": {listed}{more}" if skipped else "")


class RowProblem(ValueError):
    """Raised by a row validator: the row is unusable for `reason` (fix: how to repair)."""

    def __init__(self, reason: str, fix: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


def check_readable_file(path: str | Path, *, what: str = "JSONL file") -> Path:
    """`path` as a Path if it is an existing file, else an InputError saying so."""
    path = Path(path)
    if not path.exists():
        raise InputError(
            f"{what} not found",
            file=path,
            fix="Check the path (it is relative to the current folder).",
        )
    if not path.is_file():
        raise InputError(
            f"{what} expected, found a folder",
            file=path,
            fix="Point at a .jsonl file, not a folder.",
        )
    return path


def iter_jsonl(path: str | Path) -> Iterator[JsonlRow]:
    """Yield each non-blank line of `path` as a `JsonlRow` (objects only; others are errors)."""
    path = check_readable_file(path)
    with open(path, "rb") as handle:
        lines = iter(lambda: handle.readline(MAX_ROW_BYTES + 1), b"")  # each at most the limit + 1
        for number, raw in enumerate(lines, start=1):
            if len(raw) > MAX_ROW_BYTES:
                raise _line_too_long(path, number)
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte-order mark
                raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield JsonlRow(number, None, f"not valid UTF-8 (byte {error.start})")
                continue
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                yield JsonlRow(number, None, f"invalid JSON: {error.msg} (column {error.colno})")
                continue
            if not isinstance(value, dict):
                yield JsonlRow(number, None, f"expected a JSON object, got {_json_type(value)}")
                continue
            yield JsonlRow(number, value)


def _line_too_long(path: Path, line: int) -> InputError:
    size = f"{MAX_ROW_BYTES >> 20} MB" if MAX_ROW_BYTES >= 1 << 20 else f"{MAX_ROW_BYTES} bytes"
    return InputError(
        f"line {line} runs over {size} without a line end: the file is not JSON Lines "
        f"(one object a line), or a row is over {size}",
        file=path,
        line=line,
        fix=f"Write one JSON object a line, each under {size} (a JSON array file: one "
        "element a line).",
    )


def collect_rows(
    path: str | Path,
    parse: Callable[[dict[str, Any], int], T],
    *,
    strict: bool = False,
    fix: str,
) -> tuple[list[T], list[SkippedRow], int]:
    """Run `parse(obj, line)` on every row: (parsed items, skipped rows, rows seen).

    `parse` raises `RowProblem` for an unusable row. With `strict`, the first bad row
    (bad JSON included) raises `InputError(file, line, fix)` instead of being skipped.
    """
    items: list[T] = []
    skipped: list[SkippedRow] = []
    rows = 0
    for row in iter_jsonl(path):
        rows += 1
        reason, row_fix = row.error, None
        if row.obj is not None:
            try:
                items.append(parse(row.obj, row.line))
                continue
            except RowProblem as problem:
                reason, row_fix = problem.reason, problem.fix
        if strict:
            raise InputError(reason or "bad row", file=path, line=row.line, fix=row_fix or fix)
        skipped.append(SkippedRow(row.line, reason or "bad row"))
    return items, skipped, rows


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
