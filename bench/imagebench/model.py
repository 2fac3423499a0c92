"""What the benchmark measured, as frozen values (JSON-able through ``dataclasses.asdict``; read back by
result_io.py). One ``ImageResult`` per results file: bench/results/<stem>.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA = 2
"""Version of the results JSON; 1 was the single-image bench before issue 14."""


@dataclass(frozen=True, slots=True)
class Machine:
    date: str
    cores: int
    memory_bytes: int
    cpu_model: str
    kernel: str
    engine: str
    storage: str
    """The engine's storage driver and root (where the floor's empty storage lives too)."""
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
class Memory:
    """Memory of one measured process and its descendants, sampled from /proc every ``interval_seconds``."""

    samples: int
    interval_seconds: float
    tree_rss_peak_bytes: int
    """The largest sum of RSS over the process and every live descendant at one sample (the headline: shared
    pages count once per process, so this is an upper bound of what the tree held)."""
    tree_pss_peak_bytes: int
    """The largest sum of PSS over the same tree (a page shared by N processes counts 1/N in each)."""
    largest_process_bytes: int
    """``ru_maxrss`` from ``wait4``: the largest single process among it and every descendant it waited for."""
    processes_peak: int
    """The most processes alive in the tree at one sample."""
    engine_service_rss_peak_bytes: int | None = None
    """The engine service's own RSS (podman system service), which is not in harden's tree; None: not found."""
    with_probes_peak_bytes: int | None = None
    """The largest sum, at one sample, of the tree's RSS and the memory of harden's verification probes running
    as engine containers (not harden's descendants); None: not watched. Equal to ``tree_rss_peak_bytes`` when the
    probes run in harden's sandbox (then they are descendants)."""

    @property
    def headline_bytes(self) -> int:
        """The figure judged against the 500 MB target: the tree with its probe containers when they were
        watched, else the tree alone."""
        return max(self.tree_rss_peak_bytes, self.with_probes_peak_bytes or 0)


@dataclass(frozen=True, slots=True)
class ContainerMemory:
    """Engine-side memory of the verification's probe containers (they run under the engine, not under harden),
    from the containers' memory cgroups, sampled while they live."""

    cgroup: str
    """"v1", "v2", or "" when no container cgroup was found."""
    probes_started: int
    """Containers carrying harden's probe label that the engine's event stream reported."""
    probes_sampled: int
    """Of those, how many the sampler caught alive (a probe shorter than the interval can be missed)."""
    largest_peak_bytes: int | None
    """The largest single container's own peak (v1 ``memory.max_usage_in_bytes``, v2 ``memory.peak``); the
    cgroup charges page cache (files the container read) as well as anonymous memory."""
    concurrent_usage_peak_bytes: int | None
    """The largest sum of current usage over harden's live probe containers at one sample (page cache included)."""
    concurrent_anon_peak_bytes: int | None
    """The same for anonymous memory only (memory.stat ``rss`` on v1, ``anon`` on v2)."""
    others_seen: int
    """Containers without harden's label alive during the run (their memory is not counted above)."""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Run:
    """One measured harden process: wall time, exit code, memory, the phases harden announced."""

    argv: tuple[str, ...]
    wall_seconds: float
    exit_code: int
    memory: Memory
    phases: tuple[Phase, ...] = ()
    error: str = ""
    containers: ContainerMemory | None = None

    def seconds(self, prefix: str) -> float:
        return sum(p.seconds for p in self.phases if p.name.startswith(prefix))

    @property
    def verify_seconds(self) -> float:
        return self.seconds("verify")

    @property
    def seconds_excluding_verify(self) -> float:
        return self.wall_seconds - self.verify_seconds


@dataclass(frozen=True, slots=True)
class FloorSample:
    """``docker save`` of the image to a file, then ``podman load`` of that file into an empty storage."""

    archive_bytes: int
    save_seconds: float
    load_seconds: float | None
    """None when the load into an empty storage could not be measured (``note`` says why)."""
    note: str = ""
    save_first_byte_seconds: float | None = None
    """When the save's first byte reached the archive: before it, the engine prepares the archive and sends
    nothing. None in results from before it was measured."""

    @property
    def seconds(self) -> float | None:
        return None if self.load_seconds is None else self.save_seconds + self.load_seconds


@dataclass(frozen=True, slots=True)
class HardenSample:
    """One ``harden image IMAGE --no-verify`` run, and whether its output layer was new to the engine."""

    wall_seconds: float
    exit_code: int
    output_layers: tuple[str, ...]
    fresh: bool | None
    """True: none of the output's layers was in the engine before the run (checked against every image's layers
    just before it), so the engine really wrote it; None: could not be checked."""
    source_date_epoch: int | None
    """SOURCE_DATE_EPOCH given to this run (makes its layer's bytes unique to it), None if not set."""
    memory: Memory
    report_harden_seconds: float | None = None
    """report.json's ``harden_seconds`` (harden's own clock)."""
    holders_before: tuple[str, ...] = ()
    """Images that held the output's layer before the run (then ``fresh`` is False)."""
    error: str = ""


@dataclass(frozen=True, slots=True)
class Pair:
    floor: FloorSample
    harden: HardenSample
    first: str = "floor"
    """Which of the two ran first ("floor" or "harden"): pairs alternate the order."""
    settle_note: str = ""
    """What settling before its samples could not do (e.g. the page cache not dropped); "" when all of it ran."""

    @property
    def ratio(self) -> float | None:
        floor = self.floor.seconds
        return None if floor is None or floor <= 0 else self.harden.wall_seconds / floor


@dataclass(frozen=True, slots=True)
class IoComparison:
    """harden vs the I/O floor on one image: pairs of one floor and one harden sample, the order alternating
    from pair to pair (floor first in the first)."""

    reference: str
    policy: str
    argv: tuple[str, ...]
    fresh_method: str
    """"epoch": each harden run gets its own SOURCE_DATE_EPOCH (its layer's bytes differ from every earlier
    one); "remove": the bench removes its own earlier outputs. Either way ``HardenSample.fresh`` is checked."""
    pairs: tuple[Pair, ...]
    settle: str = ""
    """How the machine was brought to the same state before each sample ("": not at all, older results)."""


@dataclass(frozen=True, slots=True)
class StageSaving:
    stage: str
    seconds: float
    bytes_saved: int
    files_removed: int


@dataclass(frozen=True, slots=True)
class ImportStats:
    """One interpreter's import surface, original vs hardened (report.json verification.details.imports)."""

    interpreter: str
    total: int
    ok_before: int
    ok_after: int
    regressions: int
    accounted: int
    preexisting_failures: int
    fixed: int
    skipped: int
    order_dependent: int
    stdlib_deep: bool


@dataclass(frozen=True, slots=True)
class MetadataStats:
    interpreter: str
    distributions_before: int
    distributions_after: int
    missing: int
    removed_deliberately: int
    entry_points_missing: int


@dataclass(frozen=True, slots=True)
class Startup:
    """Import start-up as harden's verifier measured it (median of ``runs`` fresh interpreters per image)."""

    modules: tuple[str, ...]
    runs: int
    before_seconds: float | None
    after_seconds: float | None


@dataclass(frozen=True, slots=True)
class VerificationStats:
    """The verification of one ``harden image`` run, condensed from its report.json."""

    ok: bool
    summary: str
    runner: str
    restricted: bool
    interpreters: tuple[str, ...]
    imports: tuple[ImportStats, ...]
    metadata: tuple[MetadataStats, ...]
    smoke_passed: int
    smoke_total: int
    assertions_passed: int
    assertions_total: int
    assertions_failed: tuple[str, ...]
    failures_total: int
    failures: tuple[str, ...]
    """The first failures, verbatim."""
    writable_total: int
    """Imports or snippets that work, but need a writable path when run as a restricted pod (warnings)."""
    writable: tuple[str, ...]
    """The first of them: ``kind target: paths``."""
    touched_total: int
    """Files the original read while importing that the hardened image no longer has."""
    touched_accounted: int
    """Of those, removed on purpose with the modules they belong to."""
    touched_failing: tuple[str, ...]
    linkage_objects: int | None
    linkage_broken: tuple[str, ...]
    linkage_preexisting: int
    clean_starts_failing: int
    startup: Startup | None
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PolicyRun:
    """One ``harden image`` of an image under one policy: time, memory, sizes, verification."""

    key: str
    label: str
    policy: str
    verified: bool
    run: Run
    hardened: ImageSize | None
    """Measured by the bench from ``docker save`` of the output (None: not measured)."""
    report_bytes_before: int | None
    report_bytes_after: int | None
    """report.json ``sizes.before/after.bytes``: harden's own count of file bytes."""
    stage_savings: tuple[StageSaving, ...]
    verification: VerificationStats | None
    fresh: bool | None
    """The output's layer was new to the engine (see HardenSample.fresh): each run gets its own
    SOURCE_DATE_EPOCH under the "epoch" method; shown in the Policies table."""
    report_harden_seconds: float | None = None


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
    assertions_passed: tuple[str, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Naive:
    """The seed recipe (bench/naive/Dockerfile) built on the image, and what harden's verifier says it broke."""

    dockerfile: str
    deviations: tuple[str, ...]
    """The Dockerfile header's list of deviations from the seed, verbatim."""
    build_seconds: float
    size: ImageSize
    verify: Run | None
    """``harden verify ORIGINAL NAIVE``; None when skipped (--no-naive-verify)."""
    breakage: Breakage | None


@dataclass(frozen=True, slots=True)
class Check:
    """One snippet run with ``python3 -c`` in each image: the first line it printed or the error it ended on."""

    name: str
    code: str
    results: tuple[tuple[str, str], ...]
    """(image label, outcome) pairs."""


@dataclass(frozen=True, slots=True)
class StartupSamples:
    """The bench's own start-up measurement: fresh ``python3 -c 'import …'`` in containers of each image,
    alternating between images."""

    modules: tuple[str, ...]
    images: tuple[tuple[str, tuple[float, ...]], ...]
    """(label, seconds of each fresh interpreter)."""


@dataclass(frozen=True, slots=True)
class ScalingPoint:
    label: str
    reference: str
    size: ImageSize
    io: IoComparison
    verified: PolicyRun | None


@dataclass(frozen=True, slots=True)
class Scaling:
    recipe: str
    """How the large image was made from the deps image (bench/scaling/Dockerfile and its build arguments)."""
    build_seconds: float
    points: tuple[ScalingPoint, ...]


@dataclass(frozen=True, slots=True)
class Group:
    """Files present in one image and not in the other, grouped (by OS package, or by directory)."""

    name: str
    files: int
    bytes: int
    examples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ImageTraits:
    """What an attacker finds in an image: shells, package managers (OS and pip), the user it runs as."""

    label: str
    shells: tuple[str, ...]
    package_managers: tuple[str, ...]
    user: str
    """The image config's User ("" is root)."""


@dataclass(frozen=True, slots=True)
class Distroless:
    """The hardened base beside a hand-made distroless-style image of the same Python (bench/distroless)."""

    dockerfile: str
    build_seconds: float
    size: ImageSize
    common_files: int
    only_hardened_files: int
    only_hardened_bytes: int
    only_distroless_files: int
    only_distroless_bytes: int
    only_hardened_by_package: tuple[Group, ...]
    only_hardened_by_directory: tuple[Group, ...]
    only_distroless_by_package: tuple[Group, ...]
    only_distroless_by_directory: tuple[Group, ...]
    traits: tuple[ImageTraits, ...] = ()
    """Original, hardened and distroless-style, in that order."""


@dataclass(frozen=True, slots=True)
class ImageResult:
    """Every number of one results file (bench/results/<stem>.json)."""

    kind: str
    """"deps", "data", "base" or "scaling": which sections the file has."""
    image: str
    machine: Machine
    original: ImageSize
    io: IoComparison | None
    runs: tuple[PolicyRun, ...]
    """The headline run first (verified), then policy variants."""
    naive: Naive | None = None
    checks: tuple[Check, ...] = ()
    startup: StartupSamples | None = None
    verify_repeats: tuple[float, ...] = ()
    """The verify phase (seconds) of further ``harden image`` runs of the headline policy after the headline run,
    each passed: with the headline's, the samples the verification-time target is judged on."""
    verify_repeats_fresh: tuple[bool | None, ...] = ()
    """For each of ``verify_repeats``: its output layer was new to the engine (as ``PolicyRun.fresh``)."""
    scaling: Scaling | None = None
    distroless: Distroless | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """The bench's command-line options for this run (repeat, parts, fresh method, jobs)."""
    bench_seconds: float = 0.0
    notes: tuple[str, ...] = ()
    schema: int = SCHEMA
