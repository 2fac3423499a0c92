"""Where images of a platform run: natively, or through a binfmt_misc interpreter that matches the image's
program and was registered with the F flag (so it runs inside a sandbox whose root is the image); the entries
are read as the kernel shows them in /proc/sys/fs/binfmt_misc (a copy in tmp_path here)."""

from __future__ import annotations

from pathlib import Path

from harden.image.host_platform import can_execute, host_platform, parse_entry, registered
from harden.image.model import Platform

AARCH64 = """enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""
ARM64_HEAD = bytes.fromhex("7f454c460201010000000000000000000300b700")  # ET_DYN (a PIE), EM_AARCH64
RISCV_HEAD = bytes.fromhex("7f454c460201010000000000000000000200f300")
AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64", "v8")


def binfmt(tmp_path: Path, entries: dict[str, str], status: str = "enabled") -> Path:
    folder = tmp_path / "binfmt_misc"
    folder.mkdir(parents=True)
    (folder / "status").write_text(status + "\n")
    (folder / "register").write_text("")
    for name, text in entries.items():
        (folder / name).write_text(text)
    return folder


def test_entries_are_read_as_the_kernel_shows_them(tmp_path: Path) -> None:
    entry = parse_entry("qemu-aarch64", AARCH64)
    assert entry is not None and entry.flags == "POF" and entry.offset == 0
    assert entry.matches(ARM64_HEAD) and not entry.matches(RISCV_HEAD) and not entry.matches(b"\x7fELF")
    assert parse_entry("off", AARCH64.replace("enabled", "disabled")) is None
    assert parse_entry("python", "enabled\ninterpreter /usr/bin/python3\nflags: \nextension .py\n") is None
    found = registered(binfmt(tmp_path, {"qemu-aarch64": AARCH64}))
    assert [e.name for e in found] == ["qemu-aarch64"]
    assert registered(tmp_path / "absent") == ()


def test_what_runs_here(tmp_path: Path) -> None:
    entries = registered(binfmt(tmp_path, {"qemu-aarch64": AARCH64}))
    assert can_execute(AMD64, None, interpreters=(), host=AMD64).how == "native (linux/amd64)"
    through = can_execute(ARM64, ARM64_HEAD, interpreters=entries, host=AMD64)
    assert through.runs and "qemu-aarch64" in through.how
    nothing = can_execute(ARM64, ARM64_HEAD, interpreters=(), host=AMD64)
    assert not nothing.runs and "qemu-user-static" in nothing.how
    riscv = can_execute(Platform("linux", "riscv64"), RISCV_HEAD, interpreters=entries, host=AMD64)
    assert not riscv.runs
    no_f = registered(binfmt(tmp_path / "b", {"qemu-aarch64": AARCH64.replace("flags: POF", "flags: P")}))
    without_f = can_execute(ARM64, ARM64_HEAD, interpreters=no_f, host=AMD64)
    assert not without_f.runs and "without the F flag" in without_f.how
    assert not can_execute(ARM64, b"#!/bin/sh\n", interpreters=entries, host=AMD64).runs
    assert host_platform().os == "linux"
