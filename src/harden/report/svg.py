"""A hand-written SVG bar chart of image size by category, before and after hardening (no chart library)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from harden.units import human_bytes

BEFORE = "#8a94a6"
AFTER = "#2f855a"
LABEL_WIDTH = 170
BAR_WIDTH = 380
VALUE_WIDTH = 170
BAR = 14
GAP = 3
ROW_GAP = 12
TOP = 40


def category_chart(report: Mapping[str, Any]) -> str | None:
    """The chart as an inline ``<svg>`` element, or None when there is nothing to draw."""
    rows = []
    for row in report["sizes"]["categories"]:
        before = row["before"]["bytes"] if row["before"] else 0
        after = row["after"]["bytes"] if row["after"] else None
        if before or after:
            rows.append((row["category"], before, after))
    if not rows:
        return None
    has_after = any(after is not None for _, _, after in rows)
    largest = max(max(before, after or 0) for _, before, after in rows) or 1
    row_height = (2 * BAR + GAP if has_after else BAR) + ROW_GAP
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    height = TOP + row_height * len(rows) + 10
    title = "Image size by category, before and after hardening" if has_after else "Image size by category"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title" '
        'font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<text x="0" y="16" font-size="14" font-weight="600">{escape(title)}</text>',
    ]
    if has_after:
        parts.append(_legend(width))
    sizes = report["sizes"]
    total_before = sizes["before"]["bytes"]
    total_after = sizes["after"]["bytes"] if sizes["after"] else 0
    y = TOP
    for category, before, after in rows:
        label_y = y + BAR - 3
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{label_y}" text-anchor="end">{escape(category)}</text>')
        parts.append(_bar(y, before, largest, BEFORE, f"{category} before", total_before))
        if has_after:
            parts.append(_bar(y + BAR + GAP, after or 0, largest, AFTER, f"{category} after", total_after))
        y += row_height
    parts.append("</svg>")
    return "\n".join(parts)


def _bar(y: int, value: int, largest: int, colour: str, label: str, total: int) -> str:
    length = max(1.0, BAR_WIDTH * value / largest) if value else 0.0
    text_x = LABEL_WIDTH + length + 6
    shown = human_bytes(value) + (f" ({100 * value / total:.1f}%)" if total and value else "")
    return (
        f'<g><title>{escape(f"{label}: {human_bytes(value)}")}</title>'
        f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR}" fill="{colour}"/>'
        f'<text x="{text_x:.1f}" y="{y + BAR - 3}">{escape(shown)}</text></g>'
    )


def _legend(width: int) -> str:
    x = width - 170
    return (
        f'<g><rect x="{x}" y="6" width="12" height="12" fill="{BEFORE}"/>'
        f'<text x="{x + 16}" y="16">before</text>'
        f'<rect x="{x + 70}" y="6" width="12" height="12" fill="{AFTER}"/>'
        f'<text x="{x + 86}" y="16">after</text></g>'
    )
