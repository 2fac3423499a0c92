"""Plan the layout of a stripped ELF file without moving anything the loader sees.

Covered bytes — the ELF header, the program header table, every segment's file bytes (all program header
types, not only PT_LOAD) and every SHF_ALLOC section — stay at their offsets, byte for byte, and so does
everything before the last covered byte (the "prefix"). Only non-alloc sections after the prefix can go away:
the kept ones are copied after the prefix, a fresh section header table follows, and the file ends there.
Dropped sections inside the prefix but outside anything covered are zeroed (their information goes; their
space cannot).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import BinaryIO

from harden.elf._elffile import (
    ET_REL,
    SHN_LORESERVE,
    SHN_XINDEX,
    SHT_DYNSYM,
    SHT_GROUP,
    SHT_SYMTAB_SHNDX,
    ElfFile,
    SectionHeader,
    read_exact,
)

Range = tuple[int, int]

MAX_UNACCOUNTED_GAP = 1 << 20
"""Bytes after the prefix that belong to no section are read to prove they are zero padding; larger gaps are
taken for data."""


class Unstrippable(Exception):
    """This file is left alone; the message says why (recorded as a skip reason)."""


@dataclass(frozen=True, slots=True)
class Move:
    """A kept section copied from ``src_offset`` to ``dst_offset``."""

    src_offset: int
    size: int
    dst_offset: int


@dataclass(frozen=True, slots=True)
class StripLayout:
    prefix_end: int
    covered: tuple[Range, ...]
    holes: tuple[Range, ...]
    moves: tuple[Move, ...]
    names: bytes | None  # a rebuilt section name string table, or None when the old one is kept
    names_offset: int
    section_table: bytes
    shoff: int
    shnum: int
    shstrndx: int
    size: int
    removed: tuple[str, ...]
    dropped: frozenset[int]
    index_map: tuple[int | None, ...]  # old section index -> new index (None: dropped)


def plan_strip(elf: ElfFile, stream: BinaryIO, patterns: Sequence[str]) -> StripLayout:
    """Decide what a stripped copy of ``elf`` looks like; ``Unstrippable`` if nothing can be saved safely."""
    if not elf.sections:
        raise Unstrippable("already stripped: no section header table")
    if elf.header.type == ET_REL:
        raise Unstrippable("relocatable object: its symbol table is needed to link it")
    drop = _matching(elf.sections, elf.header.shstrndx, patterns)
    if not drop:
        raise Unstrippable(f"already stripped: no section matches {', '.join(patterns)}")
    drop = _cascade(elf.sections, drop)
    _check_links(elf.sections, drop)
    covered = _merge(_covered(elf))
    prefix_end = max(end for _, end in covered)
    _check_unaccounted(elf, stream, prefix_end)
    keep_numbering = _dynsym_needs_numbering(elf, stream, min(drop))
    return _layout(elf, drop, covered, prefix_end, keep_numbering)


def _matching(sections: Sequence[SectionHeader], shstrndx: int, patterns: Sequence[str]) -> set[int]:
    return {
        s.index
        for s in sections
        if s.index not in (0, shstrndx) and not s.alloc and any(fnmatchcase(s.name, p) for p in patterns)
    }


def _cascade(sections: Sequence[SectionHeader], drop: set[int]) -> set[int]:
    """Also drop non-alloc relocations of dropped sections, and index tables of dropped symbol tables."""
    drop = set(drop)
    changed = True
    while changed:
        changed = False
        for s in sections:
            if s.index in drop or s.alloc or s.index == 0:
                continue
            if (s.info_is_section and s.info in drop) or (s.type == SHT_SYMTAB_SHNDX and s.link in drop):
                drop.add(s.index)
                changed = True
    return drop


def _check_links(sections: Sequence[SectionHeader], drop: set[int]) -> None:
    for s in sections:
        if s.index in drop or s.index == 0:
            continue
        if s.type == SHT_GROUP:
            raise Unstrippable(f"section group {s.name!r} refers to the symbol table")
        if s.link in drop:
            raise Unstrippable(f"kept section {s.name!r} links to removed section {sections[s.link].name!r}")
        if s.info_is_section and s.info in drop:
            raise Unstrippable(
                f"kept section {s.name!r} applies to removed section {sections[s.info].name!r}"
            )


def _covered(elf: ElfFile) -> Iterable[Range]:
    header = elf.header
    yield 0, header.ehsize
    if header.phnum:
        yield header.phoff, header.phoff + header.phnum * header.phentsize
    for segment in elf.segments:
        if segment.filesz:
            yield segment.offset, segment.file_end
    for section in elf.sections:
        if section.alloc and section.has_file_bytes:
            yield section.offset, section.file_end


def _merge(ranges: Iterable[Range]) -> tuple[Range, ...]:
    merged: list[list[int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((a, b) for a, b in merged)


def _subtract(ranges: Iterable[Range], remove: Sequence[Range]) -> list[Range]:
    out: list[Range] = []
    for start, end in _merge(ranges):
        cursor = start
        for r_start, r_end in remove:
            if r_end <= cursor or r_start >= end:
                continue
            if r_start > cursor:
                out.append((cursor, r_start))
            cursor = max(cursor, r_end)
        if cursor < end:
            out.append((cursor, end))
    return out


def _check_unaccounted(elf: ElfFile, stream: BinaryIO, prefix_end: int) -> None:
    """Refuse files with data after the prefix that no section describes (appended archive, signature)."""
    known = [(s.offset, s.file_end) for s in elf.sections if s.has_file_bytes]
    header = elf.header
    known.append((header.shoff, header.shoff + header.shnum * header.shentsize))
    known.append((0, prefix_end))
    for start, end in _subtract([(prefix_end, elf.size)], _merge(known)):
        if end - start > MAX_UNACCOUNTED_GAP or any(read_exact(stream, start, end - start)):
            raise Unstrippable(
                f"{end - start} bytes at offset {start} belong to no section or segment (appended data?)"
            )


def _dynsym_needs_numbering(elf: ElfFile, stream: BinaryIO, first_dropped: int) -> bool:
    """Whether a dynamic symbol names a section at or after the first dropped one (indices must not shift).

    The dynamic symbol table lies inside a segment and must not change, so its ``st_shndx`` must stay true.
    """
    fmt = elf.encoding.sym
    entsize = struct.calcsize(fmt)
    for s in elf.sections:
        if s.type != SHT_DYNSYM or not s.has_file_bytes:
            continue
        data = read_exact(stream, s.offset, s.size - s.size % entsize)
        for (shndx,) in struct.iter_unpack(fmt, data):
            if first_dropped <= shndx < SHN_LORESERVE or shndx == SHN_XINDEX:
                return True
    return False


def _align(value: int, alignment: int) -> int:
    if alignment <= 1:
        return value
    return (value + alignment - 1) // alignment * alignment


def _layout(
    elf: ElfFile, drop: set[int], covered: tuple[Range, ...], prefix_end: int, keep_numbering: bool
) -> StripLayout:
    sections = elf.sections
    enc = elf.encoding
    shstrndx = elf.header.shstrndx
    index_map: list[int | None] = []
    next_index = 0
    for s in sections:
        if s.index in drop and not keep_numbering:
            index_map.append(None)
        else:
            index_map.append(next_index)
            next_index += 1
    kept = [s for s in sections if s.index not in drop]

    rebuild = (
        shstrndx != 0
        and not sections[shstrndx].alloc
        and all(s.link != shstrndx or s.index == 0 for s in kept)
    )
    name_offsets: dict[int, int] = {}
    names: bytes | None = None
    if rebuild:
        table = bytearray(b"\0")
        by_name: dict[bytes, int] = {}
        for s in kept:
            if s.index == 0:
                continue
            if s.raw_name not in by_name:
                by_name[s.raw_name] = len(table)
                table += s.raw_name + b"\0"
            name_offsets[s.index] = by_name[s.raw_name]
        names = bytes(table)

    offsets: dict[int, int] = {}
    moves: list[Move] = []
    cursor = prefix_end
    for s in sorted(kept, key=lambda s: (s.offset, s.index)):
        if s.index == 0 or (rebuild and s.index == shstrndx):
            continue
        if s.alloc or (s.has_file_bytes and s.file_end <= prefix_end):
            offsets[s.index] = s.offset
        elif not s.has_file_bytes:
            offsets[s.index] = s.offset if s.offset <= prefix_end else cursor
        else:
            cursor = _align(cursor, s.addralign)
            moves.append(Move(s.offset, s.size, cursor))
            offsets[s.index] = cursor
            cursor += s.size
    names_offset = 0
    if names is not None:
        names_offset = cursor = _align(cursor, sections[shstrndx].addralign)
        offsets[shstrndx] = names_offset
        cursor += len(names)

    entries: list[bytes] = []
    for s in sections:
        if index_map[s.index] is None:
            continue
        if s.index in drop or s.index == 0:
            entries.append(bytes(enc.shdr_size) if s.index in drop else _null_entry(elf, s))
            continue
        entries.append(
            s.pack(
                enc,
                sh_name=name_offsets.get(s.index, 0) if rebuild else s.sh_name,
                offset=offsets[s.index],
                link=_mapped(index_map, s.link),
                info=_mapped(index_map, s.info) if s.info_is_section else s.info,
                size=len(names) if names is not None and s.index == shstrndx else None,
            )
        )
    shoff = _align(cursor, enc.word)
    table_bytes = b"".join(entries)
    size = shoff + len(table_bytes)
    if size >= elf.size:
        raise Unstrippable(
            "nothing to save: the matching sections lie inside or before loadable content "
            f"({', '.join(sections[i].name for i in sorted(drop))})"
        )
    protect = _merge([*covered, *((s.offset, s.file_end) for s in kept if s.has_file_bytes)])
    dropped_ranges = [
        (s.offset, min(s.file_end, prefix_end)) for s in sections if s.index in drop and s.has_file_bytes
    ]
    holes = tuple(_subtract([r for r in dropped_ranges if r[1] > r[0]], protect))
    new_shstrndx = _mapped(index_map, shstrndx)
    return StripLayout(
        prefix_end=prefix_end,
        covered=covered,
        holes=holes,
        moves=tuple(moves),
        names=names,
        names_offset=names_offset,
        section_table=table_bytes,
        shoff=shoff,
        shnum=len(entries),
        shstrndx=new_shstrndx,
        size=size,
        removed=tuple(sections[i].name for i in sorted(drop)),
        dropped=frozenset(drop),
        index_map=tuple(index_map),
    )


def _mapped(index_map: Sequence[int | None], index: int) -> int:
    if index >= len(index_map):
        return index  # a reserved value (SHN_ABS …), not an index
    new = index_map[index]
    if new is None:
        raise Unstrippable(f"a kept header refers to removed section {index}")
    return new


def _null_entry(elf: ElfFile, section: SectionHeader) -> bytes:
    """Section 0 exactly as it was (it may carry extended-numbering fields, which are rejected earlier)."""
    return section.pack(
        elf.encoding, sh_name=section.sh_name, offset=section.offset, link=section.link, info=section.info
    )
