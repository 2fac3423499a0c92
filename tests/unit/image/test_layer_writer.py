"""write_layer: deterministic, sorted, parents first, fixed mtimes, metadata kept, hardlinks valid, atomic."""

from __future__ import annotations

import hashlib
import io
import tarfile
import tracemalloc
from pathlib import Path, PurePosixPath

import pytest

from harden.errors import InternalError, UsageError
from harden.image.blobs import BlobStore
from harden.image.merge import merge_layers
from harden.image.model import EntryType, FileEntry, ImageConfig, Rootfs
from harden.image.writer import plan_layer, source_date_epoch, with_written_layers, write_layer, write_planned
from imagefactory import (
    block_device,
    char_device,
    directory,
    fifo,
    file,
    hardlink,
    make_layer_tar,
    memory_layers,
    merged_rootfs,
    symlink,
)

RICH_LAYERS = [
    [
        directory("usr", mtime=5),
        directory("usr/bin"),
        file("usr/bin/python3.11", b"\x7fELF python", mode=0o755, mtime=99),
        hardlink("usr/bin/python3", "usr/bin/python3.11"),
        symlink("usr/bin/python", "python3"),
        file("usr/bin/sudo", b"\x7fELF sudo", mode=0o4755, uname="root", gname="root"),
        directory("tmp", mode=0o1777),
        directory("dev"),
        char_device("dev/null", 1, 3, mode=0o666),
        block_device("dev/loop0", 7, 0),
        fifo("dev/fifo"),
        file("etc/ping.conf", b"x", xattrs={"security.capability": "\x01\x02\xff", "user.a": "b"}),
        file("home/app/.profile", b"", uid=1000, gid=1000, uname="app", gname="app", mode=0o600),
    ],
    [file("usr/bin/python3.11", b"\x7fELF patched", mode=0o755), file("z-last", b"z")],
]


def rich_rootfs(blobs: BlobStore) -> Rootfs:
    return merged_rootfs([make_layer_tar(entries) for entries in RICH_LAYERS], blobs)


def members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return tar.getmembers()


def without_mtime(rootfs: Rootfs) -> set[FileEntry]:
    return {entry.evolve(mtime=0) for entry in rootfs}


def test_round_trip_gives_the_same_rootfs(tmp_path: Path, blobs: BlobStore) -> None:
    rootfs = rich_rootfs(blobs)
    written = write_layer(rootfs, blobs, tmp_path / "layer.tar")
    again = merge_layers(memory_layers([written.path.read_bytes()]), blobs).rootfs
    assert without_mtime(again) == without_mtime(rootfs)
    assert {e.path: e.mtime for e in again if e.path in rootfs} == {e.path: e.mtime for e in rootfs}


def test_output_is_byte_identical_and_digest_is_the_sha256(tmp_path: Path, blobs: BlobStore) -> None:
    rootfs = rich_rootfs(blobs)
    shuffled = Rootfs(dict(reversed(list(rootfs.entries.items()))))
    first = write_layer(rootfs, blobs, tmp_path / "one.tar", clamp_mtime=0)
    second = write_layer(shuffled, blobs, tmp_path / "two.tar", clamp_mtime=0)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.diff_id == second.diff_id == "sha256:" + hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert first.size == first.path.stat().st_size
    other_epoch = write_layer(rootfs, blobs, tmp_path / "three.tar", clamp_mtime=1)
    assert other_epoch.diff_id != first.diff_id


def by_mtime(infos: list[tarfile.TarInfo]) -> dict[str, int]:
    return {info.name: info.mtime for info in infos if info.mtime}


def test_entries_sorted_parents_first_with_clamped_mtime(tmp_path: Path, blobs: BlobStore) -> None:
    written = write_layer(rich_rootfs(blobs), blobs, tmp_path / "layer.tar", clamp_mtime=1_234)
    infos = members(written.path)
    names = [info.name for info in infos]
    assert names == sorted(names, key=lambda n: PurePosixPath(n).parts)
    seen: set[str] = set()
    for name in names:
        parent = str(PurePosixPath(name).parent)
        assert parent == "." or parent in seen, f"{name} before its parent"
        seen.add(name)
    own = {str(e.path): e.mtime for e in rich_rootfs(blobs)}
    assert by_mtime(infos) == {name: min(own[name], 1_234) for name in own if own[name]}
    assert by_mtime(infos)["usr"] == 5  # below the clamp: kept
    assert "home" in names and "home/app" in names  # implied parents are written


def test_metadata_in_the_tar_headers(tmp_path: Path, blobs: BlobStore) -> None:
    written = write_layer(rich_rootfs(blobs), blobs, tmp_path / "layer.tar", clamp_mtime=0)
    by_name = {info.name: info for info in members(written.path)}
    assert by_name["usr/bin/sudo"].mode == 0o4755 and by_name["usr/bin/sudo"].uname == "root"
    assert by_name["tmp"].mode == 0o1777 and by_name["tmp"].isdir()
    assert (by_name["dev/null"].devmajor, by_name["dev/null"].devminor) == (1, 3)
    assert by_name["dev/null"].ischr() and by_name["dev/loop0"].isblk() and by_name["dev/fifo"].isfifo()
    assert by_name["usr/bin/python"].issym() and by_name["usr/bin/python"].linkname == "python3"
    assert by_name["etc/ping.conf"].pax_headers["SCHILY.xattr.security.capability"] == "\x01\x02\xff"
    profile = by_name["home/app/.profile"]
    assert (profile.uid, profile.gid, profile.uname, profile.mode) == (1000, 1000, "app", 0o600)


def test_hardlinks_point_at_a_path_written_earlier(tmp_path: Path, blobs: BlobStore) -> None:
    digest, size = blobs.put_bytes(b"shared")
    rootfs = Rootfs(
        {
            PurePosixPath("z"): FileEntry(PurePosixPath("z"), EntryType.FILE, digest=digest, size=size),
            PurePosixPath("a"): FileEntry(
                PurePosixPath("a"), EntryType.HARDLINK, linkname="z", digest=digest, size=size
            ),
        }
    )
    written = write_layer(rootfs, blobs, tmp_path / "layer.tar", clamp_mtime=0)
    infos = members(written.path)
    assert [(i.name, i.type, i.linkname, i.size) for i in infos] == [
        ("a", tarfile.REGTYPE, "", size),
        ("z", tarfile.LNKTYPE, "a", 0),
    ]


def linked_rootfs(blobs: BlobStore) -> Rootfs:
    """bin/python3 (FILE, first in sorted order) and bin/python3.11 (HARDLINK to it)."""
    layer = make_layer_tar([file("bin/python3.11", b"py"), hardlink("bin/python3", "bin/python3.11")])
    rootfs = merged_rootfs([layer], blobs)
    assert rootfs.entries[PurePosixPath("bin/python3.11")].type is EntryType.HARDLINK
    return rootfs


def read_members(path: Path) -> dict[str, tuple[bytes, bytes]]:
    with tarfile.open(path) as tar:
        result = {}
        for info in tar.getmembers():
            stream = tar.extractfile(info) if info.isreg() else None
            result[info.name] = (info.type, stream.read() if stream else info.linkname.encode())
        return result


def test_links_to_a_removed_file_keep_their_content(tmp_path: Path, blobs: BlobStore) -> None:
    rootfs = linked_rootfs(blobs).with_changes(remove=frozenset({PurePosixPath("bin/python3")}))
    written = write_layer(rootfs, blobs, tmp_path / "layer.tar", clamp_mtime=0)
    assert read_members(written.path) == {
        "bin": (tarfile.DIRTYPE, b""),
        "bin/python3.11": (tarfile.REGTYPE, b"py"),
    }


def test_a_link_whose_file_was_rewritten_is_written_with_its_own_content(
    tmp_path: Path, blobs: BlobStore
) -> None:
    rootfs = linked_rootfs(blobs)
    leader = rootfs.entries[PurePosixPath("bin/python3")]
    digest, size = blobs.put_bytes(b"stripped")
    changed = rootfs.with_changes(put={leader.path: leader.evolve(digest=digest, size=size)})
    written = write_layer(changed, blobs, tmp_path / "layer.tar", clamp_mtime=0)
    assert read_members(written.path) == {
        "bin": (tarfile.DIRTYPE, b""),
        "bin/python3": (tarfile.REGTYPE, b"stripped"),
        "bin/python3.11": (tarfile.REGTYPE, b"py"),
    }
    unchanged = write_layer(rootfs, blobs, tmp_path / "linked.tar", clamp_mtime=0)
    assert read_members(unchanged.path)["bin/python3.11"] == (tarfile.LNKTYPE, b"bin/python3")


def test_missing_content_fails_and_leaves_nothing(tmp_path: Path, blobs: BlobStore) -> None:
    path = PurePosixPath("f")
    rootfs = Rootfs({path: FileEntry(path, EntryType.FILE, digest="0" * 64, size=3)})
    with pytest.raises(InternalError):
        write_layer(rootfs, blobs, tmp_path / "layer.tar", clamp_mtime=0)
    assert list(tmp_path.iterdir()) == [tmp_path / "blobs"]


def test_memory_stays_bounded(tmp_path: Path, blobs: BlobStore) -> None:
    size = 48 << 20
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for _ in range(size >> 20):
            out.write(b"y" * (1 << 20))
    digest, stored = blobs.put_file(big)
    path = PurePosixPath("big.bin")
    rootfs = Rootfs({path: FileEntry(path, EntryType.FILE, digest=digest, size=stored)})
    tracemalloc.start()
    try:
        written = write_layer(rootfs, blobs, tmp_path / "layer.tar", clamp_mtime=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written.size > size
    assert peak < 8 << 20


def test_config_lists_the_written_layers(tmp_path: Path, blobs: BlobStore) -> None:
    written = write_layer(rich_rootfs(blobs), blobs, tmp_path / "layer.tar", clamp_mtime=0)
    config = ImageConfig.from_bytes(
        b'{"created":"2024-01-01T00:00:00Z","config":{"User":"app"},"rootfs":{"type":"layers","diff_ids":["a","b"]},'
        b'"history":[{"created_by":"one"},{"created_by":"two"}]}'
    )
    updated = with_written_layers(config, [written], created_by="harden test", epoch=86_400)
    assert updated.diff_ids == (written.diff_id,)
    assert [h.get("empty_layer", False) for h in updated.history] == [True, True, False]
    assert updated.history[-1] == {"created": "1970-01-02T00:00:00Z", "created_by": "harden test"}
    assert updated.raw["created"] == "1970-01-02T00:00:00Z" and updated.user == "app"
    kept = with_written_layers(config, [written], created_by="x", epoch=0)
    assert kept.raw["created"] == "2024-01-01T00:00:00Z"


def test_source_date_epoch() -> None:
    assert source_date_epoch({}) == 0
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "1700000000"}) == 1_700_000_000
    with pytest.raises(UsageError):
        source_date_epoch({"SOURCE_DATE_EPOCH": "yesterday"})


def odd_rootfs(blobs: BlobStore) -> Rootfs:
    """Entries whose headers are not one block: a long path and a long symlink target (PAX records), a
    non-ASCII name, a big uid, and a content whose size is not a multiple of 512."""
    deep = "/".join(["a-rather-long-directory-name"] * 6)
    odd = make_layer_tar([
        file(f"{deep}/module.py", b"x" * 1000),
        symlink("usr/lib/link", "../" * 40 + "target"),
        file("usr/share/caf\u00e9.txt", "\u00e9".encode() * 3, uid=70_000_000),
    ])
    return merged_rootfs([*(make_layer_tar(entries) for entries in RICH_LAYERS), odd], blobs)


@pytest.mark.parametrize("clamp", [None, 0, 1_234])
def test_the_planned_size_is_the_written_size(tmp_path: Path, blobs: BlobStore, clamp: int | None) -> None:
    """An engine's load gets the layer after a header that names its size: the size must be known, exactly,
    before the first byte is written."""
    plan = plan_layer(odd_rootfs(blobs), clamp_mtime=clamp)
    written = write_planned(plan, blobs, tmp_path / "layer.tar")
    assert plan.size(blobs) == written.size == written.path.stat().st_size
    assert written.size % tarfile.RECORDSIZE == 0


def test_the_copy_gets_every_byte_and_a_wrong_size_raises(tmp_path: Path, blobs: BlobStore) -> None:
    plan = plan_layer(odd_rootfs(blobs), clamp_mtime=0)
    copy = io.BytesIO()
    written = write_planned(plan, blobs, tmp_path / "layer.tar", copy_to=copy, size=plan.size(blobs))
    assert copy.getvalue() == written.path.read_bytes()
    assert written.path.read_bytes() == write_layer(odd_rootfs(blobs), blobs, tmp_path / "plain.tar",
                                                    clamp_mtime=0).path.read_bytes()
    with pytest.raises(InternalError, match=r"not the .* bytes planned"):
        write_planned(plan, blobs, tmp_path / "wrong.tar", copy_to=io.BytesIO(), size=plan.size(blobs) + 512)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blobs", "layer.tar", "plain.tar"]


def timestamp_pyc(code: str, source_mtime: int, source_size: int) -> bytes:
    """A .pyc as CPython writes it (PEP 552, timestamp-checked): magic, flags 0, source mtime and size, code."""
    import importlib.util
    import marshal
    import struct

    header = importlib.util.MAGIC_NUMBER + struct.pack("<III", 0, source_mtime, source_size)
    return header + marshal.dumps(compile(code, "kept.py", "exec"))


def test_a_source_whose_bytecode_is_kept_keeps_its_mtime_under_the_clamp(tmp_path: Path, blobs: BlobStore) -> None:
    """Capped, kept.py's mtime would no longer be the one its .pyc records and Python would compile the source
    again: the interpreter run on the written layer gets the bytecode's value, not the source's."""
    import subprocess
    import sys

    source = b"VALUE = 'from the source'\n"
    tag = sys.implementation.cache_tag
    rootfs = merged_rootfs([make_layer_tar([
        file("app/kept.py", source, mtime=2_000_000),
        file(f"app/__pycache__/kept.{tag}.pyc", timestamp_pyc("VALUE = 'from bytecode'", 2_000_000, len(source)),
             mtime=2_000_000),
        file("app/plain.py", b"VALUE = 1\n", mtime=2_000_000),
        file("app/old.py", b"VALUE = 2\n", mtime=5),
        file(f"app/__pycache__/old.{tag}.pyc", b"", mtime=5),
    ])], blobs)
    plan = plan_layer(rootfs, clamp_mtime=1_000_000)
    assert plan.unclamped == {PurePosixPath("app/kept.py")}  # old.py is below the clamp: nothing to keep
    (note,) = plan.notes()
    assert "except those of 1 Python source whose" in note and "/app/kept.py" in note
    layer = write_planned(plan, blobs, tmp_path / "layer.tar")
    assert by_mtime(members(layer.path)) == {  # the parents, added by the writer, have mtime 0
        "app/kept.py": 2_000_000,
        f"app/__pycache__/kept.{tag}.pyc": 1_000_000, "app/plain.py": 1_000_000, "app/old.py": 5,
        f"app/__pycache__/old.{tag}.pyc": 5}
    root = tmp_path / "root"
    with tarfile.open(layer.path) as tar:
        tar.extractall(root, filter="tar")
    ran = subprocess.run([sys.executable, "-B", "-c", "import kept; print(kept.VALUE)"], cwd=root / "app",
                         capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "from bytecode"
    assert plan_layer(rootfs, clamp_mtime=None).notes() == ()
