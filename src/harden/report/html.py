"""report.html: report.md rendered as one self-contained HTML page, with the size chart as inline SVG.

The converter understands exactly the Markdown ``markdown.py`` writes (headings, paragraphs, bullet lists,
pipe tables with alignment, ``code`` and **bold**) — no Markdown library, no external assets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from typing import Any

from harden.report.svg import category_chart

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #1a202c; line-height: 1.45; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #e2e8f0; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #e2e8f0; padding: 0.25rem 0.6rem; vertical-align: top; }
th { background: #f7fafc; text-align: left; } .r { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f1f5f9; padding: 0 0.2rem; border-radius: 3px; font-size: 0.85em; word-break: break-all; }
figure { margin: 1.5rem 0; }
""".strip()

_CODE = re.compile(r"`([^`]*)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _inline(text: str) -> str:
    out = []
    pos = 0
    for match in _CODE.finditer(text):
        out.append(_BOLD.sub(r"<strong>\1</strong>", escape(text[pos:match.start()], quote=False)))
        out.append(f"<code>{escape(match.group(1), quote=False)}</code>")
        pos = match.end()
    out.append(_BOLD.sub(r"<strong>\1</strong>", escape(text[pos:], quote=False)))
    return "".join(out).replace("\\|", "|")


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [cell.strip() for cell in _CELL_SPLIT.split(inner)]


def _table(lines: list[str]) -> str:
    header = _cells(lines[0])
    aligns = ["r" if cell.endswith(":") else "" for cell in _cells(lines[1])] if len(lines) > 1 else []
    body = lines[2:]

    def row(cells: list[str], tag: str) -> str:
        items = []
        for i, cell in enumerate(cells):
            klass = ' class="r"' if i < len(aligns) and aligns[i] == "r" else ""
            items.append(f"<{tag}{klass}>{_inline(cell)}</{tag}>")
        return "<tr>" + "".join(items) + "</tr>"

    head = row(header, "th") if any(header) else ""
    return "<table>" + (f"<thead>{head}</thead>" if head else "") + "<tbody>" + "".join(
        row(_cells(line), "td") for line in body) + "</tbody></table>"


def markdown_to_html(markdown: str) -> list[str]:
    """The body blocks of the page, one string per block."""
    blocks: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            blocks.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
            i += 1
        elif line.startswith("|"):
            start = i
            while i < len(lines) and lines[i].startswith("|"):
                i += 1
            blocks.append(_table(lines[start:i]))
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            blocks.append("<ul>" + "".join(items) + "</ul>")
        else:
            start = i
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "|", "- ")):
                i += 1
            blocks.append("<p>" + " ".join(_inline(t) for t in lines[start:i]) + "</p>")
    return blocks


def render_html(report: Mapping[str, Any], markdown: str) -> str:
    blocks = markdown_to_html(markdown)
    chart = category_chart(report)
    if chart is not None:
        figure = f"<figure>{chart}</figure>"
        first_h2 = next((i for i, block in enumerate(blocks) if block.startswith("<h2")), len(blocks))
        blocks.insert(first_h2, figure)
    title = f"harden report: {report['identity']['source']}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n"
        + "\n".join(blocks)
        + "\n</body>\n</html>\n"
    )
