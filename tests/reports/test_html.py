"""The HTML report is self-contained: same content as the Markdown, plots inline."""

from __future__ import annotations

import base64
from pathlib import Path

from picochat.reports.html import markdown_to_html

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_markdown_subset_renders_with_inline_png(tmp_path: Path):
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "loss.png").write_bytes(PNG_1PX)
    markdown = "\n".join(
        [
            "# Run <tiny>",
            "Gate status: **blocked** because `x < y`.",
            "",
            "| figure | value |",
            "|---|---|",
            "| val loss | 1.25 |",
            "",
            "- first",
            "- second",
            "",
            "![loss](plots/loss.png)",
            "```",
            "a <b> c",
            "```",
        ]
    )
    page = markdown_to_html(markdown, base=tmp_path, title="t")
    assert "<h1>Run &lt;tiny&gt;</h1>" in page
    assert '<strong class="blocked">blocked</strong>' in page and "<code>x &lt; y</code>" in page
    assert "<td>val loss</td><td>1.25</td>" in page
    assert "<li>first</li><li>second</li>" in page
    assert "data:image/png;base64," + base64.b64encode(PNG_1PX).decode() in page
    assert "<pre>a &lt;b&gt; c</pre>" in page
    assert "plots/loss.png" not in page  # nothing refers outside the file


def test_italic_note_may_contain_underscores(tmp_path: Path):
    page = markdown_to_html("_details: corpus_report.md_", base=tmp_path, title="t")
    assert "<em>details: corpus_report.md</em>" in page
