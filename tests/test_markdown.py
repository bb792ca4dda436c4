"""The one report toolkit: blocks rendered to Markdown, and the value formats."""

from __future__ import annotations

from picochat.markdown import Bullets, Code, Heading, Paragraph, Table, fixed, fmt, pct, render


def test_render_blocks_to_markdown():
    text = render(
        [
            Heading("Report", 1),
            Paragraph("Some words."),
            Bullets(["one", "two"]),
            Table(
                ["name", "n"],
                [["a|b", 1234], ["c", None]],
                title="T",
                note="all rows",
                align_right=(1,),
            ),  # fmt: skip
            Code("a | b\n  c"),
        ]
    )
    assert text == (
        "# Report\n\nSome words.\n\n- one\n- two\n\n**T**\n\n| name | n |\n|---|---:|\n"
        "| a\\|b | 1,234 |\n| c | n/a |\n\n_all rows_\n\n```\na | b\n  c\n```\n"
    )


def test_cell_formatting():
    assert fmt(0.123456) == "0.1235" and fmt(True) == "yes" and fmt([1, 2]) == "1, 2"
    assert pct(0.25) == "25.00%" and pct(None) == "n/a"
    assert pct(0.125, 1) == f"{0.125:.1%}" and pct(0.5, 0) == "50%"  # the stage reports' forms
    assert fixed(0.693147) == "0.6931" and fixed(1234.5, 0) == "1234" and fixed(None) == "n/a"
