"""What the benchmark measured, as frozen values (JSON-able through ``dataclasses.asdict``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Machine:
    date: str
    cores: int
    memory_bytes: int
    cpu_model: str
    kernel: str
    engine: str
    python: str
    harden_version: str
    commit: str


@dataclass(frozen=True, slots=True)
class ImageSize:
    """One image as the engine exports it (``docker save``): its layer tars, gzip-compressed and merged."""

    label: str
    reference: str
    layers: int
    uncompressed_bytes: int
    """Sum of the uncompressed layer tars."""
    gzip_bytes: int | None
    """Sum of the layer tars each gzip-compressed at level 6 (None: not measured)."""
    files: int
    """Non-directory entries (regular files, symlinks, hard links) of the merged filesystem."""
    content_bytes: int
    """Sum of the regular files' sizes in the merged filesystem."""


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Run:
    """One harden process: wall time, exit code, memory and the phases harden reported."""

    argv: tuple[str, ...]
    wall_seconds: float
    exit_code: int
    peak_rss_process_bytes: int
    """The largest single process of the tree (wait4 ru_maxrss)."""
    peak_pss_tree_bytes: int
    """The largest sum of PSS (proportional set size) over the live process tree, sampled every 0.25 s."""
    phases: tuple[Phase, ...] = ()
    error: str = ""

    def seconds(self, prefix: str) -> float:
        return sum(p.seconds for p in self.phases if p.name.startswith(prefix))

    @property
    def verify_seconds(self) -> float:
        return self.seconds("verify")

    @property
    def seconds_excluding_verify(self) -> float:
        return self.wall_seconds - self.verify_seconds


@dataclass(frozen=True, slots=True)
class IoFloor:
    """``docker save`` of an image to a file, then ``docker load`` of that file."""

    archive_bytes: int
    save_seconds: float
    load_dedup_seconds: float
    """Loaded back into the same engine, where every layer already exists (podman skips them)."""
    load_fresh_seconds: float | None
    """Loaded into an empty podman storage (every layer written again); None when it could not be measured."""
    fresh_note: str = ""

    @property
    def dedup_seconds(self) -> float:
        return self.save_seconds + self.load_dedup_seconds

    @property
    def honest_seconds(self) -> float | None:
        return None if self.load_fresh_seconds is None else self.save_seconds + self.load_fresh_seconds


@dataclass(frozen=True, slots=True)
class Example:
    name: str
    detail: str


@dataclass(frozen=True, slots=True)
class Breakage:
    """What harden's verifier found broken in the naive image (verify.json, original vs naive)."""

    verified: bool
    failures: int
    imports: tuple[tuple[str, int, int, int], ...]
    """(interpreter, import targets, importable in the original, importable in the naive image)."""
    import_regressions: tuple[Example, ...]
    distributions: tuple[tuple[str, int, int], ...]
    """(interpreter, distributions importlib.metadata lists in the original, in the naive image)."""
    distributions_missing: tuple[str, ...]
    entry_points_missing: int
    smoke_failures: tuple[Example, ...]
    assertion_failures: tuple[Example, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Check:
    """One snippet run with ``python3 -c`` in each image: the first line it printed or the error it ended on."""

    name: str
    code: str
    results: tuple[tuple[str, str], ...]
    """(image label, outcome) pairs."""


@dataclass(frozen=True, slots=True)
class Startup:
    """Import startup: harden's verifier's medians, and the bench's own interleaved samples."""

    modules: tuple[str, ...]
    runs: int
    before_seconds: float | None
    after_seconds: float | None
    bench_before: tuple[float, ...] = ()
    """Seconds per fresh ``python3 -c 'import …'`` in containers of the original (the bench's measurement)."""
    bench_after: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class ScalePoint:
    label: str
    reference: str
    size: ImageSize
    floor: IoFloor
    """The median of ``floor_samples`` (by honest seconds)."""
    harden: Run
    """The first harden run (its phases and memory)."""
    output_content_bytes: int | None
    floor_samples: tuple[IoFloor, ...] = ()
    harden_samples: tuple[float, ...] = ()
    """harden's seconds, verification excluded, of every repetition (the first is ``harden``)."""


@dataclass(frozen=True, slots=True)
class BenchResult:
    image: str
    policy: str
    machine: Machine
    original: ImageSize
    hardened: ImageSize
    naive: ImageSize
    floor: IoFloor
    """The median of ``floor_samples`` (by honest seconds)."""
    harden: Run
    """The full ``harden image`` run, verification included: phases, memory, report."""
    harden_samples: tuple[float, ...]
    """harden's seconds, verification excluded: the full run's, then each ``--no-verify`` repetition's."""
    floor_samples: tuple[IoFloor, ...]
    stage_savings: tuple[tuple[str, float, int, int], ...]
    """(stage, seconds, bytes saved, files removed) as report.json records them."""
    report_harden_seconds: float | None
    """report.json's harden_seconds: read, merge, stages and layer write, as harden times itself."""
    naive_verify: Run
    breakage: Breakage
    checks: tuple[Check, ...]
    startup: Startup | None
    scaling: tuple[ScalePoint, ...]
    naive_verify_report: dict[str, Any] = field(default_factory=dict)
    """harden's verify.json for the naive image, written beside the results (not inside the results JSON)."""
    build_seconds: dict[str, float] = field(default_factory=dict)
    bench_seconds: float = 0.0
    notes: tuple[str, ...] = ()
