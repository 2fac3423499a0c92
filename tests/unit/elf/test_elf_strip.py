from __future__ import annotations

import ctypes
import os
import platform
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import elf_synth
import pytest
from elf_checks import (
    assert_lief_agrees,
    assert_nothing_matches,
    assert_segments_preserved,
    defined_dynamic_symbols,
    section_bytes,
    section_names,
    segments,
)
from elf_fixtures import DEBUG_LIBRARIES, FIXTURES
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import Section
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harden.elf import DEFAULT_SECTIONS, inspect_elf, strip_file, stripper_for
from harden.elf import strip as strip_module
from harden.errors import PolicyError

Copy = Callable[[str], Path]
ON_X86_64_LINUX = platform.machine() == "x86_64" and platform.system() == "Linux"


@pytest.mark.parametrize("name", [*DEBUG_LIBRARIES, "x86_64_debug_exe"])
def test_debug_info_and_symtab_go_and_segments_stay(fixture_copy: Copy, tmp_path: Path, name: str) -> None:
    src = fixture_copy(name)
    dst = tmp_path / "out"
    result = strip_file(src, dst)

    assert result.changed and result.skipped_reason is None
    assert result.bytes_before == src.stat().st_size
    assert result.bytes_after == dst.stat().st_size < result.bytes_before
    assert {".debug_info", ".symtab", ".strtab"} <= set(result.removed_sections)
    assert_segments_preserved(src, dst)
    assert_nothing_matches(dst, DEFAULT_SECTIONS)
    assert_lief_agrees(src, dst)
    info = inspect_elf(dst)
    assert info.stripped
    assert {".dynsym", ".dynstr", ".dynamic", ".note.gnu.build-id", ".shstrtab"} <= set(info.sections)
    assert defined_dynamic_symbols(dst) == defined_dynamic_symbols(src)
    kept_before = {k: v for k, v in section_bytes(src).items() if k not in result.removed_sections}
    kept_after = section_bytes(dst)
    assert kept_before.keys() == kept_after.keys()
    assert all(kept_before[k] == kept_after[k] for k in kept_before if k != ".shstrtab")


def test_symbol_table_alone_goes_from_a_library_without_debug_info(
    fixture_copy: Copy, tmp_path: Path
) -> None:
    src = fixture_copy("x86_64_nodebug.so")
    result = strip_file(src, tmp_path / "out")
    assert result.changed and result.removed_sections == (".symtab", ".strtab")
    assert_segments_preserved(src, tmp_path / "out")


def test_compressed_debug_sections_are_removed(fixture_copy: Copy, tmp_path: Path) -> None:
    src = fixture_copy("x86_64_gz.so")
    assert _is_compressed(src, ".debug_info")
    result = strip_file(src, tmp_path / "out")
    assert result.changed and ".debug_info" in result.removed_sections


def _is_compressed(path: Path, section: str) -> bool:
    with path.open("rb") as stream:
        found = ELFFile(stream).get_section_by_name(section)
        assert found is not None
        return bool(found["sh_flags"] & 0x800)  # SHF_COMPRESSED


@pytest.mark.skipif(not ON_X86_64_LINUX, reason="loads an x86_64 library into this process")
def test_stripped_library_still_loads_and_works(fixture_copy: Copy, tmp_path: Path) -> None:
    dst = tmp_path / "libstripped.so"
    assert strip_file(fixture_copy("x86_64_debug.so"), dst).changed
    library = ctypes.CDLL(str(dst))
    assert library.harden_add(40, 2) == 42
    library.harden_greeting.restype = ctypes.c_char_p
    assert library.harden_greeting() == b"hello from harden"
    library.harden_length.restype = ctypes.c_ulong
    assert library.harden_length(b"four") == 4


@pytest.mark.skipif(not ON_X86_64_LINUX, reason="runs an x86_64 executable")
def test_stripped_executable_still_runs(fixture_copy: Copy, tmp_path: Path) -> None:
    dst = tmp_path / "stripped-exe"
    assert strip_file(fixture_copy("x86_64_debug_exe"), dst).changed
    dst.chmod(0o755)
    done = subprocess.run([str(dst), "1", "2", "39"], capture_output=True, text=True, check=True)
    assert done.stdout == "sum=42\n"


def test_stripping_twice_finds_nothing_and_output_is_deterministic(
    fixture_copy: Copy, tmp_path: Path
) -> None:
    src = fixture_copy("aarch64_debug.so")
    first, second, again = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert strip_file(src, first).changed and strip_file(src, second).changed
    assert first.read_bytes() == second.read_bytes()
    result = strip_file(first, again)
    assert not result.changed and result.skipped_reason is not None
    assert result.skipped_reason.startswith("already stripped")
    assert not again.exists()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("x86_64_stripped.so", "already stripped: no section matches"),
        ("x86_64_debug.o", "relocatable object"),
        ("x86_64_patchelf.so", "nothing to save"),
    ],
)
def test_files_left_alone_with_a_reason(fixture_copy: Copy, tmp_path: Path, name: str, reason: str) -> None:
    src = fixture_copy(name)
    dst = tmp_path / "out"
    result = strip_file(src, dst)
    assert not result.changed and result.saved == 0
    assert result.skipped_reason is not None and reason in result.skipped_reason
    assert result.bytes_before == result.bytes_after == src.stat().st_size
    assert not dst.exists()


def test_patchelf_layout_keeps_its_trailing_segment(fixture_copy: Copy) -> None:
    """The auditwheel case: a PT_LOAD after the debug sections means no byte can be cut, so none is."""
    src = fixture_copy("x86_64_patchelf.so")
    loads = [s for s in segments(src) if s["p_type"] == "PT_LOAD"]
    last = max(s["p_offset"] + s["p_filesz"] for s in loads)
    debug_end = max(s["sh_offset"] + s["sh_size"] for s in _sections(src) if s.name.startswith(".debug"))
    assert debug_end < last  # the fixture really has debug info before loadable content


def _sections(path: Path) -> list[Section]:
    with path.open("rb") as stream:
        return list(ELFFile(stream).iter_sections())


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _edit(name: str, offset: int, fmt: str, value: int) -> bytes:
    data = bytearray((FIXTURES / name).read_bytes())
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not an ELF file"),
        (b"INPUT(-lfoo)\n", "not an ELF file"),  # a linker script named libfoo.so
        (b"\x7fELF", "malformed ELF: too short"),
        ((FIXTURES / "x86_64_debug.so").read_bytes()[:3000], "malformed ELF"),
        (_edit("x86_64_debug.so", 0x28, "<Q", 1 << 40), "malformed ELF: section header table ends"),
        (_edit("x86_64_debug.so", 0x3E, "<H", 500), "malformed ELF: e_shstrndx"),
        (_edit("x86_64_debug.so", 0x3C, "<H", 0), "unsupported ELF: extended section numbering"),
        (_edit("ppc_debug.so", 0x2E, ">H", 3), "malformed ELF: e_shentsize"),
    ],
    ids=["empty", "text", "magic-only", "truncated", "shoff", "shstrndx", "shnum-zero", "shentsize-be32"],
)
def test_bad_input_is_skipped_never_raised(tmp_path: Path, data: bytes, reason: str) -> None:
    src = _write(tmp_path, "lib.so", data)
    result = strip_file(src, tmp_path / "out")
    assert not result.changed
    assert result.skipped_reason is not None and result.skipped_reason.startswith(reason)
    assert not (tmp_path / "out").exists()


def test_appended_data_is_never_cut_off(tmp_path: Path) -> None:
    """Self-extracting executables (PyInstaller) append an archive no section describes."""
    data = (FIXTURES / "x86_64_debug.so").read_bytes() + b"MEI\x0c\x0b\x0a\x0b\x0e" * 64
    result = strip_file(_write(tmp_path, "app", data), tmp_path / "out")
    assert not result.changed and "appended data" in (result.skipped_reason or "")


def test_trailing_zero_padding_may_go(tmp_path: Path) -> None:
    src = _write(tmp_path, "lib.so", (FIXTURES / "x86_64_debug.so").read_bytes() + bytes(100))
    result = strip_file(src, tmp_path / "out")
    assert result.changed
    assert_segments_preserved(src, tmp_path / "out")


def test_section_patterns_choose_what_goes(fixture_copy: Copy, tmp_path: Path) -> None:
    src = fixture_copy("s390x_debug.so")
    only_symbols = strip_file(src, tmp_path / "symbols", sections=(".symtab", ".strtab"))
    assert only_symbols.removed_sections == (".symtab", ".strtab")
    assert ".debug_info" in section_names(tmp_path / "symbols")
    only_debug = strip_file(src, tmp_path / "debug", sections=(".debug*",))
    assert only_debug.changed and ".symtab" not in only_debug.removed_sections
    assert ".symtab" in section_names(tmp_path / "debug")
    assert not any(n.startswith(".debug") for n in section_names(tmp_path / "debug"))
    # alloc sections never match, whatever the pattern says
    greedy = strip_file(src, tmp_path / "greedy", sections=(".dyn*", ".text", ".symtab"))
    assert greedy.removed_sections == (".symtab",)
    assert_segments_preserved(src, tmp_path / "greedy")


def test_a_bad_output_is_caught_by_verification(
    fixture_copy: Copy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: a writer that flips one loaded byte must not produce a 'changed' result."""
    real_write = strip_module._write

    def corrupting_write(*args: Any) -> None:
        real_write(*args)
        dst = args[1]
        assert isinstance(dst, Path)
        with dst.open("r+b") as out:
            out.seek(0x4A0)  # inside .text of the first PT_LOAD
            byte = out.read(1)
            out.seek(0x4A0)
            out.write(bytes([byte[0] ^ 0xFF]))

    monkeypatch.setattr(strip_module, "_write", corrupting_write)
    dst = tmp_path / "out"
    result = strip_file(fixture_copy("x86_64_debug.so"), dst)
    assert not result.changed
    assert "failed verification" in (result.skipped_reason or "")
    assert not dst.exists()


def test_backends_by_name() -> None:
    assert stripper_for("pyelftools") is strip_file
    assert stripper_for("none") is None
    with pytest.raises(PolicyError) as error:
        stripper_for("objcopy")
    assert error.value.exit_code == 2 and "strip-debug.backend" in error.value.details[0]


_HEADER_REGION = 64 + 6 * 56  # ELF header and program headers of x86_64_debug.so


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(
        st.tuples(
            st.one_of(st.integers(0, _HEADER_REGION - 1), st.integers(-40 * 64, -1)),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_random_header_damage_never_raises_and_never_breaks_segments(
    tmp_path: Path, edits: list[tuple[int, int]]
) -> None:
    data = bytearray((FIXTURES / "x86_64_debug.so").read_bytes())
    for offset, value in edits:
        data[offset] = value  # negative offsets land in the section header table at the end
    src = tmp_path / "fuzzed.so"
    dst = tmp_path / "fuzzed.out"
    src.write_bytes(bytes(data))
    dst.unlink(missing_ok=True)
    result = strip_file(src, dst)
    event("changed" if result.changed else (result.skipped_reason or "")[:30])
    if result.changed:
        assert dst.stat().st_size < src.stat().st_size
        assert_segments_preserved(src, dst)
    else:
        assert result.skipped_reason and not dst.exists()


def test_output_of_an_unchanged_file_is_never_written(tmp_path: Path) -> None:
    src = _write(tmp_path, "script.so", b"#!/bin/sh\necho hi\n")
    assert not strip_file(src, tmp_path / "out").changed
    assert sorted(os.listdir(tmp_path)) == ["script.so"]


def test_debug_info_before_loadable_content_is_zeroed_in_place(tmp_path: Path) -> None:
    built = elf_synth.build(elf_synth.Spec(before=(".debug_info",), after=(".comment", ".symtab", ".strtab")))
    src = _write(tmp_path, "synthetic.so", built.data)
    dst = tmp_path / "out"
    result = strip_file(src, dst)
    assert result.changed and result.removed_sections == (".debug_info", ".symtab", ".strtab")
    start, end = built.ranges[".debug_info"]
    out = dst.read_bytes()
    assert built.data[start:end] != bytes(end - start) and out[start:end] == bytes(end - start)
    assert_segments_preserved(src, dst)
    assert section_bytes(dst)[".comment"] == section_bytes(src)[".comment"]


def test_section_numbers_stay_when_dynamic_symbols_would_shift(tmp_path: Path) -> None:
    """.dynsym (loaded, unchangeable) names .text by index: a dropped .debug_info before it leaves a hole."""
    order = (".debug_info", *elf_synth.ALLOC, ".symtab", ".strtab", ".shstrtab")
    built = elf_synth.build(elf_synth.Spec(after=(".debug_info", ".symtab", ".strtab"), index_order=order))
    src = _write(tmp_path, "synthetic.so", built.data)
    dst = tmp_path / "out"
    assert strip_file(src, dst).changed
    names = section_names(dst)
    assert names.index(".text") == section_names(src).index(".text") == 2
    assert names[1] == "" and ".debug_info" not in names
    assert set(defined_dynamic_symbols(dst).values()) == {".text"}


def test_sections_after_the_loaded_ones_renumber_freely(tmp_path: Path) -> None:
    built = elf_synth.build(elf_synth.Spec(after=(".debug_info", ".comment", ".symtab", ".strtab")))
    src = _write(tmp_path, "synthetic.so", built.data)
    assert strip_file(src, tmp_path / "out").changed
    assert section_names(tmp_path / "out") == ["", *elf_synth.ALLOC, ".comment", ".shstrtab"]
