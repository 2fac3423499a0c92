"""The benchmark, step by step, on one engine in one run. ``run_bench`` returns every number; rendering is
elsewhere (render_*.py). Temporary images are tagged ``harden-bench-*`` and removed at the end, with the scratch
directory (archives, fresh storages, reports)."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagebench.archive_stats import measure_archive
from imagebench.breakage import breakage_from
from imagebench.engine_cli import EngineCli, EngineError, load_fresh
from imagebench.figures import median_floor
from imagebench.machine import describe_machine
from imagebench.model import BenchResult, Check, ImageSize, IoFloor, Phase, Run, ScalePoint, Startup
from imagebench.proc_tree import run_measured

log = logging.getLogger(__name__)

BENCH = Path(__file__).resolve().parents[1]
PHASES_SCRIPT = Path(__file__).resolve().with_name("harden_phases.py")

NAIVE_TAG = "harden-bench-naive:latest"
HARDENED_TAG = "harden-bench-hardened:latest"
SCALING_TAG = "harden-bench-scaling:latest"
SCALING_HARDENED_TAG = "harden-bench-scaling-hardened:latest"

CHECKS: tuple[tuple[str, str], ...] = (
    ("import numpy, pandas, pyarrow, scipy.linalg, sklearn",
     "import importlib\n"
     "for name in ('numpy', 'pandas', 'pyarrow', 'scipy.linalg', 'sklearn'):\n"
     "    try:\n"
     "        importlib.import_module(name)\n"
     "    except Exception as exc:\n"
     "        raise SystemExit(f'import {name}: {type(exc).__name__}: {exc}')\n"
     "print('ok')"),
    ("importlib.metadata.version('pandas')",
     "import importlib.metadata as m; print(m.version('pandas'))"),
    ("len(importlib.metadata.distributions())",
     "import importlib.metadata as m; print(len(list(m.distributions())), 'distributions')"),
    ("subprocess.run('true', shell=True)",
     "import subprocess; print('exit', subprocess.run('true', shell=True).returncode)"),
    ("os.getuid()", "import os; print('uid', os.getuid())"),
)


STARTUP_RUNS = 7
"""Fresh interpreters per container; two containers per image, alternating original and hardened."""
STARTUP_CODE = (
    "import subprocess, sys, time\n"
    "seconds = []\n"
    "for _ in range({runs}):\n"
    "    began = time.perf_counter()\n"
    "    subprocess.run([sys.executable, '-c', {code!r}], check=True)\n"
    "    seconds.append(time.perf_counter() - began)\n"
    "print(' '.join(f'{{s:.4f}}' for s in seconds))"
)


@dataclass(frozen=True, slots=True)
class Options:
    image: str
    policy: str
    python: str
    """An interpreter with harden installed (runs harden_phases.py)."""
    jobs: int
    scaling: bool
    keep_images: bool
    repeat: int = 3
    """How many times the I/O floor and harden's time (verification excluded) are measured per image."""


class Bench:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.engine = EngineCli.discover()
        self.scratch = Path(tempfile.mkdtemp(prefix="harden-bench-"))
        self.notes: list[str] = []

    # ---- building blocks ----------------------------------------------------------------------------------

    def floor(self, reference: str, label: str, *, gzip: bool | None = None) -> tuple[IoFloor, ImageSize | None]:
        """One I/O floor sample; with ``gzip`` not None, the archive's sizes too (measured after the timing)."""
        archive = self.scratch / f"{label}.tar"
        try:
            log.info("I/O floor of %s: docker save, docker load (same engine), load into an empty storage",
                     reference)
            save = self.engine.save(reference, archive)
            dedup = self.engine.load(archive)
            fresh, why = load_fresh(archive, self.scratch)
            floor = IoFloor(archive.stat().st_size, save, dedup, fresh, why)
            if gzip is None:
                return floor, None
            log.info("sizes of %s (layer tars%s)", reference, ", gzip -6" if gzip else "")
            return floor, measure_archive(archive, label=label, reference=reference, gzip=gzip)
        finally:
            archive.unlink(missing_ok=True)

    def repetitions(self, reference: str, label: str, harden_args: tuple[str, ...]) -> tuple[
            list[IoFloor], list[float]]:
        """``repeat - 1`` more samples of the floor and of ``harden image --no-verify``, alternating."""
        floors, seconds = [], []
        for index in range(1, self.options.repeat):
            floors.append(self.floor(reference, label)[0])
            run, _ = self.harden(f"{label}-{index}", "image", reference, *harden_args, "--no-verify",
                                 "--report-dir", str(self.scratch / f"report-{label}-{index}"))
            if run.exit_code != 0:
                raise RuntimeError(f"harden image {reference} failed (exit {run.exit_code}): {run.error}")
            seconds.append(run.wall_seconds)
        return floors, seconds

    def size_of(self, reference: str, label: str, *, gzip: bool = True) -> ImageSize:
        archive = self.scratch / f"{label}.tar"
        try:
            log.info("sizes of %s", reference)
            self.engine.save(reference, archive)
            return measure_archive(archive, label=label, reference=reference, gzip=gzip)
        finally:
            archive.unlink(missing_ok=True)

    def harden(self, name: str, *args: str) -> tuple[Run, dict[str, Any]]:
        """harden_phases.py under measurement; returns the run and its OUT.json."""
        out = self.scratch / f"{name}.phases.json"
        argv = [self.options.python, str(PHASES_SCRIPT), str(out), *args, "--jobs", str(self.options.jobs)]
        log.info("$ harden %s", " ".join(args))
        measured = run_measured(argv, env=self.engine.env, log_file=self.scratch / f"{name}.log")
        data: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
        if not data:
            raise RuntimeError(f"harden {args[0]} wrote no result (exit {measured.exit_code}):\n"
                               f"{measured.stderr_tail}")
        run = Run(
            argv=("harden", *args),
            wall_seconds=measured.wall_seconds,
            exit_code=measured.exit_code,
            peak_rss_process_bytes=measured.peak_rss_process_bytes,
            peak_pss_tree_bytes=measured.peak_pss_tree_bytes,
            phases=tuple(Phase(p["name"], p["seconds"]) for p in data.get("phases", [])),
            error=data.get("error", ""),
        )
        return run, data

    def checks(self, images: Mapping[str, str]) -> tuple[Check, ...]:
        found = []
        for name, code in CHECKS:
            results = []
            for label, reference in images.items():
                status, line = self.engine.python(reference, code)
                results.append((label, ("ok: " if status == 0 else "FAILS: ") + line[:140]))
            found.append(Check(name, code, tuple(results)))
        return tuple(found)

    def startup(self, images: tuple[str, str], modules: tuple[str, ...]) -> tuple[list[float], list[float]]:
        """Seconds of fresh interpreters importing ``modules``: ``STARTUP_RUNS`` per container, two containers
        per image, alternating between the two images so that load on the machine hits both alike."""
        code = STARTUP_CODE.format(runs=STARTUP_RUNS, code="import " + ", ".join(modules))
        samples: tuple[list[float], list[float]] = ([], [])
        log.info("import startup of %s: %d x %d fresh interpreters per image", ", ".join(modules), 2, STARTUP_RUNS)
        for _ in range(2):
            for side, reference in enumerate(images):
                status, line = self.engine.python(reference, code)
                if status != 0:
                    raise RuntimeError(f"startup measurement failed in {reference}: {line}")
                samples[side].extend(float(value) for value in line.split())
        return samples

    # ---- the run --------------------------------------------------------------------------------------------

    def run(self) -> BenchResult:
        started = time.perf_counter()
        o = self.options
        if not self.engine.exists(o.image):
            raise EngineError(f"image {o.image} is not in the engine: run `make images` first")
        machine = describe_machine(self.engine, o.python)
        log.info("engine: %s via %s", machine.engine, " ".join(self.engine.client[:1]))

        build_seconds = {"naive": self.engine.build(BENCH / "naive", NAIVE_TAG, {"DEPS_IMAGE": o.image})}
        if o.scaling:
            build_seconds["scaling"] = self.engine.build(BENCH / "scaling", SCALING_TAG, {"DEPS_IMAGE": o.image})

        first_floor, original = self.floor(o.image, "original", gzip=True)
        if original is None:
            raise RuntimeError("no sizes measured for the original")
        report_dir = self.scratch / "report"
        harden_args = ("--tag", HARDENED_TAG, "--policy", o.policy)
        harden_run, harden_out = self.harden("image", "image", o.image, *harden_args, "--report-dir", str(report_dir))
        if harden_run.exit_code != 0:
            raise RuntimeError(f"harden image failed (exit {harden_run.exit_code}): {harden_run.error}")
        more_floors, more_seconds = self.repetitions(o.image, "original", harden_args)
        floor_samples = (first_floor, *more_floors)
        harden_samples = (harden_run.seconds_excluding_verify, *more_seconds)
        floor = median_floor(floor_samples)
        report = json.loads((report_dir / "report.json").read_text())
        hardened = self.size_of(HARDENED_TAG, "hardened")
        naive = self.size_of(NAIVE_TAG, "naive")

        verify_dir = self.scratch / "naive-verify"
        naive_run, _ = self.harden("verify-naive", "verify", o.image, NAIVE_TAG, "--policy", o.policy,
                                   "--report-dir", str(verify_dir))
        verify_json = verify_dir / "verify.json"
        if not verify_json.exists():
            raise RuntimeError(f"harden verify of the naive image wrote no verify.json: {naive_run.error}")
        naive_verify_report = json.loads(verify_json.read_text())
        breakage = breakage_from(naive_verify_report)
        checks = self.checks({"original": o.image, "naive": NAIVE_TAG, "hardened": HARDENED_TAG})
        startup = _startup(report)
        if startup is not None and startup.modules:
            before, after = self.startup((o.image, HARDENED_TAG), startup.modules)
            startup = dataclasses.replace(startup, bench_before=tuple(before), bench_after=tuple(after))

        scaling = [ScalePoint("deps", o.image, original, floor, harden_run,
                              harden_out.get("result", {}).get("bytes_after"), floor_samples, harden_samples)]
        if o.scaling:
            scaling.append(self.scale_point())
        return BenchResult(
            image=o.image,
            policy=o.policy,
            machine=machine,
            original=original,
            hardened=hardened,
            naive=naive,
            floor=floor,
            harden=harden_run,
            harden_samples=harden_samples,
            floor_samples=floor_samples,
            stage_savings=_stage_savings(report),
            report_harden_seconds=report.get("identity", {}).get("harden_seconds"),
            naive_verify=naive_run,
            breakage=breakage,
            naive_verify_report=naive_verify_report,
            checks=checks,
            startup=startup,
            scaling=tuple(scaling),
            build_seconds=build_seconds,
            bench_seconds=time.perf_counter() - started,
            notes=tuple(self.notes),
        )

    def scale_point(self) -> ScalePoint:
        first_floor, size = self.floor(SCALING_TAG, "scaling", gzip=False)
        if size is None:
            raise RuntimeError("no sizes measured for the scaling image")
        harden_args = ("--tag", SCALING_HARDENED_TAG, "--policy", self.options.policy)
        run, out = self.harden("scaling", "image", SCALING_TAG, *harden_args, "--no-verify",
                               "--report-dir", str(self.scratch / "report-scaling"))
        if run.exit_code != 0:
            raise RuntimeError(f"harden image of the scaling image failed (exit {run.exit_code}): {run.error}")
        more_floors, more_seconds = self.repetitions(SCALING_TAG, "scaling", harden_args)
        floors = (first_floor, *more_floors)
        return ScalePoint("deps + venv copy", SCALING_TAG, size, median_floor(floors), run,
                          out.get("result", {}).get("bytes_after"), floors, (run.wall_seconds, *more_seconds))

    def cleanup(self) -> None:
        if not self.options.keep_images:
            try:
                self.engine.remove([SCALING_HARDENED_TAG, SCALING_TAG, HARDENED_TAG, NAIVE_TAG])
            except EngineError as exc:
                log.warning("could not remove the bench images: %s", exc)
        shutil.rmtree(self.scratch, ignore_errors=True)


def _stage_savings(report: Mapping[str, Any]) -> tuple[tuple[str, float, int, int], ...]:
    """(stage, seconds, bytes saved, files removed) from report.json."""
    stages = report.get("sizes", {}).get("stages", [])
    return tuple((s["stage"], float(s["seconds"]), int(s["bytes_saved"]), int(s["files_removed"]))
                 for s in stages)


def _startup(report: Mapping[str, Any]) -> Startup | None:
    verification = report.get("verification") or {}
    startup = (verification.get("details") or {}).get("startup")
    if not startup:
        return None
    return Startup(tuple(startup.get("modules", [])), int(startup.get("runs", 0)),
                   startup.get("median_before_seconds"), startup.get("median_after_seconds"))


def run_bench(options: Options) -> BenchResult:
    bench = Bench(options)
    try:
        return bench.run()
    finally:
        bench.cleanup()
