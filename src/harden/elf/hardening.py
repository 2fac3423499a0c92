"""ELF hardening properties of one binary or shared object, read with pyelftools (checksec's checks).

RELRO: a ``PT_GNU_RELRO`` segment makes it partial; with immediate binding (``DT_BIND_NOW``, ``DF_BIND_NOW``
or ``DF_1_NOW``) it is full. NX: ``PT_GNU_STACK`` without ``PF_X``; a missing ``PT_GNU_STACK`` counts as an
executable stack (the legacy default). PIE: ``ET_DYN`` with an interpreter or ``DF_1_PIE``; an ``ET_DYN``
without one is a shared object ("dso"). Stack canary and FORTIFY are read from the dynamic (and, if present,
static) string tables: ``__stack_chk_fail`` / ``__stack_chk_guard`` and ``__*_chk`` functions. Debug bytes are
the sizes of the sections ``strip`` removes (``.debug*``, ``.zdebug*``, ``.symtab``, ``.strtab``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import IO, Any

from elftools.common.exceptions import ELFError
from elftools.common.utils import struct_parse
from elftools.elf.constants import P_FLAGS
from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile

ELF_MAGIC = b"\x7fELF"

DF_BIND_NOW = 0x8
DF_1_NOW = 0x1
DF_1_PIE = 0x08000000

_CANARY_NAMES = (b"__stack_chk_fail", b"__stack_chk_guard", b"__intel_security_cookie")
_CHK_FUNCTION = re.compile(rb"(?<=\x00)(__[A-Za-z0-9_]+_chk)(?=\x00)")

_DEBUG_SECTION_PREFIXES = (".debug", ".zdebug")
_SYMBOL_SECTIONS = (".symtab", ".strtab")

_TYPES = {"ET_EXEC": "executable", "ET_DYN": "shared-object", "ET_REL": "relocatable", "ET_CORE": "core"}


@dataclass(frozen=True, slots=True)
class ElfHardening:
    """One ELF file's hardening flags. ``canary``/``fortify`` are None when no string table could be read."""

    path: str
    elf_type: str  # executable | pie-executable | shared-object | relocatable | core | other
    machine: str = ""
    bits: int = 0
    relro: str = "none"  # full | partial | none
    bind_now: bool = False
    nx: bool = False
    execstack: bool = True
    pie: str = "no"  # yes | no | dso | n/a
    canary: bool | None = None
    fortify: bool | None = None
    fortified: int = 0
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    debug_bytes: int = 0
    error: str | None = field(default=None)

    @property
    def is_linked_program(self) -> bool:
        """An executable or shared object: what the hardening table covers."""
        return self.error is None and self.elf_type in ("executable", "pie-executable", "shared-object")

    def problems(self) -> tuple[str, ...]:
        """Weaknesses, worst first: what a reviewer should look at."""
        if self.error is not None:
            return (f"unreadable ELF: {self.error}",)
        found: list[str] = []
        if self.execstack:
            found.append("executable stack")
        if self.relro == "none":
            found.append("no RELRO")
        elif self.relro == "partial":
            found.append("partial RELRO")
        if self.pie == "no" and self.elf_type == "executable":
            found.append("not PIE")
        if self.canary is False:
            found.append("no stack canary")
        if self.rpath:
            found.append("RPATH set")
        return tuple(found)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.elf_type,
            "machine": self.machine,
            "bits": self.bits,
            "relro": self.relro,
            "bind_now": self.bind_now,
            "nx": self.nx,
            "execstack": self.execstack,
            "pie": self.pie,
            "canary": self.canary,
            "fortify": self.fortify,
            "fortified": self.fortified,
            "rpath": list(self.rpath),
            "runpath": list(self.runpath),
            "debug_bytes": self.debug_bytes,
            "error": self.error,
        }


def is_elf(stream: IO[bytes]) -> bool:
    """True if the stream starts with the ELF magic; the position is restored."""
    start = stream.tell()
    try:
        return stream.read(4) == ELF_MAGIC
    finally:
        stream.seek(start)


def inspect_elf(stream: IO[bytes], path: str = "") -> ElfHardening:
    """Hardening flags of the ELF file in ``stream`` (seekable); a corrupt file gives a row with ``error``."""
    try:
        return _inspect(ELFFile(stream), path)
    except (ELFError, ValueError, KeyError, IndexError, AssertionError, OSError) as exc:
        return ElfHardening(path=path, elf_type="other", error=f"{type(exc).__name__}: {exc}"[:200])
    except Exception as exc:  # pyelftools raises construct errors on truncated input
        if type(exc).__module__.startswith(("construct", "elftools")):
            return ElfHardening(path=path, elf_type="other", error=f"{type(exc).__name__}: {exc}"[:200])
        raise


@dataclass(frozen=True, slots=True)
class _Section:
    name: str
    type: str
    offset: int
    size: int
    link: int


class _Reader:
    """Program and section headers read with pyelftools' own struct layouts, without building a section object
    per header (which parses symbol and hash tables the checks never look at): ~3x faster on big libraries."""

    def __init__(self, elf: ELFFile) -> None:
        self.elf = elf
        self.stream = elf.stream

    def read(self, offset: int, size: int) -> bytes:
        self.stream.seek(offset)
        data: bytes = self.stream.read(size)
        if len(data) != size:
            raise ValueError(f"truncated: wanted {size} bytes at offset {offset}, got {len(data)}")
        return data

    def segments(self) -> list[Any]:
        elf = self.elf
        start, size = elf["e_phoff"], elf["e_phentsize"]
        return [struct_parse(elf.structs.Elf_Phdr, self.stream, stream_pos=start + i * size)
                for i in range(elf.num_segments())]

    def sections(self) -> list[_Section]:
        elf = self.elf
        count = elf.num_sections()
        if count == 0:
            return []
        headers = [struct_parse(elf.structs.Elf_Shdr, self.stream,
                                stream_pos=elf["e_shoff"] + i * elf["e_shentsize"]) for i in range(count)]
        names_header = headers[elf.get_shstrndx()]
        names = self.read(names_header["sh_offset"], names_header["sh_size"])
        return [_Section(_cstring(names, h["sh_name"]), str(h["sh_type"]), int(h["sh_offset"]),
                         int(h["sh_size"]), int(h["sh_link"])) for h in headers]

    def data(self, section: _Section) -> bytes:
        return b"" if section.type == "SHT_NOBITS" else self.read(section.offset, section.size)

    def dynamic(self, sections: list[_Section]) -> list[tuple[str, int, str]] | None:
        """(tag, value, string value or "") of the .dynamic section, or None without one."""
        dynamic = next((s for s in sections if s.type == "SHT_DYNAMIC"), None)
        if dynamic is None or not 0 <= dynamic.link < len(sections):
            return None
        strings = self.data(sections[dynamic.link])
        layout = self.elf.structs.Elf_Dyn
        entries = []
        for i in range(dynamic.size // layout.sizeof()):
            entry = struct_parse(layout, self.stream, stream_pos=dynamic.offset + i * layout.sizeof())
            tag = str(entry["d_tag"])
            if tag == "DT_NULL":
                break
            value = int(entry["d_val"])
            text = _cstring(strings, value) if tag in ("DT_RPATH", "DT_RUNPATH") else ""
            entries.append((tag, value, text))
        return entries


def _cstring(table: bytes, offset: int) -> str:
    end = table.find(b"\x00", offset)
    return table[offset: end if end >= 0 else len(table)].decode("utf-8", errors="replace")


def _inspect(elf: ELFFile, path: str) -> ElfHardening:
    reader = _Reader(elf)
    e_type = str(elf["e_type"])
    segments = reader.segments()
    kinds = {str(seg["p_type"]) for seg in segments}
    stack = next((seg for seg in segments if seg["p_type"] == "PT_GNU_STACK"), None)
    execstack = stack is None or bool(stack["p_flags"] & P_FLAGS.PF_X)

    sections = reader.sections()
    dynamic = reader.dynamic(sections)
    if dynamic is None and "PT_DYNAMIC" in kinds:
        dynamic = _segment_dynamic(elf)  # no section headers (sstrip): the slow, segment-based way
    bind_now, flags_1, rpath, runpath = _dynamic_info(dynamic or [])
    elf_type = _TYPES.get(e_type, "other")
    if e_type == "ET_DYN":
        # libc.so.6 and ld.so have an interpreter too: a ".so" name without DF_1_PIE stays a shared object.
        named_so = ".so" in path.rsplit("/", 1)[-1]
        is_pie = bool(flags_1 & DF_1_PIE) or ("PT_INTERP" in kinds and not named_so)
        elf_type = "pie-executable" if is_pie else "shared-object"
        pie = "yes" if is_pie else "dso"
    elif e_type == "ET_EXEC":
        pie = "no"
    else:
        pie = "n/a"
    has_relro = "PT_GNU_RELRO" in kinds
    relro = "full" if has_relro and bind_now else "partial" if has_relro else "none"

    strings = _string_tables(reader, sections, elf)
    canary: bool | None = None
    fortify: bool | None = None
    fortified = 0
    if strings is not None:
        padded = b"\x00" + strings + b"\x00"
        canary = any(b"\x00" + name + b"\x00" in padded for name in _CANARY_NAMES)
        chk = {m for m in _CHK_FUNCTION.findall(padded) if not m.startswith(b"__stack_chk")}
        fortified = len(chk)
        fortify = fortified > 0

    return ElfHardening(
        path=path,
        elf_type=elf_type,
        machine=str(elf["e_machine"]),
        bits=int(elf.elfclass),
        relro=relro,
        bind_now=bind_now,
        nx=not execstack,
        execstack=execstack,
        pie=pie,
        canary=canary,
        fortify=fortify,
        fortified=fortified,
        rpath=rpath,
        runpath=runpath,
        debug_bytes=_debug_bytes(sections),
    )


def _segment_dynamic(elf: ELFFile) -> list[tuple[str, int, str]]:
    entries = []
    for seg in elf.iter_segments():
        if not isinstance(seg, DynamicSegment):
            continue
        for tag in seg.iter_tags():
            name = str(tag.entry.d_tag)
            text = str(getattr(tag, "rpath", "") or getattr(tag, "runpath", "") or "")
            entries.append((name, int(tag.entry.d_val), text))
    return entries


def _dynamic_info(entries: list[tuple[str, int, str]]) -> tuple[bool, int, tuple[str, ...], tuple[str, ...]]:
    """(bind_now, DT_FLAGS_1, rpath entries, runpath entries) from the dynamic entries."""
    bind_now = False
    flags_1 = 0
    rpath: list[str] = []
    runpath: list[str] = []
    for name, value, text in entries:
        if name == "DT_BIND_NOW" or (name == "DT_FLAGS" and value & DF_BIND_NOW):
            bind_now = True
        elif name == "DT_FLAGS_1":
            flags_1 = value
            if flags_1 & DF_1_NOW:
                bind_now = True
        elif name == "DT_RPATH":
            rpath.extend(p for p in text.split(":") if p)
        elif name == "DT_RUNPATH":
            runpath.extend(p for p in text.split(":") if p)
    return bind_now, flags_1, tuple(rpath), tuple(runpath)


def _string_tables(reader: _Reader, sections: list[_Section], elf: ELFFile) -> bytes | None:
    """``.dynstr`` plus ``.strtab`` bytes; without section headers, the dynamic symbols' names; else None."""
    parts = [reader.data(s) for s in sections if s.name in (".dynstr", ".strtab") and s.type != "SHT_NOBITS"]
    if parts:
        return b"\x00".join(parts)
    for seg in elf.iter_segments():
        if isinstance(seg, DynamicSegment):
            try:
                names = [sym.name.encode() for sym in seg.iter_symbols() if sym.name]
            except (ELFError, ValueError, KeyError, AttributeError):
                return None
            return b"\x00".join(names)
    return None


def _debug_bytes(sections: list[_Section]) -> int:
    return sum(s.size for s in sections if s.type != "SHT_NOBITS"
               and (s.name.startswith(_DEBUG_SECTION_PREFIXES) or s.name in _SYMBOL_SECTIONS))


def summarize(rows: list[ElfHardening]) -> dict[str, int]:
    """Counts for the report headline: how many binaries have each protection."""
    linked = [r for r in rows if r.is_linked_program]
    executables = [r for r in linked if r.elf_type in ("executable", "pie-executable")]
    return {
        "files": len(linked),
        "executables": len(executables),
        "shared_objects": sum(1 for r in linked if r.elf_type == "shared-object"),
        "full_relro": sum(1 for r in linked if r.relro == "full"),
        "partial_relro": sum(1 for r in linked if r.relro == "partial"),
        "no_relro": sum(1 for r in linked if r.relro == "none"),
        "bind_now": sum(1 for r in linked if r.bind_now),
        "nx": sum(1 for r in linked if r.nx),
        "execstack": sum(1 for r in linked if r.execstack),
        "pie_executables": sum(1 for r in executables if r.pie == "yes"),
        "non_pie_executables": sum(1 for r in executables if r.pie == "no"),
        "canary": sum(1 for r in linked if r.canary),
        "fortify": sum(1 for r in linked if r.fortify),
        "rpath": sum(1 for r in linked if r.rpath),
        "runpath": sum(1 for r in linked if r.runpath),
        "debug_bytes": sum(r.debug_bytes for r in linked),
        "errors": sum(1 for r in rows if r.error is not None),
    }
