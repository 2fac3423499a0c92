"""remove-docs: what it removes and keeps is described in ``stages/remove-docs.toml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import ClassVar

from harden.plan import Change, Plan, Remove, Skip
from harden.pyenv import METADATA_SUFFIXES, find_python_envs
from harden.stages._globs import GlobSet
from harden.stages._import_evidence import ImportEvidence, Scope, settle
from harden.stages._path_index import PathIndex, prune_subtree, select_by_globs, shorten
from harden.stages.base import StageContext, StageSettings

CATEGORY = "docs"
_MODULE_SUFFIXES = (".py", ".so", ".pyd")


@dataclass(frozen=True, slots=True)
class RemoveDocsSettings(StageSettings):
    remove: GlobSet
    keep: GlobSet
    site_packages_doc_dirs: tuple[str, ...]
    remove_code: GlobSet


class RemoveDocs:
    name: ClassVar[str] = "remove-docs"
    settings_type: ClassVar[type[StageSettings]] = RemoveDocsSettings

    def plan(self, ctx: StageContext[RemoveDocsSettings]) -> Plan:
        keep = ctx.settings.keep
        index = PathIndex(ctx.rootfs)
        selection = select_by_globs(index, ctx.settings.remove, keep)
        changes: list[Change] = [
            Remove(path, f"documentation or package-manager cache (matches {pattern!r})", CATEGORY)
            for path, pattern in selection.removed
        ]
        skipped = [Skip(path, f"kept: {why}") for path, why in selection.kept]
        removed = {path for path, _ in selection.removed}

        envs = find_python_envs(ctx.rootfs, ctx.config, ctx.blobs)
        site_dirs = list(dict.fromkeys(d for env in envs for d in env.site_packages))
        roots = [*site_dirs, *(e.stdlib_dir for e in envs if e.stdlib_dir is not None)]
        names = set(ctx.settings.site_packages_doc_dirs)
        candidates: list[PurePosixPath] = []
        for site_dir in site_dirs:
            for path in index.subtree(site_dir, include_self=False):
                if (
                    path.name in names
                    and len(path.parts) > len(site_dir.parts) + 1
                    and index.is_dir(path)
                    and not any(p.suffix in METADATA_SUFFIXES for p in path.parents)
                    and not any(p in removed for p in (path, *path.parents))
                ):
                    candidates.append(path)
        by_policy = _kept_by_policy(index, candidates, keep)
        for path, pattern in sorted(by_policy.items()):
            skipped.append(Skip(path, f"kept {shorten(path, roots)}: policy keep glob {pattern!r}"))
        remaining = [c for c in candidates if c not in by_policy]
        if remaining:
            scope = Scope(skip_main_blocks=True)
            evidence = ImportEvidence(ctx.rootfs, ctx.blobs, roots, names, ctx.progress, scope=scope,
                                      parsed=ctx.parsed, jobs=ctx.jobs)
            settlement = settle(evidence, remaining)
            code = ctx.settings.remove_code
            for candidate in settlement.removed:
                modules = sum(1 for p in index.subtree(candidate) if p.suffix in _MODULE_SUFFIXES)
                named = code.first_match(candidate)
                if modules and named is None:
                    skipped.append(Skip(candidate, f"kept {shorten(candidate, roots)}: holds {modules} Python "
                                                   "modules (code, not documentation; remove_code names "
                                                   "directories to remove all the same)"))
                    continue
                pruned, kept_inside = prune_subtree(index, candidate, keep)
                if modules:
                    reason = (f"example/documentation code {shorten(candidate, roots)} ({modules} Python modules), "
                              f"named by remove_code {named!r}; no code imports it")
                else:
                    reason = f"package documentation/examples {shorten(candidate, roots)}: no code imports it"
                changes.extend(Remove(path, reason, CATEGORY, removes_modules=bool(modules)) for path in pruned)
                skipped.extend(Skip(path, f"kept: keep glob {pattern!r}") for path, pattern in kept_inside)
            for path, importer in sorted(settlement.kept.items()):
                skipped.append(Skip(path, f"kept {shorten(path, roots)}: imported by {shorten(importer, roots)}"))
        return Plan(self.name, tuple(changes), tuple(skipped))


def _kept_by_policy(index: PathIndex, candidates: list[PurePosixPath], keep: GlobSet) -> dict[PurePosixPath, str]:
    kept: dict[PurePosixPath, str] = {}
    for candidate in candidates:
        for path in (*candidate.parents, candidate):
            pattern = keep.first_match(path)
            if pattern is not None:
                kept[candidate] = pattern
                break
    return kept
