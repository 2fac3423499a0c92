"""Look at an ELF file: class, byte order, machine, type, sections, whether debug info or symbols remain."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from elftools.elf.enums import ENUM_E_MACHINE, ENUM_E_TYPE

from harden.elf._elffile import MAGIC, SHT_SYMTAB, read_elf

DEBUG_PATTERNS = (".debug*", ".zdebug*")
_MACHINES = {value: name for name, value in ENUM_E_MACHINE.items() if isinstance(value, int)}
_TYPES = {value: name for name, value in ENUM_E_TYPE.items() if isinstance(value, int)}


def is_elf(head: bytes) -> bool:
    """Whether the first bytes of a file are the ELF magic."""
    return head[:4] == MAGIC


@dataclass(frozen=True, slots=True)
class ElfInfo:
    elf_class: int  # 32 or 64
    endianness: Literal["little", "big"]
    machine: str  # pyelftools' name: "EM_X86_64", "EM_AARCH64" … or the number
    type: str  # "ET_DYN", "ET_EXEC", "ET_REL" … or the number
    sections: tuple[str, ...]
    has_debug: bool
    has_symtab: bool

    @property
    def stripped(self) -> bool:
        return not (self.has_debug or self.has_symtab)


def inspect_elf(path: Path) -> ElfInfo:
    """Read the headers of ``path``; raise ``ElfError`` if it is not a well-formed ELF file."""
    with path.open("rb") as stream:
        elf = read_elf(stream)
    header = elf.header
    names = tuple(s.name for s in elf.sections if s.index != 0)
    return ElfInfo(
        elf_class=header.encoding.elf_class,
        endianness="little" if header.encoding.little_endian else "big",
        machine=_MACHINES.get(header.machine, str(header.machine)),
        type=_TYPES.get(header.type, str(header.type)),
        sections=names,
        has_debug=any(fnmatchcase(name, p) for name in names for p in DEBUG_PATTERNS),
        has_symtab=any(s.type == SHT_SYMTAB for s in elf.sections),
    )
