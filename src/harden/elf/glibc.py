"""glibc's dynamic loader (ld.so(8)), as a rootfs sees it: where it finds a ``DT_NEEDED`` library.

For a name without ``/``, in order: the ``DT_RPATH`` of the needing object when it has no ``DT_RUNPATH``, then of
the objects that loaded it (those without ``DT_RUNPATH``), up to the program; ``LD_LIBRARY_PATH`` (not for setuid
programs); the needing object's own ``DT_RUNPATH`` (never inherited); the ld.so cache, which ``ldconfig`` builds
from the directories of ``/etc/ld.so.conf`` (``include`` globs followed) — harden searches those directories;
then the trusted directories (the multiarch ``lib/<triplet>`` pair, ``lib64``, ``lib``). ``$ORIGIN`` is the
directory of the object as it was found (the program's real path), ``$LIB`` and ``$PLATFORM`` expand as on
Debian. A candidate of another ELF class or machine is passed over, as ld.so does.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from harden.elf.musl import Requester, Resolution
from harden.image.blobs import BlobStore
from harden.image.files import file_bytes
from harden.image.model import Rootfs

TRIPLETS = {"X86_64": "x86_64-linux-gnu", "AARCH64": "aarch64-linux-gnu", "I386": "i386-linux-gnu",
            "ARM": "arm-linux-gnueabihf", "PPC64": "powerpc64le-linux-gnu", "S390": "s390x-linux-gnu",
            "RISCV": "riscv64-linux-gnu"}
PLATFORMS = {"X86_64": "x86_64", "AARCH64": "aarch64", "I386": "i686", "ARM": "v7l", "PPC64": "power8",
             "S390": "z13", "RISCV": "riscv64"}
LD_SO_CONF = "etc/ld.so.conf"

Compatible = Callable[[PurePosixPath], bool]
"""Whether a candidate file is loadable by the needing object (same ELF class and machine)."""


@dataclass(frozen=True, slots=True)
class GlibcPath:
    """The directories ld.so falls back on after the run paths: the cache's (ld.so.conf) and the trusted ones."""

    cache_directories: tuple[str, ...]
    trusted_directories: tuple[str, ...]

    @property
    def directories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.cache_directories, *self.trusted_directories)))


def system_path(rootfs: Rootfs, blobs: BlobStore, machine: str, elf_class: int) -> GlibcPath:
    triplet = TRIPLETS.get(machine, "")
    trusted = [f"/lib/{triplet}", f"/usr/lib/{triplet}"] if triplet else []
    if elf_class == 64:
        trusted += ["/lib64", "/usr/lib64"]
    trusted += ["/lib", "/usr/lib"]
    return GlibcPath(tuple(_conf_directories(rootfs, blobs, LD_SO_CONF, set())), tuple(trusted))


def _conf_directories(rootfs: Rootfs, blobs: BlobStore, path: str, seen: set[str]) -> list[str]:
    if path in seen:
        return []
    seen.add(path)
    real = rootfs.resolve(path)
    data = file_bytes(rootfs, blobs, real) if real is not None else None
    if data is None:
        return []
    found: list[str] = []
    for raw in data.decode("utf-8", "surrogateescape").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("hwcap "):
            continue
        if line.startswith("include "):
            for pattern in line.split()[1:]:
                full = posixpath.join("/etc", pattern) if not pattern.startswith("/") else pattern
                for match in _glob(rootfs, full):
                    found += _conf_directories(rootfs, blobs, match, seen)
            continue
        found += [part for part in re.split(r"[:,\s]+", line) if part.startswith("/")]
    return found


def _glob(rootfs: Rootfs, pattern: str) -> list[str]:
    folder, name = posixpath.split(pattern.lstrip("/"))
    real = rootfs.resolve(folder)
    if real is None:
        return []
    names = sorted(e.path.name for e in rootfs.under(real) if e.path.parent == real)
    return [posixpath.join(folder, n) for n in names if fnmatch.fnmatchcase(n, name)]


def expand(rootfs: Rootfs, requester: Requester, text: str, machine: str) -> tuple[str, ...]:
    """Directories of a run path with ``$ORIGIN``, ``$LIB`` and ``$PLATFORM`` expanded."""
    origin = _origin(rootfs, requester)
    triplet = TRIPLETS.get(machine, "")
    values = {"ORIGIN": origin, "LIB": f"lib/{triplet}" if triplet else "lib", "PLATFORM": PLATFORMS.get(machine, "")}
    found = []
    for part in text.split(":"):
        if not part:
            continue
        if ("$ORIGIN" in part or "${ORIGIN}" in part) and origin is None:
            continue  # a setuid program's $ORIGIN is not expanded
        expanded = re.sub(r"\$\{?(ORIGIN|LIB|PLATFORM)\}?", lambda m: values[m.group(1)] or "", part)
        found.append(expanded)
    return tuple(found)


def _origin(rootfs: Rootfs, requester: Requester) -> str | None:
    if requester.is_program:
        if requester.setuid:
            return None
        path = "/" + str(rootfs.resolve(requester.path) or requester.path)
    else:
        path = "/" + str(requester.path)
    return path[: path.rfind("/")] or "/"


def _search(rootfs: Rootfs, name: str, directories: Sequence[str], loadable: Compatible) -> PurePosixPath | None:
    for directory in directories:
        candidate = PurePosixPath(posixpath.normpath(posixpath.join("/", directory, name)).lstrip("/"))
        real = rootfs.resolve(candidate)
        entry = rootfs.get(real) if real is not None else None
        if entry is not None and entry.has_content and loadable(candidate):
            return candidate
    return None


def resolve_needed(rootfs: Rootfs, name: str, chain: Sequence[tuple[Requester, str, str]], system: GlibcPath,
                   machine: str, loadable: Compatible, *, library_path: str = "") -> Resolution:
    """Where ld.so finds ``name``, asked for by ``chain[0]``; each chain item is (requester, its DT_RPATH, its
    DT_RUNPATH), the program last."""
    if "/" in name:
        found = _search(rootfs, name, ("/",), loadable)
        return Resolution(name, found, "path" if found else "missing")
    first, _, own_runpath = chain[0]
    secure = any(r.is_program and r.setuid for r, _, _ in chain)
    if not own_runpath:
        for requester, rpath, runpath in chain:
            if runpath or not rpath:
                continue
            found = _search(rootfs, name, expand(rootfs, requester, rpath, machine), loadable)
            if found is not None:
                return Resolution(name, found, "rpath", f"DT_RPATH of /{requester.path}: {rpath}")
    if library_path and not secure:
        found = _search(rootfs, name, tuple(p for p in library_path.split(":") if p), loadable)
        if found is not None:
            return Resolution(name, found, "LD_LIBRARY_PATH")
    if own_runpath:
        found = _search(rootfs, name, expand(rootfs, first, own_runpath, machine), loadable)
        if found is not None:
            return Resolution(name, found, "runpath", f"DT_RUNPATH of /{first.path}: {own_runpath}")
    found = _search(rootfs, name, system.cache_directories, loadable)
    if found is not None:
        return Resolution(name, found, "cache", "a directory of /etc/ld.so.conf")
    found = _search(rootfs, name, system.trusted_directories, loadable)
    if found is not None:
        return Resolution(name, found, "system", "a trusted directory")
    return Resolution(name, None, "missing", "not in the run paths, ld.so.conf directories or trusted directories")
