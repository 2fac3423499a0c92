"""harden.ospkg: which OS package database an image has, its packages and purls, and rewriting it."""

from __future__ import annotations

import base64
import hashlib
from pathlib import PurePosixPath

import pytest

from fixtures.alpine.make_fixture import Binaries, alpine_image
from harden.apk.installed import parse_installed
from harden.image.blobs import BlobStore
from harden.image.files import file_bytes
from harden.image.model import Rootfs
from harden.ospkg import ApkDb, DbKind, DpkgDb, detect, detect_all
from harden.ospkg.purl import apk_purl, deb_purl
from harden.ospkg.release import parse_os_release
from harden.report.inventory import inventory
from imagefactory import TarEntry, directory, file, make_layer_tar, merged_rootfs, symlink

P = PurePosixPath


def rootfs_of(blobs: BlobStore, *entries: TarEntry) -> Rootfs:
    return merged_rootfs([make_layer_tar(entries)], blobs)


@pytest.fixture
def alpine(musl_binaries: Binaries, blobs: BlobStore) -> Rootfs:
    return merged_rootfs([alpine_image(musl_binaries).layer()], blobs)


def apk_db(rootfs: Rootfs, blobs: BlobStore) -> ApkDb:
    db = detect(rootfs, blobs)
    assert isinstance(db, ApkDb)
    return db


def test_the_alpine_fixture_is_an_apk_image_named_by_its_os_release(alpine: Rootfs, blobs: BlobStore) -> None:
    db = apk_db(alpine, blobs)
    assert db.kind is DbKind.APK and db.prunable
    assert db.release.label == "Alpine Linux v3.19" and db.release.id == "alpine"
    assert db.sources == (P("lib/apk/db/installed"), P("lib/apk/db/triggers"))
    names = [p.name for p in db.packages()]
    assert names == ["musl", "busybox", "busybox-binsh", "alpine-baselayout-data", "alpine-release",
                     "hello-musl", ".python-rundeps"]


def test_apk_purls_name_vendor_arch_distro_and_the_origin_when_it_differs(alpine: Rootfs, blobs: BlobStore) -> None:
    purls = {p.name: p.purl for p in apk_db(alpine, blobs).packages()}
    assert purls["musl"] == "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1"
    assert purls["busybox-binsh"] == (
        "pkg:apk/alpine/busybox-binsh@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1&upstream=busybox"
    )
    assert purls[".python-rundeps"] == "pkg:apk/alpine/.python-rundeps@20240207.221705?arch=noarch&distro=alpine-3.19.1"
    package = {p.name: p for p in apk_db(alpine, blobs).packages()}["busybox"]
    assert (package.license, package.origin, package.arch) == ("GPL-2.0-only", "busybox", "x86_64")


def test_apk_purl_lowercases_namespace_and_name_and_encodes_the_version() -> None:
    assert apk_purl("Wolfi", "Py3-Foo", "1.0+b1-r0", "aarch64") == "pkg:apk/wolfi/py3-foo@1.0%2Bb1-r0?arch=aarch64"
    assert apk_purl("", "x", "1") == "pkg:apk/alpine/x@1"


def test_deb_purls() -> None:
    assert deb_purl("debian", "libc6", "2.36-9+deb12u4", "amd64", "debian-12") == (
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
    )
    assert deb_purl("ubuntu", "bash", "5.1-6", "", "") == "pkg:deb/ubuntu/bash@5.1-6"
    assert deb_purl("debian", "g++-12", "1:12.2", "arm64", "") == "pkg:deb/debian/g++-12@1%3A12.2?arch=arm64"


def test_owned_paths_list_folders_and_files_as_the_database_does(alpine: Rootfs, blobs: BlobStore) -> None:
    db = apk_db(alpine, blobs)
    package = {p.name: p for p in db.packages()}
    assert db.owned(package["busybox-binsh"]) == ("bin", "bin/sh")
    assert db.owned(package["busybox"]) == (
        "bin", "etc", "usr", "usr/share", "usr/share/udhcpc", "bin/busybox", "etc/securetty",
        "usr/share/udhcpc/default.script",
    )
    assert db.owned(package[".python-rundeps"]) == ()
    assert db.where_installed(package["musl"], "lib/ld-musl-x86_64.so.1") == "lib/ld-musl-x86_64.so.1"


def test_the_fixture_checksums_are_apks_q1_sha1_of_content_or_link_target(alpine: Rootfs, blobs: BlobStore) -> None:
    db = apk_db(alpine, blobs)
    checked = 0
    for record in db.db.packages:
        for owned in record.files:
            entry = alpine.get(owned.path)
            assert entry is not None, owned.path
            data = entry.linkname.encode() if entry.linkname and entry.type.value == "symlink" else (
                file_bytes(alpine, blobs, P(owned.path)) or b""
            )
            assert owned.digest == "Q1" + base64.b64encode(hashlib.sha1(data).digest()).decode()
            checked += 1
    assert checked == 15


def test_without_a_package_rewrites_installed_and_triggers(alpine: Rootfs, blobs: BlobStore) -> None:
    db = apk_db(alpine, blobs)
    rewrite = db.without({"busybox"})
    installed = rewrite.contents[P("lib/apk/db/installed")]
    assert [p.name for p in parse_installed(installed).packages] == [
        "musl", "busybox-binsh", "alpine-baselayout-data", "alpine-release", "hello-musl", ".python-rundeps"
    ]
    original = file_bytes(alpine, blobs, P("lib/apk/db/installed")) or b""
    assert installed == db.db.without({1}) and len(installed) < len(original)
    assert rewrite.contents[P("lib/apk/db/triggers")] == b""  # busybox's was the only trigger line
    assert rewrite.removals == {}
    assert db.without({"no-such-package"}).empty


def test_without_files_of_a_kept_package_keeps_folders_still_in_the_image(alpine: Rootfs, blobs: BlobStore) -> None:
    db = apk_db(alpine, blobs)
    gone = alpine.with_changes(remove=frozenset({P("usr/local/share/doc/hello")}))
    after = ApkDb.read(gone, blobs, db.release)
    assert after is not None
    rewrite = after.without(files={"hello-musl": ["usr/local/share/doc/hello/README"]})
    hello = parse_installed(rewrite.contents[P("lib/apk/db/installed")]).packages[5]
    assert hello.paths == ("usr/local/bin/hello", "usr/local/lib/greet/libgreet.so.1")
    assert [f.path for f in hello.folders] == ["usr/local/bin", "usr/local/lib/greet"]  # doc/hello is gone
    assert P("lib/apk/db/triggers") not in rewrite.contents


def test_wolfi_keeps_the_database_under_usr_lib(blobs: BlobStore) -> None:
    rootfs = rootfs_of(
        blobs,
        directory("usr/lib/apk/db"),
        symlink("lib", "usr/lib"),
        file("usr/lib/apk/db/installed", b"C:Q1x=\nP:wolfi-baselayout\nV:20230201-r7\nA:x86_64\nL:MIT\n\n"),
        file("etc/os-release", b'ID=wolfi\nNAME="Wolfi"\nVERSION_ID=20230201\n'),
    )
    (db,) = detect_all(rootfs, blobs)
    assert isinstance(db, ApkDb) and db.sources == (P("usr/lib/apk/db/installed"),)
    (package,) = db.packages()
    assert package.purl == "pkg:apk/wolfi/wolfi-baselayout@20230201-r7?arch=x86_64&distro=wolfi-20230201"
    assert db.release.label == "Wolfi 20230201"


def test_a_debian_image_is_dpkg_with_the_sboms_purls(blobs: BlobStore) -> None:
    status = (b"Package: dash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 0.5.12-2\n"
              b"Source: dash (0.5.12-2)\n\n"
              b"Package: old\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n")
    rootfs = rootfs_of(
        blobs,
        file("etc/os-release", b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'),
        file("var/lib/dpkg/status", status),
        file("var/lib/dpkg/info/dash.list", b"/.\n/bin\n/bin/dash\n"),
        file("var/lib/dpkg/info/dash.postinst", b"#!/bin/sh\n"),
        file("bin/dash", b"\x7fELF"),
    )
    db = detect(rootfs, blobs)
    assert isinstance(db, DpkgDb) and db.kind is DbKind.DPKG
    assert db.release.label == "Debian GNU/Linux 12 (bookworm)"
    dash, old = db.packages()
    assert (dash.key, dash.origin, old.installed) == ("dash:amd64", "dash", False)
    assert [dash.purl] == [c.purl for c in inventory(rootfs, blobs) if c.ecosystem == "deb"]
    assert db.owned(dash) == ("bin", "bin/dash") and db.owned(old) is None
    rewrite = db.without({"dash:amd64"}, files={"old:amd64": ["x"]})
    assert rewrite.contents == {P("var/lib/dpkg/status"): status.split(b"\n\n", 1)[1]}
    assert set(rewrite.removals) == {P("var/lib/dpkg/info/dash.list"), P("var/lib/dpkg/info/dash.postinst")}
    assert rewrite.notes == ("dpkg: the file lists of kept packages are not rewritten",)


def test_a_distroless_status_d_file_whose_records_all_go_is_removed(blobs: BlobStore) -> None:
    rootfs = rootfs_of(
        blobs,
        file("var/lib/dpkg/status.d/tzdata", b"Package: tzdata\nVersion: 2024a\nArchitecture: all\n"),
        file("var/lib/dpkg/status.d/tzdata.md5sums", b"0123  usr/share/zoneinfo/UTC\n"),
    )
    db = detect(rootfs, blobs)
    (tzdata,) = db.packages()
    assert db.owned(tzdata) == ("usr/share/zoneinfo/UTC",)
    assert set(db.without({tzdata.key}).removals) == {
        P("var/lib/dpkg/status.d/tzdata"), P("var/lib/dpkg/status.d/tzdata.md5sums")
    }


@pytest.mark.parametrize(
    "where", ["var/lib/rpm/rpmdb.sqlite", "var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages.db"]
)
def test_an_rpm_database_is_recognised_and_never_rewritten(blobs: BlobStore, where: str) -> None:
    rootfs = rootfs_of(blobs, file(where, b"SQLite format 3\x00"),
                       file("etc/os-release", b'ID="fedora"\nVERSION_ID=40\nNAME="Fedora Linux"\n'))
    db = detect(rootfs, blobs)
    assert db.kind is DbKind.RPM and not db.prunable
    assert db.sources == (P(where),) and db.packages() == ()
    rewrite = db.without({"anything"})
    assert rewrite.empty and "not pruned" in rewrite.notes[0]


def test_rpm_through_the_var_lib_symlink_counts_once(blobs: BlobStore) -> None:
    rootfs = rootfs_of(blobs, file("usr/lib/sysimage/rpm/rpmdb.sqlite", b"x"),
                       symlink("var/lib/rpm", "../../usr/lib/sysimage/rpm"))
    assert detect(rootfs, blobs).sources == (P("usr/lib/sysimage/rpm/rpmdb.sqlite"),)


def test_no_database(blobs: BlobStore) -> None:
    db = detect(rootfs_of(blobs, file("app/main.py", b"print(1)\n")), blobs)
    assert db.kind is DbKind.NONE and db.packages() == () and not db.prunable
    assert db.release.label == "unknown OS" and db.without({"x"}).empty


def test_the_os_s_own_database_comes_first(blobs: BlobStore) -> None:
    entries = [
        file("var/lib/dpkg/status", b"Package: a\nVersion: 1\n"),
        file("lib/apk/db/installed", b"P:b\nV:1\n"),
    ]
    alpine = rootfs_of(blobs, *entries, file("etc/os-release", b"ID=alpine\nVERSION_ID=3.19.1\n"))
    assert [db.kind for db in detect_all(alpine, blobs)] == [DbKind.APK, DbKind.DPKG]
    debian = rootfs_of(blobs, *entries, file("etc/os-release", b"ID=debian\n"))
    assert [db.kind for db in detect_all(debian, blobs)] == [DbKind.DPKG, DbKind.APK]


def test_alpine_release_names_an_image_without_os_release(blobs: BlobStore) -> None:
    rootfs = rootfs_of(blobs, file("etc/alpine-release", b"3.19.1\n"), file("lib/apk/db/installed", b"P:x\nV:1\n"))
    db = detect(rootfs, blobs)
    assert db.release.label == "Alpine Linux 3.19.1"
    assert db.packages()[0].purl == "pkg:apk/alpine/x@1?distro=alpine-3.19.1"


def test_os_release_quoting() -> None:
    values = parse_os_release('# c\nNAME="Alpine Linux"\nX=\'single quoted\'\nY="a \\"b\\""\nZ=bare\n\nbad line\n')
    assert values == {"NAME": "Alpine Linux", "X": "single quoted", "Y": 'a "b"', "Z": "bare"}
