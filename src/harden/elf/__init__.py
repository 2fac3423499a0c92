"""ELF files: inspection and a segment-preserving debug stripper (any class, byte order and machine)."""

from harden.elf._elffile import ElfError
from harden.elf.inspect import ElfInfo, inspect_elf, is_elf
from harden.elf.strip import BACKENDS, DEFAULT_SECTIONS, Backend, StripResult, strip_file, stripper_for

__all__ = [
    "BACKENDS",
    "DEFAULT_SECTIONS",
    "Backend",
    "ElfError",
    "ElfInfo",
    "StripResult",
    "inspect_elf",
    "is_elf",
    "strip_file",
    "stripper_for",
]
