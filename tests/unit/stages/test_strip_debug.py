from __future__ import annotations

import ctypes
import platform
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile
from stage_helpers import settings_of

from harden.errors import PolicyError
from harden.image.blobs import BlobStore
from harden.image.model import EntryType, FileEntry, ImageConfig, Rootfs
from harden.plan import Plan, Replace
from harden.stages.base import StageContext
from harden.stages.strip_debug import StripDebug

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "elf"
P = PurePosixPath


class Image:
    """A root filesystem built from real fixture bytes in a real blob store."""

    def __init__(self, root: Path) -> None:
        self.blobs = BlobStore(root / "blobs")
        self.entries: dict[PurePosixPath, FileEntry] = {}

    def file(self, path: str, content: bytes, mode: int = 0o644) -> FileEntry:
        digest, size = self.blobs.put_bytes(content)
        entry = FileEntry(P(path), EntryType.FILE, mode=mode, uid=0, gid=0, size=size, digest=digest, mtime=7)
        self.entries[entry.path] = entry
        return entry

    def fixture(self, path: str, name: str, mode: int = 0o644) -> FileEntry:
        return self.file(path, (FIXTURES / name).read_bytes(), mode)

    def add(self, entry: FileEntry) -> None:
        self.entries[entry.path] = entry

    def context(self, settings: Mapping[str, Any] | None = None, jobs: int = 1) -> StageContext[Any]:
        calls: list[tuple[int, int]] = []
        self.progress_calls = calls
        return StageContext(
            rootfs=Rootfs(self.entries),
            config=ImageConfig({"config": {}}),
            blobs=self.blobs,
            settings=settings_of(StripDebug, settings),
            jobs=jobs,
            progress=lambda done, total: calls.append((done, total)),
        )


@pytest.fixture
def image(tmp_path: Path) -> Image:
    img = Image(tmp_path)
    lib = img.fixture("usr/lib/libdbg.so", "x86_64_debug.so", 0o755)
    img.fixture("usr/lib/libdbg.so.1", "x86_64_debug.so")  # identical copy
    img.add(
        FileEntry(P("usr/lib/libdbg-link.so.1"), EntryType.HARDLINK, mode=0o755, size=lib.size,
                  digest=lib.digest, linkname="usr/lib/libdbg.so")
    )  # fmt: skip
    img.add(FileEntry(P("usr/lib/libdbg-sym.so"), EntryType.SYMLINK, mode=0o777, linkname="libdbg.so"))
    img.fixture("usr/lib/aarch64-linux-gnu/libarm.so.6.1", "aarch64_debug.so")
    img.fixture("usr/lib/libstripped.so", "x86_64_stripped.so")
    img.file("usr/lib/libc-script.so", b"/* GNU ld script */\nGROUP ( libc.so.6 )\n")
    img.fixture("usr/bin/tool", "x86_64_debug_exe", 0o4755)
    img.file("usr/bin/script", b"#!/bin/sh\nexit 0\n", 0o755)
    img.fixture("usr/share/blob.dat", "x86_64_debug.so")  # ELF bytes, neither named .so nor executable
    img.fixture("opt/vendor/libkeep.so", "s390x_debug.so")
    return img


def _replaces(plan: Plan) -> dict[str, Replace]:
    out = {}
    for change in plan.changes:
        assert isinstance(change, Replace)
        out[str(change.entry.path)] = change
    return out


def _skips(plan: Plan) -> dict[str, str]:
    return {str(skip.path): skip.reason for skip in plan.skipped}


def test_plan_strips_libraries_and_elf_executables_once_per_content(image: Image) -> None:
    ctx = image.context({"exclude": ["opt/vendor/**"]})
    plan = StripDebug().plan(ctx)

    replaces = _replaces(plan)
    assert sorted(replaces) == [
        "usr/bin/tool",
        "usr/lib/aarch64-linux-gnu/libarm.so.6.1",
        "usr/lib/libdbg-link.so.1",
        "usr/lib/libdbg.so",
        "usr/lib/libdbg.so.1",
    ]
    assert list(replaces) == sorted(replaces)  # the plan lists changes in path order
    skips = _skips(plan)
    assert skips["usr/lib/libstripped.so"].startswith("already stripped")
    assert skips["usr/lib/libc-script.so"].startswith("not an ELF file")
    assert skips["opt/vendor/libkeep.so"] == "excluded by policy glob 'opt/vendor/**'"
    assert not {"usr/bin/script", "usr/share/blob.dat", "usr/lib/libdbg-sym.so"} & (
        set(skips) | set(replaces)
    )

    same = ("usr/lib/libdbg.so", "usr/lib/libdbg.so.1", "usr/lib/libdbg-link.so.1")
    assert len({replaces[p].entry.digest for p in same}) == 1
    assert image.progress_calls[0] == (0, 5) and image.progress_calls[-1] == (5, 5)  # five distinct contents
    assert re.fullmatch(r"3 ELF files stripped \(5 paths\), \d+ bytes saved; 2 left alone", plan.notes[0])


def test_replacements_keep_metadata_and_point_at_stripped_blobs(image: Image) -> None:
    plan = StripDebug().plan(image.context())
    for change in plan.changes:
        assert isinstance(change, Replace)
        before = image.entries[change.entry.path]
        after = change.entry
        assert change.category == "debug-symbols"
        assert after.evolve(digest=before.digest, size=before.size) == before  # only content changed
        assert after.digest is not None and after.digest != before.digest
        stripped = image.blobs.path(after.digest)
        assert stripped.stat().st_size == after.size < before.size
        match = re.fullmatch(r"stripped (\.[\w.]+, )+… \((\d+) sections\) \(-(\d+) bytes\)", change.reason)
        assert match is not None, change.reason
        assert int(match.group(3)) == before.size - after.size
        assert before.digest is not None
        _assert_loads_identical(image.blobs.path(before.digest), stripped)
    assert _replaces(plan)["usr/bin/tool"].entry.mode == 0o4755
    assert not list(image.blobs.root.glob(".strip-*"))


def _assert_loads_identical(original: Path, stripped: Path) -> None:
    with original.open("rb") as a, stripped.open("rb") as b:
        old, new = ELFFile(a), ELFFile(b)
        assert [dict(s.header) for s in old.iter_segments()] == [dict(s.header) for s in new.iter_segments()]
        for segment in old.iter_segments(type="PT_LOAD"):
            start, size = segment["p_offset"], segment["p_filesz"]
            a.seek(max(start, 64))
            b.seek(max(start, 64))
            assert a.read(size) == b.read(size)
        assert new.get_section_by_name(".symtab") is None and new.get_section_by_name(".debug_info") is None


@pytest.mark.skipif(platform.machine() != "x86_64", reason="loads an x86_64 library")
def test_the_planned_blob_is_a_working_library(image: Image, tmp_path: Path) -> None:
    plan = StripDebug().plan(image.context())
    digest = _replaces(plan)["usr/lib/libdbg.so"].entry.digest
    assert digest is not None
    library = tmp_path / "libdbg-stripped.so"
    library.write_bytes(image.blobs.read(digest))
    assert ctypes.CDLL(str(library)).harden_add(20, 22) == 42


def test_parallel_plan_equals_sequential_plan(image: Image) -> None:
    sequential = StripDebug().plan(image.context(jobs=1))
    parallel = StripDebug().plan(image.context(jobs=2))
    assert parallel == sequential
    assert image.progress_calls[-1] == (6, 6)  # opt/vendor/libkeep.so is not excluded here


def test_settings_switch_parts_off(image: Image) -> None:
    none = StripDebug().plan(image.context({"backend": "none"}))
    assert none.changes == () and "nothing stripped" in none.notes[0]
    no_executables = StripDebug().plan(image.context({"elf_executables": False}))
    assert "usr/bin/tool" not in _replaces(no_executables)
    symbols_only = StripDebug().plan(image.context({"sections": [".symtab", ".strtab"]}))
    reasons = {change.reason for change in _replaces(symbols_only).values()}
    assert reasons and all(r.startswith("stripped .symtab, .strtab (-") for r in reasons)


@pytest.mark.parametrize(
    ("settings", "detail"),
    [
        ({"backend": "objcopy"}, "strip-debug.settings.backend = 'objcopy'"),
        ({"include": "*.so"}, "strip-debug.settings.include = '*.so'"),
        ({"elf_executables": "yes"}, "strip-debug.settings.elf_executables = 'yes'"),
    ],
)
def test_invalid_settings_are_policy_errors(image: Image, settings: dict[str, Any], detail: str) -> None:
    with pytest.raises(PolicyError) as error:
        StripDebug().plan(image.context(settings))
    assert error.value.exit_code == 2 and error.value.details == (detail,)


def test_an_image_without_elf_files_plans_nothing(tmp_path: Path) -> None:
    img = Image(tmp_path)
    img.file("etc/hostname", b"box\n")
    plan = StripDebug().plan(img.context())
    assert plan.changes == () and plan.skipped == ()
    assert plan.notes == ("0 ELF files stripped (0 paths), 0 bytes saved; 0 left alone",)
    assert img.progress_calls == [(0, 0)]
