"""The static linkage of a root filesystem (harden.elf.linkage with glibc's rules), on real ELF files built with
gcc and the host's own glibc: where each DT_NEEDED resolves, what a closure touches, what is missing, and
which symbol version a library no longer defines."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from gcc_build import host_libc, program, shared_library

from harden.elf.linkage import Linker
from unit.stages.stage_helpers import FakeImage


@pytest.fixture
def image(tmp_path: Path) -> FakeImage:
    fake = FakeImage(tmp_path / "img")
    libc, loader = host_libc()
    fake.file("lib/x86_64-linux-gnu/libc.so.6", libc.read_bytes(), mode=0o755)
    fake.file("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", loader.read_bytes(), mode=0o755)
    fake.symlink("lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    return fake


def put(image: FakeImage, path: str, built: Path) -> None:
    image.file(path, built.read_bytes(), mode=0o755)


def linker(image: FakeImage, **env: str) -> Linker:
    return Linker(image.rootfs(), image.blobs, env)


def test_a_run_path_with_origin_finds_the_library_and_the_closure_holds_every_file(
        image: FakeImage, tmp_path: Path) -> None:
    lib = shared_library(tmp_path / "b", "libfoo.so.1")
    prog = program(tmp_path / "b", "app", (lib,), rpath="$ORIGIN/../lib/app")
    put(image, "opt/app/bin/app", prog)
    put(image, "opt/app/lib/app/libfoo.so.1.2.3", lib)
    image.symlink("opt/app/lib/app/libfoo.so.1", "libfoo.so.1.2.3")
    closure = linker(image).closure(["opt/app/bin/app"])
    assert closure.complete, closure.problems()
    assert {PurePosixPath(p) for p in ("opt/app/bin/app", "opt/app/lib/app/libfoo.so.1",
                                       "opt/app/lib/app/libfoo.so.1.2.3", "lib/x86_64-linux-gnu/libc.so.6",
                                       "lib64/ld-linux-x86-64.so.2",
                                       "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")} <= closure.files
    link = next(link for link in closure.links if link.name == "libfoo.so.1")
    assert (link.found, link.via) == ("/opt/app/lib/app/libfoo.so.1", "runpath")


def test_without_a_run_path_the_library_is_missing_and_named(image: FakeImage, tmp_path: Path) -> None:
    lib = shared_library(tmp_path / "b", "libfoo.so.1")
    put(image, "opt/app/bin/app", program(tmp_path / "b", "app", (lib,)))
    put(image, "opt/app/lib/libfoo.so.1", lib)
    closure = linker(image).closure(["opt/app/bin/app"])
    assert [(m.needing, m.name) for m in closure.missing] == [("/opt/app/bin/app", "libfoo.so.1")]
    assert "/opt/app/bin/app: needs libfoo.so.1, not found" in closure.problems()[0]


def test_ld_library_path_and_ld_so_conf_directories_are_searched(image: FakeImage, tmp_path: Path) -> None:
    lib = shared_library(tmp_path / "b", "libfoo.so.1")
    put(image, "usr/bin/app", program(tmp_path / "b", "app", (lib,)))
    put(image, "opt/lib/libfoo.so.1", lib)
    assert linker(image, LD_LIBRARY_PATH="/opt/lib").closure(["usr/bin/app"]).complete
    image.file("etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
    image.file("etc/ld.so.conf.d/opt.conf", "# a comment\n/opt/lib\n")
    found = linker(image).closure(["usr/bin/app"])
    assert found.complete, found.problems()
    assert next(link.via for link in found.links if link.name == "libfoo.so.1") == "cache"


def test_rpath_is_inherited_by_the_libraries_a_program_loads_runpath_is_not(
        image: FakeImage, tmp_path: Path) -> None:
    bar = shared_library(tmp_path / "b", "libbar.so.1", function="bar")
    foo = shared_library(tmp_path / "b", "libfoo.so.1", needs=(bar,), calls=("bar",))
    for dtags, expect_complete in ((False, True), (True, False)):
        fake = FakeImage(tmp_path / f"img-{dtags}")
        for path in ("lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"):
            entry = image.entries[PurePosixPath(path)]
            fake.file(path, image.blobs.read(entry.digest or ""), mode=0o755)
        fake.symlink("lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        prog = program(tmp_path / f"p{dtags}", "app", (foo,), rpath="/opt/deps", runpath=dtags)
        put(fake, "usr/bin/app", prog)
        put(fake, "opt/deps/libfoo.so.1", foo)
        put(fake, "opt/deps/libbar.so.1", bar)
        closure = linker(fake).closure(["usr/bin/app"])
        assert closure.complete is expect_complete, (dtags, closure.problems())


def test_a_symbol_version_the_library_no_longer_defines_is_a_gap(image: FakeImage, tmp_path: Path) -> None:
    new = shared_library(tmp_path / "new", "libfoo.so.1", versions=("FOO_1.0", "FOO_2.0"))
    old = shared_library(tmp_path / "old", "libfoo.so.1", versions=("FOO_1.0",))
    put(image, "usr/bin/app", program(tmp_path / "p", "app", (new,), rpath="/opt/lib"))
    put(image, "opt/lib/libfoo.so.1", new)
    assert linker(image).check(["usr/bin/app"]).complete
    put(image, "opt/lib/libfoo.so.1", old)
    gaps = linker(image).check(["usr/bin/app"]).version_gaps
    assert [(g.library, g.version) for g in gaps] == [("/opt/lib/libfoo.so.1", "FOO_2.0")]


def test_a_missing_loader_and_a_non_elf_file_are_told_apart(image: FakeImage, tmp_path: Path) -> None:
    put(image, "usr/bin/app", program(tmp_path / "p", "app"))
    image.file("usr/bin/script", "#!/bin/sh\nexit 0\n", mode=0o755)
    fake_linker = linker(image)
    assert fake_linker.is_elf("usr/bin/app") and not fake_linker.is_elf("usr/bin/script")
    del image.entries[PurePosixPath("lib64/ld-linux-x86-64.so.2")]
    closure = linker(image).closure(["usr/bin/app"])
    assert [m.name for m in closure.missing] == ["/lib64/ld-linux-x86-64.so.2"]
