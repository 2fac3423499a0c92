"""Prove a stripped file is what the layout promised, re-reading it with pyelftools (an independent parser).

Checked: the ELF header is unchanged but for e_shoff/e_shnum/e_shstrndx; the program headers are identical;
every covered range (ELF header, program header table, segments, alloc sections) is byte-identical; every kept
section has the same header fields and bytes; removed sections are gone; the dynamic segment still parses.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile

from harden.elf._elffile import ElfError, ElfFile, SectionHeader, read_elf
from harden.elf._layout import StripLayout

CHUNK = 1 << 20
_HEADER_FIELDS = (
    "e_ident", "e_type", "e_machine", "e_version", "e_entry", "e_phoff", "e_flags", "e_ehsize",
    "e_phentsize", "e_phnum", "e_shentsize",
)  # fmt: skip
_SECTION_FIELDS = ("sh_type", "sh_flags", "sh_addr", "sh_addralign", "sh_entsize")


def verify_stripped(src: Path, dst: Path, original: ElfFile, layout: StripLayout) -> None:
    """Raise ``ElfError`` naming the first difference that should not be there."""
    with src.open("rb") as old, dst.open("rb") as new:
        stripped = read_elf(new)
        if stripped.size != layout.size or stripped.size >= original.size:
            raise ElfError(f"output is {stripped.size} bytes, expected {layout.size} (< {original.size})")
        _same_covered_bytes(old, new, original, layout)
        _same_kept_sections(old, new, original, stripped, layout)
        try:
            _pyelftools_agrees(ELFFile(old), ELFFile(new), layout)
        except ElfError:
            raise
        except Exception as exc:  # any failure of the independent parser is a failed verification
            raise ElfError(f"pyelftools cannot read the output alike: {type(exc).__name__}: {exc}") from exc


def _same_covered_bytes(old: BinaryIO, new: BinaryIO, original: ElfFile, layout: StripLayout) -> None:
    masked = _masked_header_ranges(original)
    for start, end in layout.covered:
        for a, b in _split(start, end, masked):
            if _digest(old, a, b) != _digest(new, a, b):
                raise ElfError(f"bytes {a}..{b} covered by the program headers changed")


def _masked_header_ranges(elf: ElfFile) -> list[tuple[int, int]]:
    """The three ELF header fields a stripper rewrites."""
    return [(off, off + struct.calcsize(fmt)) for off, fmt in elf.encoding.shdr_fields_offsets()]


def _split(start: int, end: int, masked: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    cursor = start
    for m_start, m_end in sorted(masked):
        if m_end <= cursor or m_start >= end:
            continue
        if m_start > cursor:
            yield cursor, m_start
        cursor = max(cursor, m_end)
    if cursor < end:
        yield cursor, end


def _same_kept_sections(
    old: BinaryIO, new: BinaryIO, original: ElfFile, stripped: ElfFile, layout: StripLayout
) -> None:
    if len(stripped.sections) != layout.shnum:
        raise ElfError(f"output has {len(stripped.sections)} sections, expected {layout.shnum}")
    for section in original.sections:
        new_index = layout.index_map[section.index]
        if new_index is None:
            continue
        after = stripped.sections[new_index]
        if section.index in layout.dropped:
            if any(struct.unpack(stripped.encoding.shdr, _entry(new, stripped, new_index))):
                raise ElfError(f"the placeholder of removed section {section.name!r} is not empty")
            continue  # a removed section kept as an empty header so that section numbers stay true
        if (after.name, after.type, after.flags, after.addr) != (
            section.name,
            section.type,
            section.flags,
            section.addr,
        ):
            raise ElfError(f"section {section.name!r} changed its name, type, flags or address")
        if section.alloc and after.offset != section.offset:
            raise ElfError(f"alloc section {section.name!r} moved")
        info = _renumbered(layout, section.info) if section.info_is_section else section.info
        if (after.link, after.info) != (_renumbered(layout, section.link), info):
            raise ElfError(f"section {section.name!r} links to the wrong sections")
        rebuilt = section.index == original.header.shstrndx and layout.names is not None
        if section.has_file_bytes and not rebuilt and not _same_bytes(old, section, new, after):
            raise ElfError(f"the bytes of kept section {section.name!r} changed")


def _renumbered(layout: StripLayout, index: int) -> int | None:
    return layout.index_map[index] if index < len(layout.index_map) else index


def _same_bytes(old: BinaryIO, before: SectionHeader, new: BinaryIO, after: SectionHeader) -> bool:
    if before.size != after.size:
        return False
    return _digest(old, before.offset, before.file_end) == _digest(new, after.offset, after.file_end)


def _entry(stream: BinaryIO, elf: ElfFile, index: int) -> bytes:
    size = elf.encoding.shdr_size
    stream.seek(elf.header.shoff + index * size)
    return stream.read(size)


def _pyelftools_agrees(old: ELFFile, new: ELFFile, layout: StripLayout) -> None:
    for field in _HEADER_FIELDS:
        if old.header[field] != new.header[field]:
            raise ElfError(f"ELF header field {field} changed")
    if new.num_sections() != layout.shnum:
        raise ElfError("pyelftools counts a different number of sections")
    (old_headers, old_tags), (new_headers, new_tags) = _segments(old), _segments(new)
    if old_headers != new_headers:
        raise ElfError("program headers differ")
    for index, new_index in enumerate(layout.index_map):
        if new_index is None or index in layout.dropped:
            continue
        before, after = old.get_section(index), new.get_section(new_index)
        if before.name != after.name or any(before[f] != after[f] for f in _SECTION_FIELDS):
            raise ElfError(f"pyelftools sees section {before.name!r} differently")
    if old_tags != new_tags:
        raise ElfError("dynamic tags differ")


def _segments(elf: ELFFile) -> tuple[list[dict[str, Any]], list[tuple[Any, Any]]]:
    """Every program header, and the tags of the PT_DYNAMIC segments, in one pass: pyelftools builds a segment
    object each time it is asked, and a dynamic one looks through the section headers for its string table."""
    headers: list[dict[str, Any]] = []
    tags: list[tuple[Any, Any]] = []
    for segment in elf.iter_segments():
        headers.append(dict(segment.header))
        if segment.header.p_type != "PT_DYNAMIC":
            continue
        if not isinstance(segment, DynamicSegment):
            raise ElfError("pyelftools does not read PT_DYNAMIC as a dynamic segment")
        tags.extend((tag.entry.d_tag, tag.entry.d_val) for tag in segment.iter_tags())
    return headers, tags


def _digest(stream: BinaryIO, start: int, end: int) -> bytes:
    hasher = hashlib.sha256()
    stream.seek(start)
    remaining = end - start
    while remaining > 0:
        chunk = stream.read(min(CHUNK, remaining))
        if not chunk:
            raise ElfError(f"file ends before offset {end}")
        hasher.update(chunk)
        remaining -= len(chunk)
    return hasher.digest()
