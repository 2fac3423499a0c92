"""harden.dpkg: dpkg's database read from a rootfs, for the prune-package-db stage and the SBOM alike."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from harden.dpkg.owned import InfoDir, file_list, read_diversions
from harden.dpkg.rootfs import PathLookup
from harden.dpkg.status import StatusSource, parse_status, read_status, shown, status_sources
from harden.image.blobs import BlobStore
from harden.image.model import EntryType, FileEntry, Rootfs
from imagefactory import TarEntry, directory, file, make_layer_tar, merged_rootfs, symlink

DPKG = "var/lib/dpkg"
P = PurePosixPath
ROOT = P(".")

TOOL = (
    b"Package: tool\n"
    b"Status: install ok installed\n"
    b"Architecture: amd64\n"
    b"Version: 1.0-1\n"
    b"Conffiles:\n"
    b" /etc/tool.conf 0123\n"
    b" /etc/tool/old.conf 4567 obsolete\n"
    b"Description: a tool\n"
    b" that does things.\n"
    b" .\n"
    b"\tMore text.\n"
)


def rootfs_of(blobs: BlobStore, *entries: TarEntry) -> Rootfs:
    return merged_rootfs([make_layer_tar(entries)], blobs)


def test_continuation_lines_are_joined_by_newlines_and_names_are_case_insensitive() -> None:
    (record,) = parse_status(TOOL).records
    assert record.field("DESCRIPTION") == "a tool\nthat does things.\n.\nMore text."
    assert record.fields["description"] == record.field("Description")
    assert (record.package, record.version, record.arch) == ("tool", "1.0-1", "amd64")
    assert record.conffiles() == ["etc/tool.conf", "etc/tool/old.conf"]


def test_the_first_occurrence_of_a_field_wins_with_its_continuation_lines() -> None:
    (record,) = parse_status(b"Package: a\nDepends: x\n y\ndepends: z\n w\n").records
    assert record.field("depends") == "x\ny"


@pytest.mark.parametrize("data", [
    TOOL + b"\n" + b"Package: b\nVersion: 2",  # no trailing newline
    b"\n\n" + TOOL + b"\n \n\n" + b"Package: b\nVersion: 2\n\n\n",  # blank head, blank lines with spaces
    b"Package: caf\xe9\nVersion: 1\nMaintainer: Jos\xe9 <j@x>\n",  # latin-1, no blank line after it
])
def test_a_status_file_is_kept_byte_for_byte(data: bytes) -> None:
    assert parse_status(data).without(set()) == data


def test_dropping_the_last_record_keeps_the_file_ending() -> None:
    for ending in (b"", b"\n", b"\n\n"):
        status = parse_status(TOOL + b"\nPackage: b\nVersion: 2\n" + ending)
        assert [r.package for r in status.records] == ["tool", "b"]
        assert status.without({1}) == TOOL + ending


def test_non_utf8_bytes_round_trip_and_are_shown_replaced() -> None:
    (record,) = parse_status(b"Package: caf\xe9\nVersion: 1\n").records
    assert record.package == "caf\udce9"
    assert record.package.encode("utf-8", "surrogateescape") == b"caf\xe9"
    assert shown(record.package) == "caf\ufffd"
    assert record.label == "caf\ufffd 1"


@pytest.mark.parametrize(("status", "installed"), [
    ("install ok installed", True),
    ("hold ok installed", True),
    ("deinstall ok config-files", False),
    ("install ok half-installed", False),
    ("install ok unpacked", False),
    (None, True),  # distroless status.d records carry no Status
])
def test_installed_is_the_last_word_of_status(status: str | None, installed: bool) -> None:
    line = b"" if status is None else f"Status: {status}\n".encode()
    (record,) = parse_status(b"Package: p\n" + line + b"Version: 1\n").records
    assert record.installed is installed


def test_status_sources_are_status_then_status_d_records_with_their_md5sums(blobs: BlobStore) -> None:
    rootfs = rootfs_of(
        blobs,
        file(f"{DPKG}/status", b"Package: libc6\nVersion: 2\n"),
        file(f"{DPKG}/status.d/tzdata", b"Package: tzdata\nVersion: 2024a\n"),
        file(f"{DPKG}/status.d/tzdata.md5sums", b"abc  usr/share/zoneinfo/UTC\n"),
        file(f"{DPKG}/status.d/base-files", b"Package: base-files\nVersion: 12\n"),
        directory(f"{DPKG}/status.d/not-a-record"),
    )
    assert status_sources(rootfs) == (
        StatusSource(P(f"{DPKG}/status")),
        StatusSource(P(f"{DPKG}/status.d/base-files"), in_status_d=True),
        StatusSource(P(f"{DPKG}/status.d/tzdata"), True, P(f"{DPKG}/status.d/tzdata.md5sums")),
    )
    status = read_status(rootfs, blobs, status_sources(rootfs)[2])
    assert status is not None and status.records[0].package == "tzdata"


def test_no_dpkg_database_has_no_status_sources(blobs: BlobStore) -> None:
    assert status_sources(rootfs_of(blobs, file("lib/apk/db/installed", b"P:musl\n"))) == ()


def test_the_arch_qualified_list_comes_before_the_plain_one(blobs: BlobStore) -> None:
    record = parse_status(TOOL).records[0]
    plain = [file(f"{DPKG}/info/tool.list", b"/usr/bin/plain\n"),
             file(f"{DPKG}/info/tool.x.list", b"/usr/bin/tool.x\n")]  # package "tool.x", not tool's
    qualified = [file(f"{DPKG}/info/tool:amd64.list", b"/.\n/usr\n/usr/bin//tool \n"),
                 file(f"{DPKG}/info/tool:amd64.postinst", b"#!/bin/sh\n")]
    listed = file_list(rootfs := rootfs_of(blobs, *plain, *qualified), blobs, InfoDir(rootfs), record)
    assert listed is not None
    assert (listed.source, listed.paths) == (P(f"{DPKG}/info/tool:amd64.list"), ("usr", "usr/bin/tool"))
    assert listed.info_files == (P(f"{DPKG}/info/tool:amd64.list"), P(f"{DPKG}/info/tool:amd64.postinst"))
    listed = file_list(rootfs := rootfs_of(blobs, *plain), blobs, InfoDir(rootfs), record)
    assert listed is not None
    assert (listed.paths, listed.info_files) == (("usr/bin/plain",), (P(f"{DPKG}/info/tool.list"),))


def test_md5sums_are_the_file_list_only_without_a_list(blobs: BlobStore) -> None:
    record = parse_status(b"Package: tzdata\nVersion: 2024a\n").records[0]
    md5sums = P(f"{DPKG}/status.d/tzdata.md5sums")
    rootfs = rootfs_of(blobs, file(str(md5sums), b"abc  usr/share/zoneinfo/UTC\nbroken-line\n"))
    listed = file_list(rootfs, blobs, InfoDir(rootfs), record, md5sums)
    assert listed is not None
    assert (listed.source, listed.paths, listed.info_files) == (md5sums, ("usr/share/zoneinfo/UTC",), ())
    assert file_list(rootfs, blobs, InfoDir(rootfs), record) is None
    rootfs = rootfs_of(blobs, file(str(md5sums), b"abc  x\n"), file(f"{DPKG}/info/tzdata.list", b"/y\n"))
    listed = file_list(rootfs, blobs, InfoDir(rootfs), record, md5sums)
    assert listed is not None and listed.paths == ("y",)


def test_a_non_utf8_list_names_the_paths_the_layer_tar_names(blobs: BlobStore) -> None:
    record = parse_status(b"Package: caf\xe9\nVersion: 1\n").records[0]
    rootfs = rootfs_of(blobs, file(f"{DPKG}/info/caf\udce9.list", b"/usr/bin/caf\xe9\n"),
                       file("usr/bin/caf\udce9", b"\x7fELF"))
    listed = file_list(rootfs, blobs, InfoDir(rootfs), record)
    assert listed is not None and PathLookup(rootfs).entry(listed.paths[0]) is not None


def test_lookup_follows_the_parents_symlinks_not_the_paths_own(blobs: BlobStore) -> None:
    merged = rootfs_of(blobs, symlink("bin", "usr/bin"), file("usr/bin/dash", b"d"), symlink("usr/bin/sh", "gone"),
                       symlink("lib", "usr/lib"), directory("usr/lib"))
    lookup = PathLookup(Rootfs({**merged.entries, ROOT: FileEntry(ROOT, EntryType.DIR)}))
    dash = lookup.entry("bin/dash")
    assert dash is not None and dash.path == P("usr/bin/dash") and not lookup.is_dir(dash)
    sh = lookup.entry("bin/sh")  # dangling, and there all the same
    assert sh is not None and sh.path == P("usr/bin/sh")
    assert lookup.entry("bin/bash") is None and lookup.entry("") is None and lookup.entry(".") is None
    lib = lookup.entry("lib")
    assert lib is not None and lookup.is_dir(lib) and not lookup.is_dir(sh)


def test_diversions_map_a_path_to_where_it_went_and_by_whom(blobs: BlobStore) -> None:
    rootfs = rootfs_of(blobs, file(f"{DPKG}/diversions", b"/usr/bin/tool\n/usr/bin/tool.distrib\nwrapper\n/x\n"))
    (path, diversion), = read_diversions(rootfs, blobs).items()
    assert (path, diversion.to, diversion.by) == ("usr/bin/tool", "usr/bin/tool.distrib", "wrapper")
