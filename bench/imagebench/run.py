"""The benchmark, part by part, on one engine in one run. Each part returns an ImageResult (every number of one
results file) and hands it to ``publish`` as soon as it is complete; rendering is elsewhere (render_*.py).

Parts: ``deps`` (the project's image: harden vs the I/O floor, verification, memory, the naive recipe, the policy
variants, start-up), ``scaling`` (the deps image and one ~3x its size), ``data-stack-plain`` and ``data-stack``
(independent data images, default policy), ``base`` (the Python base, hardened, beside a distroless-style image).

Temporary images are tagged ``harden-bench-*`` and removed when their part ends (``keep_images`` keeps them);
scratch files (archives, empty storages, reports) go to a temporary directory removed at the end.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from imagebench.archive_stats import read_archive, size_of
from imagebench.breakage import breakage_from
from imagebench.containers import ContainerWatch
from imagebench.engine_cli import EngineCli, EngineError, load_fresh
from imagebench.figures import stem_of
from imagebench.filelist import (
    PACKAGE_MANAGERS,
    SHELLS,
    canonical,
    compare,
    dpkg_owners,
    groups,
    is_dpkg_list,
    programs,
)
from imagebench.machine import describe_machine
from imagebench.model import (
    Check,
    Distroless,
    FloorSample,
    HardenSample,
    ImageResult,
    ImageSize,
    ImageTraits,
    IoComparison,
    Machine,
    Naive,
    Pair,
    Phase,
    PolicyRun,
    Run,
    Scaling,
    ScalingPoint,
    StartupSamples,
)
from imagebench.naive_recipe import deviations
from imagebench.proc_tree import run_measured
from imagebench.settle import DESCRIPTION as SETTLE
from imagebench.settle import code_paths, settle
from imagebench.verification import harden_seconds, report_bytes, stage_savings, verification_stats

log = logging.getLogger(__name__)

BENCH = Path(__file__).resolve().parents[1]
PHASES_SCRIPT = Path(__file__).resolve().with_name("harden_phases.py")
KEEP_JARS_POLICY = BENCH / "policies" / "spark-k8s-python-deps-keep-jars.toml"
FAST_START_POLICY = "spark-k8s-python-deps-fast-start"

PARTS = ("deps", "scaling", "data-stack-plain", "data-stack", "base")
EPOCH_BACK = 10 * 365 * 86400
"""SOURCE_DATE_EPOCH for fresh writes: ten years before now (older than the images' own files, so every file's
mtime is capped to it and the layer's bytes depend on it), plus a counter unique to each run."""

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

BASE_CHECKS: tuple[tuple[str, str], ...] = (
    ("import ssl, sqlite3, json", "import ssl, sqlite3, json; print('ok')"),
    ("versions", "import ssl, sqlite3, sys; print(sys.version.split()[0], ssl.OPENSSL_VERSION, "
                 "'sqlite', sqlite3.sqlite_version)"),
    ("CA bundle", "import ssl; c = ssl.create_default_context(); print(c.cert_store_stats()['x509_ca'], "
                  "'CA certificates loaded')"),
    ("zoneinfo", "import zoneinfo; print(zoneinfo.ZoneInfo('Europe/Paris').key)"),
    ("os.getuid()", "import os; print('uid', os.getuid())"),
    ("subprocess.run('true', shell=True)",
     "import subprocess; print('exit', subprocess.run('true', shell=True).returncode)"),
)

STARTUP_RUNS = 7
"""Fresh interpreters per container; two containers per image, images alternating."""
STARTUP_CODE = (
    "import subprocess, sys, time\n"
    "seconds = []\n"
    "for _ in range({runs}):\n"
    "    began = time.perf_counter()\n"
    "    subprocess.run([sys.executable, '-c', {code!r}], check=True)\n"
    "    seconds.append(time.perf_counter() - began)\n"
    "print(' '.join(f'{{s:.4f}}' for s in seconds))"
)

VENV_SIZES_CODE = (
    "import json, os, sys, sysconfig\n"
    "def size(path):\n"
    "    if os.path.islink(path) or not os.path.isdir(path):\n"
    "        return os.lstat(path).st_size\n"
    "    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(path) for f in fs)\n"
    "venv = os.environ.get('VIRTUAL_ENV', '/opt/venv')\n"
    "site = sysconfig.get_paths()['purelib']\n"
    "print(json.dumps({'venv': venv, 'bytes': size(venv), 'site': site,\n"
    "                  'entries': {n: size(os.path.join(site, n)) for n in sorted(os.listdir(site))}}))"
)


@dataclass(frozen=True, slots=True)
class Options:
    parts: tuple[str, ...]
    python: str
    """An interpreter with harden installed (runs harden_phases.py)."""
    harden: tuple[str, ...]
    """The harden command (the CLI the floor comparison times)."""
    deps_image: str = "spark-k8s-python-deps:latest"
    deps_policy: str = "spark-k8s-python-deps"
    data_plain_image: str = "data-stack-plain:latest"
    data_image: str = "data-stack:latest"
    base_image: str = "spark-k8s-python-base:3.11"
    jobs: int | None = None
    """harden --jobs; None: harden's default (every core)."""
    repeat: int = 3
    fresh_method: str = "epoch"
    scale_factor: float = 3.0
    keep_images: bool = False
    naive: bool = True
    naive_verify: bool = True
    variants: bool = True
    workdir: Path | None = None

    def images(self) -> dict[str, str]:
        """The engine images each selected part needs."""
        needs = {"deps": self.deps_image, "scaling": self.deps_image, "data-stack-plain": self.data_plain_image,
                 "data-stack": self.data_image, "base": self.base_image}
        return {part: needs[part] for part in self.parts}


class Bench:
    def __init__(self, options: Options, publish: Callable[[str, ImageResult], None]) -> None:
        self.options = options
        self.publish = publish
        self.engine = EngineCli.discover()
        self.scratch = Path(tempfile.mkdtemp(prefix="harden-bench-", dir=options.workdir))
        self.tags: list[str] = []
        self.counter = 0
        self.epoch_base = int(time.time()) - EPOCH_BACK
        self.machine: Machine | None = None
        self.deps_point: ScalingPoint | None = None

    # ---- building blocks ----------------------------------------------------------------------------------

    def tag(self, name: str) -> str:
        tag = f"harden-bench-{name}:latest"
        self.engine.remove([tag])
        self.tags.append(tag)
        return tag

    def floor_sample(self, reference: str, label: str, *, keep: bool = False) -> tuple[FloorSample, Path | None]:
        """One floor sample: ``docker save`` to a file, then ``podman load`` of it into an empty storage. With
        ``keep`` the archive is returned (for the size measurement, done after the timing), else deleted."""
        archive = self.scratch / f"{label}.tar"
        try:
            log.info("I/O floor of %s: save, then load into an empty storage", reference)
            save, first_byte = self.engine.save(reference, archive)
            load, why = load_fresh(archive, self.scratch)
            sample = FloorSample(archive.stat().st_size, save, load, why, first_byte)
            return sample, archive if keep else None
        finally:
            if not keep:
                archive.unlink(missing_ok=True)

    def fresh_env(self) -> tuple[dict[str, str], int | None]:
        """The environment of one ``harden image`` run that writes an image: with the "epoch" method, its own
        SOURCE_DATE_EPOCH, so its output layer is new to the engine (each run's freshness is checked anyway)."""
        self.counter += 1
        if self.options.fresh_method != "epoch":
            return dict(self.engine.env), None
        epoch = self.epoch_base + self.counter
        return {**self.engine.env, "SOURCE_DATE_EPOCH": str(epoch)}, epoch

    def harden_sample(self, reference: str, policy: str, name: str) -> HardenSample:
        """``harden image REFERENCE --no-verify`` with its output layer new to the engine, checked."""
        env, epoch = self.fresh_env()
        tag = self.tag(f"{name}-io")
        report_dir = self.scratch / f"report-{name}-io-{self.counter}"
        argv = [*self.options.harden, "image", reference, "--no-verify", "--policy", policy, "--tag", tag,
                "--report-dir", str(report_dir), *self.jobs_args()]
        holders = self.engine.layer_holders()
        _log_command(argv[len(self.options.harden):], epoch)
        measured = run_measured(argv, env=env, log_file=self.scratch / f"{name}-io-{self.counter}.log")
        if measured.exit_code != 0:
            raise RuntimeError(f"harden image {reference} failed (exit {measured.exit_code}):\n"
                               f"{measured.stderr_tail}")
        layers = self.engine.layers(tag)
        held = _held_by(layers, holders)
        report = _read_json(report_dir / "report.json")
        if not self.options.keep_images:
            self.engine.remove([tag])  # the next sample must not find this layer in the engine
        return HardenSample(measured.wall_seconds, measured.exit_code, layers, not held, epoch, measured.memory,
                            harden_seconds(report), held)

    def io_comparison(self, reference: str, policy: str, name: str, *, gzip: bool = True) -> tuple[
            IoComparison, ImageSize]:
        """``repeat`` pairs, the order alternating (floor first in the first pair), each sample after ``settle``;
        the original's sizes from the first floor archive."""
        pairs = []
        original: ImageSize | None = None
        code = code_paths(self.options.harden)
        for index in range(self.options.repeat):
            notes: set[str] = set()
            harden: HardenSample | None = None
            if index % 2:  # harden first
                self.settled(reference, code, notes)
                harden = self.harden_sample(reference, policy, name)
            self.settled(reference, code, notes)
            floor, archive = self.floor_sample(reference, f"{name}-floor", keep=original is None)
            if archive is not None:
                try:
                    log.info("sizes of %s (layer tars%s)", reference, ", gzip -6" if gzip else "")
                    listing, raw, packed, layers = read_archive(archive, gzip=gzip)
                    original = size_of(listing, raw, packed, layers, label="original", reference=reference)
                finally:
                    archive.unlink(missing_ok=True)
            if harden is None:
                self.settled(reference, code, notes)
                harden = self.harden_sample(reference, policy, name)
            pairs.append(Pair(floor, harden, "harden" if index % 2 else "floor", "; ".join(sorted(notes))))
        assert original is not None
        argv = ("harden", "image", reference, "--no-verify", "--policy", policy, "--tag", "harden-bench-…",
                "--report-dir", "…", *self.jobs_args())
        return IoComparison(reference, policy, argv, self.options.fresh_method, tuple(pairs), SETTLE), original

    def settled(self, reference: str, code: Sequence[Path], notes: set[str]) -> None:
        """``settle`` before one sample; what it could not do goes into ``notes``."""
        done = settle(self.engine, reference, self.scratch, code)
        log.info("settled in %.1f s%s", done.seconds, f" ({done.note})" if done.note else "")
        if done.note:
            notes.add(done.note)

    def jobs_args(self) -> list[str]:
        return [] if self.options.jobs is None else ["--jobs", str(self.options.jobs)]

    def size(self, reference: str, label: str, *, gzip: bool = True) -> ImageSize:
        archive = self.scratch / f"{label}-size.tar"
        try:
            log.info("sizes of %s", reference)
            self.engine.save(reference, archive)
            listing, raw, packed, layers = read_archive(archive, gzip=gzip)
            return size_of(listing, raw, packed, layers, label=label, reference=reference)
        finally:
            archive.unlink(missing_ok=True)

    def phases_run(self, name: str, args: Sequence[str], *, watch: bool,
                   env: Mapping[str, str] | None = None) -> tuple[Run, dict[str, Any]]:
        """harden_phases.py (harden.api, what the CLI calls) under measurement; the run and its OUT.json. ``env``
        defaults to the engine's."""
        out = self.scratch / f"{name}.phases.json"
        argv = [self.options.python, str(PHASES_SCRIPT), str(out), *args, *self.jobs_args()]
        env = dict(self.engine.env if env is None else env)
        _log_command(args, env.get("SOURCE_DATE_EPOCH"))
        watcher = ContainerWatch(self.engine.client, self.engine.env) if watch else None
        if watcher is not None:
            with watcher:
                measured = run_measured(argv, env=env, log_file=self.scratch / f"{name}.log",
                                        also_sample=watcher.sample)
        else:
            measured = run_measured(argv, env=env, log_file=self.scratch / f"{name}.log")
        containers, memory = None, measured.memory
        if watcher is not None:
            containers, combined = watcher.result(measured.tree_rss_ticks)
            memory = replace(memory, with_probes_peak_bytes=combined)
        data: dict[str, Any] = _read_json(out)
        if not data:
            raise RuntimeError(f"harden {args[0]} wrote no result (exit {measured.exit_code}):\n"
                               f"{measured.stderr_tail}")
        run = Run(
            argv=("harden", *args),
            wall_seconds=measured.wall_seconds,
            exit_code=measured.exit_code,
            memory=memory,
            phases=tuple(Phase(p["name"], p["seconds"]) for p in data.get("phases", [])),
            error=data.get("error", ""),
            containers=containers,
        )
        return run, data

    def image_args(self, reference: str, policy: str, name: str, key: str) -> tuple[str, Path, list[str]]:
        """A fresh output tag, a report directory and the ``harden image`` arguments that use them."""
        tag = self.tag(f"{name}-{key}")
        report_dir = self.scratch / f"report-{name}-{key}"
        return tag, report_dir, ["image", reference, "--policy", policy, "--tag", tag, "--report-dir", str(report_dir)]

    def policy_run(self, key: str, label: str, reference: str, policy: str, name: str, *, verify: bool,
                   gzip: bool = True) -> tuple[PolicyRun, str]:
        """One ``harden image`` under ``policy``; the output is kept under the returned tag for later checks."""
        tag, report_dir, args = self.image_args(reference, policy, name, key)
        if not verify:
            args.append("--no-verify")
        env, _ = self.fresh_env()
        holders = self.engine.layer_holders()
        run, _ = self.phases_run(f"{name}-{key}", args, watch=verify, env=env)
        report = _read_json(report_dir / "report.json")
        written = self.engine.exists(tag)
        fresh = self.fresh(tag, holders) if written else None
        if not written and run.exit_code == 0:
            raise RuntimeError(f"harden image {reference} --policy {policy} exited 0 but {tag} is missing")
        before, after = report_bytes(report)
        return PolicyRun(
            key=key, label=label, policy=policy if "/" not in policy else _relative(policy), verified=verify,
            run=run, hardened=self.size(tag, key, gzip=gzip) if written else None,
            report_bytes_before=before, report_bytes_after=after, stage_savings=stage_savings(report),
            verification=verification_stats(report), fresh=fresh, report_harden_seconds=harden_seconds(report),
        ), tag

    def checks(self, images: Mapping[str, str], checks: Sequence[tuple[str, str]] = CHECKS) -> tuple[Check, ...]:
        found = []
        for name, code in checks:
            results = []
            for label, reference in images.items():
                status, line = self.engine.python(reference, code)
                results.append((label, ("ok: " if status == 0 else "FAILS: ") + line[:160]))
            found.append(Check(name, code, tuple(results)))
        return tuple(found)

    def startup(self, images: Mapping[str, str], modules: Sequence[str]) -> StartupSamples:
        """Fresh interpreters importing ``modules``: ``STARTUP_RUNS`` per container, two containers per image,
        the images alternating so that load on the machine hits each alike."""
        code = STARTUP_CODE.format(runs=STARTUP_RUNS, code="import " + ", ".join(modules))
        samples: dict[str, list[float]] = {label: [] for label in images}
        log.info("import start-up of %s: 2 x %d fresh interpreters per image", ", ".join(modules), STARTUP_RUNS)
        for _ in range(2):
            for label, reference in images.items():
                status, line = self.engine.python(reference, code)
                if status != 0:
                    raise RuntimeError(f"start-up measurement failed in {reference}: {line}")
                samples[label].extend(float(value) for value in line.split())
        return StartupSamples(tuple(modules), tuple((label, tuple(v)) for label, v in samples.items()))

    def result(self, kind: str, image: str, original: ImageSize, io: IoComparison | None,
               runs: Sequence[PolicyRun], started: float, **more: Any) -> ImageResult:
        assert self.machine is not None
        options = {"parts": list(self.options.parts), "repeat": self.options.repeat,
                   "fresh_method": self.options.fresh_method,
                   "jobs": "harden's default (every core)" if self.options.jobs is None else self.options.jobs}
        return ImageResult(kind=kind, image=image, machine=self.machine, original=original, io=io,
                           runs=tuple(runs), options=options, bench_seconds=time.perf_counter() - started, **more)

    def drop_tags(self) -> None:
        if self.options.keep_images:
            return
        try:
            self.engine.remove(self.tags)
        except EngineError as exc:
            log.warning("could not remove the bench images: %s", exc)
        self.tags.clear()

    # ---- parts ---------------------------------------------------------------------------------------------

    def part_deps(self) -> ImageResult:
        o, started = self.options, time.perf_counter()
        image, policy, name = o.deps_image, o.deps_policy, stem_of(o.deps_image)
        io, original = self.io_comparison(image, policy, name)
        headline, hardened = self.policy_run("headline", f"`{policy}` policy (headline)", image, policy, name,
                                             verify=True)
        runs = [headline]
        repeats, repeats_fresh = self.verify_repeats(headline, image, policy, name)
        self.deps_point = ScalingPoint("deps", image, original, io, headline)
        fast_tag = None
        if o.variants:
            runs.append(self.policy_run("default", "`default` policy", image, "default", name, verify=False)[0])
            runs.append(self.policy_run("keep-jars", f"`{policy}` without jar removal", image,
                                        str(KEEP_JARS_POLICY), name, verify=False)[0])
            fast, fast_tag = self.policy_run("fast-start", f"`{FAST_START_POLICY}` policy", image,
                                             FAST_START_POLICY, name, verify=True)
            runs.append(fast)
        naive = None
        images = {"original": image}
        if o.naive:
            naive, naive_tag = self.naive(image, policy, name)
            images["naive"] = naive_tag
        images["hardened"] = hardened
        checks = self.checks(images)
        startup = None
        verifier = headline.verification.startup if headline.verification else None
        if verifier is not None and verifier.modules:
            timed = {"original": image, "hardened": hardened}
            if fast_tag is not None:
                timed["fast-start"] = fast_tag
            startup = self.startup(timed, verifier.modules)
        result = self.result("deps", image, original, io, runs, started, naive=naive, checks=checks,
                             startup=startup, verify_repeats=repeats, verify_repeats_fresh=repeats_fresh)
        self.drop_tags()
        return result

    def verify_repeats(self, headline: PolicyRun, image: str, policy: str,
                       name: str) -> tuple[tuple[float, ...], tuple[bool | None, ...]]:
        """The verify phase of ``repeat - 1`` more ``harden image`` runs like the headline one (each must pass),
        so the verification-time target rests on as many samples as the I/O comparison; and whether each run's
        output layer was new to the engine."""
        if not (headline.verified and headline.run.phases):
            return (), ()
        seconds, fresh = [], []
        for index in range(2, self.options.repeat + 1):
            key = f"verify-{index}"
            tag, _, args = self.image_args(image, policy, name, key)
            holders = self.engine.layer_holders()
            run, data = self.phases_run(f"{name}-{key}", args, watch=False, env=self.fresh_env()[0])
            if run.exit_code != 0 or (data.get("result") or {}).get("verification_ok") is not True:
                raise RuntimeError(f"harden image {image} --policy {policy} (verification sample {index}) did not "
                                   f"pass: exit {run.exit_code} {run.error}")
            seconds.append(run.verify_seconds)
            fresh.append(self.fresh(tag, holders))
        return tuple(seconds), tuple(fresh)

    def fresh(self, tag: str, holders: Mapping[str, list[str]]) -> bool:
        """No layer of ``tag`` was held by an image before the run (``holders``: layer -> images, taken then)."""
        return not _held_by(self.engine.layers(tag), holders)

    def naive(self, image: str, policy: str, name: str) -> tuple[Naive, str]:
        tag = self.tag(f"{name}-naive")
        log.info("building the naive recipe (bench/naive/Dockerfile) on %s", image)
        build = self.engine.build(BENCH / "naive", tag, {"DEPS_IMAGE": image})
        size = self.size(tag, "naive")
        dockerfile = BENCH / "naive" / "Dockerfile"
        if not self.options.naive_verify:
            return Naive(_relative(str(dockerfile)), deviations(dockerfile.read_text()), build, size, None, None), tag
        verify_dir = self.scratch / f"{name}-naive-verify"
        run, _ = self.phases_run(f"{name}-verify-naive", ["verify", image, tag, "--policy", policy,
                                                          "--report-dir", str(verify_dir)], watch=False)
        report = _read_json(verify_dir / "verify.json")
        if not report:
            raise RuntimeError(f"harden verify of the naive image wrote no verify.json: {run.error}")
        (self.scratch / "naive-verify.json").write_text(json.dumps(report, indent=2) + "\n")
        return Naive(_relative(str(dockerfile)), deviations(dockerfile.read_text()), build, size, run,
                     breakage_from(report)), tag

    def part_data(self, image: str) -> ImageResult:
        started, name = time.perf_counter(), stem_of(image)
        io, original = self.io_comparison(image, "default", name)
        headline, hardened = self.policy_run("headline", "`default` policy", image, "default", name, verify=True)
        images = {"original": image} | ({"hardened": hardened} if headline.hardened else {})
        checks = self.checks(images, CHECKS[:1] + CHECKS[3:])
        result = self.result("data", image, original, io, [headline], started, checks=checks)
        self.drop_tags()
        return result

    def part_base(self) -> ImageResult:
        started, image = time.perf_counter(), self.options.base_image
        name = stem_of(image)
        io, _ = self.io_comparison(image, "default", name)
        headline, hardened = self.policy_run("headline", "`default` policy", image, "default", name, verify=True)
        distroless_tag = self.tag(f"{name}-distroless")
        log.info("building the distroless-style image (bench/distroless/Dockerfile) from %s", image)
        build = self.engine.build(BENCH / "distroless", distroless_tag, {"BASE_IMAGE": image})
        listings = {}
        sizes = {}
        traits = []
        for label, reference in (("original", image), ("hardened", hardened), ("distroless", distroless_tag)):
            archive = self.scratch / f"{label}-list.tar"
            try:
                self.engine.save(reference, archive)
                listing, raw, packed, layers = read_archive(archive, capture=is_dpkg_list)
            finally:
                archive.unlink(missing_ok=True)
            listings[label] = listing
            sizes[label] = size_of(listing, raw, packed, layers, label=label, reference=reference)
            real = canonical(listing)
            traits.append(ImageTraits(label, programs(real, SHELLS), programs(real, PACKAGE_MANAGERS),
                                      self.engine.user(reference)))
        owners = dpkg_owners(listings["original"])
        hard, dist = canonical(listings["hardened"]), canonical(listings["distroless"])
        diff = compare(hard, dist)
        distroless = Distroless(
            dockerfile=_relative(str(BENCH / "distroless" / "Dockerfile")), build_seconds=build,
            size=sizes["distroless"], common_files=diff.common,
            only_hardened_files=len(diff.only_a), only_hardened_bytes=sum(e.size for e in diff.only_a.values()),
            only_distroless_files=len(diff.only_b),
            only_distroless_bytes=sum(e.size for e in diff.only_b.values()),
            only_hardened_by_package=groups(diff.only_a, by="package", owners=owners),
            only_hardened_by_directory=groups(diff.only_a, by="directory"),
            only_distroless_by_package=groups(diff.only_b, by="package", owners=owners),
            only_distroless_by_directory=groups(diff.only_b, by="directory"),
            traits=tuple(traits),
        )
        checks = self.checks({"original": image, "hardened": hardened, "distroless": distroless_tag}, BASE_CHECKS)
        result = self.result("base", image, sizes["original"], io, [headline], started, checks=checks,
                             distroless=distroless)
        self.drop_tags()
        return result

    def part_scaling(self) -> ImageResult:
        o, started = self.options, time.perf_counter()
        image, policy, name = o.deps_image, o.deps_policy, stem_of(o.deps_image)
        deps = self.deps_point
        if deps is None:
            io, original = self.io_comparison(image, policy, name, gzip=False)
            headline, _ = self.policy_run("headline", f"`{policy}` policy", image, policy, name, verify=True,
                                          gzip=False)
            deps = ScalingPoint("deps", image, original, io, headline)
        copies, partial, recipe = self.scaling_recipe(image, deps.size.uncompressed_bytes)
        tag = self.tag(f"{name}-x{o.scale_factor:g}")
        log.info("building the scaling image: %s", recipe)
        build = self.engine.build(BENCH / "scaling", tag, {"DEPS_IMAGE": image, "COPIES": str(copies),
                                                          "PARTIAL": " ".join(partial)})
        io, size = self.io_comparison(tag, policy, f"{name}-x{o.scale_factor:g}", gzip=False)
        size = replace(size, label=f"deps x{o.scale_factor:g}")
        verified, _ = self.policy_run("headline", f"`{policy}` policy", tag, policy, f"{name}-scaled",
                                      verify=True, gzip=False)
        big = ScalingPoint(f"deps x{size.uncompressed_bytes / deps.size.uncompressed_bytes:.2f}", tag, size, io,
                           verified)
        result = self.result("scaling", tag, size, io, [verified], started,
                             scaling=Scaling(recipe, build, (deps, big)))
        self.drop_tags()
        return result

    def scaling_recipe(self, image: str, image_bytes: int) -> tuple[int, list[str], str]:
        """How many full copies of the venv, and which site-packages entries in one partial copy, bring the image
        to ``scale_factor`` times its uncompressed size (file bytes measured in a container of the image)."""
        status, line = self.engine.python(image, VENV_SIZES_CODE)
        if status != 0:
            raise RuntimeError(f"could not measure the venv of {image}: {line}")
        sizes = json.loads(line)
        copies, partial = plan_copies(image_bytes, int(sizes["bytes"]), sizes["entries"], self.options.scale_factor)
        recipe = (f"bench/scaling/Dockerfile: {copies} full cop{'y' if copies == 1 else 'ies'} of {sizes['venv']} "
                  f"({sizes['bytes'] / 1e6:,.0f} MB of files each)"
                  + (f", plus one partial copy with {len(partial)} site-packages entries ({partial[0]} … "
                     f"{partial[-1]})" if partial else "")
                  + f", aiming at {self.options.scale_factor:g}x the image's {image_bytes / 1e6:,.0f} MB")
        return copies, partial, recipe

    # ---- the run --------------------------------------------------------------------------------------------

    def run(self) -> list[str]:
        o = self.options
        for part, reference in o.images().items():
            if not self.engine.exists(reference):
                raise EngineError(f"image {reference} (part {part}) is not in the engine: {BUILD_HINT[part]}")
        self.machine = describe_machine(self.engine, o.python)
        log.info("engine: %s; storage %s", self.machine.engine, self.machine.storage)
        written = []
        for part in PARTS:
            if part not in o.parts:
                continue
            log.info("==== part %s", part)
            began = time.perf_counter()
            if part == "deps":
                result = self.part_deps()
                stem = stem_of(o.deps_image)
            elif part == "scaling":
                result = self.part_scaling()
                stem = stem_of(o.deps_image) + ".scaling"
            elif part == "base":
                result = self.part_base()
                stem = stem_of(o.base_image)
            else:
                image = o.data_plain_image if part == "data-stack-plain" else o.data_image
                result = self.part_data(image)
                stem = stem_of(image)
            log.info("part %s took %.1f min", part, (time.perf_counter() - began) / 60)
            self.publish(stem, result)
            written.append(stem)
        return written

    def naive_verify_json(self) -> dict[str, Any]:
        return _read_json(self.scratch / "naive-verify.json")

    def cleanup(self) -> None:
        self.drop_tags()
        shutil.rmtree(self.scratch, ignore_errors=True)


BUILD_HINT = {
    "deps": "run `make images`",
    "scaling": "run `make images`",
    "data-stack-plain": "run `make build-data-stack-plain`",
    "data-stack": "run `make build-data-stack`",
    "base": "run `make build-python-base`",
}


def plan_copies(image_bytes: int, venv_bytes: int, entries: Mapping[str, int], factor: float) -> tuple[
        int, list[str]]:
    """(full copies, site-packages entries for one partial copy) adding ``(factor - 1) x image_bytes``; the
    partial copy takes entries in name order until the remainder is covered (none when it is under 5 % of a
    venv)."""
    wanted = max(0.0, (factor - 1) * image_bytes)
    copies = math.floor(wanted / venv_bytes) if venv_bytes else 0
    remainder = wanted - copies * venv_bytes
    partial: list[str] = []
    if remainder > 0.05 * venv_bytes:
        covered = 0
        for entry, size in sorted(entries.items()):
            if covered >= remainder:
                break
            partial.append(entry)
            covered += size
    return copies, partial


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(BENCH.parent))
    except ValueError:
        return path


def run_bench(options: Options, publish: Callable[[str, ImageResult, dict[str, Any]], None]) -> list[str]:
    """Run the selected parts; ``publish(stem, result, extra)`` is called as each part completes (``extra``:
    side files, e.g. the naive image's verify.json)."""
    holder: list[Bench] = []

    def hand_over(stem: str, result: ImageResult) -> None:
        report = holder[0].naive_verify_json() if result.naive is not None else {}
        extra = {"naive-verify": report} if report else {}
        publish(stem, result, extra)

    bench = Bench(options, hand_over)
    holder.append(bench)
    try:
        return bench.run()
    finally:
        bench.cleanup()


def as_json(result: ImageResult) -> dict[str, Any]:
    return asdict(result)


def default_harden(python: str) -> tuple[str, ...]:
    """The ``harden`` script beside ``python`` (a venv's), else ``python -m harden``."""
    candidate = Path(python).with_name("harden")
    return (str(candidate),) if candidate.exists() else (python, "-m", "harden")


def _log_command(args: Sequence[str], epoch: int | str | None) -> None:
    """The bench log's line for one harden run, with the SOURCE_DATE_EPOCH that makes its write fresh."""
    log.info("$ %sharden %s", f"SOURCE_DATE_EPOCH={epoch} " if epoch else "", " ".join(args))


def _held_by(layers: Iterable[str], holders: Mapping[str, list[str]]) -> tuple[str, ...]:
    """The images that held any of ``layers`` (``holders``, from ``EngineCli.layer_holders`` before the run),
    sorted: none when the run's write was fresh."""
    return tuple(sorted({image for layer in layers for image in holders.get(layer, ())}))
