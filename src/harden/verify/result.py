"""What verification found, as frozen values. ``VerificationReport.failures()`` is the one list of reasons a
hardened image is refused; every line names what broke (a module, a distribution, a smoke test, a check)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 2


class OutcomeKind(StrEnum):
    OK = "ok"
    ERROR = "error"
    """The import raised (ImportError, AttributeError for ``module:attr``, SystemExit …)."""
    CRASH = "crash"
    """The worker process died importing it (segfault, ``os._exit``)."""
    TIMEOUT = "timeout"
    """The import did not finish within the per-module timeout."""
    NOT_RUN = "not-run"
    """The probe never reported it (the probe itself could not run or died, or the walk did not reach it)."""


@dataclass(frozen=True, slots=True)
class ModuleOutcome:
    """One import target (``pkg.mod`` or an entry point ``pkg.mod:attr``) in one image."""

    module: str
    kind: OutcomeKind
    error: str = ""
    isolated: bool = False
    """The verdict comes from a fresh interpreter (a recheck), not from a shared walk."""
    origin: str = ""
    """The module's ``__file__`` (or first ``__path__`` entry) where it imported."""
    stdlib: bool = False

    @property
    def ok(self) -> bool:
        return self.kind is OutcomeKind.OK

    def describe(self) -> str:
        return "ok" if self.ok else (self.error or self.kind.value)

    def to_dict(self) -> dict[str, Any]:
        return {"module": self.module, "ok": self.ok, "kind": self.kind.value, "error": self.error}


@dataclass(frozen=True, slots=True)
class ModuleChange:
    """A target whose outcome is worth reporting: both sides, original first."""

    module: str
    before: ModuleOutcome
    after: ModuleOutcome

    def to_dict(self) -> dict[str, Any]:
        return {"module": self.module, "before": self.before.describe(), "after": self.after.describe(),
                "after_kind": self.after.kind.value}


@dataclass(frozen=True, slots=True)
class Accounting:
    """Why a lost module is a deliberate removal: the stage, its reason, what it removed."""

    stage: str
    reason: str
    path: str = ""
    """The removed path that held the module (or a file it read); "" when the stage declared the module."""
    via: str = ""
    """How the loss follows from the removal: "needs setuptools", "reads /usr/share/…"; "" when direct."""

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "reason": self.reason, "path": self.path, "via": self.via}


@dataclass(frozen=True, slots=True)
class ModuleLoss:
    """A module that imports in the original and not in the hardened image: accounted, or a failure."""

    module: str
    before: ModuleOutcome
    after: ModuleOutcome
    accounting: Accounting | None = None
    hint: str = ""
    """For a failure: the stage that removed its file or a file it read, when one did."""

    def evolve(self, **changes: Any) -> ModuleLoss:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {"module": self.module, "origin": self.before.origin, "after": self.after.describe(),
                "after_kind": self.after.kind.value, "isolated": self.after.isolated,
                "accounting": self.accounting.to_dict() if self.accounting else None, "hint": self.hint}


@dataclass(frozen=True, slots=True)
class WritableNeed:
    """An import or smoke snippet that works in the hardened image, but not as a ``restricted`` Kubernetes pod
    runs it (read-only root, nothing writable): the paths it tried to write and how to give it one."""

    kind: str
    """"import" or "smoke"."""
    target: str
    interpreter: str
    paths: tuple[str, ...]
    error: str
    remedy: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "interpreter": self.interpreter,
                "paths": list(self.paths), "error": self.error, "remedy": self.remedy}


@dataclass(frozen=True, slots=True)
class TouchedFile:
    """A file the original opened while its modules imported or its smoke snippets ran, absent from the
    hardened image: who opened it, and which stage removed it (if any)."""

    path: str
    opened_by: tuple[str, ...]
    stage: str = ""
    reason: str = ""
    accounted: bool = False
    """Removed by a stage that removes modules on purpose (with the test suite or installer it belonged to)."""

    def failure(self) -> str | None:
        if self.accounted:
            return None
        who = ", ".join(self.opened_by[:3]) + (f" (+{len(self.opened_by) - 3} more)" if len(self.opened_by) > 3
                                                else "")
        cause = f"{self.stage} removed it ({self.reason})" if self.stage else "no stage removed it"
        return f"{self.path}: read in the original by {who}, gone from the hardened image: {cause}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "opened_by": list(self.opened_by), "stage": self.stage, "reason": self.reason,
                "accounted": self.accounted, "failure": self.failure()}


@dataclass(frozen=True, slots=True)
class ImportDiff:
    """The whole import surface of one interpreter, original vs hardened."""

    interpreter: str
    total: int
    """Modules and targets the original's walk imported or tried (its whole surface)."""
    ok_before: int
    ok_after: int
    """Of those that imported in the original, how many import in the hardened image."""
    regressions: tuple[ModuleLoss, ...]
    """Imported in the original, not in the hardened image, not accounted: each one fails verification."""
    accounted: tuple[ModuleLoss, ...]
    """Imported in the original, not in the hardened image, removed on purpose by a stage (which says why)."""
    preexisting_failures: tuple[ModuleChange, ...]
    """Failed in the original already: reported, never blamed."""
    fixed: tuple[str, ...] = ()
    """Failed in the original, import in the hardened image."""
    skipped: tuple[tuple[str, int], ...] = ()
    """(reason, count) of modules found but never imported (``__main__`` modules, stdlib test suites)."""
    stdlib_deep: bool = True
    """False when another interpreter's walk covered this one's (same) standard library."""
    order_dependent: tuple[str, ...] = ()
    """Imported in the original's shared walk, but not alone in a fresh interpreter: not counted as lost."""

    @property
    def counts(self) -> dict[str, int]:
        return {
            "total": self.total,
            "ok_before": self.ok_before,
            "ok_after": self.ok_after,
            "regressions": len(self.regressions),
            "accounted": len(self.accounted),
            "preexisting_failures": len(self.preexisting_failures),
            "fixed": len(self.fixed),
            "skipped": sum(count for _, count in self.skipped),
            "order_dependent": len(self.order_dependent),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "interpreter": self.interpreter,
            "counts": self.counts,
            "stdlib_deep": self.stdlib_deep,
            "regressions": [loss.to_dict() for loss in self.regressions],
            "accounted": [loss.to_dict() for loss in self.accounted],
            "preexisting_failures": [c.to_dict() for c in self.preexisting_failures],
            "fixed": list(self.fixed),
            "skipped": [{"reason": reason, "count": count} for reason, count in self.skipped],
            "order_dependent": list(self.order_dependent),
        }


@dataclass(frozen=True, slots=True)
class DistributionChange:
    name: str
    before: str | None
    after: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "before": self.before, "after": self.after}


@dataclass(frozen=True, slots=True)
class MetadataDiff:
    """``importlib.metadata`` of one interpreter, original vs hardened (the ``pip list`` view plus entry
    points)."""

    interpreter: str
    distributions_before: int
    distributions_after: int
    missing: tuple[str, ...] = ()
    removed_deliberately: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    changed: tuple[DistributionChange, ...] = ()
    entry_points_missing: tuple[str, ...] = ()
    """``dist: group:name = value`` lines of distributions still present."""
    entry_points_added: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (self.missing or self.added or self.changed or self.entry_points_missing
                    or self.entry_points_added)

    def failures(self) -> list[str]:
        lines = [f"distribution {name} is gone" for name in self.missing]
        lines += [f"distribution {name} appeared" for name in self.added]
        lines += [f"distribution {c.name} changed version {c.before} -> {c.after}" for c in self.changed]
        lines += [f"entry point lost: {ep}" for ep in self.entry_points_missing]
        lines += [f"entry point appeared: {ep}" for ep in self.entry_points_added]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "interpreter": self.interpreter,
            "ok": self.ok,
            "distributions_before": self.distributions_before,
            "distributions_after": self.distributions_after,
            "missing": list(self.missing),
            "removed_deliberately": list(self.removed_deliberately),
            "added": list(self.added),
            "changed": [c.to_dict() for c in self.changed],
            "entry_points_missing": list(self.entry_points_missing),
            "entry_points_added": list(self.entry_points_added),
        }


@dataclass(frozen=True, slots=True)
class SmokeRun:
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class SmokeResult:
    """A policy smoke snippet; it must pass in both images."""

    name: str
    interpreter: str
    before: SmokeRun
    after: SmokeRun

    @property
    def passed(self) -> bool:
        return self.before.passed and self.after.passed

    def failure(self) -> str | None:
        if self.passed:
            return None
        sides = (("original", self.before), ("hardened", self.after))
        where = [label for label, run in sides if not run.passed]
        detail = self.after.detail if not self.after.passed else self.before.detail
        return f"smoke test {self.name} failed in the {' and '.join(where)} image: {detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "interpreter": self.interpreter, "passed": self.passed,
                "before": self.before.to_dict(), "after": self.after.to_dict()}


@dataclass(frozen=True, slots=True)
class Assertion:
    """A hardening check on the hardened image (``HV-NO-SHELL`` …)."""

    code: str
    title: str
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "title": self.title, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class StartupCost:
    """Median wall time of a fresh interpreter importing the policy's main modules, in each image."""

    modules: tuple[str, ...]
    runs: int
    median_before: float | None
    median_after: float | None
    error: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.median_before or self.median_after is None:
            return None
        return self.median_after / self.median_before

    def to_dict(self) -> dict[str, Any]:
        return {"modules": list(self.modules), "runs": self.runs, "median_before_seconds": self.median_before,
                "median_after_seconds": self.median_after, "ratio": self.ratio, "error": self.error}


@dataclass(frozen=True, slots=True)
class CleanStart:
    """What a bare interpreter start (``python -c pass``) prints and returns in each image. Start-up code the
    hardening broke (a ``.pth`` file importing a removed module, a missing ``sitecustomize`` dependency) only
    shows here: Python reports it on stderr and carries on, so no import probe fails."""

    interpreter: str
    exit_before: int | None
    exit_after: int | None
    new_stderr: tuple[str, ...] = ()
    """stderr lines of the hardened start that the original's start did not print."""

    def failure(self) -> str | None:
        if self.exit_before == 0 and self.exit_after != 0:
            how = "timed out" if self.exit_after is None else f"exits {self.exit_after}"
            return f"{self.interpreter} -c pass {how} in the hardened image (0 in the original)"
        if self.new_stderr:
            shown = " | ".join(self.new_stderr[:3])
            return f"{self.interpreter} prints new errors at start-up: {shown}"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"interpreter": self.interpreter, "exit_before": self.exit_before, "exit_after": self.exit_after,
                "new_stderr": list(self.new_stderr), "failure": self.failure()}


@dataclass(frozen=True, slots=True)
class LinkageCheck:
    objects: int
    """ELF files checked in the hardened image."""
    broken: tuple[str, ...] = ()
    """New problems: a library or symbol version that resolved in the original and does not any more."""
    preexisting: tuple[str, ...] = ()

    def failures(self) -> list[str]:
        return [f"linkage: {line}" for line in self.broken]

    def to_dict(self) -> dict[str, Any]:
        return {"objects": self.objects, "broken": list(self.broken), "preexisting": list(self.preexisting)}


@dataclass(frozen=True, slots=True)
class VerificationReport:
    original: str
    hardened: str
    runner: str
    """"engine" or "sandbox": where the probes ran; "linkage": nothing ran (a platform this machine cannot
    execute), only the static linkage check stood in."""
    interpreters: tuple[str, ...] = ()
    imports: tuple[ImportDiff, ...] = ()
    metadata: tuple[MetadataDiff, ...] = ()
    smoke: tuple[SmokeResult, ...] = ()
    assertions: tuple[Assertion, ...] = ()
    startup: StartupCost | None = None
    clean_starts: tuple[CleanStart, ...] = ()
    touched: tuple[TouchedFile, ...] = ()
    """Files the original read (imports, smoke snippets) that the hardened image no longer has."""
    writable: tuple[WritableNeed, ...] = ()
    """What needs a writable path when the hardened image runs as a restricted Kubernetes pod (warnings)."""
    restricted: bool = False
    """The hardened image's probes ran as a restricted pod (read-only root, no writable /tmp, no capabilities)."""
    linkage: LinkageCheck | None = None
    problems: tuple[str, ...] = ()
    """Failures that fit nowhere else: an interpreter gone, a probe that could not run at all."""
    skipped: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.failures()

    def failures(self) -> list[str]:
        """One line per reason to refuse the hardened image, naming what broke."""
        if self.skipped:
            return []
        lines = list(self.problems)
        several = len(self.imports) > 1
        for diff in self.imports:
            where = f" [{diff.interpreter}]" if several else ""
            lines += [f"{loss.module}: {loss.after.describe()}{where}" + (f" ({loss.hint})" if loss.hint else "")
                      for loss in diff.regressions]
        for meta in self.metadata:
            where = f" [{meta.interpreter}]" if len(self.metadata) > 1 else ""
            lines += [line + where for line in meta.failures()]
        lines += [reason for start in self.clean_starts if (reason := start.failure())]
        lines += [reason for result in self.smoke if (reason := result.failure())]
        lines += [reason for touched in self.touched if (reason := touched.failure())]
        lines += self.linkage.failures() if self.linkage is not None else []
        lines += [f"{a.code}: {a.detail or a.title}" for a in self.assertions if not a.passed]
        if self.runner == "linkage":
            return lines
        if not self.imports and not self.problems and not self.skipped:
            lines.append("no Python environment was verified (zero import targets)")
        elif self.imports and sum(diff.total for diff in self.imports) == 0:
            lines.append("no import target was verified (zero modules)")
        return lines

    def summary(self) -> str:
        if self.skipped:
            return f"verification skipped for {self.hardened}"
        if self.runner == "linkage":
            checked = self.linkage.objects if self.linkage is not None else 0
            verdict = "PASSED" if self.ok else f"FAILED ({len(self.failures())} problems)"
            return (f"verify {self.hardened} against {self.original} (static linkage check only: nothing ran): "
                    f"{verdict}; {checked} ELF files checked")
        total = sum(diff.total for diff in self.imports)
        regressions = sum(len(diff.regressions) for diff in self.imports)
        accounted = sum(len(diff.accounted) for diff in self.imports)
        preexisting = sum(len(diff.preexisting_failures) for diff in self.imports)
        passed = sum(1 for a in self.assertions if a.passed)
        verdict = "PASSED" if self.ok else f"FAILED ({len(self.failures())} problems)"
        text = (f"verify {self.hardened} against {self.original} ({self.runner}): {verdict}; "
                f"{total} modules walked in {len(self.imports)} interpreters, {regressions} lost, "
                f"{accounted} removed on purpose, {preexisting} failing in the original too; "
                f"assertions {passed}/{len(self.assertions)}")
        if self.writable:
            text += f"; {len(self.writable)} need a writable path as a restricted pod"
        if self.startup is not None and self.startup.ratio is not None:
            text += f"; startup x{self.startup.ratio:.2f}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "ok": self.ok,
            "skipped": self.skipped,
            "original": self.original,
            "hardened": self.hardened,
            "runner": self.runner,
            "restricted": self.restricted,
            "interpreters": list(self.interpreters),
            "failures": self.failures(),
            "imports": [diff.to_dict() for diff in self.imports],
            "metadata": [diff.to_dict() for diff in self.metadata],
            "smoke": [result.to_dict() for result in self.smoke],
            "assertions": [a.to_dict() for a in self.assertions],
            "startup": self.startup.to_dict() if self.startup is not None else None,
            "clean_starts": [start.to_dict() for start in self.clean_starts],
            "touched": [touched.to_dict() for touched in self.touched],
            "writable": [need.to_dict() for need in self.writable],
            "linkage": self.linkage.to_dict() if self.linkage is not None else None,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }
