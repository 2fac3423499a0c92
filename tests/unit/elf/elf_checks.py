"""Assertions about a stripped file, made with pyelftools and LIEF (not with harden's own reader)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import lief
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

# e_shoff, e_shnum, e_shstrndx: the only ELF header fields a stripper may rewrite
_HEADER_FIELDS = {32: ((0x20, 4), (0x30, 2), (0x32, 2)), 64: ((0x28, 8), (0x3C, 2), (0x3E, 2))}


def _masked(data: bytes, elf_class: int) -> bytes:
    out = bytearray(data)
    for offset, size in _HEADER_FIELDS[elf_class]:
        out[offset : offset + size] = bytes(size)
    return bytes(out)


def segments(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as stream:
        return [dict(s.header) for s in ELFFile(stream).iter_segments()]


def assert_segments_preserved(src: Path, dst: Path) -> None:
    """Same program headers; every byte any program header covers is identical (header fields masked)."""
    old_bytes, new_bytes = src.read_bytes(), dst.read_bytes()
    elf_class = 64 if old_bytes[4] == 2 else 32
    old, new = _masked(old_bytes, elf_class), _masked(new_bytes, elf_class)
    assert segments(src) == segments(dst)
    for header in segments(src):
        start, end = header["p_offset"], header["p_offset"] + header["p_filesz"]
        assert old[start:end] == new[start:end], f"segment {header['p_type']} bytes changed"
    phoff_end = 64 if elf_class == 64 else 52
    assert old[:phoff_end] == new[:phoff_end]


def section_names(path: Path) -> list[str]:
    with path.open("rb") as stream:
        return [s.name for s in ELFFile(stream).iter_sections()]


def assert_nothing_matches(path: Path, patterns: tuple[str, ...]) -> None:
    left = [n for n in section_names(path) if any(fnmatchcase(n, p) for p in patterns)]
    assert not left, f"sections still present: {left}"


def defined_dynamic_symbols(path: Path) -> dict[str, str]:
    """Dynamic symbol name -> name of the section its st_shndx points at."""
    with path.open("rb") as stream:
        elf = ELFFile(stream)
        dynsym = elf.get_section_by_name(".dynsym")
        assert isinstance(dynsym, SymbolTableSection)
        out = {}
        for symbol in dynsym.iter_symbols():
            shndx = symbol["st_shndx"]
            if isinstance(shndx, int) and shndx > 0:
                out[symbol.name] = elf.get_section(shndx).name
        return out


def section_bytes(path: Path) -> dict[str, bytes]:
    """Raw file bytes of every section that has some, by name."""
    data = path.read_bytes()
    with path.open("rb") as stream:
        out = {}
        for s in ELFFile(stream).iter_sections():
            if s["sh_type"] not in ("SHT_NOBITS", "SHT_NULL"):
                out[s.name] = data[s["sh_offset"] : s["sh_offset"] + s["sh_size"]]
        return out


def assert_lief_agrees(src: Path, dst: Path) -> None:
    """LIEF, a third parser, reads the output with the same segments and the kept sections."""
    before, after = lief.ELF.parse(str(src)), lief.ELF.parse(str(dst))
    assert before is not None and after is not None
    old = [
        (s.type, s.file_offset, s.virtual_address, s.physical_size, s.virtual_size) for s in before.segments
    ]
    new = [
        (s.type, s.file_offset, s.virtual_address, s.physical_size, s.virtual_size) for s in after.segments
    ]
    assert old == new
    assert [s.name for s in after.sections] == [n for n in section_names(dst)]
