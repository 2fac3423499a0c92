"""Resolving the image User the way a runtime does, and the hardening assertions over model + facts."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from harden.errors import InputError
from harden.image.blobs import BlobStore
from harden.image.model import EntryType, FileEntry, Rootfs
from harden.verify.assertions import hardening_assertions, setid_files, shells_in_model
from harden.verify.users import resolve_user

PASSWD = """root:x:0:0:root:/root:/bin/bash
# comment
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
app:x:1000:1000::/srv/app:/sbin/nologin
"""
GROUP = "root:x:0:\nnonroot:x:65532:\napp:x:1000:\nshared:x:2000:app,nonroot\n"


def rootfs_with(blobs: BlobStore, files: dict[str, bytes], extra: tuple[FileEntry, ...] = ()) -> Rootfs:
    entries: dict[PurePosixPath, FileEntry] = {}
    for name, data in files.items():
        digest, size = blobs.put_bytes(data)
        path = PurePosixPath(name)
        entries[path] = FileEntry(path, EntryType.FILE, digest=digest, size=size)
    for entry in extra:
        entries[entry.path] = entry
    for path in list(entries):
        for parent in path.parents:
            if parent != PurePosixPath("."):
                entries.setdefault(parent, FileEntry(parent, EntryType.DIR, mode=0o755))
    return Rootfs(entries)


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


@pytest.fixture
def accounts(blobs: BlobStore) -> Rootfs:
    return rootfs_with(blobs, {"etc/passwd": PASSWD.encode(), "etc/group": GROUP.encode()})


@pytest.mark.parametrize(
    ("user", "uid", "gid", "home", "groups"),
    [
        ("", 0, 0, "/root", ()),
        ("root", 0, 0, "/root", ()),
        ("nonroot", 65532, 65532, "/home/nonroot", (2000,)),
        ("65532", 65532, 65532, "/home/nonroot", (2000,)),
        ("65532:65532", 65532, 65532, "/home/nonroot", (2000,)),
        ("app:shared", 1000, 2000, "/srv/app", ()),
        ("4242", 4242, 0, "/", ()),
        ("4242:77", 4242, 77, "/", ()),
    ],
)
def test_resolve_user_like_a_container_runtime(accounts: Rootfs, blobs: BlobStore, user: str, uid: int,
                                               gid: int, home: str, groups: tuple[int, ...]) -> None:
    run_as = resolve_user(user, accounts, blobs)
    assert (run_as.uid, run_as.gid, run_as.home, run_as.groups) == (uid, gid, home, groups)


def test_unknown_names_are_input_errors(accounts: Rootfs, blobs: BlobStore) -> None:
    with pytest.raises(InputError, match="'ghost'"):
        resolve_user("ghost", accounts, blobs)
    with pytest.raises(InputError, match="'nogroup'"):
        resolve_user("app:nogroup", accounts, blobs)


def test_an_image_without_passwd_still_runs_numeric_users(blobs: BlobStore) -> None:
    run_as = resolve_user("65532", Rootfs({}), blobs)
    assert (run_as.uid, run_as.gid, run_as.home) == (65532, 0, "/")


GOOD_FACTS: dict[str, Any] = {
    "uid": 65532, "euid": 65532, "gid": 65532, "shell_true_ran": False,
    "shell_true_error": "FileNotFoundError: [Errno 2] No such file or directory: '/bin/sh'",
    "shells_on_disk": [], "home": "/home/nonroot", "home_writable": True, "home_error": "",
    "ca_files": ["/etc/ssl/certs/ca-certificates.crt"], "zoneinfo_dir": True, "zoneinfo_lookup": "ok",
}
NO_TZ: dict[str, Any] = {"zoneinfo_dir": False, "zoneinfo_lookup": "ZoneInfoNotFoundError"}
ORIGINAL_FACTS: dict[str, Any] = {**GOOD_FACTS, "uid": 0, "euid": 0, "shell_true_ran": True,
                                  "shells_on_disk": ["/bin/sh"]}


def by_code(assertions: tuple[Any, ...]) -> dict[str, Any]:
    return {a.code: a for a in assertions}


def test_a_hardened_image_passes_every_assertion(blobs: BlobStore) -> None:
    rootfs = rootfs_with(blobs, {"usr/bin/python3": b"\x7fELF"})
    results = by_code(hardening_assertions(rootfs, GOOD_FACTS, ORIGINAL_FACTS))
    assert set(results) == {"HV-NO-SHELL", "HV-NO-SHELL-BINARY", "HV-NON-ROOT", "HV-NO-SETID",
                            "HV-HOME-WRITABLE", "HV-CA-BUNDLE", "HV-TZDATA"}
    assert all(a.passed for a in results.values()), [a for a in results.values() if not a.passed]


def test_each_assertion_fails_on_its_own_finding(blobs: BlobStore) -> None:
    setuid = FileEntry(PurePosixPath("usr/bin/passwd"), EntryType.FILE, mode=0o4755)
    busybox = FileEntry(PurePosixPath("bin/busybox"), EntryType.FILE, mode=0o755)
    sh_link = FileEntry(PurePosixPath("usr/local/bin/sh"), EntryType.SYMLINK, linkname="/bin/busybox")
    rootfs = rootfs_with(blobs, {}, (setuid, busybox, sh_link))
    facts = {**GOOD_FACTS, "uid": 0, "euid": 0, "shell_true_ran": True, "home_writable": False,
             "home_error": "PermissionError", "ca_files": [], **NO_TZ}
    results = by_code(hardening_assertions(rootfs, facts, ORIGINAL_FACTS))
    assert not any(a.passed for a in results.values())
    assert "/usr/bin/passwd" in results["HV-NO-SETID"].detail
    assert "/bin/busybox" in results["HV-NO-SHELL-BINARY"].detail
    assert "/usr/local/bin/sh" in results["HV-NO-SHELL-BINARY"].detail
    assert "/etc/ssl/certs/ca-certificates.crt" in results["HV-CA-BUNDLE"].detail
    assert "uid 0" in results["HV-NON-ROOT"].detail


def test_without_facts_from_the_hardened_image_in_image_checks_fail(blobs: BlobStore) -> None:
    results = by_code(hardening_assertions(Rootfs({}), None, ORIGINAL_FACTS, why_no_facts="exit code 127"))
    assert results["HV-NO-SETID"].passed
    assert not results["HV-NON-ROOT"].passed
    assert "exit code 127" in results["HV-NON-ROOT"].detail


def test_what_the_original_lacked_is_not_required(blobs: BlobStore) -> None:
    bare = {**ORIGINAL_FACTS, "ca_files": [], **NO_TZ}
    facts = {**GOOD_FACTS, "ca_files": [], **NO_TZ}
    results = by_code(hardening_assertions(Rootfs({}), facts, bare))
    assert results["HV-CA-BUNDLE"].passed and results["HV-TZDATA"].passed


def test_model_scans(blobs: BlobStore) -> None:
    entries = (
        FileEntry(PurePosixPath("usr/bin/bash"), EntryType.FILE, mode=0o755),
        FileEntry(PurePosixPath("usr/share/doc/bash"), EntryType.DIR, mode=0o755),
        FileEntry(PurePosixPath("opt/tool/sh"), EntryType.FILE, mode=0o755),
        FileEntry(PurePosixPath("usr/bin/wall"), EntryType.FILE, mode=0o2755),
        FileEntry(PurePosixPath("tmp"), EntryType.DIR, mode=0o1777),
    )
    rootfs = rootfs_with(blobs, {}, entries)
    assert shells_in_model(rootfs) == ["/usr/bin/bash"]
    assert setid_files(rootfs) == ["/usr/bin/wall"]
