"""musl's dynamic loader, as a rootfs sees it: which ELF files it runs, and where it finds their libraries.

Everything here follows musl's ldso/dynlink.c (``load_library``, ``path_open``, ``fixup_rpath``,
``decode_dyn``), not glibc's ld.so:

* the loader is ``/lib/ld-musl-<arch>.so.1`` (a program's ``PT_INTERP``); libc is the loader itself, so a
  ``DT_NEEDED`` of ``libc.so``, ``libc.musl-x86_64.so.1``, ``libpthread.so.0``, ``libm.so.6``, ``libdl.so.2``,
  ``librt.so.1``, ``libutil.so.1``, ``libxnet.so``... (``lib`` + one of c, pthread, rt, m, dl, util, xnet +
  ``.``) never reaches the file system;
* a name with a ``/`` is opened as it is (relative to the working directory when relative);
* otherwise, in order: a library already loaded under that file name; ``LD_LIBRARY_PATH`` (ignored for
  setuid programs); the ``DT_RUNPATH`` (else ``DT_RPATH``: musl reads one, RUNPATH winning) of the object
  that needs the library, then of the object that needed that one, and so on up to the program, so unlike
  glibc a RUNPATH is inherited; then the system path;
* ``$ORIGIN``/``${ORIGIN}`` is the directory of the program's real path (``/proc/self/exe``; not expanded for
  a setuid program) or of the library's path as it was found (links not followed); a path with any other
  ``$`` token is ignored whole;
* the system path is the content of ``<prefix>/etc/ld-musl-<arch>.path`` (directories separated by newlines
  or colons; an empty or unreadable file means no system directory at all), where ``<prefix>`` is the
  loader's path minus its last two components ("" for ``/lib/ld-musl-x86_64.so.1``); without that file
  ``/lib:/usr/local/lib:/usr/lib``. There is no ld.so.cache and no hwcaps directory;
* a directory is searched by opening ``<dir>/<name>``: missing entries move on to the next directory, but a
  name that opens and is not a loadable file (a directory) ends the search with an error.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO

from harden.image.blobs import BlobStore
from harden.image.files import file_bytes
from harden.image.model import Rootfs

LOADER = re.compile(r"ld-musl-([A-Za-z0-9_]+)\.so\.1")
DEFAULT_SYSTEM_PATH = ("/lib", "/usr/local/lib", "/usr/lib")
RESERVED = ("c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet.")
"""``lib<these>...``: names musl answers with itself."""


def musl_arch(interpreter: str) -> str | None:
    """``x86_64`` for ``/lib/ld-musl-x86_64.so.1``; None when ``interpreter`` is not musl's loader."""
    found = LOADER.fullmatch(posixpath.basename(interpreter))
    return found.group(1) if found else None


def is_musl_interpreter(interpreter: str | None) -> bool:
    """Whether a ``PT_INTERP`` names musl's loader."""
    return bool(interpreter) and musl_arch(interpreter or "") is not None


def loader_path(arch: str) -> PurePosixPath:
    """Where Alpine puts the loader for ``arch``: ``lib/ld-musl-<arch>.so.1`` (root-relative)."""
    return PurePosixPath(f"lib/ld-musl-{arch}.so.1")


def path_file(interpreter: str) -> PurePosixPath:
    """The search-path file the loader at ``interpreter`` reads: ``etc/ld-musl-<arch>.path`` under the
    loader's path minus its last two components (root-relative)."""
    arch = musl_arch(interpreter) or ""
    prefix = posixpath.dirname(posixpath.dirname(interpreter)) if interpreter.startswith("/") else ""
    return PurePosixPath(f"{prefix}/etc/ld-musl-{arch}.path".lstrip("/"))


def split_path(text: str) -> tuple[str, ...]:
    """Directories of a musl search path: separated by ``:`` or newlines, empty ones skipped."""
    return tuple(part for part in re.split(r"[:\n]", text) if part)


@dataclass(frozen=True, slots=True)
class SystemPath:
    interpreter: str
    file: PurePosixPath
    directories: tuple[str, ...]
    """Absolute directories, in search order."""
    source: str
    """``file`` (read from ``file``), ``default`` (no such file) or ``unreadable`` (not a regular file)."""


def system_path(rootfs: Rootfs, blobs: BlobStore, interpreter: str) -> SystemPath:
    file = path_file(interpreter)
    real = rootfs.resolve(file)
    entry = rootfs.get(real) if real is not None else None
    if real is None or entry is None:
        return SystemPath(interpreter, file, DEFAULT_SYSTEM_PATH, "default")
    data = file_bytes(rootfs, blobs, real)
    if data is None:
        return SystemPath(interpreter, file, (), "unreadable")
    return SystemPath(interpreter, file, split_path(data.decode("utf-8", "surrogateescape")), "file")


@dataclass(frozen=True, slots=True)
class Requester:
    """An object in the chain of objects that led to a ``DT_NEEDED``: the needing object first."""

    path: PurePosixPath
    """Root-relative, as the object was opened (a library: the search directory joined with its name)."""
    rpath: str = ""
    """Its ``DT_RUNPATH``, else its ``DT_RPATH``; "" without."""
    is_program: bool = False
    setuid: bool = False


@dataclass(frozen=True, slots=True)
class Resolution:
    name: str
    path: PurePosixPath | None
    """Root-relative path musl opens (the loader for libc names); None when it finds nothing."""
    via: str
    """``loader``, ``loaded``, ``path``, ``LD_LIBRARY_PATH``, ``rpath``, ``system`` or ``missing``."""
    detail: str = ""

    @property
    def found(self) -> bool:
        return self.path is not None


def _root_relative(path: str) -> PurePosixPath:
    return PurePosixPath(posixpath.normpath("/" + path).lstrip("/") or ".")


def _absolute(path: PurePosixPath) -> str:
    return "/" if str(path) == "." else "/" + str(path)


def _origin(rootfs: Rootfs, requester: Requester) -> str | None:
    """What ``$ORIGIN`` stands for: the path up to its last ``/`` ("" for a file in the root)."""
    if requester.is_program:
        if requester.setuid:
            return None
        path = _absolute(rootfs.resolve(requester.path) or requester.path)
    else:
        path = _absolute(requester.path)
    return path[: path.rfind("/")]


def expand_rpath(rootfs: Rootfs, requester: Requester) -> str | None:
    """The requester's run path with ``$ORIGIN`` expanded; None when musl ignores it (no run path, another
    ``$`` token, or ``$ORIGIN`` in a setuid program)."""
    text = requester.rpath
    if not text:
        return None
    if "$" not in text:
        return text
    if re.sub(r"\$\{ORIGIN\}|\$ORIGIN", "", text).count("$"):
        return None
    origin = _origin(rootfs, requester)
    if origin is None:
        return None
    return re.sub(r"\$\{ORIGIN\}|\$ORIGIN", lambda _: origin, text)


class _Stop(Exception):
    """musl opened something it cannot load: the search ends with an error."""


def _search(rootfs: Rootfs, name: str, directories: Sequence[str], cwd: str) -> PurePosixPath | None:
    for directory in directories:
        candidate = _root_relative(posixpath.join(cwd, directory, name))
        real = rootfs.resolve(candidate)
        entry = rootfs.get(real) if real is not None else None
        if entry is None:
            continue
        if not entry.has_content:
            raise _Stop(f"/{candidate} is a {entry.type.value}, not a loadable file")
        return candidate
    return None


def resolve_needed(
    rootfs: Rootfs,
    name: str,
    chain: Sequence[Requester],
    system: SystemPath,
    *,
    library_path: str = "",
    loaded: Mapping[str, PurePosixPath] | None = None,
    cwd: str = "/",
) -> Resolution:
    """Where musl finds the ``DT_NEEDED`` (or ``dlopen``) ``name`` asked for by ``chain[0]``, needed in turn
    by ``chain[1]``..., the program last. ``loaded``: file name -> path of the libraries already loaded
    (musl reuses one by name before any search); ``library_path``: ``LD_LIBRARY_PATH``."""
    interpreter = system.interpreter
    if (name.startswith("lib") and name[3:].startswith(RESERVED)) or name == interpreter:
        return Resolution(name, _root_relative(interpreter), "loader", "musl's libc is its loader")
    try:
        if "/" in name:
            found = _search(rootfs, name, ("",), cwd)
            return Resolution(name, found, "path" if found else "missing")
        if loaded and name in loaded:
            return Resolution(name, loaded[name], "loaded")
        secure = any(r.is_program and r.setuid for r in chain)
        if library_path and not secure:
            found = _search(rootfs, name, split_path(library_path), cwd)
            if found is not None:
                return Resolution(name, found, "LD_LIBRARY_PATH")
        for requester in chain:
            expanded = expand_rpath(rootfs, requester)
            if expanded is not None:
                found = _search(rootfs, name, split_path(expanded), cwd)
                if found is not None:
                    return Resolution(name, found, "rpath", f"run path of /{requester.path}: {expanded}")
        found = _search(rootfs, name, system.directories, cwd)
    except _Stop as stop:
        return Resolution(name, None, "missing", str(stop))
    if found is not None:
        return Resolution(name, found, "system", f"{system.source}: {':'.join(system.directories)}")
    return Resolution(name, None, "missing", "not in any searched directory")


# --- reading the ELF side --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dynamic:
    """What the loader reads from an ELF file: its interpreter and its dynamic tags."""

    interpreter: str | None
    needed: tuple[str, ...] = ()
    rpath: str = ""
    runpath: str = ""

    @property
    def search_path(self) -> str:
        """What musl uses: ``DT_RUNPATH`` when present, else ``DT_RPATH``."""
        return self.runpath or self.rpath


def read_dynamic(stream: IO[bytes]) -> Dynamic:
    """``PT_INTERP`` and the ``DT_NEEDED``/``DT_RPATH``/``DT_RUNPATH`` tags, through the program headers
    (section headers may be stripped). Raises ``ElfError`` for a file that is not a readable ELF file."""
    from elftools.common.exceptions import ELFError as PyElfError
    from elftools.elf.dynamic import DynamicSegment
    from elftools.elf.elffile import ELFFile
    from elftools.elf.segments import InterpSegment

    from harden.elf._elffile import ElfError

    try:
        elf = ELFFile(stream)
        interpreter: str | None = None
        needed: list[str] = []
        rpath = runpath = ""
        for segment in elf.iter_segments():
            if isinstance(segment, InterpSegment):
                interpreter = segment.get_interp_name()
            elif isinstance(segment, DynamicSegment):
                for tag in segment.iter_tags():
                    kind = tag.entry.d_tag
                    if kind in ("DT_NEEDED", "DT_RPATH", "DT_RUNPATH"):
                        value = str(getattr(tag, kind[3:].lower()))  # pyelftools sets .needed, .rpath, .runpath
                        if kind == "DT_NEEDED":
                            needed.append(value)
                        elif kind == "DT_RPATH":
                            rpath = value
                        else:
                            runpath = value
    except (PyElfError, ValueError, KeyError, OSError) as exc:
        raise ElfError(f"cannot read the dynamic section: {exc}") from exc
    return Dynamic(interpreter, tuple(needed), rpath, runpath)


def dynamic_of(rootfs: Rootfs, blobs: BlobStore, path: PurePosixPath) -> Dynamic | None:
    """``read_dynamic`` of the file at ``path`` (links followed); None when it is not an ELF file."""
    real = rootfs.resolve(path)
    entry = rootfs.get(real) if real is not None else None
    if entry is None or not entry.has_content or entry.digest is None or entry.digest not in blobs:
        return None
    with blobs.open(entry.digest) as stream:
        if stream.read(4) != b"\x7fELF":
            return None
        stream.seek(0)
        return read_dynamic(stream)


@dataclass(frozen=True, slots=True)
class Closure:
    """Every object musl loads to start a program, in load order, and what it could not find."""

    program: PurePosixPath
    interpreter: str | None
    loaded: tuple[tuple[str, PurePosixPath], ...] = ()
    """(name asked for, root-relative path opened), the loader always included, once, as ``interpreter``."""
    missing: tuple[Resolution, ...] = ()
    resolutions: tuple[tuple[PurePosixPath, Resolution], ...] = field(default=(), repr=False)
    """(needing object, how its DT_NEEDED resolved), for reports."""


def closure(
    rootfs: Rootfs,
    blobs: BlobStore,
    program: PurePosixPath,
    *,
    library_path: str = "",
    cwd: str = "/",
    setuid: bool = False,
) -> Closure:
    """The libraries musl loads for ``program`` (breadth-first, as ``load_deps`` walks the list it grows),
    each found by ``resolve_needed``. A program whose interpreter is not musl's gets an empty closure."""
    top = dynamic_of(rootfs, blobs, program)
    if top is None or not is_musl_interpreter(top.interpreter):
        return Closure(program, top.interpreter if top else None)
    interpreter = top.interpreter or ""
    system = system_path(rootfs, blobs, interpreter)
    loader = _root_relative(interpreter)
    order: list[tuple[PurePosixPath, Dynamic, tuple[Requester, ...]]] = [
        (program, top, (Requester(program, top.search_path, True, setuid),))
    ]
    by_name: dict[str, PurePosixPath] = {}
    by_real: dict[PurePosixPath | None, PurePosixPath] = {}
    loaded: list[tuple[str, PurePosixPath]] = []
    missing: list[Resolution] = []
    resolutions: list[tuple[PurePosixPath, Resolution]] = []
    index = 0
    while index < len(order):
        path, dynamic, chain = order[index]
        index += 1
        for name in dynamic.needed:
            found = resolve_needed(rootfs, name, chain, system, library_path=library_path, loaded=by_name, cwd=cwd)
            resolutions.append((path, found))
            if found.path is None:
                missing.append(found)
                continue
            if found.via == "loader":
                if not any(p == loader for _, p in loaded):
                    loaded.append((interpreter, loader))
                continue
            real = rootfs.resolve(found.path)
            if found.via == "loaded" or real in by_real:
                if "/" not in name:
                    by_name.setdefault(name, by_real.get(real, found.path))
                continue
            by_real[real] = found.path
            if "/" not in name:
                by_name[name] = found.path
            loaded.append((name, found.path))
            library = dynamic_of(rootfs, blobs, found.path) or Dynamic(None)
            order.append((found.path, library, (Requester(found.path, library.search_path), *chain)))
    if not any(path == loader for _, path in loaded):  # the kernel maps the loader whatever the program needs
        loaded.append((interpreter, loader))
    return Closure(program, interpreter, tuple(loaded), tuple(missing), tuple(resolutions))
