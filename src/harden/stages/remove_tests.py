"""remove-tests: what it removes, and the import evidence that keeps a candidate, is described in
``stages/remove-tests.toml``; the evidence is gathered by ``_import_evidence``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import ClassVar

from harden.image.path_text import has_parent_in, is_below, within_any
from harden.plan import Change, Plan, Remove, Skip
from harden.pyenv import METADATA_SUFFIXES, PythonEnv, find_python_envs
from harden.stages._globs import AncestryMatch, GlobSet
from harden.stages._import_evidence import ImportEvidence, Scope, settle
from harden.stages._path_index import PathIndex, shorten
from harden.stages.base import StageContext, StageSettings

log = logging.getLogger(__name__)

CATEGORY = "tests"


def _inside_metadata(path: PurePosixPath, floor: PurePosixPath) -> bool:
    """Whether ``path`` is (inside) a ``*.dist-info``/``*.egg-info`` below ``floor`` (on the texts: no parts
    tuple cached on every path for the rest of the run)."""
    text, top = str(path), str(floor)
    if top != "." and is_below(text, top):
        text = text[len(top) + 1 :]
    return any(part.endswith(METADATA_SUFFIXES) for part in text.split("/"))


def _depth(path: PurePosixPath) -> int:
    """``len(path.parts)``."""
    text = str(path)
    return 0 if text == "." else text.count("/") + 1


def _site_and_stdlib_roots(envs: tuple[PythonEnv, ...]) -> tuple[list[PurePosixPath], list[PurePosixPath]]:
    site: list[PurePosixPath] = []
    stdlib: list[PurePosixPath] = []
    for env in envs:
        site.extend(d for d in env.site_packages if d not in site)
        if env.stdlib_dir is not None and env.stdlib_dir not in stdlib:
            stdlib.append(env.stdlib_dir)
    return site, stdlib


@dataclass(frozen=True, slots=True)
class RemoveTestsSettings(StageSettings):
    dir_names: tuple[str, ...]
    file_patterns: GlobSet
    remove_conftest: bool
    ignore_main_blocks: bool
    test_runner_functions: tuple[str, ...]
    """Case-insensitive globs on function and class names (not a GlobSet: they match a name, not a path)."""
    ignore_importers: GlobSet
    keep: GlobSet
    remove_sources: bool
    source_patterns: GlobSet
    source_dir_names: tuple[str, ...]
    stdlib_build_dirs: GlobSet


class RemoveTests:
    name: ClassVar[str] = "remove-tests"
    settings_type: ClassVar[type[StageSettings]] = RemoveTestsSettings

    def plan(self, ctx: StageContext[RemoveTestsSettings]) -> Plan:
        settings = ctx.settings
        envs = find_python_envs(ctx.rootfs, ctx.config, ctx.blobs)
        if not envs:
            return Plan(self.name, notes=("no Python environment found; nothing to do",))
        index = PathIndex(ctx.rootfs)
        site_dirs, stdlib_dirs = _site_and_stdlib_roots(envs)
        roots = [*site_dirs, *stdlib_dirs]
        dir_names = set(settings.dir_names)
        test_files = settings.file_patterns
        keep = settings.keep

        candidates = self._candidates(index, site_dirs, stdlib_dirs, dir_names, test_files, settings)
        changes: list[Change] = []
        skipped: list[Skip] = []
        by_policy = self._kept_by_policy(index, candidates, keep)
        for path, pattern in sorted(by_policy.items()):
            if any(p in by_policy for p in path.parents):
                continue
            skipped.append(Skip(path, f"kept {shorten(path, roots)}: policy keep glob {pattern!r}"))
        remaining = [c for c in candidates if c not in by_policy]

        fragments = _literal_fragments(settings.file_patterns.patterns)
        words = [*dir_names, "conftest"]
        scope = Scope.with_test_functions(
            settings.test_runner_functions, skip_main_blocks=settings.ignore_main_blocks
        )
        ignore = settings.ignore_importers
        evidence = ImportEvidence(ctx.rootfs, ctx.blobs, roots, words, ctx.progress, fragments, scope, ignore,
                                  ctx.parsed, ctx.jobs)
        settlement = settle(evidence, remaining)
        for path in sorted(settlement.kept):
            importer = settlement.kept[path]
            if any(p in settlement.removed for p in path.parents):
                continue
            skipped.append(Skip(path, f"kept {shorten(path, roots)}: imported by {shorten(importer, roots)}"))
        for candidate in settlement.removed:
            reason = self._reason(candidate, site_dirs, roots)
            changes.extend(Remove(path, reason, CATEGORY, removes_modules=True)
                           for path in index.removal_targets(candidate))

        if settings.remove_sources:
            removed_now = set(settlement.removed)
            changes.extend(self._sources(index, envs, site_dirs, settings, keep, removed_now, roots))
        notes = (
            f"{len(candidates)} candidates in {len(roots)} import roots; "
            f"{len(settlement.removed)} removed, {len(settlement.kept) + len(by_policy)} kept",
        )
        return Plan(self.name, tuple(changes), tuple(skipped), notes)

    @staticmethod
    def _candidates(
        index: PathIndex,
        site_dirs: list[PurePosixPath],
        stdlib_dirs: list[PurePosixPath],
        dir_names: set[str],
        test_files: GlobSet,
        settings: RemoveTestsSettings,
    ) -> list[PurePosixPath]:
        conftest = settings.remove_conftest
        found: set[PurePosixPath] = set()
        for root in [*site_dirs, *stdlib_dirs]:
            # a site-packages directory inside a stdlib directory is a root of its own
            nested = [r for r in site_dirs if root in r.parents]
            test_dirs: list[PurePosixPath] = []
            for path in index.subtree(root, include_self=False):
                if nested and any(r == path or r in path.parents for r in nested):
                    continue
                if _inside_metadata(path, root):
                    continue
                if path.name in dir_names and index.is_dir(path):
                    test_dirs.append(path)
                    found.add(path)
                elif conftest and path.name == "conftest.py" and not index.is_dir(path):
                    found.add(path)
            for test_dir in test_dirs:
                for path in index.subtree(test_dir, include_self=False):
                    if path.suffix == ".py" and test_files.matches(path.name) and not index.is_dir(path):
                        found.add(path)
        return sorted(found)

    @staticmethod
    def _kept_by_policy(index: PathIndex, candidates: list[PurePosixPath], keep: GlobSet) -> dict[PurePosixPath, str]:
        kept: dict[PurePosixPath, str] = {}
        if not keep:
            return kept
        for candidate in candidates:
            for path in (*candidate.parents, *index.subtree(candidate)):
                pattern = keep.first_match(path)
                if pattern is not None:
                    kept[candidate] = pattern
                    break
        return kept

    @staticmethod
    def _reason(path: PurePosixPath, site_dirs: list[PurePosixPath], roots: list[PurePosixPath]) -> str:
        name = shorten(path, roots)
        if path.name == "conftest.py":
            return f"pytest configuration {name}: only pytest reads it"
        if any(d in path.parents for d in site_dirs):
            return f"test suite {name}: nothing outside the test suites imports it"
        return f"stdlib test suite {name}: nothing outside the test suites imports it"

    @staticmethod
    def _sources(
        index: PathIndex,
        envs: tuple[PythonEnv, ...],
        site_dirs: list[PurePosixPath],
        settings: RemoveTestsSettings,
        keep: GlobSet,
        already: set[PurePosixPath],
        roots: list[PurePosixPath],
    ) -> list[Change]:
        patterns = settings.source_patterns
        dir_names = set(settings.source_dir_names)
        leaves: set[PurePosixPath] = set()
        whole_dirs: set[PurePosixPath] = set()
        removed = {str(p) for p in already}
        kept = AncestryMatch(keep)
        for site_dir in site_dirs:
            shallow = _depth(site_dir) + 1  # the depth of what sits right in the site directory
            for path in index.subtree(site_dir, include_self=False):
                if _inside_metadata(path, site_dir) or str(path) in removed or has_parent_in(path, removed):
                    continue
                if kept(path):
                    continue
                deep = _depth(path) > shallow
                if path.name in dir_names and deep and index.is_dir(path):
                    whole_dirs.add(path)
                elif patterns.matches(path.name) and not index.is_dir(path):
                    leaves.add(path)
        build_dirs = settings.stdlib_build_dirs
        for env in envs:
            include = env.prefix / "include"
            if env.is_venv and include in index:
                whole_dirs.add(include)
            if env.stdlib_dir is not None and env.stdlib_dir in index:
                whole_dirs.update(path for path in index.subtree(env.stdlib_dir, include_self=False)
                                  if path.parent == env.stdlib_dir and index.is_dir(path)
                                  and build_dirs.matches(PurePosixPath(path.name)))
        for directory in list(whole_dirs):
            if any(keep.matches(p) for p in index.subtree(directory)):
                whole_dirs.discard(directory)
                continue
            leaves.update(index.subtree(directory))
        targets = index.collapse(leaves, lambda d: within_any(d, whole_dirs))
        return [Remove(path, _source_reason(path, roots), CATEGORY) for path in targets]


def _literal_fragments(patterns: tuple[str, ...]) -> list[str]:
    """``test_*.py`` → ``test_``: the literal parts an import of such a file must contain."""
    fragments: list[str] = []
    for pattern in patterns:
        stem = pattern.removesuffix(".py")
        for piece in stem.replace("?", "*").replace("[", "*").split("*"):
            if len(piece) >= 3:
                fragments.append(piece)
    return fragments


def _source_reason(path: PurePosixPath, roots: list[PurePosixPath]) -> str:
    if any(part.startswith("config-") for part in path.parts):
        return (f"build-time only: {shorten(path, roots)} of the standard library's build directory (static "
                "libpython, Makefile, python.o: linked against when compiling, never at run time)")
    if path.suffix == ".pyi" or path.name == "py.typed":
        return (f"type-checking only: stub or marker {shorten(path, roots)} "
                "(read by type checkers, never by Python at run time)")
    return (f"build-time only: C/Cython source or header {shorten(path, roots)} "
            "(read when compiling against the image, never at run time)")
