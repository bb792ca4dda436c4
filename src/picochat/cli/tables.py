"""Print report blocks (picochat.markdown) to the terminal as rich tables."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table as RichTable

from picochat.cli.console import console
from picochat.markdown import Block, Bullets, Code, Heading, Paragraph, Table, fmt


def print_blocks(blocks: Sequence[Block]) -> None:
    """Show the same blocks a Markdown report is rendered from."""
    for block in blocks:
        if isinstance(block, Heading):
            console.print(f"\n[bold]{escape(block.text)}[/]")
        elif isinstance(block, (Paragraph, Code)):
            console.print(escape(block.text))
        elif isinstance(block, Bullets):
            for item in block.items:
                console.print(f"  - {escape(item)}")
        elif isinstance(block, Table):
            table = RichTable(title=block.title, title_justify="left", caption=block.note)
            for i, header in enumerate(block.headers):
                justify = "right" if i in block.align_right else "left"
                table.add_column(str(header), justify=justify, overflow="fold")
            for row in block.rows:
                table.add_row(*(escape(fmt(cell)) for cell in row))
            console.print(table)
