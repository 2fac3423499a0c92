"""Build small synthetic ELF files with a chosen layout, written independently of harden's own ELF reader.

One PT_LOAD (and a PT_DYNAMIC inside it) maps the alloc sections ``.text``, ``.dynsym``, ``.dynstr`` and
``.dynamic``; every dynamic symbol is defined in ``.text``. Non-alloc sections go either between the program
headers and the loadable content (``before``) or after it (``after``), in the order given; the section table
order can be chosen separately. Used for layouts no linker produces (debug info before loadable content,
section numbers that shift) and for property tests over class, byte order and machine.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

ALLOC = (".text", ".dynsym", ".dynstr", ".dynamic")
PAGE = 0x1000

SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_DYNAMIC, SHT_DYNSYM = 1, 2, 3, 6, 11
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT = 0, 5, 6, 10, 11


@dataclass(frozen=True)
class Spec:
    elf_class: int = 64
    little_endian: bool = True
    machine: int = 62  # EM_X86_64
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = (".debug_info", ".comment", ".symtab", ".strtab", ".shstrtab")
    index_order: tuple[str, ...] | None = None  # section table order; default: alloc, before, after
    payload: int = 96
    dynamic_symbols: int = 3
    trailing: bytes = b""


@dataclass(frozen=True)
class Built:
    data: bytes
    load: tuple[int, int]  # file range of the PT_LOAD
    ranges: dict[str, tuple[int, int]]  # file range of every section by name


def _filler(name: str, size: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{name}:{counter}".encode()).digest()
        counter += 1
    return out[:size]


def build(spec: Spec) -> Built:
    e = "<" if spec.little_endian else ">"
    is64 = spec.elf_class == 64
    word = 8 if is64 else 4
    ehsize, phentsize, shentsize = (64, 56, 64) if is64 else (52, 32, 40)
    names = [*ALLOC, *spec.before, *spec.after]
    if ".shstrtab" not in names:
        names.append(".shstrtab")
    order = list(spec.index_order or names)
    assert sorted(order) == sorted(names), "index_order must be a permutation of all section names"
    index = {name: i + 1 for i, name in enumerate(order)}

    shstrtab = b"\0"
    name_offset = {}
    for name in order:
        name_offset[name] = len(shstrtab)
        shstrtab += name.encode() + b"\0"

    def sym(name_off: int, shndx: int, value: int) -> bytes:
        if is64:
            return struct.pack(e + "IBBHQQ", name_off, 0x12, 0, shndx, value, 4)
        return struct.pack(e + "IIIBBH", name_off, value, 4, 0x12, 0, shndx)

    dynstr = b"\0" + b"".join(f"sym{i}\0".encode() for i in range(spec.dynamic_symbols))
    strtab = b"\0" + b"".join(f"local{i}\0".encode() for i in range(max(1, spec.payload // 24)))

    # alloc region, laid out at PAGE with vaddr == offset
    text = _filler(".text", 64)
    alloc_layout: dict[str, tuple[int, bytes]] = {}
    cursor = PAGE
    alloc_layout[".text"] = (cursor, text)
    cursor += len(text)
    entsize = 24 if is64 else 16
    dynsym_off = cursor
    dynsym = bytes(entsize) + b"".join(
        sym(1 + 5 * i, index[".text"], PAGE + 4 * i) for i in range(spec.dynamic_symbols)
    )
    alloc_layout[".dynsym"] = (cursor, dynsym)
    cursor += len(dynsym)
    dynstr_off = cursor
    alloc_layout[".dynstr"] = (cursor, dynstr)
    cursor += len(dynstr)
    cursor = (cursor + 7) // 8 * 8
    dyn_fmt = e + ("qQ" if is64 else "iI")
    dynamic = b"".join(
        struct.pack(dyn_fmt, tag, value)
        for tag, value in (
            (DT_STRTAB, dynstr_off),
            (DT_SYMTAB, dynsym_off),
            (DT_STRSZ, len(dynstr)),
            (DT_SYMENT, entsize),
            (DT_NULL, 0),
        )
    )
    alloc_layout[".dynamic"] = (cursor, dynamic)
    cursor += len(dynamic)
    load_start, load_end = PAGE, cursor

    def content(name: str) -> bytes:
        if name == ".shstrtab":
            return shstrtab
        if name == ".strtab":
            return strtab
        if name == ".symtab":
            return bytes(entsize) + b"".join(
                sym(1, index[".text"], PAGE + i) for i in range(max(1, spec.payload // entsize))
            )
        return _filler(name, spec.payload)

    out = bytearray(PAGE)
    ranges: dict[str, tuple[int, int]] = {}
    cursor = ehsize + 2 * phentsize
    for name in spec.before:
        cursor = (cursor + 7) // 8 * 8
        data = content(name)
        out[cursor : cursor + len(data)] = data
        ranges[name] = (cursor, cursor + len(data))
        cursor += len(data)
    if cursor > PAGE:
        raise ValueError("too much data before the loadable content for this builder")
    out += bytes(load_end - PAGE)
    for name, (offset, data) in alloc_layout.items():
        out[offset : offset + len(data)] = data
        ranges[name] = (offset, offset + len(data))
    for name in spec.after:
        out += bytes((-len(out)) % 8)
        data = content(name)
        ranges[name] = (len(out), len(out) + len(data))
        out += data
    if ".shstrtab" not in spec.before and ".shstrtab" not in spec.after:
        ranges[".shstrtab"] = (len(out), len(out) + len(shstrtab))
        out += shstrtab
    out += bytes((-len(out)) % word)
    shoff = len(out)

    def shdr(name: str) -> bytes:
        start, end = ranges[name]
        sh_type, flags, addr, link, info, align, ent = SHT_PROGBITS, 0, 0, 0, 0, 1, 0
        if name == ".text":
            flags, addr, align = SHF_ALLOC | SHF_EXECINSTR, start, 16
        elif name == ".dynsym":
            sh_type, flags, addr, link, info, align, ent = (
                SHT_DYNSYM,
                SHF_ALLOC,
                start,
                index[".dynstr"],
                1,
                8,
                entsize,
            )
        elif name == ".dynstr":
            sh_type, flags, addr = SHT_STRTAB, SHF_ALLOC, start
        elif name == ".dynamic":
            sh_type, flags, addr, link, align = SHT_DYNAMIC, SHF_ALLOC | SHF_WRITE, start, index[".dynstr"], 8
            ent = 16 if is64 else 8
        elif name == ".symtab":
            sh_type, link, info, align, ent = SHT_SYMTAB, index.get(".strtab", 0), 1, 8, entsize
        elif name in (".strtab", ".shstrtab"):
            sh_type = SHT_STRTAB
        fmt = e + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
        return struct.pack(
            fmt, name_offset[name], sh_type, flags, addr, start, end - start, link, info, align, ent
        )

    out += bytes(shentsize) + b"".join(shdr(name) for name in order)
    out += spec.trailing

    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if spec.little_endian else 2, 1, 0]) + bytes(8)
    shnum, shstrndx = len(order) + 1, index[".shstrtab"]
    if is64:
        header = struct.pack(
            e + "HHIQQQIHHHHHH", 3, spec.machine, 1, PAGE, ehsize, shoff, 0, ehsize, phentsize, 2,
            shentsize, shnum, shstrndx,
        )  # fmt: skip
        phdr_fmt = e + "IIQQQQQQ"
        phdrs = struct.pack(phdr_fmt, PT_LOAD, 7, load_start, load_start, load_start, load_end - load_start,
                            load_end - load_start, PAGE)  # fmt: skip
        d_start, d_end = ranges[".dynamic"]
        phdrs += struct.pack(phdr_fmt, PT_DYNAMIC, 6, d_start, d_start, d_start, d_end - d_start,
                             d_end - d_start, 8)  # fmt: skip
    else:
        header = struct.pack(
            e + "HHIIIIIHHHHHH", 3, spec.machine, 1, PAGE, ehsize, shoff, 0, ehsize, phentsize, 2,
            shentsize, shnum, shstrndx,
        )  # fmt: skip
        phdr_fmt = e + "IIIIIIII"
        phdrs = struct.pack(phdr_fmt, PT_LOAD, load_start, load_start, load_start, load_end - load_start,
                            load_end - load_start, 7, PAGE)  # fmt: skip
        d_start, d_end = ranges[".dynamic"]
        phdrs += struct.pack(phdr_fmt, PT_DYNAMIC, d_start, d_start, d_start, d_end - d_start,
                             d_end - d_start, 6, 4)  # fmt: skip
    out[0 : ehsize + 2 * phentsize] = ident + header + phdrs
    return Built(bytes(out), (load_start, load_end), ranges)
