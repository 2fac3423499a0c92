"""The naive recipe's deviations from its seed, read from the Dockerfile's header (one source: the results quote
the Dockerfile, never a copy of it)."""

from __future__ import annotations

import re

HEADING = "# Deviations from the seed"
_ITEM = re.compile(r"#\s+(\d+)\.\s+(.*)")


def deviations(dockerfile: str) -> tuple[str, ...]:
    """The numbered items under the ``# Deviations from the seed`` heading, each joined into one line; the
    list ends at the first line that is not a comment or is an empty comment."""
    lines = dockerfile.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(HEADING)), None)
    if start is None:
        return ()
    items: list[str] = []
    for line in lines[start + 1:]:
        if not line.startswith("#") or not line[1:].strip():
            break
        if match := _ITEM.match(line):
            items.append(match.group(2).strip())
        elif items:
            items[-1] += " " + line[1:].strip()
    return tuple(items)
