"""A self-contained HTML page from Picochat's own Markdown, plots inline.

Picochat writes its reports in a small Markdown subset (headings, paragraphs,
bullet lists, pipe tables, fenced code, images, **bold**, `code`); this renders that
subset to one HTML file with every PNG embedded as a data URI, so the page reads
offline in any browser and can be mailed as one file. It is not a general Markdown
implementation, and does not need to be: the input is always ours.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

_STYLE = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;max-width:980px;margin:2em auto;
padding:0 1em;color:#1b1b1b}
h1,h2,h3{line-height:1.2}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}th{background:#f3f3f3}
code{background:#f3f3f3;padding:0 .2em}pre{background:#f6f6f6;padding:.8em;overflow:auto}
img{max-width:100%}.approved{color:#17692b}.warn{color:#8a5a00}.blocked{color:#a11}
"""
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")
_EMPHASIS = re.compile(r"(?<!\w)_(.+?)_(?!\w)")  # `_note about a_file.md_` is one span
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _inline(text: str, base: Path) -> str:
    """Escape, then apply images, links, bold and code spans."""
    out = html.escape(text, quote=False)

    def image(match: re.Match) -> str:
        alt, src = match.group(1), match.group(2)
        path = (base / html.unescape(src)).resolve()
        if path.suffix.lower() == ".png" and path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            return f'<img alt="{alt}" src="data:image/png;base64,{data}">'
        return f"<em>[missing image: {alt}]</em>"

    out = _IMAGE.sub(image, out)
    out = _LINK.sub(lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _EMPHASIS.sub(r"<em>\1</em>", out)
    for status in ("approved", "warn", "blocked"):
        out = out.replace(
            f"<strong>{status}</strong>", f'<strong class="{status}">{status}</strong>'
        )
    return out


def _table(rows: list[str], base: Path) -> str:
    cells = [
        [c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(row.strip().strip("|"))]
        for row in rows
    ]
    header, body = cells[0], [r for r in cells[2:]]
    head = "".join(f"<th>{_inline(c, base)}</th>" for c in header)
    lines = "".join(
        "<tr>" + "".join(f"<td>{_inline(c, base)}</td>" for c in r) + "</tr>" for r in body
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>"


def markdown_to_html(markdown: str, *, base: Path, title: str) -> str:
    """Render Picochat's Markdown subset; images resolve relative to `base`."""
    parts: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            end = i + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            parts.append("<pre>" + html.escape("\n".join(lines[i + 1 : end])) + "</pre>")
            i = end + 1
        elif line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            parts.append(f"<h{level}>{_inline(line[level:].strip(), base)}</h{level}>")
            i += 1
        elif line.lstrip().startswith("|"):
            end = i
            while end < len(lines) and lines[end].lstrip().startswith("|"):
                end += 1
            parts.append(_table(lines[i:end], base))
            i = end
        elif line.lstrip().startswith(("- ", "* ")):
            items = []
            while i < len(lines) and lines[i].lstrip().startswith(("- ", "* ")):
                items.append(f"<li>{_inline(lines[i].lstrip()[2:], base)}</li>")
                i += 1
            parts.append("<ul>" + "".join(items) + "</ul>")
        elif line.strip():
            paragraph = []
            while (
                i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "```", "|"))
            ):
                if lines[i].lstrip().startswith(("- ", "* ")):
                    break
                paragraph.append(lines[i].strip())
                i += 1
            parts.append("<p>" + _inline(" ".join(paragraph), base) + "</p>")
        else:
            i += 1
    body = "\n".join(parts)
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
