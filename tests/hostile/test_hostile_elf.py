"""Broken and unusual ELF files, end to end through ``harden image``: files named ``.so`` that are not ELF,
truncated ELF, a corrupted section header table, foreign architectures (aarch64, big-endian s390x and
PowerPC, 32-bit i386) and the patchelf layout (debug sections placed before loadable content).

The outcome is always a written image, never a crash: what can be stripped safely is stripped with every
loadable byte in place; what cannot is left byte for byte as it was, with the reason in report.json."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from hostile.hostile_scene import Scene
from hostile.hostile_support import base_layer, harden_to_archive, read_docker_archive, report_json
from imagefactory import directory, file, make_layer_tar

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "elf"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def corrupt_section_headers(data: bytes) -> bytes:
    """x86_64 ELF whose section header table is garbage (every byte 0xff), headers and segments intact."""
    shoff: int = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    size: int = shentsize * shnum
    assert shoff > 0 and shoff + size <= len(data)
    return data[:shoff] + b"\xff" * size + data[shoff + size:]


def section_table_beyond_eof(data: bytes) -> bytes:
    return data[:0x28] + struct.pack("<Q", len(data) * 4) + data[0x30:]


def bad_class(data: bytes) -> bytes:
    return data[:4] + b"\x09" + data[5:]


BROKEN: dict[str, bytes] = {
    "fake.so": b"this is not an ELF file, only named like one\n",
    "empty.so": b"",
    "magic-only.so": b"\x7fELF",
    "truncated.so": fixture("x86_64_debug.so")[:200],
    "truncated-half.so": fixture("x86_64_debug.so")[: len(fixture("x86_64_debug.so")) // 2],
    "corrupt-sht.so": corrupt_section_headers(fixture("x86_64_debug.so")),
    "sht-beyond-eof.so": section_table_beyond_eof(fixture("x86_64_debug.so")),
    "bad-class.so": bad_class(fixture("x86_64_debug.so")),
}
FOREIGN = ("aarch64_debug.so", "s390x_debug.so", "ppc_debug.so", "i386_debug.so")
DEBUG_BEFORE_LOAD = "x86_64_patchelf.so"


# e_shoff, e_shnum, e_shstrndx: the only ELF header fields (inside the first PT_LOAD) a stripper may rewrite
SECTION_HEADER_FIELDS = {1: ((0x20, 4), (0x30, 2), (0x32, 2)), 2: ((0x28, 8), (0x3C, 2), (0x3E, 2))}


def loadable_bytes(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(offset, vaddr, memsz, file bytes) of every PT_LOAD segment, section-header fields of the ELF header
    masked: what the loader maps must neither move nor change."""
    masked = bytearray(data)
    for offset, size in SECTION_HEADER_FIELDS[data[4]]:
        masked[offset:offset + size] = bytes(size)
    elf = ELFFile(io.BytesIO(data))
    return [(seg["p_offset"], seg["p_vaddr"], seg["p_memsz"],
             bytes(masked[seg["p_offset"]:seg["p_offset"] + seg["p_filesz"]]))
            for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"]


def section_names(data: bytes) -> set[str]:
    return {section.name for section in ELFFile(io.BytesIO(data)).iter_sections()}


@pytest.fixture
def hardened(scene: Scene) -> tuple[dict[str, Any], dict[str, Any]]:
    """One image with every broken, foreign and patchelf'd library, hardened; (entries, report.json)."""
    libs = [directory("app/lib")]
    libs += [file(f"app/lib/{name}", data, mode=0o755) for name, data in BROKEN.items()]
    libs += [file(f"app/lib/{name}", fixture(name), mode=0o755) for name in (*FOREIGN, DEBUG_BEFORE_LOAD)]
    archive = scene.archive([base_layer(), make_layer_tar(libs)])
    run = harden_to_archive(scene, archive)
    assert run.exit_code == 0, run.stdout + run.stderr
    assert scene.created_in(run, "out") == {"out.tar"}
    _, entries = read_docker_archive(scene.out / "out.tar")
    return entries, report_json(scene)


def skip_reasons(report: dict[str, Any]) -> dict[str, str]:
    return {s["path"]: s["reason"] for s in report["skipped"] if s["stage"] == "strip-debug"}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_files_are_left_untouched_with_a_reason(hardened: tuple[dict[str, Any], dict[str, Any]],
                                                       name: str) -> None:
    entries, report = hardened
    assert entries[f"app/lib/{name}"].data == BROKEN[name]
    reason = skip_reasons(report).get(f"/app/lib/{name}", "")
    expected = "not an ELF file" if not BROKEN[name].startswith(b"\x7fELF") else "malformed ELF"
    assert reason.startswith(expected), f"/app/lib/{name}: {reason!r}"
    if name == "magic-only.so":
        assert "(4 bytes)" in reason


@pytest.mark.parametrize("name", [*FOREIGN, DEBUG_BEFORE_LOAD])
def test_foreign_and_patchelf_libraries_keep_every_loadable_byte(
        hardened: tuple[dict[str, Any], dict[str, Any]], name: str) -> None:
    entries, report = hardened
    before, after = fixture(name), entries[f"app/lib/{name}"].data
    assert loadable_bytes(after) == loadable_bytes(before)
    changed = {c["target"] for c in report["changes"] if c["stage"] == "strip-debug"}
    if f"/app/lib/{name}" in changed:
        assert len(after) < len(before)
        assert not {n for n in section_names(after) if n.startswith((".debug", ".zdebug"))}
    else:
        assert after == before
        assert skip_reasons(report).get(f"/app/lib/{name}")


@pytest.mark.parametrize("name", FOREIGN)
def test_foreign_architectures_are_stripped(hardened: tuple[dict[str, Any], dict[str, Any]], name: str) -> None:
    """Stripping is a file-format operation: aarch64, big-endian and 32-bit libraries lose their debug
    sections like native ones (their loadable bytes are checked above)."""
    entries, _ = hardened
    assert ".debug_info" in section_names(fixture(name))
    assert ".debug_info" not in section_names(entries[f"app/lib/{name}"].data)
