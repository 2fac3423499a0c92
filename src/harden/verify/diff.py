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


def top_module(target: str) -> str:
    """``pkg`` of ``pkg.sub.mod`` or of the entry point ``pkg.sub:attr``."""
    return target.partition(":")[0].split(".")[0]


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


def origin_root(origin: str) -> str:
    """``setuptools`` for ``/opt/venv/lib/python3.11/site-packages/setuptools/_distutils/x.py``; "" elsewhere."""
    for marker in ("/site-packages/", "/dist-packages/"):
        _, found, rest = origin.rpartition(marker)
        if found:
            head = rest.split("/", 1)[0]
            return head.split(".", 1)[0]
    return ""


def not_run(module: str, why: str) -> ModuleOutcome:
    return ModuleOutcome(module, OutcomeKind.NOT_RUN, why)


def diff_imports(interpreter: str, targets: Iterable[str], before: Mapping[str, ModuleOutcome],
                 after: Mapping[str, ModuleOutcome], excused: frozenset[str] = frozenset()) -> ImportDiff:
    """Classify every target. A target missing from a side's results counts as not run there (a failure)."""
    regressions: list[ModuleChange] = []
    excused_changes: list[ModuleChange] = []
    preexisting: list[ModuleChange] = []
    fixed: list[str] = []
    ok_before = ok_after = total = 0
    for module in sorted(set(targets)):
        total += 1
        old = before.get(module) or not_run(module, "no result from the original image")
        new = after.get(module) or not_run(module, "no result from the hardened image")
        ok_before += old.ok
        ok_after += new.ok
        if old.ok and not new.ok:
            change = ModuleChange(module, old, new)
            deliberate = top_module(module) in excused or origin_root(old.origin) in excused
            (excused_changes if deliberate else regressions).append(change)
        elif not old.ok:
            if new.ok:
                fixed.append(module)
            else:
                preexisting.append(ModuleChange(module, old, new))
    return ImportDiff(
        interpreter=interpreter,
        total=total,
        ok_before=ok_before,
        ok_after=ok_after,
        regressions=tuple(regressions),
        excused=tuple(excused_changes),
        preexisting_failures=tuple(preexisting),
        fixed=tuple(fixed),
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
