"""Numbers derived from the measurements (medians, spreads, ratios) and the verdicts against the targets of
issues 10 and 14, shared by every renderer. Nothing here measures or estimates: a figure no sample produced is
None, rendered "not measured"."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from imagebench.model import ImageResult, IoComparison, Pair, PolicyRun, Run

TIME_TARGET = 1.0
"""Issue 14: ``harden image --no-verify`` at most 1.0x the I/O floor (save + load into empty storage)."""
VERIFY_TARGET = 60.0
"""Issue 14: whole-surface verification of the deps image in at most 60 s."""
MEMORY_TARGET = 500 * 10**6
"""Issue 14: peak memory of harden's whole process tree below 500 MB (deps image and one ~3x its size)."""
SIZE_TARGETS = {"spark-k8s-python-deps": 0.36, "data-stack-plain": 0.45}
"""Issue 10: hardened uncompressed size as a share of the original's (spark policy on the deps image; the default
policy on the plain independent data image)."""


def mb(value: float | None) -> str:
    return "not measured" if value is None else f"{value / 1e6:,.1f} MB"


def sec(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.1f} s"


def pct(part: float | None, whole: float | None) -> str:
    return "not measured" if part is None or not whole else f"{100 * part / whole:.1f} %"


def times(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.2f}x"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def spread(values: Sequence[float], unit: str = "s") -> str:
    """``12.3-14.1 s over 3 samples`` (or ``1 sample``)."""
    if not values:
        return "no sample"
    if len(values) < 2:
        return "1 sample"
    suffix = f" {unit}" if unit else ""
    return f"{min(values):.{1 if unit else 2}f}-{max(values):.{1 if unit else 2}f}{suffix} over {len(values)} samples"


def stem_of(reference: str) -> str:
    return reference.split("/")[-1].split(":")[0].split("@")[0]


# ---- harden vs the floor ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IoFigures:
    pairs: int
    fresh_pairs: int
    floor_median: float | None
    floor_values: tuple[float, ...]
    harden_median: float | None
    harden_values: tuple[float, ...]
    ratio_median: float | None
    """The median of the per-pair ratios harden / floor, over pairs whose harden write was fresh."""
    ratio_values: tuple[float, ...]
    save_median: float | None
    load_median: float | None
    first_byte_median: float | None = None
    """When the engine's save sent its first byte (median; None: not measured)."""


def valid_pairs(io: IoComparison) -> list[Pair]:
    """Pairs with a floor and a successful harden run whose output layer was new to the engine."""
    return [p for p in io.pairs if p.ratio is not None and p.harden.exit_code == 0 and p.harden.fresh]


def io_figures(io: IoComparison | None) -> IoFigures | None:
    if io is None:
        return None
    good = valid_pairs(io)
    floors = tuple(s for p in good if (s := p.floor.seconds) is not None)
    hardens = tuple(p.harden.wall_seconds for p in good)
    ratios = tuple(r for p in good if (r := p.ratio) is not None)
    return IoFigures(
        pairs=len(io.pairs), fresh_pairs=len(good),
        floor_median=median(floors), floor_values=floors,
        harden_median=median(hardens), harden_values=hardens,
        ratio_median=median(ratios), ratio_values=ratios,
        save_median=median([p.floor.save_seconds for p in good]),
        load_median=median([s for p in good if (s := p.floor.load_seconds) is not None]),
        first_byte_median=median([s for p in good if (s := p.floor.save_first_byte_seconds) is not None]),
    )


# ---- verdicts ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    target: str
    measured: str
    passed: bool | None

    @property
    def mark(self) -> str:
        return {True: "met", False: "NOT met", None: "not measured"}[self.passed]


def headline(result: ImageResult) -> PolicyRun | None:
    return result.runs[0] if result.runs else None


def run_by_key(result: ImageResult, key: str) -> PolicyRun | None:
    return next((run for run in result.runs if run.key == key), None)


def size_share(result: ImageResult, run: PolicyRun | None) -> float | None:
    if run is None or run.hardened is None:
        return None
    return ratio(run.hardened.uncompressed_bytes, result.original.uncompressed_bytes)


def memory_verdict(label: str, runs: Sequence[tuple[str, Run]]) -> Verdict:
    measured = [(name, run.memory.headline_bytes) for name, run in runs if run.memory.samples]
    if not measured:
        return Verdict(f"peak memory of harden's whole process tree < 500 MB ({label})", "not measured", None)
    worst = max(value for _, value in measured)
    text = "; ".join(f"{name}: {mb(value)}" for name, value in measured)
    return Verdict(f"peak memory of harden's whole process tree < 500 MB ({label})",
                   f"{text} (sum of RSS over harden and every descendant, plus its verification probe containers' "
                   "memory when they run under the engine, at one sample)", worst < MEMORY_TARGET)


def verify_samples(result: ImageResult, first: PolicyRun) -> list[float]:
    """The verify phase of the headline run, then of the repeats (none when the headline has no phases)."""
    return [first.run.verify_seconds, *result.verify_repeats] if first.run.phases else []


def verdicts(result: ImageResult) -> list[Verdict]:
    found: list[Verdict] = []
    stem = stem_of(result.image)
    io = io_figures(result.io)
    if io is not None:
        found.append(Verdict(
            "`harden image --no-verify` ≤ 1.0x the I/O floor (save + load into empty storage), same image, same run",
            f"{times(io.ratio_median)} (median of {io.fresh_pairs} per-pair ratios, {spread(io.ratio_values, '')}); "
            f"harden {sec(io.harden_median)}, floor {sec(io.floor_median)}"
            + (f"; {io.pairs - io.fresh_pairs} pair(s) left out: harden's write was not fresh or failed"
               if io.pairs != io.fresh_pairs else ""),
            None if io.ratio_median is None else io.ratio_median <= TIME_TARGET))
    first = headline(result)
    if first is not None and first.verified and result.kind == "deps":
        samples = verify_samples(result, first)
        verify = median(samples)
        state = "" if first.verification is None else (" — PASSED" if first.verification.ok else " — FAILED")
        how = (f"median verify phase of {len(samples)} `harden image` runs, {spread(samples)}" if len(samples) > 1
               else "verify phase of one `harden image` run")
        found.append(Verdict("whole-surface verification of the deps image ≤ 60 s", f"{sec(verify)} ({how}){state}",
                             None if verify is None else verify <= VERIFY_TARGET))
    if first is not None and first.verified and result.kind in ("data", "base"):
        v = first.verification
        found.append(Verdict("whole import surface verified: PASS",
                             "not measured" if v is None else v.summary,
                             None if v is None else v.ok))
    if stem in SIZE_TARGETS and first is not None:
        share = size_share(result, first)
        target = SIZE_TARGETS[stem]
        found.append(Verdict(
            f"`{first.policy}` policy: hardened ≤ {100 * target:.0f} % of the original's uncompressed size",
            f"{pct(first.hardened.uncompressed_bytes if first.hardened else None, result.original.uncompressed_bytes)}"
            f" ({mb(first.hardened.uncompressed_bytes if first.hardened else None)} of "
            f"{mb(result.original.uncompressed_bytes)})",
            None if share is None else share <= target))
    if result.kind == "scaling" and result.scaling is not None:
        runs: list[tuple[str, Run]] = []
        for point in result.scaling.points:
            if point.verified is not None:
                runs.append((f"{point.label}, `harden image` with verification", point.verified.run))
        found.append(memory_verdict("the deps image and the ~3x image, verification included", runs))
    elif first is not None:
        found.append(memory_verdict(f"{stem}, `harden image` with verification", [("headline run", first.run)]))
    return found
