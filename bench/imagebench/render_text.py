"""The table printed at the end of a run: every target's verdict, per part."""

from __future__ import annotations

from collections.abc import Sequence

from imagebench.figures import verdicts
from imagebench.model import ImageResult


def render_text(results: Sequence[tuple[str, ImageResult]]) -> str:
    lines = []
    for stem, result in results:
        lines.append(f"== {stem} ({result.bench_seconds / 60:.1f} min)")
        for v in verdicts(result):
            lines.append(f"  [{v.mark:>12}] {v.target}: {v.measured}")
    return "\n".join(lines)
