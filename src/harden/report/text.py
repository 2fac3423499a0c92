"""Small formatting helpers shared by the Markdown, HTML and SVG renderers."""

from __future__ import annotations

from typing import Any


def human_bytes(count: int | float | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{sign}{value:.0f} {unit}" if unit == "B" else f"{sign}{value:.1f} {unit}"
        value /= 1024
    return f"{sign}{value:.1f} TiB"  # pragma: no cover - the loop always returns


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
