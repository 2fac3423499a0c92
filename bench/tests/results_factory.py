"""Hand-made results for the renderer and verdict tests: fixed numbers, no engine."""

from __future__ import annotations

from imagebench.model import (
    Breakage,
    Check,
    Distroless,
    Example,
    FloorSample,
    HardenSample,
    ImageResult,
    ImageSize,
    ImageTraits,
    ImportStats,
    IoComparison,
    Machine,
    Memory,
    MetadataStats,
    Naive,
    Pair,
    Phase,
    PolicyRun,
    Run,
    Scaling,
    ScalingPoint,
    StageSaving,
    VerificationStats,
)

MB = 10**6
MACHINE = Machine("2026-01-01 00:00 UTC", 2, 24 * 2**30, "cpu", "6.1", "Podman 4.3.1 (podman service, API 4.3.1)",
                  "overlay at /var/lib/containers", "3.11.2", "0.1.0", "abc1234")


def size(label: str, uncompressed: int, gzip: int | None = None, files: int = 1000) -> ImageSize:
    return ImageSize(label, f"{label}:latest", 1, uncompressed * MB, None if gzip is None else gzip * MB, files,
                     uncompressed * MB)


def memory(tree: int, probes: int | None = None) -> Memory:
    return Memory(100, 0.2, tree * MB, tree * MB - MB, tree * MB // 2, 4, None,
                  None if probes is None else probes * MB)


def io(floors: tuple[float, ...], hardens: tuple[float, ...], *, fresh: bool = True,
       first_byte: float | None = None) -> IoComparison:
    """Pairs whose floor is half save, half load; the save's first byte at ``first_byte`` of it (None: unknown)."""
    pairs = tuple(Pair(FloorSample(1000 * MB, f / 2, f / 2, "", None if first_byte is None else first_byte * f / 2),
                       HardenSample(h, 0, ("sha256:x",), fresh, 1, memory(200)))
                  for f, h in zip(floors, hardens, strict=True))
    return IoComparison("deps:latest", "p", ("harden", "image", "deps:latest", "--no-verify"), "epoch", pairs)


def verification(ok: bool = True) -> VerificationStats:
    return VerificationStats(
        ok=ok, summary="PASSED; 1519 modules walked, 0 lost" if ok else "FAILED", runner="engine", restricted=True,
        interpreters=("/opt/venv/bin/python3",),
        imports=(ImportStats("/opt/venv/bin/python3", 1519, 1444, 772, 0, 672, 75, 0, 16, 0, True),),
        metadata=(MetadataStats("/opt/venv/bin/python3", 42, 40, 0, 2, 0),), smoke_passed=3, smoke_total=3,
        assertions_passed=7, assertions_total=7, assertions_failed=(), failures_total=0, failures=(),
        writable_total=0, writable=(), touched_total=2, touched_accounted=2, touched_failing=(), linkage_objects=365,
        linkage_broken=(), linkage_preexisting=0, clean_starts_failing=0, startup=None, problems=())


def policy_run(key: str, hardened_mb: int, *, verify: float | None, tree: int = 300,
               probes: int | None = None) -> PolicyRun:
    phases = (Phase("read", 10.0), Phase("stages", 20.0)) + ((Phase("verify", verify),) if verify else ())
    wall = 35.0 + (verify or 0.0)
    run = Run(("harden", "image"), wall, 0, memory(tree, probes), phases)
    return PolicyRun(key, f"run {key}", key, verify is not None, run, size(key, hardened_mb, hardened_mb // 2),
                     1200 * MB, hardened_mb * MB, (StageSaving("remove-bytecode", 0.5, 152 * MB, 6285),),
                     verification() if verify is not None else None, True, 25.0)


def deps_result(*, hardened_mb: int = 400, hardens: tuple[float, ...] = (40.0, 50.0, 45.0), verify: float = 55.0,
                probes: int | None = 350, verify_repeats: tuple[float, ...] = (),
                verify_repeats_fresh: tuple[bool | None, ...] = ()) -> ImageResult:
    breakage = Breakage(True, 49, (("/opt/venv/bin/python3", 857, 847, 841),),
                        (Example("scipy.linalg", "ImportError: libscipy_openblas.so: not page-aligned"),),
                        (("/opt/venv/bin/python3", 42, 0),), ("pandas", "numpy"), 0, (), (), ("HV-NO-SHELL",), ())
    naive = Naive("bench/naive/Dockerfile", ("Base: Debian, not Alpine.", "Venv path: /opt/venv."), 60.0,
                  size("naive", 937, 512), Run(("harden", "verify"), 150.0, 1, memory(250)), breakage)
    return ImageResult(
        kind="deps", image="spark-k8s-python-deps:latest", machine=MACHINE, original=size("original", 1200, 600),
        io=io((50.0, 60.0, 40.0), hardens),
        runs=(policy_run("headline", hardened_mb, verify=verify, probes=probes),
              policy_run("default", 700, verify=None)),
        naive=naive,
        checks=(Check("os.getuid()", "...", (("original", "ok: uid 0"), ("hardened", "ok: uid 65532"))),),
        options={"repeat": 3}, bench_seconds=600.0, verify_repeats=verify_repeats,
        verify_repeats_fresh=verify_repeats_fresh)


def scaling_result(big_tree: int = 450) -> ImageResult:
    deps = ScalingPoint("deps", "deps:latest", size("deps", 1200), io((50.0,), (40.0,)),
                        policy_run("headline", 400, verify=55.0))
    big = ScalingPoint("deps x3.00", "big:latest", size("big", 3600), io((150.0,), (100.0,)),
                       policy_run("headline", 1200, verify=90.0, tree=big_tree))
    return ImageResult(kind="scaling", image="harden-bench-deps-x3:latest", machine=MACHINE, original=big.size,
                       io=big.io, runs=(big.verified,) if big.verified else (),
                       scaling=Scaling("bench/scaling/Dockerfile: 2 full copies", 30.0, (deps, big)))


def base_result() -> ImageResult:
    traits = (ImageTraits("original", ("/usr/bin/bash", "/usr/bin/sh"), ("/usr/bin/apt", "/usr/bin/dpkg"), ""),
              ImageTraits("hardened", (), (), "65532"), ImageTraits("distroless", (), (), "nonroot"))
    distroless = Distroless("bench/distroless/Dockerfile", 20.0, size("distroless", 50, 20), 900, 10, 5 * MB, 30,
                            3 * MB, (), (), (), (), traits)
    return ImageResult(kind="base", image="spark-k8s-python-base:3.11", machine=MACHINE,
                       original=size("original", 200, 80), io=io((5.0,), (4.0,)),
                       runs=(policy_run("headline", 55, verify=20.0),), distroless=distroless)
