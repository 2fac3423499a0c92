"""harden.busybox: applets read from the real busybox-static binary, applet links, and what a shell removal
leaves behind."""

from __future__ import annotations

import platform
import subprocess
from pathlib import PurePosixPath

import pytest

from fixtures.alpine.make_fixture import BUSYBOX, INSTALLED_APPLETS, Binaries, alpine_image
from harden.busybox import (
    applet_links,
    applet_names,
    busybox_version,
    find_busybox,
    left_dangling,
    plan_shell_removal,
    read_busybox,
)
from harden.image.blobs import BlobStore
from harden.image.model import EntryType, Rootfs
from harden.shipped_names import shell_names
from harden.verify.assertions import hardening_assertions, shells_in_model
from imagefactory import TarEntry, file, hardlink, make_layer_tar, merged_rootfs, symlink

P = PurePosixPath
LINKED = sorted(f"{folder}/{name}" for folder, names in INSTALLED_APPLETS.items() for name in names)


@pytest.fixture
def alpine(musl_binaries: Binaries, blobs: BlobStore) -> Rootfs:
    return merged_rootfs([alpine_image(musl_binaries).layer()], blobs)


def test_the_applet_table_of_the_real_binary_is_what_it_lists(musl_binaries: Binaries) -> None:
    applets = applet_names(musl_binaries.busybox)
    assert {"sh", "ash", "ls", "[", "[["} <= set(applets) and len(applets) > 100
    assert list(applets) == sorted(applets, key=lambda name: name.encode())
    if platform.machine() in ("x86_64", "AMD64"):  # the binary runs here: compare with its own list
        listed = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, check=True).stdout.split()
        assert applets == tuple(name.decode() for name in listed)


def test_the_banner_gives_the_version(musl_binaries: Binaries) -> None:
    version = busybox_version(musl_binaries.busybox)
    assert version is not None and version[0].isdigit() and "." in version
    assert busybox_version(b"no banner") is None
    assert busybox_version(b"xx BusyBox v1.36.1 (2024-01-05 12:00:00 UTC)\x00") == "1.36.1"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"junk\x00[\x00[[\x00ash\x00sh\x00\x00tail", ("[", "[[", "ash", "sh")),
        (b"zeta\x00acpid\x00ash\x00sh\x00\x00", ("acpid", "ash", "sh")),  # bytes before the table are dropped
        (b"\x01\x02ls\x00\x00", ("ls",)),  # a one-applet build
        (b"b\x00a\x00\x00c\x00d\x00e\x00\x00", ("c", "d", "e")),  # the longest ascending run wins
        (b"no table here", ()),
        (b"", ()),
    ],
)
def test_applet_names_from_synthetic_tables(data: bytes, expected: tuple[str, ...]) -> None:
    assert applet_names(data) == expected


def test_the_fixture_busybox_is_found_with_its_links(alpine: Rootfs, blobs: BlobStore) -> None:
    (binary,) = find_busybox(alpine, blobs)
    assert binary.path == P("bin/busybox") and binary.provides("sh")
    assert read_busybox(alpine, blobs, P("bin/sh")) == binary  # through the applet link
    assert read_busybox(alpine, blobs, P("usr/local/bin/hello")) is None  # an ELF file, not busybox
    assert read_busybox(alpine, blobs, P("etc/passwd")) is None
    links = applet_links(alpine, binary)
    assert [str(link.path) for link in links] == sorted([*LINKED, "bin/sh"])
    assert all(link.kind is EntryType.SYMLINK and link.known for link in links)


def test_removing_the_shell_links_reports_what_else_busybox_provides(alpine: Rootfs, blobs: BlobStore) -> None:
    (binary,) = find_busybox(alpine, blobs)
    plan = plan_shell_removal(alpine, binary, ("sh", "ash"))
    assert [str(link.path) for link in plan.shell_links] == ["bin/ash", "bin/sh"]
    assert len(plan.other_links) == len(LINKED) - 1
    assert "sh" not in plan.other_applets and "ls" in plan.other_applets
    assert len(plan.other_applets) == len(binary.applets) - 2
    assert plan.summary.startswith(f"busybox {binary.version} (/bin/busybox) also provides ")
    # removing busybox itself as well would leave every other applet link dangling
    dangling = left_dangling(alpine, binary, [link.path for link in plan.shell_links])
    assert dangling == plan.other_links
    assert left_dangling(alpine, binary, [link.path for link in applet_links(alpine, binary)]) == ()


def _rootfs(blobs: BlobStore, busybox: bytes, *entries: TarEntry) -> Rootfs:
    return merged_rootfs([make_layer_tar([file("bin/busybox", busybox, mode=0o755), *entries])], blobs)


def test_relative_chained_and_hard_links(musl_binaries: Binaries, blobs: BlobStore) -> None:
    rootfs = _rootfs(
        blobs,
        musl_binaries.busybox,
        symlink("bin/sh", "busybox"),  # relative
        symlink("usr/bin/sh", "../../bin/sh"),  # a chain through another link
        hardlink("sbin/ash", "bin/busybox"),
        symlink("usr/bin/ash", "/sbin/ash"),  # a symlink to a hardlink of the binary
        symlink("usr/bin/notanapplet", "/bin/busybox"),
        symlink("usr/bin/other", "/bin/elsewhere"),
    )
    binary = read_busybox(rootfs, blobs, P("bin/busybox"))
    assert binary is not None
    links = {str(link.path): link for link in applet_links(rootfs, binary)}
    assert sorted(links) == ["bin/sh", "sbin/ash", "usr/bin/ash", "usr/bin/notanapplet", "usr/bin/sh"]
    assert links["sbin/ash"].kind is EntryType.HARDLINK and links["usr/bin/sh"].applet == "sh"
    assert not links["usr/bin/notanapplet"].known
    plan = plan_shell_removal(rootfs, binary, shell_names())
    assert sorted(str(link.path) for link in plan.shell_links) == ["bin/sh", "sbin/ash", "usr/bin/ash", "usr/bin/sh"]


def test_a_busybox_reached_through_a_hardlink_is_named_by_its_inode(musl_binaries: Binaries, blobs: BlobStore) -> None:
    rootfs = _rootfs(blobs, musl_binaries.busybox, hardlink("usr/bin/busybox", "bin/busybox"),
                     symlink("bin/ls", "/usr/bin/busybox"))
    binary = read_busybox(rootfs, blobs, P("usr/bin/busybox"))
    assert binary is not None and binary.path == P("bin/busybox")
    assert [str(link.path) for link in applet_links(rootfs, binary)] == ["bin/ls", "usr/bin/busybox"]


def test_a_text_file_with_the_banner_is_not_busybox(blobs: BlobStore) -> None:
    rootfs = _rootfs(blobs, b"#!/bin/sh\necho BusyBox v1.0\n[\x00ls\x00\x00")
    assert read_busybox(rootfs, blobs, P("bin/busybox")) is None
    assert find_busybox(rootfs, blobs) == ()


def _table(names: list[str]) -> tuple[bytes, bytes]:
    """applet_names[] and applet_nameofs[] (little-endian) as busybox's build writes them."""
    table = b"".join(name.encode() + b"\x00" for name in names) + b"\x00"
    offsets, position = [], 0
    for name in names:
        offsets.append(position)
        position += len(name) + 1
    known = 8 if len(names) >= 128 else 4
    values = [offsets[i * len(names) // known] for i in range(1, known)]
    return table, b"".join(value.to_bytes(2, "little") for value in values)


NAMES = ["[", "[["] + [f"app{i:03d}" for i in range(40)]


@pytest.mark.parametrize(
    "before",
    [
        b"\x00",  # a NUL before the table
        b"\x00Usage: FOO\x00",  # a text string that sorts before "[" ("FOO") must not become an applet
        b"\x00ABC\x00",  # a whole name-like string before the table
        b"\x01\x82",  # binary data glued to "[" (no NUL between them)
        b"\x00TEXT",  # text glued to "[": only applet_nameofs can tell, and does
    ],
)
def test_applet_nameofs_decides_where_the_table_starts(before: bytes) -> None:
    table, offsets = _table(NAMES)
    assert applet_names(b"BusyBox v1.36.1\x00" + offsets + b"\x99" + before + table) == tuple(NAMES)


def test_without_applet_nameofs_only_binary_bytes_are_taken_as_glued() -> None:
    table, _ = _table(NAMES)
    assert applet_names(b"\x01\x82" + table)[:2] == ("[", "[[")
    assert applet_names(b"\x00Usage: FOO\x00" + table)[:2] == ("[", "[[")
    assert applet_names(b"\x00ABC\x00" + table)[:2] == ("ABC", "[")  # indistinguishable without the offsets


# --- HV-NO-SHELL-BINARY on busybox images ----------------------------------------------------------------------


def test_busybox_left_with_a_shell_applet_is_a_shell_binary_even_without_sh(alpine: Rootfs, blobs: BlobStore) -> None:
    no_sh = alpine.with_changes(remove=frozenset({P("bin/sh"), P("bin/ash")}))
    assert shells_in_model(no_sh, blobs) == ["/bin/busybox"]
    (check,) = [a for a in hardening_assertions(no_sh, None, None, blobs=blobs) if a.code == "HV-NO-SHELL-BINARY"]
    assert not check.passed
    assert check.detail.startswith("shell binaries: /bin/busybox; /bin/busybox is busybox with the shell applets ")
    assert "`busybox ash` runs a shell without any sh link" in check.detail
    gone = alpine.with_changes(remove=frozenset({P("bin")}))
    assert shells_in_model(gone, blobs) == []


def test_busybox_built_without_a_shell_is_not_a_shell_binary(blobs: BlobStore) -> None:
    table, offsets = _table(NAMES)
    rootfs = _rootfs(blobs, b"\x7fELF\x02\x01\x01" + b"BusyBox v1.36.1 (no shell)\x00" + offsets + b"\x99\x00" + table)
    assert read_busybox(rootfs, blobs, P("bin/busybox")) is not None
    assert shells_in_model(rootfs, blobs) == []
    assert shells_in_model(rootfs) == ["/bin/busybox"]  # by name alone, it would count
