"""harden.apk.installed: apk's installed database read exactly, and written back byte for byte minus parts."""

from __future__ import annotations

import pytest
from alpine_samples import HAND_WRITTEN

from harden.apk.installed import Acl, parse_installed, triggers_without

DATA = HAND_WRITTEN.encode()


def test_the_hand_written_alpine_database_reads_as_apk_reads_it() -> None:
    db = parse_installed(DATA)
    names = [p.name for p in db.packages]
    assert names == ["musl", "busybox-binsh", "busybox-suid", "alpine-baselayout-data", ".python-rundeps"]
    musl = db.packages[0]
    assert (musl.version, musl.arch, musl.origin, musl.license) == ("1.2.4_git20230717-r4", "x86_64", "musl", "MIT")
    assert musl.identity == "Q1SDNRHr0Y9jG6hbN0xOCKkoBRwKk="
    assert musl.field("m") == "Timo Teräs <timo.teras@iki.fi>"
    assert musl.words("p") == ("so:libc.musl-x86_64.so.1=1",)
    assert musl.paths == ("lib/ld-musl-x86_64.so.1", "lib/libc.musl-x86_64.so.1")
    loader, link = musl.files
    assert loader.acl == Acl(0, 0, 0o755) and link.acl == Acl(0, 0, 0o777)
    assert link.digest == "Q17yJ3JFNypA4mxhJJr0ou6CzsJVI="
    assert [musl.lines[i].letter for i in link.lines] == ["R", "a", "Z"]


def test_folders_files_and_their_acls() -> None:
    db = parse_installed(DATA)
    suid = db.packages[2]
    (bbsuid,) = suid.files
    assert bbsuid.path == "bin/bbsuid" and bbsuid.acl == Acl(0, 0, 0o4111)
    base = db.packages[3]
    assert [f.path for f in base.folders] == ["etc", "root", "tmp", "var/empty"]
    assert [f.acl for f in base.folders] == [None, Acl(0, 0, 0o700), Acl(0, 0, 0o1777), Acl(0, 0, 0o555)]
    assert base.paths == ("etc/fstab", "etc/group", "etc/hostname")
    assert base.folders[0].acl is None  # apk's default (root, 0755) is not written


def test_a_virtual_package_has_dependencies_and_no_file() -> None:
    rundeps = parse_installed(DATA).packages[-1]
    assert rundeps.name == ".python-rundeps" and rundeps.arch == "noarch"
    assert rundeps.license == "" and rundeps.field("U") == ""
    assert "so:libssl.so.3" in rundeps.words("D") and len(rundeps.words("D")) == 10
    assert rundeps.folders == () and rundeps.paths == ()


@pytest.mark.parametrize(
    "data",
    [
        DATA,
        DATA.rstrip(b"\n"),  # no blank line after the last package, no final newline
        DATA.rstrip(b"\n") + b"\n",
        b"\n\n" + DATA + b"\n\n\n",  # blank lines before and after
        DATA.replace(b"\n\n", b"\n\n\n"),
        b"",
        b"\n",
        b"P:x\nx\nV:1\n",  # a one-byte line ends a package (apk: a line shorter than two bytes)
        b"P:odd\nR:before-any-folder\nZ:Q1x\nweird line\nM:0:0:1\n",
    ],
)
def test_the_file_is_written_back_byte_for_byte(data: bytes) -> None:
    assert parse_installed(data).to_bytes() == data


def test_a_one_byte_line_separates_packages_like_a_blank_line() -> None:
    db = parse_installed(b"P:a\nV:1\nx\nP:b\nV:2\n")
    assert [p.name for p in db.packages] == ["a", "b"]


def test_without_packages_keeps_every_other_byte_and_the_ending() -> None:
    db = parse_installed(DATA)
    records = DATA.split(b"\n\n")
    assert db.without({0}) == b"\n\n".join(records[1:])
    assert db.without({2}) == b"\n\n".join(records[:2] + records[3:])
    assert db.without({4}) == b"\n\n".join(records[:4]) + b"\n\n"
    assert db.without(set(range(5))) == b""
    dropped = parse_installed(db.without({1, 3}))
    assert [p.name for p in dropped.packages] == ["musl", "busybox-suid", ".python-rundeps"]


def test_a_removed_last_package_hands_its_ending_to_the_one_before() -> None:
    data = b"P:a\nV:1\n\nP:b\nV:2"
    assert parse_installed(data).without({1}) == b"P:a\nV:1\n"
    data = b"P:a\nV:1\n\n\nP:b\nV:2\n"
    assert parse_installed(data).without({1}) == b"P:a\nV:1\n"


def test_without_files_drops_only_their_r_a_z_lines() -> None:
    db = parse_installed(DATA)
    out = parse_installed(db.without(files={0: {"lib/libc.musl-x86_64.so.1"}}))
    musl = out.packages[0]
    assert musl.paths == ("lib/ld-musl-x86_64.so.1",)
    assert musl.body == db.packages[0].body.replace(
        b"R:libc.musl-x86_64.so.1\na:0:0:777\nZ:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=\n", b""
    )
    assert [p.body for p in out.packages[1:]] == [p.body for p in db.packages[1:]]


def test_a_folder_goes_only_when_it_is_gone_and_has_no_file_left() -> None:
    db = parse_installed(DATA)
    binsh = db.packages[1]
    # bin/sh removed, bin still in the image: F:bin stays (apk still counts the folder as owned)
    kept = parse_installed(binsh.without_files({"bin/sh"}))
    assert [f.path for f in kept.packages[0].folders] == ["bin"] and kept.packages[0].paths == ()
    # the folder is gone too: its F line goes
    gone = parse_installed(binsh.without_files({"bin/sh"}, {"bin"}))
    assert gone.packages[0].folders == () and b"F:bin" not in gone.packages[0].body
    # a gone folder that still lists a file stays; M lines go with their F line
    base = db.packages[3]
    text = base.without_files({"etc/fstab"}, {"etc", "root"})
    assert b"F:etc\n" in text and b"F:root\nM:0:0:700\n" not in text and b"F:tmp\nM:0:0:1777\n" in text


def test_header_fields_are_not_recomputed() -> None:
    db = parse_installed(DATA)
    text = db.packages[0].without_files({"lib/ld-musl-x86_64.so.1"})
    assert b"I:663552\n" in text and text.startswith(b"C:Q1SDNRHr0Y9jG6hbN0xOCKkoBRwKk=\nP:musl\n")


def test_triggers_lose_the_lines_of_removed_packages_only() -> None:
    data = b"Q1aaa= /bin /usr/bin\nQ1bbb= /usr/share/fonts/*\nQ1ccc= /lib/modules/*"
    assert triggers_without(data, {"Q1bbb="}) == b"Q1aaa= /bin /usr/bin\nQ1ccc= /lib/modules/*"
    assert triggers_without(data, {"Q1ccc="}) == b"Q1aaa= /bin /usr/bin\nQ1bbb= /usr/share/fonts/*\n"
    assert triggers_without(data, set()) == data
    assert triggers_without(data, {"Q1zzz="}) == data


def test_non_utf8_bytes_round_trip() -> None:
    data = b"P:caf\xe9\nV:1\nF:usr/share\nR:\xff\xfe\nZ:Q1x\n\n"
    db = parse_installed(data)
    assert db.to_bytes() == data
    (package,) = db.packages
    assert package.files[0].path == "usr/share/\udcff\udcfe"
    assert package.label == "caf\ufffd 1"
    assert db.without(files={0: {package.files[0].path}}) == b"P:caf\xe9\nV:1\nF:usr/share\n\n"
