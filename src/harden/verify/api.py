"""Diff-verification: prove the hardened image still does everything the original did.

Every check runs INSIDE both images, as each would run (the hardened one as its non-root User, exec form,
read-only root): the import surface of every Python environment of the original, ``importlib.metadata``, the
policy's smoke snippets, hardening assertions and startup cost. ``verify`` returns a report; the caller
refuses the image when ``report.ok`` is false (``raise_for_failures(report)``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from harden.errors import EngineUnavailable, InputError, UsageError, VerificationFailed
from harden.image.blobs import BlobStore
from harden.image.model import ImageConfig, Rootfs
from harden.verify.assertions import hardening_assertions
from harden.verify.diff import diff_imports, diff_metadata, excused_modules
from harden.verify.probes import Probe, ProbeFailed
from harden.verify.result import (
    CleanStart,
    ImportDiff,
    MetadataDiff,
    OutcomeKind,
    SmokeResult,
    SmokeRun,
    StartupCost,
    VerificationReport,
)
from harden.verify.runners import EngineRunner, ProbeRunner, RunResult, SandboxRunner, searchable_by_others
from harden.verify.settings import VerifySettingsLike
from harden.verify.users import RunAs, resolve_user

log = logging.getLogger(__name__)

RunnerChoice = Literal["auto", "engine", "sandbox"]
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class VerifyTarget:
    """One side of the comparison. ``engine_image`` (an id or reference the engine knows) enables the engine
    runner; without it the image is verified in a sandbox over ``rootfs``."""

    label: str
    config: ImageConfig
    rootfs: Rootfs
    blobs: BlobStore
    engine_image: str | None = None


def materialize_rootfs(rootfs: Rootfs, blobs: BlobStore, dest: Path) -> None:
    from harden.image.materialize import materialize

    materialize(rootfs, blobs, dest, inert=True)


def interpreters_of(target: VerifyTarget) -> tuple[PurePosixPath, ...]:
    """Interpreters of every Python environment of ``target``, the one its PATH/Entrypoint runs first."""
    from harden.pyenv import find_python_envs

    found: list[PurePosixPath] = []
    for env in find_python_envs(target.rootfs, target.config, target.blobs):
        if env.interpreter is not None and env.interpreter not in found:
            found.append(env.interpreter)
    return tuple(found)


def runnable(rootfs: Rootfs, path: PurePosixPath) -> bool:
    resolved = rootfs.resolve(path)
    entry = rootfs.get(resolved) if resolved is not None else None
    return entry is not None and entry.has_content and bool(entry.mode & 0o111)


def verify(
    original: VerifyTarget,
    hardened: VerifyTarget,
    settings: VerifySettingsLike,
    *,
    allowed_removals: Iterable[str] = (),
    runner: str = "auto",
    workdir: Path,
    jobs: int = 2,
    progress: Progress | None = None,
    interpreters: Sequence[PurePosixPath] | None = None,
) -> VerificationReport:
    """Compare ``hardened`` against ``original``; never raises for what it finds (see the report), only for
    inputs it cannot work with (InputError: no engine/sandbox, the original cannot run its own Python)."""
    if not settings.enabled:
        return VerificationReport(original.label, hardened.label, runner="none", skipped=True)
    if runner not in ("auto", "engine", "sandbox"):
        raise UsageError(f"unknown runner {runner!r}: choose auto, engine or sandbox")
    chosen = interpreters if interpreters is not None else interpreters_of(original)
    jobs = jobs if jobs > 0 else (os.cpu_count() or 1)
    with _runners(original, hardened, runner, workdir) as (kind, before, after):
        session = _Session(original, hardened, settings, before, after, jobs, tuple(allowed_removals),
                           progress or (lambda done, total: None))
        if kind == "sandbox" and os.geteuid() != 0:
            session.notes.append("the sandbox ran unprivileged: the image's file ownership was not "
                                 "reproduced: HOME-writable checks are weaker than in containers")
        return session.run(kind, tuple(chosen))


def raise_for_failures(report: VerificationReport) -> None:
    if not report.ok:
        raise VerificationFailed(f"verification of {report.hardened} failed", details=report.failures())


# ---------------------------------------------------------------------------- runners


class _Unrunnable:
    """Stands in for a runner when an image cannot be run at all; every probe then fails with ``reason``."""

    kind = "none"

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def run(self, argv: Sequence[str], *, timeout: float, writable: bool = False) -> RunResult:
        return RunResult(127, "", self.reason)


def _engine_client(original: VerifyTarget, hardened: VerifyTarget, runner: str) -> Any | None:
    have_images = original.engine_image is not None and hardened.engine_image is not None
    if runner == "sandbox":
        return None
    if runner == "engine" and not have_images:
        missing = [t.label for t in (original, hardened) if t.engine_image is None]
        raise InputError("--runner engine needs both images in the engine", details=missing)
    if not have_images:
        return None
    from harden.engine import connect

    try:
        return connect()
    except EngineUnavailable:
        if runner == "engine":
            raise
        log.info("no engine answers; verifying in the sandbox")
        return None


@contextlib.contextmanager
def _runners(original: VerifyTarget, hardened: VerifyTarget, runner: str,
             workdir: Path) -> Iterator[tuple[str, ProbeRunner, ProbeRunner]]:
    client = _engine_client(original, hardened, runner)
    if client is not None:
        assert original.engine_image is not None and hardened.engine_image is not None
        try:
            first = EngineRunner(client, original.engine_image)
            yield "engine", first, EngineRunner(client, hardened.engine_image)
        finally:
            client.close()
        return
    with contextlib.ExitStack() as stack:
        before = _sandbox(original, workdir, stack, required=True)
        after = _sandbox(hardened, workdir, stack, required=False)
        yield "sandbox", before, after


def _sandbox(target: VerifyTarget, workdir: Path, stack: contextlib.ExitStack, *,
             required: bool) -> ProbeRunner:
    from harden.image.workspace import remove_tree

    try:
        run_as = resolve_user(target.config.user, target.rootfs, target.blobs)
    except InputError as exc:
        if required:
            raise
        return _Unrunnable(f"the {target.label} image cannot start: {exc.one_line()}")
    parent = _sandbox_parent(workdir, run_as, stack)
    root = parent / f"rootfs-{target.label}"
    if root.exists():
        remove_tree(root)
    stack.callback(remove_tree, root)
    log.info("writing the %s root filesystem to %s for the sandbox", target.label, root)
    materialize_rootfs(target.rootfs, target.blobs, root)
    for mount_point in ("proc", "dev", "tmp"):
        if not os.path.lexists(root / mount_point):
            (root / mount_point).mkdir(mode=0o755)
    return SandboxRunner(root, run_as, target.config.env, target.config.working_dir)


def _sandbox_parent(workdir: Path, run_as: RunAs, stack: contextlib.ExitStack) -> Path:
    """Where a rootfs goes: ``workdir``, unless the image's user could not reach it (a 0700 workspace), then a
    fresh world-searchable directory in the system temp folder."""
    from harden.atomic import scratch_dir

    workdir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or run_as.uid == 0 or searchable_by_others(workdir):
        return workdir
    parent = stack.enter_context(scratch_dir(Path(tempfile.gettempdir()), "harden-verify-"))
    parent.chmod(0o755)
    if not searchable_by_others(parent):
        raise InputError(f"the sandbox runs the image as uid {run_as.uid}, which cannot reach {parent.parent}",
                         details=["set TMPDIR to a directory every user can traverse, such as /tmp"])
    return parent


# ---------------------------------------------------------------------------- the comparison


@dataclass
class _Session:
    original: VerifyTarget
    hardened: VerifyTarget
    settings: VerifySettingsLike
    before_runner: ProbeRunner
    after_runner: ProbeRunner
    jobs: int
    allowed_removals: tuple[str, ...]
    progress: Progress
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _done: int = 0
    _total: int = 0

    def probe(self, side: str, interpreter: PurePosixPath) -> Probe:
        runner = self.before_runner if side == "original" else self.after_runner
        label = self.original.label if side == "original" else self.hardened.label
        return Probe(runner, "/" + str(interpreter), label, jobs=self.jobs,
                     timeout_seconds=self.settings.timeout_seconds)

    def tick(self, count: int) -> None:
        self._done += count
        self.progress(self._done, self._total)

    def run(self, kind: str, interpreters: tuple[PurePosixPath, ...]) -> VerificationReport:
        if not interpreters:
            self.problems.append(f"no Python interpreter found in the {self.original.label} image")
        present = [i for i in interpreters if runnable(self.hardened.rootfs, i)]
        for gone in (i for i in interpreters if i not in present):
            self.problems.append(f"interpreter /{gone} is gone from the {self.hardened.label} image")
        plans = [(i, self._targets(i, primary=index == 0)) for index, i in enumerate(interpreters)]
        self._total = 2 * sum(len(targets) for _, targets in plans)
        imports: list[ImportDiff] = []
        metadata: list[MetadataDiff] = []
        for interpreter, targets in plans:
            if interpreter not in present:
                continue
            diffs = self._compare_env(interpreter, targets, primary=interpreter == interpreters[0])
            if diffs is not None:
                imports.append(diffs[0])
                metadata.append(diffs[1])
        primary = interpreters[0] if interpreters else None
        return VerificationReport(
            original=self.original.label,
            hardened=self.hardened.label,
            runner=kind,
            interpreters=tuple("/" + str(i) for i in interpreters),
            imports=tuple(imports),
            metadata=tuple(metadata),
            smoke=self._smoke(primary, present),
            assertions=self._assertions(primary, present),
            startup=self._startup(primary, present),
            clean_starts=tuple(self._clean_start(i) for i in present),
            problems=tuple(self.problems),
            notes=tuple(self.notes),
        )

    def _targets(self, interpreter: PurePosixPath, *, primary: bool) -> tuple[str, ...]:
        found: set[str] = set()
        if self.settings.discover:
            found.update(self.probe("original", interpreter).discover().targets)
        if primary:
            found.update(self.settings.imports)
            found.update(self.settings.plugins)
            found.update(self.settings.startup_modules)
        return tuple(sorted(found))

    def _compare_env(self, interpreter: PurePosixPath, targets: Sequence[str],
                     *, primary: bool) -> tuple[ImportDiff, MetadataDiff] | None:
        name = "/" + str(interpreter)
        dists_before = self.probe("original", interpreter).metadata()
        before = self.probe("original", interpreter).imports(targets, self.tick)
        try:
            dists_after = self.probe("hardened", interpreter).metadata()
            after = self.probe("hardened", interpreter).imports(targets, self.tick)
        except ProbeFailed as exc:
            self.problems.append(exc.one_line())
            return None
        unchecked = sum(1 for outcome in before.values() if outcome.kind is OutcomeKind.NOT_RUN)
        if unchecked:
            self.notes.append(f"{unchecked} targets could not be checked in the {self.original.label} image "
                              f"with {name}: the probe did not report them")
        excused = excused_modules(self.allowed_removals, dists_before)
        imports = diff_imports(name, targets, before, after, excused)
        if primary:
            self._required(imports)
        return imports, diff_metadata(name, dists_before, dists_after, self.allowed_removals)

    def _required(self, imports: ImportDiff) -> None:
        """Policy-named imports must work in the hardened image, even if they failed in the original too."""
        required = {*self.settings.imports, *self.settings.plugins}
        for change in imports.preexisting_failures:
            if change.module in required:
                self.problems.append(f"{change.module}: {change.after.describe()} "
                                     "(required by the policy; failed in the original too)")

    def _smoke(self, primary: PurePosixPath | None,
               present: Sequence[PurePosixPath]) -> tuple[SmokeResult, ...]:
        if primary is None:
            return ()
        results = []
        for test in self.settings.smoke:
            before = self.probe("original", primary).smoke(test.name, test.code, test.timeout_seconds)
            if primary in present:
                after = self.probe("hardened", primary).smoke(test.name, test.code, test.timeout_seconds)
            else:
                after = SmokeRun(False, f"interpreter /{primary} is gone")
            results.append(SmokeResult(test.name, "/" + str(primary), before, after))
        return tuple(results)

    def _assertions(self, primary: PurePosixPath | None, present: Sequence[PurePosixPath]) -> tuple[Any, ...]:
        before = after = None
        why = "no interpreter"
        if primary is not None:
            before = self.probe("original", primary).facts()
        if present:
            try:
                after = self.probe("hardened", present[0]).facts()
            except ProbeFailed as exc:
                why = exc.one_line()
        return hardening_assertions(self.hardened.rootfs, after, before, why_no_facts=why)

    def _clean_start(self, interpreter: PurePosixPath) -> CleanStart:
        before = self.probe("original", interpreter).bare_start()
        after = self.probe("hardened", interpreter).bare_start()
        seen = {line.strip() for line in before.stderr.splitlines()}
        new = tuple(dict.fromkeys(line.strip() for line in after.stderr.splitlines()
                                  if line.strip() and line.strip() not in seen))
        return CleanStart("/" + str(interpreter), before.exit_code, after.exit_code, new)

    def _startup(self, primary: PurePosixPath | None, present: Sequence[PurePosixPath]) -> StartupCost | None:
        modules = tuple(self.settings.startup_modules)
        runs = max(1, self.settings.startup_runs)
        if primary is None or not modules:
            return None
        before = self.probe("original", primary).startup(modules, runs)
        if primary not in present:
            return StartupCost(modules, runs, before.median, None, f"interpreter /{primary} is gone")
        try:
            after = self.probe("hardened", primary).startup(modules, runs)
        except ProbeFailed as exc:
            return StartupCost(modules, runs, before.median, None, exc.one_line())
        sides = (("original", before.error), ("hardened", after.error))
        error = "; ".join(f"{side}: {text}" for side, text in sides if text)
        return StartupCost(modules, runs, before.median, after.median, error)

