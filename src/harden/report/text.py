"""Small formatting helpers shared by the Markdown, HTML and SVG renderers."""

from __future__ import annotations

from typing import Any


def number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def cell(value: Any, limit: int = 120) -> str:
    """A Markdown table cell: one line, pipes escaped, long text shortened."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def code(value: Any, limit: int = 120) -> str:
    text = cell(value, limit).replace("`", "'")
    return f"`{text}`" if text else ""


def table(headers: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """Markdown table lines; ``align`` has one letter per column: l (default) or r."""
    marks = ["---:" if (align[i:i + 1] == "r") else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks) + " |"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (many or word + 's')}"
