"""remove-unreachable: what it removes, from which roots, is described in ``stages/remove-unreachable.toml``."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import ClassVar

from harden.busybox import applet_links, find_busybox
from harden.dpkg.rootfs import PathLookup
from harden.elf.linkage import Closure, Linker
from harden.errors import UnsupportedImage
from harden.image.files import file_bytes
from harden.image.model import EntryType
from harden.image.path_text import within_any
from harden.ospkg import OsPackage, PackageDb, detect
from harden.plan import Change, Plan, Remove, Skip
from harden.pyenv import PythonEnv, find_python_envs
from harden.stages._globs import GlobSet
from harden.stages._path_index import PathIndex
from harden.stages._runtime_names import RuntimeName, runtime_names
from harden.stages.base import StageContext, StageSettings

CATEGORY = "unreachable"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SHOWN = 3


@dataclass
class _Roots:
    """Why each reachable path is reachable (the first reason found)."""

    why: dict[PurePosixPath, str] = field(default_factory=dict)
    elf: list[PurePosixPath] = field(default_factory=list)
    dlopen: list[tuple[str, PurePosixPath]] = field(default_factory=list)
    unrun: list[str] = field(default_factory=list)
    """Programs Python code names that are no roots, and why."""
    kept_files: dict[PurePosixPath, str] = field(default_factory=dict)
    """ELF files and symlinks of kept packages, roots in turn: path -> the package's name."""

    def add(self, path: PurePosixPath, reason: str, *, elf: bool = False) -> None:
        if path not in self.why:
            self.why[path] = reason
            if elf:
                self.elf.append(path)


@dataclass(frozen=True, slots=True)
class RemoveUnreachableSettings(StageSettings):
    runtime_data: GlobSet
    runtime_libraries: GlobSet
    """Globs on file names: matched against a path of one component."""
    optional_programs: tuple[str, ...]
    keep_packages: tuple[str, ...]
    keep: GlobSet


class RemoveUnreachable:
    name: ClassVar[str] = "remove-unreachable"
    settings_type: ClassVar[type[StageSettings]] = RemoveUnreachableSettings

    def plan(self, ctx: StageContext[RemoveUnreachableSettings]) -> Plan:
        db = detect(ctx.rootfs, ctx.blobs)
        if not db.prunable:
            return Plan(self.name, notes=(f"{db.release.label}: {db.kind.value} package database: not read, "
                                          "nothing removed",))
        return _Reach(ctx, db).plan(self.name)


class _Reach:
    def __init__(self, ctx: StageContext[RemoveUnreachableSettings], db: PackageDb) -> None:
        self.ctx = ctx
        self.rootfs = ctx.rootfs
        self.settings = ctx.settings
        self.db = db
        self.env = dict(item.partition("=")[::2] for item in ctx.config.env)
        self.linker = Linker(ctx.rootfs, ctx.blobs, self.env)
        reading = self.linker.start_reading()  # a worker reads the ELF files while this process reads the Python
        try:
            self.lookup = PathLookup(ctx.rootfs)
            self.envs = find_python_envs(ctx.rootfs, ctx.config, ctx.blobs)
            self.trees = _python_trees(self.envs)
            self.runtime = self._runtime_names()
        except BaseException:
            reading.cancel()
            raise
        reading.wait()
        self.keep = self.settings.keep
        self.data = self.settings.runtime_data
        self.host = next((e.interpreter for e in self.envs if e.interpreter is not None), None)

    # ------------------------------------------------------------------ plan

    def plan(self, stage: str) -> Plan:
        owners = self._owners()
        roots = self._roots(owners)
        closure, kept, why_kept = self._fixpoint(roots, owners)
        changes, skipped = self._removals(owners, kept, why_kept)
        gone = {change.path for change in changes if isinstance(change, Remove)}
        self._check(closure, gone)
        notes = [f"closure from {len(roots.why)} roots: {len(closure.objects)} ELF objects, {len(closure.files)} "
                 f"paths the loader touches; {len(kept)} of {len(owners.packages)} packages reachable, "
                 f"{len(owners.packages) - len(kept)} removed"]
        notes += [f"kept {name}: {reason}" for name, reason in sorted(why_kept.items())]
        if roots.unrun:
            shown = sorted(set(roots.unrun))
            notes.append(f"not roots: {len(shown)} programs Python code names: " + "; ".join(shown[:10])
                         + (f" (+{len(shown) - 10} more)" if len(shown) > 10 else ""))
        return Plan(stage, tuple(changes), tuple(skipped), tuple(notes))

    def _check(self, closure: Closure, gone: set[PurePosixPath]) -> None:
        """Every ELF file left must still link; a removal this stage planned must never break one."""
        left = self.rootfs.with_changes(remove=frozenset(gone)) if gone else self.rootfs
        linker = self.linker.with_rootfs(left)
        objects = [e.path for e in left if e.has_content and linker.is_elf(e.path)]  # left holds nothing gone
        after = linker.check(objects, host=self.host)
        before = {(m.needing, m.name) for m in self.linker.check(objects, host=self.host).missing}
        broken = [m for m in after.missing if (m.needing, m.name) not in before]
        if broken:
            shown = "; ".join(f"{m.needing} needs {m.name}" for m in broken[:SHOWN])
            raise UnsupportedImage(f"remove-unreachable would break {len(broken)} ELF links: {shown}",
                                   details=["keep the packages involved with keep_packages"])

    # ------------------------------------------------------------------ roots

    def _roots(self, owners: _Owners) -> _Roots:
        roots = _Roots()
        for env in self.envs:
            if env.interpreter is not None:
                roots.add(env.interpreter, f"Python interpreter of {_where(env)}", elf=True)
        for entry in self.rootfs:
            if entry.has_content and self._in_trees(entry.path) and self.linker.is_loadable(entry.path):
                roots.add(entry.path, "an ELF file of a Python environment", elf=True)
            elif entry.type is EntryType.SYMLINK and self._in_trees(entry.path):
                roots.add(entry.path, "a symlink in a Python environment", elf=self.linker.is_elf(entry.path))
            elif self.data.matches(entry.path) and not entry.is_dir:
                roots.add(entry.path, "runtime data")
            elif (entry.type is EntryType.FILE and entry.path not in owners.by_path
                  and not self.keep.matches(entry.path) and self.linker.is_loadable(entry.path)):
                roots.add(entry.path, "an ELF file no package owns (never removed, so what it needs stays)",
                          elf=True)
        libraries = self.settings.runtime_libraries
        for entry in self.rootfs:
            if not entry.is_dir and libraries.matches(PurePosixPath(entry.path.name)):
                roots.add(entry.path, "loaded by name at run time (runtime_libraries)", elf=True)
        for program, reason in self._config_programs():
            self._program(roots, program, reason)
        optional = set(self.settings.optional_programs)
        shell = self._which("sh") is not None
        for name in self.runtime:
            if name.kind == "library":
                if self.host is not None:
                    self._library(roots, name)
            elif name.shell and not shell:
                roots.unrun.append(f"{name.name} ({name.call} in /{name.source}: through a shell, and the image "
                                   "has none)")
            elif PurePosixPath(name.name).name in optional:
                roots.unrun.append(f"{name.name} ({name.call} in /{name.source}: optional_programs)")
            else:
                self._program(roots, name.name, f"{name.call}({name.name!r}) in /{name.source}")
        return roots

    def _runtime_names(self) -> tuple[RuntimeName, ...]:
        files = [e.path for e in self.rootfs if e.is_file and e.path.suffix == ".py" and self._in_trees(e.path)]
        return runtime_names(self.rootfs, self.ctx.blobs, files)

    def _library(self, roots: _Roots, name: RuntimeName) -> None:
        assert self.host is not None
        reason = f"{name.call}({name.name.removeprefix('find:')!r}) in /{name.source}"
        if name.name.startswith("find:"):
            # find_library answers with a soname (ldconfig -p): lib<name>.so.<version>, not the bare
            # lib<name>.so a -dev package adds for the linker
            stem = f"lib{name.name[5:]}.so."
            for entry in self.rootfs:
                if (not entry.is_dir and entry.path.name.startswith(stem) and not self._in_trees(entry.path)
                        and self.linker.is_loadable(entry.path)):
                    roots.add(entry.path, reason, elf=True)
        else:
            roots.dlopen.append((name.name, self.host))

    def _config_programs(self) -> list[tuple[str, str]]:
        config = self.ctx.config
        found = []
        for field_name, argv in (("Entrypoint", config.entrypoint), ("Cmd", config.cmd)):
            if argv:
                found.append((argv[0], f"the image's {field_name}"))
        health = config.healthcheck
        test = list(health.get("Test") or []) if health else []
        if test[:1] == ["CMD"] and len(test) > 1:
            found.append((str(test[1]), "the image's Healthcheck"))
        return found

    def _program(self, roots: _Roots, name: str, reason: str) -> None:
        path = self._which(name)
        if path is None:
            return
        real = self.rootfs.resolve(path)
        roots.add(path, reason, elf=self.linker.is_elf(path))
        if real is not None and not self.linker.is_elf(real):
            interpreter = self._shebang(real)
            if interpreter:
                self._program(roots, interpreter, f"#! interpreter of /{path}")

    def _which(self, name: str) -> PurePosixPath | None:
        candidates = [name] if "/" in name else [f"{d}/{name}" for d in self.env.get("PATH", DEFAULT_PATH).split(":")]
        for candidate in candidates:
            path = PurePosixPath(candidate.lstrip("/"))
            real = self.rootfs.resolve(path)
            entry = self.rootfs.get(real) if real is not None else None
            if entry is not None and entry.has_content:
                return path
        return None

    def _shebang(self, path: PurePosixPath) -> str | None:
        data = file_bytes(self.rootfs, self.ctx.blobs, path)
        if not data or not data.startswith(b"#!"):
            return None
        words = shlex.split(data[2:].split(b"\n", 1)[0].decode("utf-8", "replace"))
        if not words:
            return None
        if PurePosixPath(words[0]).name == "env" and len(words) > 1:
            return next((w for w in words[1:] if not w.startswith("-")), words[0])
        return words[0]

    # ------------------------------------------------------------------ packages

    def _owners(self) -> _Owners:
        owners = _Owners()
        for package in self.db.packages():
            if not package.installed:
                continue
            listed = self.db.owned(package)
            if listed is None:
                owners.unknown.append(package)
                continue
            owners.packages[package.key] = package
            files: list[PurePosixPath] = []
            for path in listed:
                where = self.db.where_installed(package, path).lstrip("/")
                entry = self.lookup.entry(where)
                if entry is None or self.lookup.is_dir(entry):
                    continue
                files.append(entry.path)
                owners.by_path.setdefault(entry.path, package.key)
            owners.files[package.key] = files
        self._own_applet_links(owners)
        return owners

    def _own_applet_links(self, owners: _Owners) -> None:
        """busybox's applet links that no package lists (``busybox --install -s`` made them) belong to the
        package that installed the binary: they go with it, and one the runtime reaches keeps it."""
        for binary in find_busybox(self.rootfs, self.ctx.blobs):
            owner = owners.by_path.get(binary.path)
            if owner is None:
                continue
            links = [link.path for link in applet_links(self.rootfs, binary) if link.path not in owners.by_path]
            owners.files[owner].extend(links)
            owners.applet_links[owner] = len(links)
            for path in links:
                owners.by_path[path] = owner

    def _fixpoint(self, roots: _Roots, owners: _Owners) -> tuple[Closure, set[str], dict[str, str]]:
        """Packages owning a reachable path are kept; their ELF files become roots; until nothing changes."""
        kept: set[str] = set()
        why_kept: dict[str, str] = {}
        elf_roots = list(roots.elf)
        protected = set(roots.why)
        for path in roots.why:  # what a root's symlinks lead to is reachable too
            protected |= self.linker.symlink_chain(path)
        keep_packages = set(self.settings.keep_packages)
        for key, package in owners.packages.items():
            if package.name in keep_packages:
                kept.add(key)
                why_kept[package.name] = "named in keep_packages"
        while True:
            closure = self.linker.closure(elf_roots, dlopen=roots.dlopen, host=self.host)
            reachable = protected | set(closure.files)
            grown = False
            for path in sorted(reachable):
                owner = owners.by_path.get(path)
                if owner is None or owner in kept:
                    continue
                kept.add(owner)
                why_kept[owners.packages[owner].name] = self._why(path, roots, closure)
                grown = True
            for key in kept:
                for path in owners.files.get(key, ()):
                    if path not in protected and self.linker.is_loadable(path):
                        protected.add(path)
                        elf_roots.append(path)
                        roots.kept_files.setdefault(path, owners.packages[key].name)
                        grown = True
                    if path not in protected and self._is_symlink(path):
                        chain = self.linker.symlink_chain(path)
                        grown = grown or not chain <= protected
                        protected |= chain
                        roots.kept_files.setdefault(path, owners.packages[key].name)
                    protected.add(path)
            if not grown:
                return closure, kept, why_kept

    def _removals(self, owners: _Owners, kept: set[str],
                  why_kept: Mapping[str, str]) -> tuple[list[Change], list[Skip]]:
        index = PathIndex(self.rootfs)
        changes: list[Change] = []
        skipped: list[Skip] = []
        claimed = {path for key in kept for path in owners.files.get(key, ())}
        for key, package in sorted(owners.packages.items()):
            if key in kept:
                continue
            files = [p for p in owners.files.get(key, ()) if p not in claimed]
            guarded = [p for p in files if self.keep.matches(p) or self._in_trees(p)]
            gone = [p for p in files if p not in guarded]
            if not gone:
                continue
            links = owners.applet_links.get(key, 0)
            counted = (f"{len(files) - links} files and its {links} busybox applet links no package lists"
                       if links else f"{len(files)} files")
            reason = (f"package {package.name} {package.version}: none of its {counted} is reachable from "
                      f"the runtime (interpreters, Python environments, the config's programs, runtime data)")
            targets = index.collapse(set(gone), lambda d: not self.keep.matches(d) and not self._in_trees(d))
            changes.extend(Remove(path, reason, CATEGORY) for path in sorted(targets))
            skipped.extend(Skip(path, f"kept: {package.name}'s file in a keep glob or a Python environment")
                           for path in guarded)
        skipped.extend(Skip(self.db.sources[0] if self.db.sources else PurePosixPath("."),
                            f"package {p.name}: no file list, kept (its files are unknown)") for p in owners.unknown)
        dangling, left = self._dangling({c.path: c.reason for c in changes if isinstance(c, Remove)})
        changes.extend(dangling)
        skipped.extend(left)
        return changes, skipped

    def _dangling(self, removed: Mapping[PurePosixPath, str]) -> tuple[list[Remove], list[Skip]]:
        """Symlinks no package lists (update-alternatives' links, say) that the removals would leave
        pointing at nothing go too; one in a keep glob or a Python environment stays, reported."""
        gone = set(removed)
        changes: list[Remove] = []
        skipped: list[Skip] = []
        for entry in self.rootfs:
            if entry.type is not EntryType.SYMLINK or _in(entry.path, gone):
                continue
            chain = self.linker.symlink_chain(entry.path) - {entry.path}
            target = next((hop for hop in sorted(chain) if _in(hop, gone)), None)
            if target is None:
                continue
            if self.keep.matches(entry.path) or self._in_trees(entry.path):
                skipped.append(Skip(entry.path, f"left dangling: it points at /{target}, removed, but it is in a "
                                                "keep glob or a Python environment"))
                continue
            removal = next((removed[p] for p in (target, *target.parents) if p in removed), "")
            changes.append(Remove(entry.path, f"symlink to /{target}, removed ({removal})", CATEGORY))
        return changes, skipped

    def _is_symlink(self, path: PurePosixPath) -> bool:
        entry = self.rootfs.get(path)
        return entry is not None and entry.type is EntryType.SYMLINK

    def _why(self, path: PurePosixPath, roots: _Roots, closure: Closure) -> str:
        if path in roots.why:
            return f"/{path}: {roots.why[path]}"
        for link in closure.links:
            if link.found is not None and path in self.linker.symlink_chain(link.found):
                return f"/{path}: {link.needing} needs {link.name}"
        for root, reason in roots.why.items():
            if path in self.linker.symlink_chain(root):
                return f"/{path}: reached from /{root} ({reason})"
        for root, package in roots.kept_files.items():
            if path in self.linker.symlink_chain(root):
                return f"/{path}: reached from /{root} (a file of {package}, kept)"
        return f"/{path}: the loader of a reachable program"

    def _in_trees(self, path: PurePosixPath) -> bool:
        return within_any(path, self.trees)


@dataclass
class _Owners:
    packages: dict[str, OsPackage] = field(default_factory=dict)
    files: dict[str, list[PurePosixPath]] = field(default_factory=dict)
    by_path: dict[PurePosixPath, str] = field(default_factory=dict)
    unknown: list[OsPackage] = field(default_factory=list)
    applet_links: dict[str, int] = field(default_factory=dict)
    """Package key -> busybox applet links no package lists, counted among its files."""


def _python_trees(envs: Iterable[PythonEnv]) -> tuple[PurePosixPath, ...]:
    trees: list[PurePosixPath] = []
    for env in envs:
        if env.is_venv:
            trees.append(env.prefix)
        if env.stdlib_dir is not None:
            trees.append(env.stdlib_dir)
        trees.extend(env.site_packages)
    return tuple(dict.fromkeys(trees))


def _where(env: PythonEnv) -> str:
    return f"the venv /{env.prefix}" if env.is_venv else f"Python {env.version}"




def _in(path: PurePosixPath, gone: set[PurePosixPath]) -> bool:
    return path in gone or any(parent in gone for parent in path.parents)

