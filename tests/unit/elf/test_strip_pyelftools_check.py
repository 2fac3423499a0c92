"""The independent reading of a stripped output (pyelftools) refuses program headers or dynamic tags that differ
from the original's, each on its own: the byte checks before it are taken out of the way here."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from harden.elf import strip_file
from harden.elf._elffile import ElfError, read_elf
from harden.elf._layout import plan_strip
from harden.elf._verify import _pyelftools_agrees
from harden.elf.strip import DEFAULT_SECTIONS

Copy = Callable[[str], Path]


def _patch(path: Path, offset: int, fmt: str, change: Callable[[int], int]) -> None:
    with path.open("r+b") as out:
        out.seek(offset)
        (value,) = struct.unpack(fmt, out.read(struct.calcsize(fmt)))
        out.seek(offset)
        out.write(struct.pack(fmt, change(value)))


def _agree(src: Path, dst: Path) -> None:
    with src.open("rb") as stream:
        layout = plan_strip(read_elf(stream), stream, DEFAULT_SECTIONS)
    with src.open("rb") as old, dst.open("rb") as new:
        _pyelftools_agrees(ELFFile(old), ELFFile(new), layout)


@pytest.mark.parametrize("what", ["none", "program header", "dynamic tag"])
def test_pyelftools_sees_what_changed(fixture_copy: Copy, tmp_path: Path, what: str) -> None:
    src = fixture_copy("x86_64_debug.so")
    stripped = tmp_path / "stripped"
    assert strip_file(src, stripped).changed
    copy = tmp_path / "changed"
    shutil.copyfile(stripped, copy)
    with stripped.open("rb") as stream:
        elf = ELFFile(stream)
        last = elf.num_segments() - 1
        phdr = elf["e_phoff"] + last * elf["e_phentsize"]
        dynamic = next(s for s in elf.iter_segments() if s["p_type"] == "PT_DYNAMIC")["p_offset"]
    if what == "program header":
        _patch(copy, phdr + 48, "<Q", lambda align: align * 2)  # p_align of the last ELF64 program header
    elif what == "dynamic tag":
        _patch(copy, dynamic + 8, "<Q", lambda value: value + 1)  # d_val of the first tag
    if what == "none":
        _agree(src, copy)
        return
    with pytest.raises(ElfError, match="program headers differ" if what == "program header" else "dynamic tags"):
        _agree(src, copy)
