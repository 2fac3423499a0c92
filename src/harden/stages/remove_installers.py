"""remove-installers: what it removes, and what it keeps, is described in ``stages/remove-installers.toml``."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import ClassVar

from harden.image.blobs import BlobStore
from harden.image.files import file_bytes
from harden.image.path_text import bytecode_source
from harden.plan import Change, Plan, Remove, Skip
from harden.pyenv import Distribution, PythonEnv, find_distributions, find_python_envs, normalize_name
from harden.stages._dpkg_owners import DpkgOwner, DpkgOwners
from harden.stages._globs import GlobSet
from harden.stages._path_index import PathIndex, select_by_globs
from harden.stages._pth import PthFile, module_name, parse_pth
from harden.stages.base import StageContext, StageSettings

CATEGORY = "installers"


def _settle(wanted: set[str], distributions: Iterable[Distribution]) -> tuple[set[str], dict[str, Distribution]]:
    """Drop from ``wanted`` what a distribution outside ``wanted`` requires; repeat until stable."""
    removing = set(wanted)
    required_by: dict[str, Distribution] = {}
    everything = list(distributions)
    changed = True
    while changed:
        changed = False
        for distribution in everything:
            if distribution.key in removing:
                continue
            for requirement in distribution.requires:
                if requirement in removing:
                    removing.discard(requirement)
                    required_by[requirement] = distribution
                    changed = True
    return removing, required_by


def _below(site_dir: PurePosixPath) -> Callable[[PurePosixPath], bool]:
    """Directories a removal may take whole: those strictly inside ``site_dir``."""

    def inside(directory: PurePosixPath) -> bool:
        return site_dir in directory.parents

    return inside


@dataclass(frozen=True, slots=True)
class RemoveInstallersSettings(StageSettings):
    packages: tuple[str, ...]
    stdlib_modules: tuple[str, ...]
    keep_dist_info: bool
    os_package_managers: GlobSet
    keep: GlobSet


class RemoveInstallers:
    name: ClassVar[str] = "remove-installers"
    settings_type: ClassVar[type[StageSettings]] = RemoveInstallersSettings

    def plan(self, ctx: StageContext[RemoveInstallersSettings]) -> Plan:
        settings = ctx.settings
        index = PathIndex(ctx.rootfs)
        notes: list[str] = []
        wanted = {normalize_name(p) for p in settings.packages}
        keep_dist_info = settings.keep_dist_info

        envs = find_python_envs(ctx.rootfs, ctx.config, ctx.blobs)
        per_env = {env: find_distributions(ctx.rootfs, env, ctx.blobs) for env in envs}
        # a venv that sees system site-packages depends on the base's distributions too
        overlay = [d for env, dists in per_env.items() if env.is_venv and env.system_site_packages for d in dists]
        planner = _Planner(index, ctx.blobs, DpkgOwners(ctx.rootfs, ctx.blobs), keep_dist_info)
        for env, distributions in per_env.items():
            gone = planner.distributions(env, distributions, overlay, wanted)
            if keep_dist_info:
                notes.extend(f"kept the metadata of removed {d.name} (keep_dist_info = true)" for d in gone)
        for env in envs:
            planner.pth_files(env, envs)

        changes, skipped = planner.changes, planner.skipped
        changes.extend(_stdlib_installers(index, envs, settings.stdlib_modules, planner.planned))
        selection = select_by_globs(index, settings.os_package_managers, settings.keep)
        for path, pattern in selection.removed:
            if path not in planner.planned:
                changes.append(Remove(path, f"OS package manager (matches {pattern!r})", CATEGORY))
        skipped.extend(Skip(path, f"kept: {why}") for path, why in selection.kept)
        return Plan(self.name, tuple(changes), tuple(skipped), tuple(notes))


def _stdlib_installers(index: PathIndex, envs: Iterable[PythonEnv], names: Iterable[str],
                       planned: set[PurePosixPath]) -> list[Change]:
    """The standard library's installer modules (ensurepip), once per standard library."""
    found: list[Change] = []
    for stdlib in dict.fromkeys(env.stdlib_dir for env in envs if env.stdlib_dir is not None):
        assert stdlib is not None
        for name in names:
            for path in (stdlib / name, stdlib / f"{name}.py"):
                if path in index.rootfs and path not in planned:
                    planned.add(path)
                    found.append(Remove(path, f"standard library installer module {name} (bootstraps pip)",
                                        CATEGORY, removes_modules=True))
    return found


def _inside(path: PurePosixPath, directory: PurePosixPath) -> bool:
    return path.parts[: len(directory.parts)] == directory.parts and path != directory


def _names(modules: Iterable[str]) -> str:
    return ", ".join(sorted(modules))


@dataclass(slots=True)
class _Planner:
    """Plans the removals of every environment into ``changes``/``skipped``; ``planned`` holds the topmost
    paths removed so far."""

    index: PathIndex
    blobs: BlobStore
    owners: DpkgOwners
    keep_dist_info: bool
    planned: set[PurePosixPath] = field(default_factory=set)
    changes: list[Change] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    _pth: dict[PurePosixPath, PthFile | None] = field(default_factory=dict)
    _judged: set[PurePosixPath] = field(default_factory=set)

    # --- distributions ------------------------------------------------------------------------------------

    def distributions(
        self, env: PythonEnv, distributions: tuple[Distribution, ...], overlay: list[Distribution], wanted: set[str]
    ) -> list[Distribution]:
        """Plan the removals of one environment; the distributions removed."""
        present = {d.key for d in distributions}
        removing, required_by = _settle(wanted & present, [*distributions, *overlay])
        for key, requirer in sorted(required_by.items()):
            for kept in (d for d in distributions if d.key == key):
                why = f"kept {kept.name} {kept.version}: required by {requirer.name} {requirer.version}"
                self.skipped.append(Skip(kept.metadata_dir, why))
        owned_by_kept = {f for d in distributions if d.key not in removing for f in d.files}
        kept_metadata = {d.metadata_dir for d in distributions if d.key not in removing}
        gone = [d for d in distributions if d.key in removing]
        for distribution in gone:
            leaves, source = self._leaves(env, distribution, kept_metadata)
            for rejected in distribution.rejected_files:
                self.skipped.append(Skip(distribution.metadata_dir, f"kept RECORD entry {rejected!r}: outside the env"))
            reason = f"{distribution.name} {distribution.version}: installer, not needed at run time ({source})"
            for path in self.index.collapse(leaves - owned_by_kept, _below(distribution.site_packages)):
                self._remove(path, reason)
        return gone

    def _remove(self, path: PurePosixPath, reason: str) -> None:
        if path not in self.planned:
            self.planned.add(path)
            self.changes.append(Remove(path, reason, CATEGORY, removes_modules=True))

    def _owner(self, distribution: Distribution, kept_metadata: set[PurePosixPath]) -> DpkgOwner | None:
        """The dpkg package shipping ``distribution``, None without one or when it ships a kept one too."""
        if distribution.has_record:
            return None
        owner = self.owners.owner(distribution.metadata_dir)
        if owner is None:
            return None
        shared = sorted(m.name for m in owner.metadata if m in kept_metadata)
        if shared:
            why = (
                f"used top_level.txt, not the dpkg list of {owner.package}: that package also ships "
                f"{', '.join(shared)}, which is kept"
            )
            self.skipped.append(Skip(distribution.metadata_dir, why))
            return None
        return owner

    def _leaves(
        self, env: PythonEnv, distribution: Distribution, kept_metadata: set[PurePosixPath]
    ) -> tuple[set[PurePosixPath], str]:
        """The paths ``distribution`` removes, and where they come from (for the reason)."""
        index = self.index
        rootfs = index.rootfs
        site_dir = distribution.site_packages
        meta = distribution.metadata_dir
        leaves: set[PurePosixPath] = set()
        owner = self._owner(distribution, kept_metadata)
        if distribution.has_record:
            source = f"RECORD of {meta.name}"
            leaves.update(f for f in distribution.files if f in rootfs)
        elif owner is not None:
            source = f"dpkg list of {owner.package}"
            leaves.update(p for p in owner.paths if _inside(p, site_dir) and p in rootfs and not index.is_dir(p))
        else:
            source = f"top_level.txt of {meta.name}"
            names = distribution.top_level or (distribution.name.replace("-", "_"),)
            for name in names:
                leaves.update(index.subtree(site_dir / name))
                for module in (site_dir / f"{name}.py", site_dir / f"{name}.pth"):
                    if module in rootfs:
                        leaves.add(module)
        for path in list(leaves):
            if path.suffix == ".py":
                cache = path.parent / "__pycache__"
                leaves.update(cached for cached in index.children(cache) if bytecode_source(cached) == path)
        for script in distribution.console_scripts:
            for candidate in (env.bin_dir / script, env.bin_dir / f"{script}.exe"):
                if candidate in rootfs:
                    leaves.add(candidate)
        if self.keep_dist_info:
            leaves = {p for p in leaves if p != meta and meta not in p.parents}
        else:
            leaves.update(index.subtree(meta))
        return {p for p in leaves if env.contains(p)}, source

    # --- start-up hooks (*.pth) ---------------------------------------------------------------------------

    def pth_files(self, env: PythonEnv, envs: Sequence[PythonEnv]) -> None:
        """Remove (or report) the ``*.pth`` files of ``env`` whose imports need a module removed above."""
        visible = list(env.site_packages)
        if env.is_venv and env.system_site_packages:
            base = next((e for e in envs if not e.is_venv and e.stdlib_dir == env.stdlib_dir), None)
            visible += [d for d in (base.site_packages if base is not None else ()) if d not in visible]
        orphaned = self._orphaned_modules(env, visible)
        if not orphaned:
            return
        for site_dir in env.site_packages:
            for path in self.index.children(site_dir):
                if path not in self._judged and (pth := self._parsed(path)) is not None:
                    self._judged.add(path)
                    self._judge_pth(path, pth, orphaned)

    def _judge_pth(self, path: PurePosixPath, pth: PthFile, orphaned: set[str]) -> None:
        broken = [(line.number, line.modules & orphaned) for line in pth.imports if line.modules & orphaned]
        if not broken:
            return
        number, modules = broken[0]
        error = f'"Error processing line {number} of /{path}"'
        if len(broken) == len(pth.imports) and not pth.paths:
            missing = _names(set().union(*(m for _, m in broken)))
            self._remove(path, (
                f"start-up hook importing {missing}, which this stage removes and nothing left provides "
                f"(kept, it would make every start of Python print {error})"
            ))
            return
        others = len(pth.imports) - len(broken)
        self.skipped.append(Skip(path, (
            f"kept: line {number} imports {_names(modules)}, which this stage removes and nothing left provides, "
            f"but the file also has {len(pth.paths)} sys.path line(s) and {others} other import line(s); "
            f"Python will now print {error} at every start and ignore the lines after it"
        )))

    def _parsed(self, path: PurePosixPath) -> PthFile | None:
        """The ``*.pth`` at ``path`` as ``site`` reads it; None when it is no ``*.pth`` file or is removed."""
        if path.suffix != ".pth" or self._gone(path):
            return None
        if path not in self._pth:
            data = file_bytes(self.index.rootfs, self.blobs, path)
            self._pth[path] = None if data is None else parse_pth(data.decode("utf-8", errors="replace"))
        return self._pth[path]

    def _gone(self, path: PurePosixPath) -> bool:
        return path in self.planned or any(parent in self.planned for parent in path.parents)

    def _orphaned_modules(self, env: PythonEnv, visible: list[PurePosixPath]) -> set[str]:
        """Top-level modules removed from ``visible`` site dirs that no directory on the path still provides."""
        removed: set[str] = set()
        for site_dir in visible:
            for path in self.planned:
                if _inside(path, site_dir):
                    top = site_dir / path.parts[len(site_dir.parts)]
                    if (name := module_name(top, self.index.is_dir(top))) is not None:
                        removed.add(name)
        if not removed:
            return set()
        search = [*visible]
        if env.stdlib_dir is not None:
            search += [env.stdlib_dir, env.stdlib_dir / "lib-dynload"]
        search += self._pth_path_dirs(visible)
        return {name for name in removed if not any(self._provides(d, name) for d in search)}

    def _pth_path_dirs(self, site_dirs: Iterable[PurePosixPath]) -> list[PurePosixPath]:
        """Directories the ``sys.path`` lines of the kept ``*.pth`` files add (relative to their site dir)."""
        found: list[PurePosixPath] = []
        for site_dir in site_dirs:
            for path in self.index.children(site_dir):
                pth = self._parsed(path)
                for line in pth.paths if pth is not None else ():
                    joined = posixpath.normpath(posixpath.join("/" + str(site_dir), line))
                    found.append(PurePosixPath(joined.lstrip("/") or "."))
        return found

    def _provides(self, directory: PurePosixPath, name: str) -> bool:
        """Whether something left in ``directory`` is module ``name``: a file, or a directory with a file left."""
        index = self.index
        real = index.rootfs.resolve(directory) or directory
        for child in index.children(real):
            is_dir = index.is_dir(child)
            if self._gone(child) or module_name(child, is_dir) != name:
                continue
            if not is_dir:
                return True
            below = index.subtree(child, include_self=False)
            if any(not self._gone(p) and not index.is_dir(p) for p in below):
                return True
        return False
