from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from elf_fixtures import FIXTURES

from harden.elf import ElfError, inspect_elf, is_elf


@pytest.mark.parametrize(
    ("name", "elf_class", "endianness", "machine", "elf_type"),
    [
        ("x86_64_debug.so", 64, "little", "EM_X86_64", "ET_DYN"),
        ("x86_64_debug_exe", 64, "little", "EM_X86_64", "ET_DYN"),
        ("x86_64_debug.o", 64, "little", "EM_X86_64", "ET_REL"),
        ("i386_debug.so", 32, "little", "EM_386", "ET_DYN"),
        ("aarch64_debug.so", 64, "little", "EM_AARCH64", "ET_DYN"),
        ("s390x_debug.so", 64, "big", "EM_S390", "ET_DYN"),
        ("ppc_debug.so", 32, "big", "EM_PPC", "ET_DYN"),
    ],
)
def test_class_byte_order_machine_and_type(
    name: str, elf_class: int, endianness: str, machine: str, elf_type: str
) -> None:
    info = inspect_elf(FIXTURES / name)
    assert (info.elf_class, info.endianness, info.machine, info.type) == (
        elf_class,
        endianness,
        machine,
        elf_type,
    )
    assert info.has_debug and info.has_symtab and not info.stripped
    assert ".debug_info" in info.sections and ".text" in info.sections


def test_debug_symtab_and_stripped_flags() -> None:
    nodebug = inspect_elf(FIXTURES / "x86_64_nodebug.so")
    assert (nodebug.has_debug, nodebug.has_symtab, nodebug.stripped) == (False, True, False)
    stripped = inspect_elf(FIXTURES / "x86_64_stripped.so")
    assert (stripped.has_debug, stripped.has_symtab, stripped.stripped) == (False, False, True)
    assert ".dynsym" in stripped.sections and ".symtab" not in stripped.sections


def test_is_elf_looks_at_the_magic_only() -> None:
    assert is_elf((FIXTURES / "ppc_debug.so").read_bytes()[:4])
    assert not is_elf(b"\x7fEL")
    assert not is_elf(b"#!/bin/sh\n")
    assert not is_elf(b"")


def _damaged(tmp_path: Path, name: str, change: Callable[[bytearray], bytes | bytearray]) -> Path:
    data = bytearray((FIXTURES / name).read_bytes())
    target = tmp_path / f"damaged-{name}"
    target.write_bytes(bytes(change(data)))
    return target


def _set(data: bytearray, offset: int, fmt: str, value: int) -> bytearray:
    data[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d[:10], "too short"),
        (lambda d: d[:40], "truncated ELF header"),
        (lambda d: d[: len(d) // 2], "truncated"),
        (lambda d: b"\x7fELX" + d[4:], "no ELF magic"),
        (lambda d: d[:4] + b"\x03" + d[5:], "bad EI_CLASS"),
        (lambda d: d[:5] + b"\x07" + d[6:], "bad EI_DATA"),
        (lambda d: _set(d, 0x28, "<Q", 1 << 40), "section header table ends at"),
        (lambda d: _set(d, 0x3A, "<H", 12), "e_shentsize"),
        (lambda d: _set(d, 0x3E, "<H", 999), "e_shstrndx 999"),
        (lambda d: _set(d, 0x3C, "<H", 0), "extended section numbering"),
        (lambda d: _set(d, 0x36, "<H", 7), "e_phentsize"),
    ],
    ids=[
        "10-bytes", "short-header", "half", "bad-magic", "bad-class", "bad-data", "shoff-past-eof",
        "bad-shentsize", "bad-shstrndx", "e_shnum-zero", "bad-phentsize",
    ],
)  # fmt: skip
def test_malformed_files_raise_elf_error(
    tmp_path: Path, change: Callable[[bytearray], bytes | bytearray], message: str
) -> None:
    with pytest.raises(ElfError, match=message):
        inspect_elf(_damaged(tmp_path, "x86_64_debug.so", change))


def test_a_section_past_the_end_of_file_is_reported(tmp_path: Path) -> None:
    data = bytearray((FIXTURES / "x86_64_debug.so").read_bytes())
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    # section 1's sh_offset (at +24 in an ELF64 section header) far beyond the end of the file
    struct.pack_into("<Q", data, shoff + 64 + 24, len(data) * 2)
    path = tmp_path / "bad.so"
    path.write_bytes(bytes(data))
    with pytest.raises(ElfError, match=r"section 1 ends at .* past the end of the file"):
        inspect_elf(path)
