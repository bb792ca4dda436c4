"""The one report toolkit: a tiny document model, one source, two renderings.

A report is a list of blocks (`Heading`, `Paragraph`, `Bullets`, `Table`, `Code`).
`render` turns them into Markdown for every `report.md` and `*_report.md` (corpus,
base, SFT, DPO, eval, HF SFT, summary); `picochat.cli.tables.print_blocks` shows the
same blocks as rich terminal tables, so a preview and the written report never
disagree. Values are formatted by `fmt` (None prints as "n/a", floats with a fixed
number of significant digits), `fixed` (a fixed number of decimals, for losses) and
`pct` (rates as percentages).

It sits at the bottom of the layers (beside `artifacts`), so any stage may use it.
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


@dataclass
class Code:
    """A fenced block shown verbatim (model samples, commands)."""

    text: str


Block = Heading | Paragraph | Bullets | Table | Code


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell: None -> n/a, bools yes/no, ints with separators, floats trimmed."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        # Past `digits` integer digits `g` turns scientific (30310.5 -> 3.031e+04).
        return f"{value:,.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v, digits) for v in value)
    return str(value)


def pct(rate: float | None, digits: int = 2) -> str:
    """A rate in [0, 1] as a percentage string (None -> n/a)."""
    return "n/a" if rate is None else f"{100 * rate:.{digits}f}%"


def fixed(value: float | None, digits: int = 4) -> str:
    """A number with `digits` decimals (losses, BPB: figures compared by eye); None -> n/a."""
    return "n/a" if value is None else f"{value:.{digits}f}"


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
        elif isinstance(block, Code):
            parts.append(f"```\n{block.text}\n```")
        else:
            raise TypeError(f"not a report block: {block!r}")
    return "\n\n".join(parts) + "\n"
