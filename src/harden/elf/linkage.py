"""Static linkage of a root filesystem: which files the dynamic loader maps to start a program or load a library,
and whether everything an object needs resolves inside the image, symbol versions included.

Resolution follows the loader the program names in ``PT_INTERP``: glibc's ``ld.so`` (``harden.elf.glibc``) or
musl's (``harden.elf.musl``). What a ``Linker`` reads (LIEF, ``harden.elf.dynamic``) is cached per file, so one
linker answers many closures cheaply. Nothing runs: this works for any architecture.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from harden.elf import glibc, musl
from harden.elf.dynamic import DynamicCache, DynamicInfo, dynamic_of
from harden.elf.musl import Requester, Resolution
from harden.image.blobs import BlobStore
from harden.image.model import EntryType, Rootfs

if TYPE_CHECKING:
    from harden.elf.read_ahead import ReadingAhead


@dataclass(frozen=True, slots=True)
class Link:
    needing: str
    """Absolute path of the object whose ``DT_NEEDED`` (or ``PT_INTERP``, or ``dlopen``) this is."""
    name: str
    found: str | None
    """Absolute path the loader opens; None when it finds nothing."""
    via: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class VersionGap:
    """A symbol version an object requires from a library that does not define it."""

    needing: str
    library: str
    version: str


@dataclass(frozen=True, slots=True)
class Closure:
    files: frozenset[PurePosixPath]
    """Root-relative paths the loader touches: every object as found, each symlink on the way, the real files."""
    objects: tuple[str, ...] = ()
    """Absolute paths of the ELF objects loaded, in load order."""
    links: tuple[Link, ...] = ()
    missing: tuple[Link, ...] = ()
    version_gaps: tuple[VersionGap, ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()
    """(path, why) of files that look like ELF but could not be read."""

    @property
    def complete(self) -> bool:
        return not (self.missing or self.version_gaps or self.unreadable)

    def problems(self) -> list[str]:
        lines = [f"{link.needing}: needs {link.name}, not found ({link.detail or link.via})" for link in self.missing]
        lines += [f"{gap.needing}: needs version {gap.version} of {gap.library}, which does not define it"
                  for gap in self.version_gaps]
        lines += [f"{path}: {why}" for path, why in self.unreadable]
        return lines


@dataclass
class _Walk:
    files: set[PurePosixPath] = field(default_factory=set)
    objects: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    missing: list[Link] = field(default_factory=list)
    gaps: list[VersionGap] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    done: set[PurePosixPath] = field(default_factory=set)


class Linker:
    """Linkage questions about one root filesystem. ``environment``: the image's Env (``LD_LIBRARY_PATH``);
    ``cache``: a ``DynamicCache`` to share with other linkers over the same blob store."""

    def __init__(self, rootfs: Rootfs, blobs: BlobStore, environment: Mapping[str, str] | None = None,
                 cache: DynamicCache | None = None) -> None:
        self.rootfs = rootfs
        self.blobs = blobs
        self.environment = dict(environment or {})
        self.library_path = self.environment.get("LD_LIBRARY_PATH", "")
        self.cache: DynamicCache = cache if cache is not None else {}
        self._info: dict[PurePosixPath, DynamicInfo | None] = {}
        self._errors: dict[PurePosixPath, str] = {}
        self._glibc: dict[tuple[str, int], glibc.GlibcPath] = {}
        self._musl: dict[str, musl.SystemPath] = {}
        self._real: dict[str, PurePosixPath | None] = {}
        self._chains: dict[str, frozenset[PurePosixPath]] = {}
        self._plain_resolved: dict[tuple[str, str, int, bool], Resolution] = {}

    # ------------------------------------------------------------------ reading

    def real(self, path: PurePosixPath | str) -> PurePosixPath | None:
        """``path`` with every symlink followed (None: dangling or looping); remembered, the rootfs being
        immutable."""
        key = str(path)
        if key not in self._real:
            self._real[key] = self.rootfs.resolve(path)
        return self._real[key]

    def info(self, path: PurePosixPath | str) -> DynamicInfo | None:
        """The dynamic information of the file at ``path`` (links followed); None when it is not an ELF file
        (or cannot be read: ``error`` says why)."""
        real = self.real(path)
        if real is None:
            return None
        if real not in self._info:
            self._info[real] = self._read(real)
        return self._info[real]

    def error(self, path: PurePosixPath | str) -> str | None:
        real = self.real(path)
        return self._errors.get(real) if real is not None else None

    def with_rootfs(self, rootfs: Rootfs) -> Linker:
        """A linker for another root filesystem over the same blob store, sharing what was read."""
        return Linker(rootfs, self.blobs, self.environment, self.cache)

    def _read(self, real: PurePosixPath) -> DynamicInfo | None:
        entry = self.rootfs.get(real)
        if entry is None or not entry.has_content or entry.digest is None or entry.digest not in self.blobs:
            return None
        if entry.digest not in self.cache:
            self.cache[entry.digest] = self._parse(entry.digest, real)
        found = self.cache[entry.digest]
        if isinstance(found, str):
            self._errors[real] = found
            return None
        return found

    def _parse(self, digest: str, real: PurePosixPath) -> DynamicInfo | str | None:
        with self.blobs.open(digest) as stream:
            return dynamic_of(stream, f"/{real}")

    def read_all(self) -> None:
        """Read every file of the rootfs into the cache now, in a worker process: this process then never loads
        LIEF (``harden.elf.read_ahead``)."""
        self.start_reading().wait()

    def start_reading(self) -> ReadingAhead:
        """``read_all`` started: the worker reads while this process goes on; ``wait()`` before asking."""
        from harden.elf.read_ahead import start_read_ahead

        return start_read_ahead(self.cache, [self.rootfs], self.blobs)

    def is_elf(self, path: PurePosixPath | str) -> bool:
        return self.info(path) is not None

    def is_loadable(self, path: PurePosixPath | str) -> bool:
        """An ELF executable or shared object (what a loader maps; not a ``.o`` or a core file)."""
        info = self.info(path)
        return info is not None and info.loadable

    # ------------------------------------------------------------------ resolving

    def symlink_chain(self, path: PurePosixPath | str) -> frozenset[PurePosixPath]:
        """``path``, every symlink met while resolving it (in any component), and the real path."""
        key = str(path)
        if key not in self._chains:
            self._chains[key] = frozenset(self._symlink_chain(path))
        return self._chains[key]

    def _symlink_chain(self, path: PurePosixPath | str) -> set[PurePosixPath]:
        found: set[PurePosixPath] = set()
        pending = [PurePosixPath(str(path).lstrip("/") or ".")]
        hops = 0
        while pending and hops < 40:
            current = pending.pop()
            found.add(current)
            for prefix in [*reversed(current.parents[:-1]), current]:
                entry = self.rootfs.get(prefix)
                if entry is not None and entry.type is EntryType.SYMLINK and entry.linkname is not None:
                    hops += 1
                    found.add(prefix)
                    target = PurePosixPath(entry.linkname)
                    base = PurePosixPath(".") if target.is_absolute() else prefix.parent
                    rest = current.relative_to(prefix)
                    joined = PurePosixPath(*(base / target).parts[1 if target.is_absolute() else 0:]) / rest
                    pending.append(PurePosixPath(_normalize(str(joined))))
                    break
        real = self.real(path)
        if real is not None:
            found.add(real)
        return found

    def _loadable(self, like: DynamicInfo) -> glibc.Compatible:
        def check(candidate: PurePosixPath) -> bool:
            other = self.info(candidate)
            return (other is not None and other.loadable and other.machine == like.machine
                    and other.elf_class == like.elf_class)
        return check

    def _resolve(self, name: str, chain: list[tuple[Requester, DynamicInfo]], interpreter: str | None) -> Resolution:
        first_info = chain[0][1]
        if musl.is_musl_interpreter(interpreter):
            assert interpreter is not None
            if interpreter not in self._musl:
                self._musl[interpreter] = musl.system_path(self.rootfs, self.blobs, interpreter)
            requesters = [Requester(r.path, i.runpath or i.rpath, r.is_program, r.setuid) for r, i in chain]
            return musl.resolve_needed(self.rootfs, name, requesters, self._musl[interpreter],
                                       library_path=self.library_path)
        key = (first_info.machine, first_info.elf_class)
        if key not in self._glibc:
            self._glibc[key] = glibc.system_path(self.rootfs, self.blobs, *key)
        items = [(r, i.rpath, i.runpath) for r, i in chain]
        plain = "/" not in name and not any(rpath or runpath for _, rpath, runpath in items)
        secure = any(r.is_program and r.setuid for r, _, _ in items)
        memo = (name, *key, secure)
        if plain and memo in self._plain_resolved:  # no run path in the chain: the answer depends on the name only
            return self._plain_resolved[memo]
        found = glibc.resolve_needed(self.rootfs, name, items, self._glibc[key], first_info.machine,
                                     self._loadable(first_info), library_path=self.library_path)
        if plain:
            self._plain_resolved[memo] = found
        return found

    # ------------------------------------------------------------------ closures

    def closure(self, roots: Iterable[PurePosixPath | str], *,
                dlopen: Iterable[tuple[str, PurePosixPath | str]] = (),
                host: PurePosixPath | str | None = None) -> Closure:
        """Everything the loader maps to run each root (a program, or a library loaded by ``host``, the
        interpreter that ``dlopen``s it), and the libraries ``dlopen`` names (name, by which program)."""
        walk = _Walk()
        host_path = PurePosixPath(str(host).lstrip("/")) if host is not None else None
        host_info = self.info(host_path) if host_path is not None else None
        for root in roots:
            path = PurePosixPath(str(root).lstrip("/"))
            info = self.info(path)
            walk.files |= self.symlink_chain(path)
            if info is None:
                self._note_unreadable(walk, path)
                continue
            chain = [(Requester(path, is_program=info.interpreter is not None), info)]
            if info.interpreter is None and host_path is not None and host_info is not None:
                chain.append((Requester(host_path, is_program=True), host_info))
            self._load(walk, path, info, chain, info.interpreter or (host_info.interpreter if host_info else None))
        for name, by in dlopen:
            program = PurePosixPath(str(by).lstrip("/"))
            info = self.info(program)
            if info is None:
                continue
            found = self._resolve(name, [(Requester(program, is_program=True), info)], info.interpreter)
            link = Link("/" + str(program), name, _abs(found.path), found.via, found.detail)
            walk.links.append(link)
            if found.path is not None:
                walk.files |= self.symlink_chain(found.path)
                library = self.info(found.path)
                if library is not None:
                    self._load(walk, found.path, library, [(Requester(found.path), library),
                                                          (Requester(program, is_program=True), info)],
                               info.interpreter)
        return Closure(frozenset(walk.files), tuple(walk.objects), tuple(walk.links), tuple(walk.missing),
                       tuple(walk.gaps), tuple(sorted(walk.unreadable.items())))

    def _note_unreadable(self, walk: _Walk, path: PurePosixPath) -> None:
        why = self.error(path)
        if why:
            walk.unreadable["/" + str(path)] = why

    def _load(self, walk: _Walk, path: PurePosixPath, info: DynamicInfo,
              chain: list[tuple[Requester, DynamicInfo]], interpreter: str | None) -> None:
        pending = [(path, info, chain)]
        while pending:
            current, current_info, current_chain = pending.pop(0)
            real = self.real(current)
            if real is None or real in walk.done:
                continue
            walk.done.add(real)
            walk.objects.append("/" + str(current))
            if current_info.interpreter and current_chain[0][0].is_program:
                self._interpreter(walk, current, current_info.interpreter)
            for name in current_info.needed:
                found = self._resolve(name, current_chain, interpreter)
                link = Link("/" + str(current), name, _abs(found.path), found.via, found.detail)
                walk.links.append(link)
                if found.path is None:
                    walk.missing.append(link)
                    continue
                walk.files |= self.symlink_chain(found.path)
                library = self.info(found.path)
                if library is None:
                    if found.via != "loader":
                        self._note_unreadable(walk, found.path)
                    continue
                self._versions(walk, current, current_info, name, found.path, library)
                pending.append((found.path, library, [(Requester(found.path), library), *current_chain]))

    def _interpreter(self, walk: _Walk, program: PurePosixPath, interpreter: str) -> None:
        walk.files |= self.symlink_chain(interpreter)
        if self.real(interpreter) is None:
            link = Link("/" + str(program), interpreter, None, "missing", "PT_INTERP: the loader is not in the image")
            walk.missing.append(link)

    def _versions(self, walk: _Walk, needing: PurePosixPath, needing_info: DynamicInfo, name: str,
                  library_path: PurePosixPath, library: DynamicInfo) -> None:
        defined = set(library.version_defs)
        for version in needing_info.versions_from(name):
            if version not in defined:
                walk.gaps.append(VersionGap("/" + str(needing), "/" + str(library_path), version))

    def check(self, objects: Iterable[PurePosixPath | str], *, host: PurePosixPath | str | None = None) -> Closure:
        """Every ``DT_NEEDED`` (and symbol version) of every object resolves: the static linkage check."""
        return self.closure(objects, host=host)


def _abs(path: PurePosixPath | None) -> str | None:
    return None if path is None else "/" + str(path)


def _normalize(text: str) -> str:
    parts: list[str] = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts) or "."
