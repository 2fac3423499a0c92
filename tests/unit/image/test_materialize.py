"""materialize: a real directory tree with modes, links, owners and special files, never written outside."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

import pytest

from harden.errors import InternalError
from harden.image.blobs import BlobStore
from harden.image.materialize import materialize
from harden.image.model import EntryType, FileEntry, Rootfs
from imagefactory import (
    char_device,
    directory,
    fifo,
    file,
    hardlink,
    make_layer_tar,
    merged_rootfs,
    symlink,
)

ROOT = os.geteuid() == 0

LAYER = make_layer_tar(
    [
        directory("usr/bin"),
        file("usr/bin/python3.11", b"\x7fELF", mode=0o755, mtime=1_000_000),
        hardlink("usr/bin/python3", "usr/bin/python3.11"),
        symlink("usr/bin/python", "python3"),
        symlink("etc", "/host-etc-must-not-be-followed"),
        file("usr/bin/su", b"su", mode=0o4755),
        directory("ro", mode=0o555),
        file("ro/inside", b"in", mode=0o444),
        directory("home/app", uid=1000, gid=1000, mode=0o700),
        file("home/app/.profile", b"p", uid=1000, gid=1000, mode=0o600),
        directory("tmp", mode=0o1777),
        directory("dev"),
        char_device("dev/null", 1, 3, mode=0o666),
        fifo("dev/fifo", mode=0o620),
    ]
)


def test_materialized_tree(tmp_path: Path, blobs: BlobStore) -> None:
    dest = tmp_path / "root"
    skipped = materialize(merged_rootfs([LAYER], blobs), blobs, dest)

    py = dest / "usr/bin/python3.11"
    assert py.read_bytes() == b"\x7fELF" and stat.S_IMODE(py.stat().st_mode) == 0o755
    assert py.stat().st_mtime == 1_000_000
    assert os.path.samestat(py.stat(), (dest / "usr/bin/python3").stat())
    assert os.readlink(dest / "usr/bin/python") == "python3"
    assert os.readlink(dest / "etc") == "/host-etc-must-not-be-followed"
    assert stat.S_IMODE((dest / "usr/bin/su").stat().st_mode) == 0o4755
    assert stat.S_IMODE((dest / "ro").stat().st_mode) == 0o555
    assert (dest / "ro/inside").read_bytes() == b"in"
    assert stat.S_IMODE((dest / "tmp").stat().st_mode) == 0o1777
    assert stat.S_ISFIFO((dest / "dev/fifo").lstat().st_mode)
    assert stat.S_IMODE((dest / "dev/fifo").lstat().st_mode) == 0o620
    profile = (dest / "home/app/.profile").stat()
    if ROOT:
        assert (profile.st_uid, profile.st_gid) == (1000, 1000)
        null = (dest / "dev/null").lstat()
        assert stat.S_ISCHR(null.st_mode) and (os.major(null.st_rdev), os.minor(null.st_rdev)) == (1, 3)
        assert skipped == ()
    else:
        assert skipped == (PurePosixPath("dev/null"),)
    assert not Path("/host-etc-must-not-be-followed").exists()


def test_orphaned_hardlink_gets_the_content(tmp_path: Path, blobs: BlobStore) -> None:
    rootfs = merged_rootfs([LAYER], blobs).with_changes(remove=frozenset({PurePosixPath("usr/bin/python3")}))
    materialize(rootfs, blobs, tmp_path / "root")
    assert (tmp_path / "root/usr/bin/python3.11").read_bytes() == b"\x7fELF"


def test_dest_must_be_empty(tmp_path: Path, blobs: BlobStore) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "x").write_text("x")
    with pytest.raises(InternalError, match="not empty"):
        materialize(merged_rootfs([LAYER], blobs), blobs, tmp_path / "root")


@pytest.mark.parametrize("target", ["ABSOLUTE", "../outside"])
def test_never_writes_through_a_symlink_even_if_the_rootfs_says_so(
    tmp_path: Path, blobs: BlobStore, target: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    digest, size = blobs.put_bytes(b"pwned")
    link, victim = PurePosixPath("evil"), PurePosixPath("evil/pwned")
    linkname = str(outside) if target == "ABSOLUTE" else target
    rootfs = Rootfs(  # a hand-made rootfs that merge would have refused
        {
            link: FileEntry(link, EntryType.SYMLINK, linkname=linkname),
            victim: FileEntry(victim, EntryType.FILE, digest=digest, size=size),
        }
    )
    with pytest.raises(InternalError, match="not a plain directory"):
        materialize(rootfs, blobs, tmp_path / "root")
    assert list(outside.iterdir()) == []
