"""remove-installers: pip/setuptools/wheel in every Python environment, and the OS package managers.

A distribution goes with exactly the files its ``RECORD`` lists (resolved against its site-packages, never
outside its environment), their bytecode caches, its console scripts and, unless ``keep_dist_info``, its
metadata (a scanner must not report a package that is gone). Without a ``RECORD`` (Debian packages) its
``top_level.txt`` packages are used. A distribution that another installed distribution requires at run time
(``Requires-Dist`` without an ``extra`` marker) is kept, with the reason. OS package manager programs go, but
dpkg's status database stays so scanners still see the OS packages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import PurePosixPath
from typing import ClassVar

from harden.plan import Change, Plan, Remove, Skip
from harden.pyenv import Distribution, PythonEnv, find_distributions, find_python_envs, normalize_name
from harden.stages._path_index import PathIndex, select_by_globs
from harden.stages._stage_settings import StageSettings
from harden.stages.base import StageContext

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


class RemoveInstallers:
    name: ClassVar[str] = "remove-installers"

    def plan(self, ctx: StageContext) -> Plan:
        settings = StageSettings.resolve(self.name, ctx.settings)
        if not settings.enabled:
            return Plan(self.name, notes=("disabled by policy",))
        index = PathIndex(ctx.rootfs)
        changes: list[Change] = []
        skipped: list[Skip] = []
        notes: list[str] = []
        wanted = {normalize_name(p) for p in settings.strings("packages")}
        keep_dist_info = settings.flag("keep_dist_info")

        envs = find_python_envs(ctx.rootfs, ctx.config, ctx.blobs)
        per_env = {env: find_distributions(ctx.rootfs, env, ctx.blobs) for env in envs}
        # a venv that sees system site-packages depends on the base's distributions too
        overlay = [d for env, dists in per_env.items() if env.is_venv and env.system_site_packages for d in dists]
        planned: set[PurePosixPath] = set()
        for env, distributions in per_env.items():
            gone = self._plan_env(index, env, distributions, overlay, wanted, keep_dist_info, planned, changes, skipped)
            if keep_dist_info:
                notes.extend(f"kept the metadata of removed {d.name} (keep_dist_info = true)" for d in gone)

        selection = select_by_globs(index, settings.globs("os_package_managers"), settings.globs("keep"))
        for path, pattern in selection.removed:
            if path not in planned:
                changes.append(Remove(path, f"OS package manager (matches {pattern!r})", CATEGORY))
        skipped.extend(Skip(path, f"kept: {why}") for path, why in selection.kept)
        return Plan(self.name, tuple(changes), tuple(skipped), tuple(notes))

    def _plan_env(
        self,
        index: PathIndex,
        env: PythonEnv,
        distributions: tuple[Distribution, ...],
        overlay: list[Distribution],
        wanted: set[str],
        keep_dist_info: bool,
        planned: set[PurePosixPath],
        changes: list[Change],
        skipped: list[Skip],
    ) -> list[Distribution]:
        """Plan the removals of one environment into ``changes``/``skipped``; the distributions removed."""
        present = {d.key for d in distributions}
        removing, required_by = _settle(wanted & present, [*distributions, *overlay])
        for key, requirer in sorted(required_by.items()):
            for kept in (d for d in distributions if d.key == key):
                why = f"kept {kept.name} {kept.version}: required by {requirer.name} {requirer.version}"
                skipped.append(Skip(kept.metadata_dir, why))
        owned_by_kept = {f for d in distributions if d.key not in removing for f in d.files}
        gone = [d for d in distributions if d.key in removing]
        for distribution in gone:
            leaves = self._leaves(index, env, distribution, keep_dist_info) - owned_by_kept
            for rejected in distribution.rejected_files:
                skipped.append(Skip(distribution.metadata_dir, f"kept RECORD entry {rejected!r}: outside the env"))
            source = "RECORD" if distribution.has_record else "top_level.txt"
            reason = (
                f"{distribution.name} {distribution.version}: installer, not needed at run time "
                f"({source} of {distribution.metadata_dir.name})"
            )
            for path in index.collapse(leaves, _below(distribution.site_packages)):
                if path not in planned:
                    planned.add(path)
                    changes.append(Remove(path, reason, CATEGORY))
        return gone

    @staticmethod
    def _leaves(
        index: PathIndex, env: PythonEnv, distribution: Distribution, keep_dist_info: bool
    ) -> set[PurePosixPath]:
        rootfs = index.rootfs
        site_dir = distribution.site_packages
        meta = distribution.metadata_dir
        leaves: set[PurePosixPath] = set()
        if distribution.has_record:
            leaves.update(f for f in distribution.files if f in rootfs)
        else:
            names = distribution.top_level or (distribution.name.replace("-", "_"),)
            for name in names:
                leaves.update(index.subtree(site_dir / name))
                for module in (site_dir / f"{name}.py", site_dir / f"{name}.pth"):
                    if module in rootfs:
                        leaves.add(module)
        for path in list(leaves):
            if path.suffix == ".py":
                cache = path.parent / "__pycache__"
                for cached in index.children(cache):
                    if cached.name.startswith(f"{path.stem}.") and cached.suffix in (".pyc", ".pyo"):
                        leaves.add(cached)
        for script in distribution.console_scripts:
            for candidate in (env.bin_dir / script, env.bin_dir / f"{script}.exe"):
                if candidate in rootfs:
                    leaves.add(candidate)
        if keep_dist_info:
            leaves = {p for p in leaves if p != meta and meta not in p.parents}
        else:
            leaves.update(index.subtree(meta))
        return {p for p in leaves if env.contains(p)}
