"""What a dynamic loader reads from an ELF file, read with LIEF: interpreter, soname, needed libraries, run paths,
and the symbol versions the file requires (``DT_VERNEED``) and defines (``DT_VERDEF``).

LIEF (a maintained C++ ELF library) parses only the dynamic parts here (no relocations, no symbol tables beyond
what versions need). On the ELF files of spark-k8s-python-deps it is faster than pyelftools, with
identical answers (``bench/elf_reader_bench.py``; the measured times and ratio are in ``bench/results/elf-readers.md``).

LIEF is imported on the first read, not with this module: importing it adds ~49 MB to a process's resident memory
(39 MB of it anonymous) for the rest of its life, so remove-unreachable and the linkage check leave the reading to
a worker process (``harden.elf.read_ahead``) and harden's own process does not load it for them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import IO, Any, cast

from harden.atomic import signals_held
from harden.elf._elffile import ElfError

MAGIC = b"\x7fELF"


@dataclass(frozen=True, slots=True)
class DynamicInfo:
    machine: str
    """LIEF's name of ``e_machine``: ``X86_64``, ``AARCH64`` …"""
    elf_class: int
    """32 or 64."""
    loadable: bool = True
    """An executable or shared object (``ET_EXEC``/``ET_DYN``), not a relocatable object or core file."""
    interpreter: str | None = None
    soname: str | None = None
    needed: tuple[str, ...] = ()
    rpath: str = ""
    runpath: str = ""
    version_needs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(file name as in DT_NEEDED, versions required from it), e.g. ("libc.so.6", ("GLIBC_2.34", …))."""
    version_defs: tuple[str, ...] = ()
    """Versions this file defines (a library): "GLIBC_2.2.5" …; the file's own base name included."""

    @property
    def dynamic(self) -> bool:
        return bool(self.interpreter or self.needed or self.soname)

    def versions_from(self, name: str) -> tuple[str, ...]:
        return next((versions for file, versions in self.version_needs if file == name), ())


DynamicCache = dict[str, "DynamicInfo | str | None"]
"""Content digest → its dynamic information, the reason it could not be read (str), or None (not ELF): shared by
linkers of several root filesystems made of the same contents (an image before and after a stage)."""


@functools.cache
def _lief() -> Any:
    with signals_held():  # a Ctrl-C inside LIEF's native module initialisation aborts the process (std::terminate)
        import lief
    return lief


@functools.cache
def _config() -> Any:
    lief = _lief()
    lief.logging.disable()
    config = lief.ELF.ParserConfig()
    config.parse_relocations = False
    config.parse_dyn_symbols = False
    config.parse_symtab_symbols = False
    config.parse_notes = False
    config.parse_overlay = False
    config.parse_symbol_versions = True
    return config


def dynamic_of(stream: IO[bytes], what: str) -> DynamicInfo | str | None:
    """What a ``DynamicCache`` holds for the file in ``stream``: its dynamic information, why it could not be
    read, or None when it is not an ELF file."""
    if stream.read(4) != MAGIC:
        return None
    try:
        return _parsed(stream, what)
    except ElfError as exc:
        return exc.one_line()


def read_dynamic(stream: IO[bytes], what: str = "ELF file") -> DynamicInfo:
    """The dynamic information of the ELF file in ``stream`` (seekable, at any position). ElfError when the
    file is not an ELF file LIEF can read."""
    stream.seek(0)
    if stream.read(4) != MAGIC:
        raise ElfError(f"{what} is not an ELF file")
    return _parsed(stream, what)


def _parsed(stream: IO[bytes], what: str) -> DynamicInfo:
    """``read_dynamic`` once the magic is checked."""
    stream.seek(0)
    binary = _lief().ELF.parse(cast(Any, stream), _config())
    if binary is None:
        raise ElfError(f"{what}: LIEF cannot read it as an ELF file")
    try:
        return _info(binary)
    except (AttributeError, ValueError, RuntimeError) as exc:  # a malformed dynamic section
        raise ElfError(f"{what}: unreadable dynamic section ({type(exc).__name__}: {exc})") from exc


def _info(binary: Any) -> DynamicInfo:
    lief = _lief()
    header = binary.header
    elf_class = 64 if header.identity_class == lief.ELF.Header.CLASS.ELF64 else 32
    rpath = runpath = ""
    soname = None
    for entry in binary.dynamic_entries:
        if isinstance(entry, lief.ELF.DynamicEntryRunPath):
            runpath = str(entry.runpath) if hasattr(entry, "runpath") else str(entry.paths)
        elif isinstance(entry, lief.ELF.DynamicEntryRpath):
            rpath = str(entry.rpath) if hasattr(entry, "rpath") else str(entry.paths)
        elif isinstance(entry, lief.ELF.DynamicSharedObject):
            soname = str(entry.name)
    needs = tuple((str(req.name), tuple(str(aux.name) for aux in req.get_auxiliary_symbols()))
                  for req in binary.symbols_version_requirement)
    defs = tuple(str(aux.name) for definition in binary.symbols_version_definition
                 for aux in definition.auxiliary_symbols)
    kind = str(header.file_type).rsplit(".", 1)[-1]
    return DynamicInfo(
        machine=str(header.machine_type).rsplit(".", 1)[-1],
        elf_class=elf_class,
        loadable=kind in ("EXEC", "DYN"),
        interpreter=str(binary.interpreter) if binary.has_interpreter else None,
        soname=soname,
        needed=tuple(str(name) for name in binary.libraries),
        rpath=rpath,
        runpath=runpath,
        version_needs=needs,
        version_defs=defs,
    )
