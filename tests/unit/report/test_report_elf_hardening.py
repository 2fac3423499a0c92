"""ELF hardening flags on real files: binaries compiled here with and without hardening, the host's python3,
a compiled extension from the test venv, and corrupt copies."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import sysconfig
from pathlib import Path, PurePosixPath

import pytest
from report_support import FIXED_TIME, build_image

from harden.elf.hardening import ElfHardening, inspect_elf, is_elf, summarize
from harden.image.blobs import BlobStore
from harden.report.analysis import scan_elf
from harden.report.categories import size_by_category
from harden.report.write import write_review_reports
from imagefactory import file

GCC = shutil.which("gcc")
needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc is not installed (apt-get install gcc)")

LIB_C = r"""
#include <stdio.h>
#include <string.h>
int fill(char *out, const char *src, int n) {
    char buf[64];
    strcpy(buf, src);
    snprintf(out, n, "%s", buf);
    return (int)strlen(buf);
}
"""
MAIN_C = "int main(void) { return 0; }\n"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "elf"

HARDENED = ["-O2", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-Wl,-z,relro,-z,now"]
INSECURE = ["-O0", "-fno-stack-protector", "-U_FORTIFY_SOURCE", "-Wl,-z,execstack,-z,norelro,-z,lazy"]


def compile_c(tmp_path: Path, name: str, source: str, flags: list[str]) -> Path:
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    out = tmp_path / name
    assert GCC is not None
    subprocess.run([GCC, *flags, "-o", str(out), str(src)], check=True, capture_output=True)
    return out


def inspect(path: Path) -> ElfHardening:
    with path.open("rb") as stream:
        return inspect_elf(stream, path.name)


@pytest.fixture
def good_so(tmp_path: Path) -> Path:
    return compile_c(tmp_path, "libgood.so", LIB_C, ["-shared", "-fPIC", *HARDENED])


@pytest.fixture
def bad_so(tmp_path: Path) -> Path:
    return compile_c(tmp_path, "libbad.so", LIB_C, ["-shared", "-fPIC", *INSECURE])


@needs_gcc
def test_hardened_shared_object(good_so: Path) -> None:
    row = inspect(good_so)
    assert row.error is None and row.elf_type == "shared-object" and row.pie == "dso"
    assert (row.relro, row.bind_now, row.nx, row.execstack) == ("full", True, True, False)
    assert row.canary is True and row.fortify is True and row.fortified >= 1
    assert row.problems() == ()


@needs_gcc
def test_insecure_shared_object(bad_so: Path) -> None:
    row = inspect(bad_so)
    assert (row.relro, row.bind_now, row.nx, row.execstack) == ("none", False, False, True)
    assert row.canary is False and row.fortify is False
    assert row.problems() == ("executable stack", "no RELRO", "no stack canary")


@needs_gcc
def test_pie_and_non_pie_executables(tmp_path: Path) -> None:
    pie = inspect(compile_c(tmp_path, "pie", MAIN_C, ["-fPIE", "-pie"]))
    fixed = inspect(compile_c(tmp_path, "nopie", MAIN_C, ["-fno-PIE", "-no-pie"]))
    assert (pie.elf_type, pie.pie) == ("pie-executable", "yes")
    assert (fixed.elf_type, fixed.pie) == ("executable", "no")
    assert "not PIE" in fixed.problems()


@needs_gcc
def test_rpath_and_runpath(tmp_path: Path) -> None:
    rpath = inspect(compile_c(tmp_path, "librp.so", LIB_C,
                              ["-shared", "-fPIC", "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../lib:/opt/x"]))
    runpath = inspect(compile_c(tmp_path, "librun.so", LIB_C,
                                ["-shared", "-fPIC", "-Wl,--enable-new-dtags,-rpath,lib"]))
    assert (rpath.rpath, rpath.runpath) == (("$ORIGIN/../lib", "/opt/x"), ())
    assert (runpath.rpath, runpath.runpath) == ((), ("lib",))


@needs_gcc
def test_without_section_headers_the_dynamic_segment_is_read(tmp_path: Path, good_so: Path) -> None:
    """An sstripped file (no section header table) still shows RELRO, BIND_NOW and the canary."""
    data = bytearray(good_so.read_bytes())
    struct.pack_into("<Q", data, 0x28, 0)  # e_shoff (ELF64 little-endian)
    struct.pack_into("<HH", data, 0x3C, 0, 0)  # e_shnum, e_shstrndx
    sstripped = tmp_path / "libsstripped.so"
    sstripped.write_bytes(bytes(data))
    row = inspect(sstripped)
    assert row.error is None
    assert (row.relro, row.bind_now, row.nx, row.canary, row.fortify) == ("full", True, True, True, True)
    assert row.debug_bytes == 0


@needs_gcc
def test_debug_sections_are_counted_and_strip_removes_them(tmp_path: Path) -> None:
    debug = compile_c(tmp_path, "libdbg.so", LIB_C, ["-shared", "-fPIC", "-g", "-O2"])
    stripped = tmp_path / "libdbg-stripped.so"
    subprocess.run(["strip", "--strip-all", "-o", str(stripped), str(debug)], check=True)
    assert inspect(debug).debug_bytes > 1000
    assert inspect(stripped).debug_bytes == 0


def test_host_python_interpreter_reads_cleanly() -> None:
    python = Path(sys.executable).resolve()
    row = inspect(python)
    assert row.error is None
    assert row.elf_type in ("executable", "pie-executable") and row.bits == 64
    assert row.nx is True and row.execstack is False


def test_a_compiled_extension_from_the_test_venv() -> None:
    platlib = Path(sysconfig.get_paths()["platlib"])
    extension = next(iter(sorted(platlib.glob("*/*.so"))), None)
    if extension is None:
        pytest.skip(f"no compiled extension in {platlib}")
    row = inspect(extension)
    assert row.error is None and row.elf_type == "shared-object" and row.pie == "dso"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.so")) if FIXTURES.is_dir() else [])
def test_other_architectures_and_endianness(name: str) -> None:
    row = inspect(FIXTURES / name)
    assert row.error is None, row.error
    assert row.bits in (32, 64) and row.machine.startswith("EM_")


@needs_gcc
def test_truncated_and_non_elf_files_do_not_raise(tmp_path: Path, good_so: Path) -> None:
    truncated = tmp_path / "truncated.so"
    truncated.write_bytes(good_so.read_bytes()[:80])
    row = inspect(truncated)
    assert row.error is not None and not row.is_linked_program
    assert row.problems()[0].startswith("unreadable ELF")
    not_elf = tmp_path / "script"
    not_elf.write_bytes(b"#!/bin/sh\necho hi\n")
    with not_elf.open("rb") as stream:
        assert is_elf(stream) is False and stream.tell() == 0


@needs_gcc
def test_image_scan_builds_the_table_and_findings(tmp_path: Path, good_so: Path, bad_so: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    layers = [[
        file("usr/lib/libgood.so.1", good_so.read_bytes()),
        file("usr/lib/libbad.so.1", bad_so.read_bytes()),
        file("usr/lib/libbad-copy.so.1", bad_so.read_bytes()),
        file("usr/share/data.bin", b"\x7fELF but not executable and not a .so"),
        file("usr/bin/tool", b"#!/bin/sh\n", mode=0o755),
    ]]
    image, rootfs = build_image(layers, blobs, User="65532")
    cache: dict[tuple[str, bool], ElfHardening | None] = {}
    rows = scan_elf(rootfs, blobs, cache)
    assert [r.path for r in rows] == [
        "/usr/lib/libbad-copy.so.1", "/usr/lib/libbad.so.1", "/usr/lib/libgood.so.1"]
    assert len(cache) == 2  # one inspection per content: the two identical copies share one
    counts = summarize(rows)
    assert (counts["files"], counts["full_relro"], counts["no_relro"], counts["execstack"]) == (3, 1, 2, 2)

    write_review_reports(tmp_path / "out", source="demo:1", source_image=image, rootfs=rootfs, blobs=blobs,
                         generated_at=FIXED_TIME)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    by_code = {(f["code"], f["location"]) for f in report["findings"]}
    assert ("HDN-0006", "/usr/lib/libbad.so.1") in by_code
    assert ("HDN-0007", "/usr/lib/libbad.so.1") in by_code
    assert not any(loc == "/usr/lib/libgood.so.1" for _, loc in by_code)
    markdown = (tmp_path / "out" / "report.md").read_text()
    worst = markdown.split("Worst offenders:")[1]
    assert "libbad.so.1" in worst and "libgood.so.1" not in worst


@needs_gcc
def test_debug_bytes_count_as_debug_symbols(tmp_path: Path) -> None:
    debug = compile_c(tmp_path, "libdbg.so", LIB_C, ["-shared", "-fPIC", "-g"])
    blobs = BlobStore(tmp_path / "blobs")
    _, rootfs = build_image([[file("usr/lib/libdbg.so", debug.read_bytes())]], blobs)
    rows = scan_elf(rootfs, blobs)
    sizes = size_by_category(rootfs, {PurePosixPath(r.path.lstrip("/")): r.debug_bytes for r in rows})
    assert sizes["debug-symbols"].bytes == rows[0].debug_bytes > 0
    assert sizes["other"].bytes + sizes["debug-symbols"].bytes == debug.stat().st_size
