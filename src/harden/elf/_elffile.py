"""A small, strict reader of the ELF header, program headers and section headers.

Every field is kept as the exact integer found in the file, so a writer can re-emit headers bit for bit.
Any class (32/64) and byte order, any machine. Anything inconsistent (short header, tables or sections past
the end of the file, bad string offsets) raises ``ElfError`` with a message meant for a report. Names of
enum values (machine, type) come from pyelftools, which also re-parses every file the stripper writes.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from harden.errors import InputError

MAGIC = b"\x7fELF"

ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2

ET_REL = 1

SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_XINDEX = 0xFFFF

SHT_NULL = 0
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_RELA = 4
SHT_NOBITS = 8
SHT_REL = 9
SHT_DYNSYM = 11
SHT_GROUP = 17
SHT_SYMTAB_SHNDX = 18

SHF_ALLOC = 0x2
SHF_INFO_LINK = 0x40

PT_DYNAMIC = 2


class ElfError(InputError):
    """A file is not a well-formed ELF file."""


class UnsupportedElf(ElfError):
    """A well-formed ELF file using a feature this reader does not support (extended numbering)."""


@dataclass(frozen=True, slots=True)
class Encoding:
    """The class and byte order of one file, and the ``struct`` formats that follow from them."""

    elf_class: int  # 32 or 64
    little_endian: bool

    @property
    def order(self) -> str:
        return "<" if self.little_endian else ">"

    @property
    def ehdr(self) -> str:
        # after e_ident: type machine version entry phoff shoff flags ehsize
        #                phentsize phnum shentsize shnum shstrndx
        return self.order + ("HHIIIIIHHHHHH" if self.elf_class == 32 else "HHIQQQIHHHHHH")

    @property
    def phdr(self) -> str:
        # 32: type offset vaddr paddr filesz memsz flags align
        # 64: type flags offset vaddr paddr filesz memsz align
        return self.order + ("IIIIIIII" if self.elf_class == 32 else "IIQQQQQQ")

    @property
    def shdr(self) -> str:
        # name type flags addr offset size link info addralign entsize
        return self.order + ("IIIIIIIIII" if self.elf_class == 32 else "IIQQQQIIQQ")

    @property
    def sym(self) -> str:
        # only st_shndx matters here; the rest is skipped as padding
        return self.order + ("14xH" if self.elf_class == 32 else "6xH16x")

    @property
    def ehdr_size(self) -> int:
        return 16 + struct.calcsize(self.ehdr)

    @property
    def phdr_size(self) -> int:
        return struct.calcsize(self.phdr)

    @property
    def shdr_size(self) -> int:
        return struct.calcsize(self.shdr)

    @property
    def word(self) -> int:
        return 4 if self.elf_class == 32 else 8

    def shdr_fields_offsets(self) -> tuple[tuple[int, str], tuple[int, str], tuple[int, str]]:
        """(offset, format) of e_shoff, e_shnum and e_shstrndx inside the ELF header."""
        if self.elf_class == 32:
            return (0x20, self.order + "I"), (0x30, self.order + "H"), (0x32, self.order + "H")
        return (0x28, self.order + "Q"), (0x3C, self.order + "H"), (0x3E, self.order + "H")


@dataclass(frozen=True, slots=True)
class ElfHeader:
    encoding: Encoding
    ident: bytes
    type: int
    machine: int
    version: int
    entry: int
    phoff: int
    shoff: int
    flags: int
    ehsize: int
    phentsize: int
    phnum: int
    shentsize: int
    shnum: int
    shstrndx: int


@dataclass(frozen=True, slots=True)
class ProgramHeader:
    type: int
    flags: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    align: int

    @property
    def file_end(self) -> int:
        return self.offset + self.filesz


@dataclass(frozen=True, slots=True)
class SectionHeader:
    index: int
    name: str
    sh_name: int
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int
    raw_name: bytes = b""  # the name exactly as stored (``name`` is decoded for display and matching)

    @property
    def alloc(self) -> bool:
        return bool(self.flags & SHF_ALLOC)

    @property
    def has_file_bytes(self) -> bool:
        return self.type not in (SHT_NOBITS, SHT_NULL) and self.size > 0

    @property
    def file_end(self) -> int:
        return self.offset + self.size

    @property
    def info_is_section(self) -> bool:
        """Whether ``sh_info`` holds a section index (relocations, or the SHF_INFO_LINK flag)."""
        return self.type in (SHT_REL, SHT_RELA) or bool(self.flags & SHF_INFO_LINK)

    def pack(
        self, encoding: Encoding, *, sh_name: int, offset: int, link: int, info: int, size: int | None = None
    ) -> bytes:
        """This header with the given fields changed, in the file's encoding."""
        return struct.pack(
            encoding.shdr,
            sh_name,
            self.type,
            self.flags,
            self.addr,
            offset,
            self.size if size is None else size,
            link,
            info,
            self.addralign,
            self.entsize,
        )


@dataclass(frozen=True, slots=True)
class ElfFile:
    """The parsed headers of one file of ``size`` bytes."""

    header: ElfHeader
    segments: tuple[ProgramHeader, ...]
    sections: tuple[SectionHeader, ...]
    size: int

    @property
    def encoding(self) -> Encoding:
        return self.header.encoding


def read_exact(stream: BinaryIO, offset: int, length: int) -> bytes:
    stream.seek(offset)
    data = stream.read(length)
    if len(data) != length:
        raise ElfError(f"truncated: wanted {length} bytes at offset {offset}, file ends earlier")
    return data


def read_encoding(ident: bytes) -> Encoding:
    if len(ident) < 16:
        raise ElfError(f"too short for an ELF header ({len(ident)} bytes)")
    if ident[:4] != MAGIC:
        raise ElfError("no ELF magic")
    if ident[4] not in (ELFCLASS32, ELFCLASS64):
        raise ElfError(f"bad EI_CLASS {ident[4]}")
    if ident[5] not in (ELFDATA2LSB, ELFDATA2MSB):
        raise ElfError(f"bad EI_DATA {ident[5]}")
    if ident[6] != 1:
        raise ElfError(f"bad EI_VERSION {ident[6]}")
    return Encoding(elf_class=32 if ident[4] == ELFCLASS32 else 64, little_endian=ident[5] == ELFDATA2LSB)


def read_header(stream: BinaryIO) -> ElfHeader:
    ident = read_exact(stream, 0, min(16, _size(stream)))
    encoding = read_encoding(ident)
    if _size(stream) < encoding.ehdr_size:
        raise ElfError(f"truncated ELF header ({_size(stream)} bytes)")
    fields = struct.unpack(encoding.ehdr, read_exact(stream, 16, encoding.ehdr_size - 16))
    return ElfHeader(encoding, ident, *fields)


def read_elf(stream: BinaryIO) -> ElfFile:
    """Parse and check the headers of the ELF file in ``stream`` (seekable, binary)."""
    size = _size(stream)
    header = read_header(stream)
    enc = header.encoding
    if header.ehsize < enc.ehdr_size:
        raise ElfError(f"e_ehsize {header.ehsize} is smaller than an ELF{enc.elf_class} header")
    segments = _read_segments(stream, header, size)
    sections = _read_sections(stream, header, size)
    return ElfFile(header=header, segments=segments, sections=sections, size=size)


def _size(stream: BinaryIO) -> int:
    return os.fstat(stream.fileno()).st_size


def _read_segments(stream: BinaryIO, header: ElfHeader, size: int) -> tuple[ProgramHeader, ...]:
    enc = header.encoding
    if header.phnum == 0:
        return ()
    if header.phentsize != enc.phdr_size:
        raise ElfError(f"e_phentsize {header.phentsize}, expected {enc.phdr_size}")
    if header.phnum == 0xFFFF:
        raise UnsupportedElf("extended program header numbering (e_phnum == PN_XNUM) is not supported")
    table = _table(stream, header.phoff, header.phnum, enc.phdr_size, size, "program header table")
    segments = []
    for i, raw in enumerate(struct.iter_unpack(enc.phdr, table)):
        if enc.elf_class == 32:
            p_type, offset, vaddr, paddr, filesz, memsz, flags, align = raw
        else:
            p_type, flags, offset, vaddr, paddr, filesz, memsz, align = raw
        segment = ProgramHeader(p_type, flags, offset, vaddr, paddr, filesz, memsz, align)
        if segment.filesz and segment.file_end > size:
            raise ElfError(
                f"segment {i} ends at {segment.file_end}, past the end of the file ({size}): truncated"
            )
        segments.append(segment)
    return tuple(segments)


def _read_sections(stream: BinaryIO, header: ElfHeader, size: int) -> tuple[SectionHeader, ...]:
    enc = header.encoding
    if header.shoff == 0:
        return ()
    if header.shnum == 0:
        raise UnsupportedElf("extended section numbering (e_shnum == 0) is not supported")
    if header.shstrndx == SHN_XINDEX:
        raise UnsupportedElf("extended section numbering (e_shstrndx == SHN_XINDEX) is not supported")
    if header.shentsize != enc.shdr_size:
        raise ElfError(f"e_shentsize {header.shentsize}, expected {enc.shdr_size}")
    if header.shstrndx >= header.shnum:
        raise ElfError(f"e_shstrndx {header.shstrndx} is not below e_shnum {header.shnum}")
    table = _table(stream, header.shoff, header.shnum, enc.shdr_size, size, "section header table")
    raws = list(struct.iter_unpack(enc.shdr, table))
    for i, raw in enumerate(raws):
        sh_type, sh_offset, sh_size = raw[1], raw[4], raw[5]
        if sh_type not in (SHT_NOBITS, SHT_NULL) and sh_size and sh_offset + sh_size > size:
            raise ElfError(
                f"section {i} ends at {sh_offset + sh_size}, past the end of the file ({size}): truncated"
            )
        if raw[6] >= header.shnum and i != 0:
            raise ElfError(f"section {i} has sh_link {raw[6]}, not below e_shnum {header.shnum}")
    names = b""
    if header.shstrndx != SHN_UNDEF:
        strtab = raws[header.shstrndx]
        if strtab[1] == SHT_NOBITS:
            raise ElfError("the section name string table has no bytes in the file")
        names = read_exact(stream, strtab[4], strtab[5])
    sections = []
    for i, (sh_name, sh_type, flags, addr, offset, size_, link, info, addralign, entsize) in enumerate(raws):
        raw_name = _name(names, sh_name, i) if names else b""
        name = raw_name.decode("utf-8", errors="replace")
        sections.append(
            SectionHeader(
                i,
                name,
                sh_name,
                sh_type,
                flags,
                addr,
                offset,
                size_,
                link,
                info,
                addralign,
                entsize,
                raw_name,
            )
        )
    return tuple(sections)


def _table(stream: BinaryIO, offset: int, count: int, entsize: int, size: int, what: str) -> bytes:
    end = offset + count * entsize
    if end > size:
        raise ElfError(f"{what} ends at {end}, past the end of the file ({size}): truncated or corrupt")
    return read_exact(stream, offset, count * entsize)


def _name(names: bytes, offset: int, index: int) -> bytes:
    if offset >= len(names):
        if offset == 0:
            return b""
        raise ElfError(f"section {index} has name offset {offset} outside the name string table")
    end = names.find(b"\0", offset)
    return names[offset:] if end < 0 else names[offset:end]
