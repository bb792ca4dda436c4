"""A tiny document model for reports: one source, two renderings.

A report is a list of blocks (`Heading`, `Paragraph`, `Bullets`, `Table`). `render`
turns them into Markdown for `*_report.md`; `picochat.cli.tables.print_blocks` shows
the same blocks as rich terminal tables, so a preview and the written report never
disagree. Cell values are formatted by `fmt` (None prints as "n/a", floats with a
fixed number of significant digits, rates as percentages with `pct`).

Not here: what goes into any particular report (each stage builds its own blocks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    headers: Sequence[str]
    rows: list[Sequence[Any]]
    title: str | None = None
    note: str | None = None  # e.g. "showing 50 of 1,204 rows"
    align_right: Sequence[int] = field(default_factory=tuple)  # numeric column indices


Block = Heading | Paragraph | Bullets | Table


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell: None -> n/a, bools yes/no, ints with separators, floats trimmed."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v, digits) for v in value)
    return str(value)


def pct(rate: float | None, digits: int = 2) -> str:
    """A rate in [0, 1] as a percentage string (None -> n/a)."""
    return "n/a" if rate is None else f"{100 * rate:.{digits}f}%"


def escape_cell(text: str) -> str:
    """Make text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_table(table: Table) -> str:
    """A GitHub-flavoured Markdown table (with its title and note, if any)."""
    right = set(table.align_right)
    lines = []
    if table.title:
        lines += [f"**{table.title}**", ""]
    lines.append("| " + " | ".join(escape_cell(str(h)) for h in table.headers) + " |")
    lines.append(
        "|" + "|".join("---:" if i in right else "---" for i in range(len(table.headers))) + "|"
    )
    for row in table.rows:
        lines.append("| " + " | ".join(escape_cell(fmt(cell)) for cell in row) + " |")
    if table.note:
        lines += ["", f"_{table.note}_"]
    return "\n".join(lines)


def render(blocks: Sequence[Block]) -> str:
    """Markdown text of `blocks`, ending with one newline."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append("#" * block.level + " " + block.text)
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {item}" for item in block.items))
        elif isinstance(block, Table):
            parts.append(render_table(block))
        else:
            raise TypeError(f"not a report block: {block!r}")
    return "\n\n".join(parts) + "\n"
