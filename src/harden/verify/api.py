"""Diff-verification: prove the hardened image still does everything the original did.

Both images are surveyed, one after the other, each inside itself (``inimage/walk.py``): every module and submodule
of every importable package of every Python environment, the stdlib, entry points, ``importlib.metadata``, a bare
start and the policy's smoke snippets. The original runs as a ``docker run --read-only --tmpfs /tmp`` container
would; the hardened image as a ``restricted`` Kubernetes pod would (its non-root user, read-only root, nothing
writable, no capabilities). Every module that imported in the original and not in the hardened image is rechecked
alone on both sides; what is still lost is accounted to the stage that removed it on purpose (``accounting``) or
fails. What only fails for want of a writable path is reported with its remedy. ``verify`` returns a report; the
caller refuses the image when ``report.ok`` is false (``raise_for_failures(report)``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from harden.elf.dynamic import DynamicCache
from harden.errors import EngineUnavailable, InputError, UsageError, VerificationFailed
from harden.image.blobs import BlobStore
from harden.image.model import ImageConfig, Rootfs
from harden.verify.accounting import Ledger, account_losses
from harden.verify.assertions import hardening_assertions
from harden.verify.diff import candidate_losses, diff_metadata, excused_modules, import_diff
from harden.verify.linkage import check_linkage
from harden.verify.probes import FactsProbe, ProbeFailed
from harden.verify.result import (
    CleanStart,
    ImportDiff,
    MetadataDiff,
    ModuleLoss,
    ModuleOutcome,
    OutcomeKind,
    SmokeResult,
    SmokeRun,
    StartupCost,
    TouchedFile,
    VerificationReport,
    WritableNeed,
)
from harden.verify.runners import (
    Confinement,
    EngineRunner,
    ProbeRunner,
    RunResult,
    SandboxRunner,
    searchable_by_others,
)
from harden.verify.settings import VerifySettingsLike
from harden.verify.survey import (
    ImageSurvey,
    InterpreterSurvey,
    SmokeSpec,
    SurveyRequest,
    recheck,
    survey_image,
)
from harden.verify.users import RunAs, resolve_user
from harden.verify.writable import remedy, written_paths

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
T = TypeVar("T")
U = TypeVar("U")
_RUNTIME_PREFIXES = ("/tmp/", "/proc/", "/dev/", "/sys/", "/run/", "/var/tmp/")
_STOP_WAIT = 60.0
"""How long an interrupted ``_Session.both`` keeps stopping runs until the other side has returned."""


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


def exists(rootfs: Rootfs, path: str) -> bool:
    resolved = rootfs.resolve(path)
    return resolved is not None and rootfs.get(resolved) is not None


def verify(
    original: VerifyTarget,
    hardened: VerifyTarget,
    settings: VerifySettingsLike,
    *,
    allowed_removals: Iterable[str] = (),
    ledger: Ledger | None = None,
    shells: Sequence[str] = (),
    runner: str = "auto",
    workdir: Path,
    jobs: int = 2,
    progress: Progress | None = None,
    interpreters: Sequence[PurePosixPath] | None = None,
    dynamic: DynamicCache | None = None,
) -> VerificationReport:
    """Compare ``hardened`` against ``original``; never raises for what it finds (see the report), only for
    inputs it cannot work with (InputError: no engine/sandbox, the original cannot run its own Python).

    ``ledger``: what the hardening removed, and which of it on purpose; ``allowed_removals``: distributions
    removed on purpose; ``shells``: program names that are shells (the drop-shells stage's list); ``dynamic``:
    the linkage check's reads, done before the probes (``read_for_linkage``; what it lacks is read in a worker
    process during verification)."""
    if not settings.enabled:
        return VerificationReport(original.label, hardened.label, runner="none", skipped=True)
    if runner not in ("auto", "engine", "sandbox"):
        raise UsageError(f"unknown runner {runner!r}: choose auto, engine or sandbox")
    chosen = interpreters if interpreters is not None else interpreters_of(original)
    jobs = jobs if jobs > 0 else (os.cpu_count() or 1)
    with _runners(original, hardened, runner, workdir) as (kind, before, after):
        session = _Session(original, hardened, settings, before, after, jobs, tuple(allowed_removals),
                           ledger or Ledger(), tuple(shells), progress or (lambda done, total: None),
                           dynamic if dynamic is not None else {})
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

    def run(self, argv: Sequence[str], *, timeout: float,
            confinement: Confinement = Confinement.STANDARD) -> RunResult:
        return RunResult(127, "", self.reason)

    def stop(self) -> None:
        return None


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
    from harden.atomic import remove_tree

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
    ledger: Ledger
    shells: tuple[str, ...]
    progress: Progress
    dynamic: DynamicCache = field(default_factory=dict)
    """Content digest → dynamic information, read before the probes (``read_for_linkage``)."""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    writable: list[WritableNeed] = field(default_factory=list)

    def both(self, first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
        """Run ``first`` here and ``second`` beside it; whatever stops either (Ctrl-C included) stops the
        probes of both images before it propagates."""
        box: dict[str, Any] = {}

        def beside() -> None:
            try:
                box["value"] = second()
            except BaseException as exc:  # handed to the caller's thread below
                box["error"] = exc

        thread = threading.Thread(target=beside, name="harden-verify", daemon=True)
        thread.start()
        try:
            value = first()
            thread.join()
        except BaseException:
            # a stopped runner refuses every later run, so ``second`` ends soon; its image cannot be removed
            # while one of its runs lives
            for runner in (self.before_runner, self.after_runner):
                with contextlib.suppress(Exception):
                    runner.stop()
            thread.join(_STOP_WAIT)
            raise
        if "error" in box:
            raise box["error"]
        return value, box["value"]

    def run(self, kind: str, interpreters: tuple[PurePosixPath, ...]) -> VerificationReport:
        names = tuple("/" + str(i) for i in interpreters)
        if not interpreters:
            self.problems.append(f"no Python interpreter found in the {self.original.label} image")
        present = tuple("/" + str(i) for i in interpreters if runnable(self.hardened.rootfs, i))
        for gone in (name for name in names if name not in present):
            self.problems.append(f"interpreter {gone} is gone from the {self.hardened.label} image")
        request = SurveyRequest(
            interpreters=names,
            timeout_seconds=self.settings.timeout_seconds,
            jobs=self.jobs,
            targets=tuple(sorted({*self.settings.imports, *self.settings.plugins,
                                  *self.settings.startup_modules})),
            smoke=tuple(SmokeSpec(t.name, t.code, t.timeout_seconds) for t in self.settings.smoke),
            walk=self.settings.discover,
        )
        self.progress(0, 4)
        # One image at a time: each side's walk peaks with its import workers holding the largest trees, and side
        # by side the two peaks would add up (bench/results: the probes' memory). The rechecks after import one
        # module per interpreter: they stay side by side.
        before = survey_image(self.before_runner, self.original.label, request, _first(names), Confinement.STANDARD)
        after = survey_image(self.after_runner, self.hardened.label, replace(request, interpreters=present),
                             _first(present), Confinement.RESTRICTED)
        self.progress(1, 4)
        if before.failure:
            raise ProbeFailed(f"verification needs the {self.original.label} image's own Python: {before.failure}")
        if after.failure:
            self.problems.append(after.failure)
        elif after.writable:
            self.notes.append(f"the engine left {', '.join(after.writable)} writable in the restricted run of the "
                              f"{self.hardened.label} image: what needs a writable path there was not detected "
                              "(an engine that adds writable mounts to read-only containers)")
        imports, metadata, starts = self._environments(names, present, before, after)
        self.progress(2, 4)
        smoke = self._smoke(before, after, present)
        touched = self._touched(before)
        environment = dict(item.partition("=")[::2] for item in self.hardened.config.env)
        linkage = check_linkage(self.original.rootfs, self.hardened.rootfs, self.hardened.blobs, environment,
                                cache=self.dynamic)
        assertions = self._assertions(names, present)
        self.progress(3, 4)
        startup = self._startup(names[0] if names else None, present)
        self.progress(4, 4)
        return VerificationReport(
            original=self.original.label,
            hardened=self.hardened.label,
            runner=kind,
            interpreters=names,
            imports=tuple(imports),
            metadata=tuple(metadata),
            smoke=smoke,
            assertions=assertions,
            startup=startup,
            clean_starts=tuple(starts),
            touched=touched,
            writable=tuple(self.writable),
            restricted=True,
            linkage=linkage,
            problems=tuple(self.problems),
            notes=tuple(self.notes),
        )

    # ------------------------------------------------------------------ imports and metadata

    def _environments(self, names: Sequence[str], present: Sequence[str], before: ImageSurvey,
                      after: ImageSurvey) -> tuple[list[ImportDiff], list[MetadataDiff], list[CleanStart]]:
        imports: list[ImportDiff] = []
        metadata: list[MetadataDiff] = []
        starts: list[CleanStart] = []
        for name in names:
            old = before.interpreters.get(name)
            if old is None or old.error:
                why = old.error if old is not None else "the probe reported nothing"
                raise ProbeFailed(f"verification needs the {self.original.label} image's own Python: "
                                  f"{name}: {why}")
            new = after.interpreters.get(name)
            if name not in present:
                continue
            if new is None or new.error:
                why = new.error if new is not None else "the probe reported nothing"
                self.problems.append(f"{name} could not be surveyed in the {self.hardened.label} image: {why}")
                continue
            imports.append(self._imports(name, old, new))
            if name == names[0]:
                self._required(imports[-1])
            metadata.append(diff_metadata(name, old.distributions, new.distributions, self.allowed_removals))
            starts.append(_clean_start(name, old, new))
        return imports, metadata, starts

    def _imports(self, name: str, old: InterpreterSurvey, new: InterpreterSurvey) -> ImportDiff:
        candidates = candidate_losses(old.modules, new.modules)
        gone = [loss for loss in candidates if loss.before.origin and not exists(self.hardened.rootfs,
                                                                                   loss.before.origin)]
        present = [loss for loss in candidates if loss not in gone]
        gone = [loss.evolve(after=ModuleOutcome(loss.module, OutcomeKind.NOT_RUN,
                                                f"its file {loss.before.origin} is gone from the "
                                                f"{self.hardened.label} image")) for loss in gone]
        ledger = replace(self.ledger, distributions=tuple(sorted(
            {*self.ledger.distributions, *excused_modules(self.allowed_removals, old.distributions)})))

        def account(losses: Sequence[ModuleLoss]) -> tuple[ModuleLoss, ...]:
            return account_losses(losses, ledger, real=self._real, opened=old.opened)

        lost, order_dependent = self._recheck(name, present, new, gone, account)
        accounted = account([*lost, *gone])
        return import_diff(name, old.modules, new.modules, accounted, skipped=old.skipped,
                           stdlib_deep=old.stdlib_deep, order_dependent=order_dependent)

    def _required(self, imports: ImportDiff) -> None:
        """Policy-named imports must work in the hardened image, even if they failed in the original too."""
        required = {*self.settings.imports, *self.settings.plugins}
        for change in imports.preexisting_failures:
            if change.module in required and not change.after.ok:
                self.problems.append(f"{change.module}: {change.after.describe()} "
                                     "(required by the policy; failed in the original too)")

    def _recheck(self, name: str, candidates: Sequence[ModuleLoss], new: InterpreterSurvey,
                 gone: Sequence[ModuleLoss], account: Callable[[Sequence[ModuleLoss]], tuple[ModuleLoss, ...]],
                 ) -> tuple[list[ModuleLoss], list[str]]:
        """The hardened walk ran as a restricted pod. What failed there is imported again in a standard container
        (shared workers): what imports now only needs a writable path. What still fails for a reason a deliberate
        removal accounts (its own file, a stage's declaration, or ``No module named`` one that is accounted, the
        modules whose files are ``gone`` included) is a loss as it stands: the removal explains it whatever the
        import order, so no fresh interpreter could turn it into a failure. The rest is imported alone in a fresh
        interpreter on both sides: a loss only when the original imports it alone and the hardened image not."""
        if not candidates:
            return [], []
        timeout = self.settings.timeout_seconds
        standard = recheck(self.after_runner, self.hardened.label, name, [loss.module for loss in candidates],
                           timeout, Confinement.STANDARD, self.jobs, alone=False)
        failing = []
        for loss in candidates:
            if standard[loss.module].ok:
                paths = written_paths(new.writes.get(loss.module, ()), loss.after.error)
                self.writable.append(WritableNeed("import", loss.module, name, paths, loss.after.describe(),
                                                  remedy(paths, loss.after.error, self._home())))
            else:
                failing.append(loss.evolve(after=standard[loss.module]))
        explained = {loss.module for loss in account([*failing, *gone]) if loss.accounting is not None}
        settled = [loss for loss in failing if loss.module in explained]
        failing = [loss for loss in failing if loss.module not in explained]
        targets = [loss.module for loss in failing]
        if not targets:
            return settled, []
        # One side after the other, each with every job. Run at once with half the jobs each, the side that ended
        # first left its cores idle: on the bench's naive image (1,054 targets, one run) the hardened side took
        # 420.0 s and the original's 709.0 s; one after the other, 200.8 s and 343.3 s. Either way ``jobs`` fresh
        # interpreters run at a time, each importing its module and all it needs (139-146 MB resident each on the
        # 3.3x bench image).
        hardened = recheck(self.after_runner, self.hardened.label, name, targets, timeout, Confinement.STANDARD,
                           self.jobs)
        alone = recheck(self.before_runner, self.original.label, name, targets, timeout, Confinement.STANDARD,
                        self.jobs)
        order_dependent = [m for m in targets if not alone[m].ok]
        lost = settled + [loss.evolve(after=hardened[loss.module]) for loss in failing
                          if alone[loss.module].ok and not hardened[loss.module].ok]
        if order_dependent:
            self.notes.append(f"{len(order_dependent)} modules of {name} imported in the original only after "
                              f"others (not alone): not counted as lost, e.g. {', '.join(order_dependent[:3])}")
        return lost, order_dependent

    def _real(self, path: str) -> str:
        """An original-image path as the stages saw it (symlinks resolved), absolute."""
        resolved = self.original.rootfs.resolve(path)
        return "/" + str(resolved) if resolved is not None else path

    def _home(self) -> str:
        try:
            return resolve_user(self.hardened.config.user, self.hardened.rootfs, self.hardened.blobs).home
        except InputError:
            return ""

    # ------------------------------------------------------------------ smoke, files touched

    def _smoke(self, before: ImageSurvey, after: ImageSurvey, present: Sequence[str]) -> tuple[SmokeResult, ...]:
        specs = {t.name: SmokeSpec(t.name, t.code, t.timeout_seconds) for t in self.settings.smoke}
        if not specs:
            return ()
        primary = present[0] if present else None
        missing = SmokeRun(False, "not run: the probe did not report it")
        rerun_names = [n for n in specs if before.smoke.get(n) and before.smoke[n].run.passed
                       and not (after.smoke.get(n) and after.smoke[n].run.passed)]
        standard: dict[str, Any] = {}
        if rerun_names and primary is not None:
            request = SurveyRequest((), smoke=tuple(specs[n] for n in rerun_names), smoke_interpreter=primary)
            standard = dict(survey_image(self.after_runner, self.hardened.label, request, primary,
                                         Confinement.STANDARD).smoke)
        results = []
        for name in specs:
            old = before.smoke.get(name)
            new = after.smoke.get(name)
            interpreter = old.interpreter if old else (primary or "")
            after_run = new.run if new else (missing if primary else SmokeRun(False, "no interpreter left"))
            if name in standard and standard[name].run.passed and new is not None:
                paths = written_paths(new.writes, new.run.detail)
                self.writable.append(WritableNeed("smoke", name, interpreter, paths, new.run.detail,
                                                  remedy(paths, new.run.detail, self._home())))
                after_run = SmokeRun(True, "exit code 0 in a standard container; as a restricted pod: "
                                           + new.run.detail)
            results.append(SmokeResult(name, interpreter, old.run if old else missing, after_run))
        return tuple(results)

    def _touched(self, before: ImageSurvey) -> tuple[TouchedFile, ...]:
        """Files the original read that the hardened image lacks, each with the stage that removed it."""
        openers: dict[str, set[str]] = {}
        for survey in before.interpreters.values():
            for path, modules in survey.opened.items():
                openers.setdefault(path, set()).update(modules)
        for name, outcome in before.smoke.items():
            for path in outcome.opened:
                openers.setdefault(path, set()).add(f"smoke {name}")
        found = []
        for path in sorted(openers):
            if path.startswith(_RUNTIME_PREFIXES) or not exists(self.original.rootfs, path):
                continue  # made at run time, not part of the image
            if exists(self.hardened.rootfs, path):
                continue
            removal = self.ledger.removal_of(self._real(path))
            who = tuple(sorted(openers[path]))
            # a removal of modules on purpose takes their data and metadata on purpose too (importlib.metadata
            # scans read every distribution's entry_points.txt; a removed distribution's is gone with it)
            deliberate = removal is not None and removal.removes_modules
            found.append(TouchedFile(path, who, removal.stage if removal else "",
                                     removal.reason if removal else "", deliberate))
        return tuple(found)

    # ------------------------------------------------------------------ assertions, start-up

    def _assertions(self, names: Sequence[str], present: Sequence[str]) -> tuple[Any, ...]:
        why = "no interpreter"
        if not names:
            return hardening_assertions(self.hardened.rootfs, None, None, why_no_facts=why,
                                        blobs=self.hardened.blobs)

        def after_facts() -> Any:
            if not present:
                return None
            return FactsProbe(self.after_runner, present[0], self.hardened.label).facts(self.shells)

        before, after = self.both(
            lambda: FactsProbe(self.before_runner, names[0], self.original.label).facts(self.shells),
            lambda: _quietly(after_facts))
        if isinstance(after, ProbeFailed):
            why, after = after.one_line(), None
        return hardening_assertions(self.hardened.rootfs, after, before, why_no_facts=why,
                                    blobs=self.hardened.blobs)

    def _startup(self, primary: str | None, present: Sequence[str]) -> StartupCost | None:
        modules = tuple(self.settings.startup_modules)
        runs = max(1, self.settings.startup_runs)
        if primary is None or not modules:
            return None
        before = FactsProbe(self.before_runner, primary, self.original.label).startup(modules, runs)
        if primary not in present:
            return StartupCost(modules, runs, before.median, None, f"interpreter {primary} is gone")
        try:
            after = FactsProbe(self.after_runner, primary, self.hardened.label).startup(modules, runs)
        except ProbeFailed as exc:
            return StartupCost(modules, runs, before.median, None, exc.one_line())
        sides = (("original", before.error), ("hardened", after.error))
        error = "; ".join(f"{side}: {text}" for side, text in sides if text)
        return StartupCost(modules, runs, before.median, after.median, error)


def _quietly(call: Callable[[], T]) -> T | ProbeFailed:
    try:
        return call()
    except ProbeFailed as exc:
        return exc


def _first(names: Sequence[str]) -> str | None:
    return names[0] if names else None


def _clean_start(name: str, old: InterpreterSurvey, new: InterpreterSurvey) -> CleanStart:
    before_code = old.start.exit_code if old.start else None
    after_code = new.start.exit_code if new.start else None
    seen = {line.strip() for line in (old.start.stderr if old.start else "").splitlines()}
    new_lines = tuple(dict.fromkeys(line.strip() for line in (new.start.stderr if new.start else "").splitlines()
                                    if line.strip() and line.strip() not in seen))
    return CleanStart(name, before_code, after_code, new_lines)
