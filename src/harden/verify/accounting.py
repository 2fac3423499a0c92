"""Which losses are deliberate: the removal ledger of a hardening run, and the rules that account a lost module
to the stage that removed it on purpose. Pure functions over values; the job builds the ledger from the
pipeline's records.

A module that imports in the original and not in the hardened image is **accounted** when
1. its file lies in (or is) a path a stage removed with ``removes_modules`` (test suites, installers …), or a
   stage declared it (``ModuleAccount``: it stays on disk but cannot import without what the stage removed); or
2. its import now fails on a missing module that is itself accounted (``needs setuptools``), or on a file it read
   in the original that such a removal took.
Anything else is a **failure**, with a hint when a stage removed its file or a file it read without meaning to
remove code (remove-docs taking a package of Python modules for documentation).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import MappingProxyType

from harden.verify.result import Accounting, ModuleLoss

_NO_MODULE = re.compile(r"^ModuleNotFoundError: No module named '([^']+)'")


@dataclass(frozen=True, slots=True)
class Removal:
    """One path a stage removed (a directory: everything below it)."""

    stage: str
    reason: str
    path: str
    """Absolute image path as removed: ``/opt/venv/lib/python3.11/site-packages/pandas/tests``."""
    removes_modules: bool
    """The stage removes importable code here on purpose; its modules are accounted, not failures."""


@dataclass(frozen=True, slots=True)
class ModuleAccount:
    """A stage's word that ``module`` (and its submodules) stops importing on purpose, although its files stay."""

    module: str
    stage: str
    reason: str

    def covers(self, name: str) -> bool:
        module = name.partition(":")[0]
        return module == self.module or module.startswith(self.module + ".")


@dataclass(frozen=True, slots=True)
class Ledger:
    """Everything a hardening run removed, by absolute image path, and the modules stages gave up on purpose."""

    removals: Mapping[str, Removal] = field(default_factory=lambda: MappingProxyType({}))
    modules: tuple[ModuleAccount, ...] = ()
    distributions: tuple[str, ...] = ()
    """Top-level module names of the distributions removed on purpose (their loss is accounted)."""
    distribution_stage: str = "remove-installers"

    @classmethod
    def of(cls, removals: Iterable[Removal], modules: Iterable[ModuleAccount] = (),
           distributions: Iterable[str] = ()) -> Ledger:
        return cls(MappingProxyType({r.path: r for r in removals}), tuple(modules), tuple(sorted(set(distributions))))

    def removal_of(self, path: str) -> Removal | None:
        """The removal that took ``path``: the path itself or the nearest removed ancestor."""
        if not path:
            return None
        candidate = PurePosixPath(path)
        for place in (candidate, *candidate.parents):
            found = self.removals.get(str(place))
            if found is not None:
                return found
        return None

    def module_account(self, name: str) -> ModuleAccount | None:
        return next((account for account in self.modules if account.covers(name)), None)


def _direct(loss: ModuleLoss, ledger: Ledger, real: Callable[[str], str],
            opened: Mapping[str, tuple[str, ...]]) -> tuple[Accounting | None, str]:
    """(accounting, hint) from the module's own file, a stage's declaration, or a file it read."""
    declared = ledger.module_account(loss.module)
    if declared is not None:
        return Accounting(declared.stage, declared.reason), ""
    origin = real(loss.before.origin) if loss.before.origin else ""
    removal = ledger.removal_of(origin)
    if removal is not None:
        if removal.removes_modules:
            return Accounting(removal.stage, removal.reason, removal.path), ""
        return None, f"{removal.path} was removed by {removal.stage} ({removal.reason})"
    top = loss.module.partition(":")[0].split(".")[0]
    if top in ledger.distributions:
        return Accounting(ledger.distribution_stage, f"distribution providing {top} removed on purpose"), ""
    for path in opened.get(loss.module, ()):
        removal = ledger.removal_of(real(path))
        if removal is None:
            continue
        if removal.removes_modules:
            return Accounting(removal.stage, removal.reason, removal.path, via=f"reads {path}"), ""
        return None, f"it read {path} in the original, which {removal.stage} removed ({removal.reason})"
    return None, ""


def account_losses(losses: Iterable[ModuleLoss], ledger: Ledger, *, real: Callable[[str], str] = str,
                   opened: Mapping[str, tuple[str, ...]] | None = None) -> tuple[ModuleLoss, ...]:
    """``losses`` with ``accounting`` (or a ``hint``) filled in. ``real`` maps an image path to the path the
    stages saw (symlinks resolved); ``opened``: module → files its import opened in the original."""
    reads = _by_module(opened or {})
    pending = []
    done: dict[str, ModuleLoss] = {}
    for loss in losses:
        accounting, hint = _direct(loss, ledger, real, reads)
        if accounting is not None:
            done[loss.module] = loss.evolve(accounting=accounting)
        else:
            pending.append(loss.evolve(hint=hint))
    changed = True
    while changed:  # a module that fails only for want of an accounted one is accounted too
        changed = False
        still = []
        for loss in pending:
            needed = _missing_module(loss.after.error)
            cause = _accounted_provider(needed, done, ledger) if needed else None
            if cause is not None:
                via = f"needs {needed}"
                done[loss.module] = loss.evolve(
                    accounting=Accounting(cause.stage, cause.reason, cause.path, via=via), hint="")
                changed = True
            else:
                still.append(loss)
        pending = still
    return tuple(sorted([*done.values(), *pending], key=lambda loss: loss.module))


def _missing_module(error: str) -> str:
    match = _NO_MODULE.match(error)
    return match.group(1) if match else ""


def _accounted_provider(needed: str, done: Mapping[str, ModuleLoss], ledger: Ledger) -> Accounting | None:
    for name in _self_and_parents(needed):
        loss = done.get(name)
        if loss is not None and loss.accounting is not None:
            return loss.accounting
        declared = ledger.module_account(name)
        if declared is not None:
            return Accounting(declared.stage, declared.reason)
    if needed.split(".")[0] in ledger.distributions:
        top = needed.split(".")[0]
        return Accounting(ledger.distribution_stage, f"distribution providing {top} removed on purpose")
    return None


def _self_and_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def _by_module(opened: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """file → openers, turned into module → files."""
    found: dict[str, list[str]] = {}
    for path, modules in opened.items():
        for module in modules:
            found.setdefault(module, []).append(path)
    return {module: tuple(sorted(paths)) for module, paths in found.items()}
