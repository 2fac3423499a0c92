"""Numbers derived from a BenchResult (ratios, verdicts against the targets), shared by every renderer."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from imagebench.model import BenchResult, IoFloor, ScalePoint

SIZE_TARGET = 0.50
"""Issue #3: the hardened image's uncompressed size is at most 50 % of the original's."""
TIME_TARGET = 2.0
"""Issue #3: hardening (verification excluded) takes at most 2x the I/O floor."""
RSS_TARGET = 500 * 10**6
"""Issue #3: peak RSS below 500 MB."""


def mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1e6:,.1f} MB"


def sec(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def pct(part: float | None, whole: float | None) -> str:
    return "n/a" if part is None or not whole else f"{100 * part / whole:.1f} %"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


@dataclass(frozen=True, slots=True)
class Verdict:
    target: str
    measured: str
    passed: bool | None

    @property
    def mark(self) -> str:
        return {True: "met", False: "NOT met", None: "not measured"}[self.passed]


def verdicts(result: BenchResult) -> list[Verdict]:
    size = ratio(result.hardened.uncompressed_bytes, result.original.uncompressed_bytes)
    time_honest = ratio(harden_seconds(result), result.floor.honest_seconds)
    time_dedup = ratio(harden_seconds(result), result.floor.dedup_seconds)
    rss = result.harden.peak_rss_process_bytes
    tree = result.harden.peak_pss_tree_bytes
    return [
        Verdict("hardened uncompressed size ≤ 50 % of the original",
                f"{pct(result.hardened.uncompressed_bytes, result.original.uncompressed_bytes)} "
                f"({mb(result.hardened.uncompressed_bytes)} of {mb(result.original.uncompressed_bytes)})",
                None if size is None else size <= SIZE_TARGET),
        Verdict("hardening time (verification excluded) ≤ 2x the I/O floor",
                f"{_x(time_honest)} the honest floor (save + load into empty storage); "
                f"{_x(time_dedup)} the deduplicated floor (save + reload); medians of {len(result.harden_samples)} "
                "runs",
                None if time_honest is None else time_honest <= TIME_TARGET),
        Verdict("peak RSS < 500 MB",
                f"{mb(rss)} largest process; {mb(tree)} whole process tree (sum of PSS)",
                rss < RSS_TARGET),
    ]


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def spread(values: Sequence[float]) -> str:
    """``12.3 to 14.1 s over 3 runs`` (or ``1 run``)."""
    if len(values) < 2:
        return "1 run"
    return f"{min(values):.1f} to {max(values):.1f} s over {len(values)} runs"


def median_floor(samples: Sequence[IoFloor]) -> IoFloor:
    """The sample in the middle by honest seconds (by deduplicated seconds when the honest one is missing)."""
    if not samples:
        raise ValueError("no I/O floor sample")

    def key(floor: IoFloor) -> float:
        return floor.honest_seconds if floor.honest_seconds is not None else floor.dedup_seconds

    return sorted(samples, key=key)[(len(samples) - 1) // 2]


def harden_seconds(result: BenchResult) -> float:
    """harden's wall time on the image, verification excluded: the median over the repetitions."""
    return median(result.harden_samples)


def scale_seconds(point: ScalePoint) -> float:
    """harden's wall time for the image, verification excluded: the median over the repetitions."""
    return median(point.harden_samples) if point.harden_samples else point.harden.seconds_excluding_verify


def growth(result: BenchResult) -> tuple[float, float] | None:
    """(size factor, time factor) from the first scaling point to the last."""
    if len(result.scaling) < 2:
        return None
    first, last = result.scaling[0], result.scaling[-1]
    size = ratio(last.size.uncompressed_bytes, first.size.uncompressed_bytes)
    time = ratio(scale_seconds(last), scale_seconds(first))
    return None if size is None or time is None else (size, time)
