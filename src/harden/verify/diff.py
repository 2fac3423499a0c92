"""Comparing what the probes saw in the original and in the hardened image. Pure functions over values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harden.pyenv import normalize_name
from harden.verify.result import (
    DistributionChange,
    ImportDiff,
    MetadataDiff,
    ModuleChange,
    ModuleLoss,
    ModuleOutcome,
    OutcomeKind,
)

normalize = normalize_name
"""PEP 503 name normalization, the same as the stages use."""


@dataclass(frozen=True, slots=True)
class DistributionInfo:
    """One distribution as ``importlib.metadata`` sees it inside an image."""

    name: str
    version: str
    entry_points: tuple[tuple[str, str, str], ...] = ()
    """(group, name, value), sorted."""
    top_level: tuple[str, ...] = ()
    roots: tuple[str, ...] = ()
    """Top-level names its installed files provide (RECORD), e.g. setuptools' vendored ``_distutils``."""

    @property
    def key(self) -> str:
        return normalize(self.name)


def excused_modules(allowed_removals: Iterable[str],
                    distributions: Mapping[str, DistributionInfo]) -> frozenset[str]:
    """Top-level module names whose loss is deliberate: the top-level names of every removed distribution,
    and each allowed name itself (a stage may remove a stdlib module such as ``ensurepip`` by name)."""
    names: set[str] = set()
    for name in allowed_removals:
        names.add(name)
        dist = distributions.get(normalize(name))
        if dist is not None:
            names.update(dist.top_level)
            names.update(dist.roots)
    return frozenset(names)


def not_run(module: str, why: str) -> ModuleOutcome:
    return ModuleOutcome(module, OutcomeKind.NOT_RUN, why)


def candidate_losses(before: Mapping[str, ModuleOutcome],
                     after: Mapping[str, ModuleOutcome]) -> list[ModuleLoss]:
    """Every target that imported in the original and did not (or was not reached) in the hardened walk."""
    losses = []
    for module in sorted(before):
        old = before[module]
        if not old.ok:
            continue
        new = after.get(module) or not_run(module, "the hardened walk did not reach it (no such module)")
        if not new.ok:
            losses.append(ModuleLoss(module, old, new))
    return losses


def import_diff(interpreter: str, before: Mapping[str, ModuleOutcome], after: Mapping[str, ModuleOutcome],
                losses: Iterable[ModuleLoss], *, skipped: Mapping[str, int] | None = None,
                stdlib_deep: bool = True, order_dependent: Iterable[str] = ()) -> ImportDiff:
    """The surface of one interpreter: ``losses`` are the candidate losses that survived the rechecks, with
    their accounting filled in (``accounting.account_losses``)."""
    lost = list(losses)
    regressions = tuple(loss for loss in lost if loss.accounting is None)
    accounted = tuple(loss for loss in lost if loss.accounting is not None)
    preexisting = tuple(ModuleChange(m, o, after.get(m) or not_run(m, "not imported in the hardened image"))
                        for m, o in sorted(before.items()) if not o.ok)
    fixed = tuple(m for m, o in sorted(before.items()) if not o.ok and (after.get(m) or not_run(m, "")).ok)
    ok_before = sum(1 for o in before.values() if o.ok)
    return ImportDiff(
        interpreter=interpreter,
        total=len(before),
        ok_before=ok_before,
        ok_after=ok_before - len(lost),
        regressions=regressions,
        accounted=accounted,
        preexisting_failures=preexisting,
        fixed=fixed,
        skipped=tuple(sorted((skipped or {}).items())),
        stdlib_deep=stdlib_deep,
        order_dependent=tuple(sorted(order_dependent)),
    )


def _entry_point_lines(dist: DistributionInfo) -> set[str]:
    return {f"{dist.name}: {group}:{name} = {value}" for group, name, value in dist.entry_points}


def diff_metadata(interpreter: str, before: Mapping[str, DistributionInfo],
                  after: Mapping[str, DistributionInfo],
                  allowed_removals: Iterable[str] = ()) -> MetadataDiff:
    """Distributions, versions and entry points must be identical, except distributions removed on purpose."""
    allowed = {normalize(name) for name in allowed_removals}
    missing: list[str] = []
    deliberate: list[str] = []
    changed: list[DistributionChange] = []
    lost_eps: set[str] = set()
    gained_eps: set[str] = set()
    for key in sorted(before):
        old = before[key]
        new = after.get(key)
        if new is None:
            (deliberate if key in allowed else missing).append(old.name)
            continue
        if new.version != old.version:
            changed.append(DistributionChange(old.name, old.version, new.version))
        lost_eps |= _entry_point_lines(old) - _entry_point_lines(new)
        gained_eps |= _entry_point_lines(new) - _entry_point_lines(old)
    added = [after[key].name for key in sorted(after) if key not in before]
    return MetadataDiff(
        interpreter=interpreter,
        distributions_before=len(before),
        distributions_after=len(after),
        missing=tuple(missing),
        removed_deliberately=tuple(deliberate),
        added=tuple(added),
        changed=tuple(changed),
        entry_points_missing=tuple(sorted(lost_eps)),
        entry_points_added=tuple(sorted(gained_eps)),
    )
