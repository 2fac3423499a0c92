"""Strip debug sections and the static symbol table from ELF files, never touching what the loader maps.

binutils ``strip`` re-lays out files and breaks libraries that patchelf/auditwheel rewrote ("ELF load
command address/offset not page-aligned"); LIEF's ``remove_section`` zeroes bytes but keeps the size. This
stripper keeps every byte covered by a program header where it is, removes non-alloc sections that lie after
the loadable content, writes a new section header table and truncates. The output is re-read with pyelftools
and compared with the input before it is reported as changed.

Backends are chosen by name, as auditwheel does: ``pyelftools`` (this stripper) or ``none`` (strip nothing).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, get_args

from harden.elf._elffile import ElfError, ElfFile, UnsupportedElf, read_elf
from harden.elf._layout import StripLayout, Unstrippable, plan_strip
from harden.elf._verify import verify_stripped
from harden.elf.inspect import is_elf
from harden.errors import PolicyError

log = logging.getLogger(__name__)

DEFAULT_SECTIONS: tuple[str, ...] = (".debug*", ".zdebug*", ".symtab", ".strtab")
Backend = Literal["pyelftools", "none"]
"""The strip backends by name (strip-debug's ``backend`` setting)."""
BACKENDS: tuple[str, ...] = get_args(Backend)
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class StripResult:
    """What stripping one file did. ``dst`` was written if and only if ``changed``."""

    changed: bool
    removed_sections: tuple[str, ...] = ()
    bytes_before: int = 0
    bytes_after: int = 0
    skipped_reason: str | None = None

    @property
    def saved(self) -> int:
        return self.bytes_before - self.bytes_after if self.changed else 0


Stripper = Callable[..., StripResult]


def stripper_for(backend: str) -> Stripper | None:
    """The strip function of a backend, or None for ``none``; PolicyError for an unknown name."""
    if backend == "pyelftools":
        return strip_file
    if backend == "none":
        return None
    raise PolicyError(
        "unknown strip backend", details=[f"strip-debug.backend: {backend!r} not in {BACKENDS}"]
    )


def strip_file(src: Path, dst: Path, *, sections: Sequence[str] = DEFAULT_SECTIONS) -> StripResult:
    """Write a stripped copy of ``src`` to ``dst`` if that saves bytes; never raises for a bad input file.

    ``sections`` are fnmatch patterns on section names; only non-alloc sections can match.
    """
    size = src.stat().st_size
    with src.open("rb") as stream:
        head = stream.read(16)
        if not is_elf(head):
            return _skipped(size, "not an ELF file (no \\x7fELF magic)")
        try:
            elf = read_elf(stream)
        except UnsupportedElf as exc:
            return _skipped(size, f"unsupported ELF: {exc.message}")
        except ElfError as exc:
            return _skipped(size, f"malformed ELF: {exc.message}")
        try:
            layout = plan_strip(elf, stream, tuple(sections))
        except Unstrippable as exc:
            return _skipped(size, str(exc))
        except ElfError as exc:
            return _skipped(size, f"malformed ELF: {exc.message}")
        try:
            _write(stream, dst, elf, layout)
        except ElfError as exc:
            dst.unlink(missing_ok=True)
            return _skipped(size, exc.message)
    try:
        verify_stripped(src, dst, elf, layout)
    except ElfError as exc:
        dst.unlink(missing_ok=True)
        log.warning("stripped copy of %s failed verification, left unchanged: %s", src, exc.message)
        return _skipped(size, f"stripped output failed verification: {exc.message}")
    return StripResult(
        changed=True, removed_sections=layout.removed, bytes_before=size, bytes_after=layout.size
    )


def _skipped(size: int, reason: str) -> StripResult:
    return StripResult(changed=False, bytes_before=size, bytes_after=size, skipped_reason=reason)


def _write(src: BinaryIO, dst: Path, elf: ElfFile, layout: StripLayout) -> None:
    with dst.open("wb") as out:
        _copy(src, out, 0, layout.prefix_end)
        for start, end in layout.holes:
            out.seek(start)
            _zeros(out, end - start)
        values = (layout.shoff, layout.shnum, layout.shstrndx)
        for (offset, fmt), value in zip(elf.encoding.shdr_fields_offsets(), values, strict=True):
            out.seek(offset)
            out.write(struct.pack(fmt, value))
        out.seek(layout.prefix_end)
        for move in layout.moves:
            _zeros(out, move.dst_offset - out.tell())
            _copy(src, out, move.src_offset, move.src_offset + move.size)
        if layout.names is not None:
            _zeros(out, layout.names_offset - out.tell())
            out.write(layout.names)
        _zeros(out, layout.shoff - out.tell())
        out.write(layout.section_table)
        out.truncate()


def _copy(src: BinaryIO, out: BinaryIO, start: int, end: int) -> None:
    src.seek(start)
    remaining = end - start
    while remaining > 0:
        chunk = src.read(min(CHUNK, remaining))
        if not chunk:
            raise ElfError(f"file shrank while being read (offset {end - remaining})")
        out.write(chunk)
        remaining -= len(chunk)


def _zeros(out: BinaryIO, count: int) -> None:
    while count > 0:
        step = min(CHUNK, count)
        out.write(bytes(step))
        count -= step
