"""merge_layers: whiteouts, opaque dirs, hardlinks, metadata, and the escape guards."""

from __future__ import annotations

import tracemalloc
from pathlib import Path, PurePosixPath

import pytest

from harden.errors import UnsafeLayer
from harden.image.blobs import BlobStore
from harden.image.merge import MergeResult, merge_layers
from harden.image.model import EntryType, Layer, Rootfs
from imagefactory import (
    big_file,
    block_device,
    char_device,
    directory,
    fifo,
    file,
    hardlink,
    make_layer_tar,
    memory_layers,
    opaque,
    symlink,
    whiteout,
    write_layer_tar,
)


def merge(blobs: BlobStore, *layers: list, sanitize: bool = False) -> MergeResult:  # type: ignore[type-arg]
    return merge_layers(
        memory_layers([make_layer_tar(entries) for entries in layers]), blobs, sanitize=sanitize
    )


def content(rootfs: Rootfs, blobs: BlobStore, path: str) -> bytes:
    entry = rootfs.get(path)
    assert entry is not None and entry.digest is not None, path
    return blobs.read(entry.digest)


def paths(rootfs: Rootfs) -> list[str]:
    return [str(e.path) for e in rootfs]


def test_whiteouts_and_opaque_dirs_across_three_layers(blobs: BlobStore) -> None:
    base = [
        directory("etc"),
        file("etc/a", b"old a"),
        file("etc/b", b"b"),
        directory("opt"),
        file("opt/x", b"x"),
        directory("opt/sub"),
        file("opt/sub/y", b"y"),
        directory("usr"),
        file("usr/keep", b"k"),
    ]
    middle = [
        directory("etc"),
        whiteout("etc/a"),
        directory("opt"),
        opaque("opt"),
        file("opt/new", b"new"),
        directory("usr"),
        file("usr/added", b"added"),
    ]
    top = [whiteout("usr"), directory("etc"), file("etc/a", b"new a")]
    rootfs = merge(blobs, base, middle, top).rootfs
    assert paths(rootfs) == ["etc", "etc/a", "etc/b", "opt", "opt/new"]
    assert content(rootfs, blobs, "etc/a") == b"new a"
    assert not any(".wh." in p for p in paths(rootfs))


def test_whiteout_applies_to_lower_layers_only(blobs: BlobStore) -> None:
    lower = [directory("d"), file("d/old", b"1"), file("x", b"lower")]
    same = [file("x", b"upper"), whiteout("x"), directory("d"), opaque("d"), file("d/fresh", b"2")]
    rootfs = merge(blobs, lower, same).rootfs
    assert paths(rootfs) == ["d", "d/fresh", "x"]
    assert content(rootfs, blobs, "x") == b"upper"


def test_root_opaque_marker_hides_every_lower_path(blobs: BlobStore) -> None:
    rootfs = merge(
        blobs, [file("a"), directory("b"), file("b/c")], [file(".wh..wh..opq"), file("z", b"z")]
    ).rootfs
    assert paths(rootfs) == ["z"]


def test_upper_non_directory_masks_lower_directory(blobs: BlobStore) -> None:
    lower = [directory("d"), file("d/f"), directory("s"), file("s/f"), file("f")]
    upper = [file("d", b"now a file"), symlink("s", "/elsewhere"), directory("f"), file("f/child", b"c")]
    rootfs = merge(blobs, lower, upper).rootfs
    assert paths(rootfs) == ["d", "f", "f/child", "s"]
    assert rootfs.entries[PurePosixPath("d")].type is EntryType.FILE
    assert rootfs.entries[PurePosixPath("s")].linkname == "/elsewhere"
    assert rootfs.entries[PurePosixPath("f")].type is EntryType.DIR


def test_a_hidden_middle_layer_file_still_masks_what_was_below_it(blobs: BlobStore) -> None:
    # found by the property test: layer 1 replaced directory a by a file, layer 2 made it a directory again
    rootfs = merge(blobs, [directory("a"), file("a/a")], [file("a")], [directory("a", mode=0o700)]).rootfs
    assert paths(rootfs) == ["a"]
    rootfs = merge(blobs, [directory("a"), file("a/a")], [symlink("a", "/x")], [directory("a")]).rootfs
    assert paths(rootfs) == ["a"]


def test_only_winning_contents_are_stored(blobs: BlobStore) -> None:
    merge(
        blobs,
        [file("a", b"shadowed" * 10), file("gone", b"whited out")],
        [file("a", b"winner"), whiteout("gone")],
    )
    stored = {p.read_bytes() for p in blobs.root.glob("*/*")}
    assert stored == {b"winner"}


def test_same_layer_duplicate_last_one_wins(blobs: BlobStore) -> None:
    rootfs = merge(blobs, [file("a", b"first"), file("a", b"second", mode=0o600)]).rootfs
    assert content(rootfs, blobs, "a") == b"second"
    assert rootfs.entries[PurePosixPath("a")].mode == 0o600


def test_metadata_is_kept(blobs: BlobStore) -> None:
    layer = [
        directory("bin", mode=0o755),
        file("bin/su", b"elf", mode=0o4755, uid=0, gid=0, uname="root", gname="root"),
        file("bin/wall", b"elf", mode=0o2755, gid=5, gname="tty"),
        directory("tmp", mode=0o1777),
        file("home", b"", mode=0o640, uid=1000, gid=1000, uname="app", gname="app", mtime=123456),
        file("bin/ping", b"elf", xattrs={"security.capability": "\x01\x00\x00\x02", "user.note": "hi"}),
        symlink("bin/sh", "dash"),
        directory("dev"),
        char_device("dev/null", 1, 3, mode=0o666),
        block_device("dev/sda", 8, 0, mode=0o660),
        fifo("dev/initctl", mode=0o600),
    ]
    rootfs = merge(blobs, layer).rootfs
    get = rootfs.entries.__getitem__
    su = get(PurePosixPath("bin/su"))
    assert su.mode == 0o4755 and su.setid and (su.uname, su.gname) == ("root", "root")
    assert get(PurePosixPath("bin/wall")).mode == 0o2755 and get(PurePosixPath("bin/wall")).gid == 5
    assert get(PurePosixPath("tmp")).mode == 0o1777
    home = get(PurePosixPath("home"))
    assert (home.uid, home.gid, home.uname, home.mode, home.mtime) == (1000, 1000, "app", 0o640, 123456)
    assert dict(get(PurePosixPath("bin/ping")).xattrs) == {
        "security.capability": "\x01\x00\x00\x02",
        "user.note": "hi",
    }
    assert get(PurePosixPath("bin/sh")).linkname == "dash"
    null = get(PurePosixPath("dev/null"))
    assert (null.type, null.devmajor, null.devminor, null.mode) == (EntryType.CHAR, 1, 3, 0o666)
    assert get(PurePosixPath("dev/sda")).type is EntryType.BLOCK
    assert get(PurePosixPath("dev/initctl")).type is EntryType.FIFO


def test_names_are_normalized_and_parents_implied(blobs: BlobStore) -> None:
    rootfs = merge(blobs, [directory("./"), file("./usr/lib/python3/x.py", b"x")]).rootfs
    assert paths(rootfs) == ["usr", "usr/lib", "usr/lib/python3", "usr/lib/python3/x.py"]
    assert rootfs.entries[PurePosixPath("usr/lib")].mode == 0o755
    assert PurePosixPath(".") not in rootfs


# -- hardlinks ---------------------------------------------------------------------------------------------
def test_hardlink_in_same_layer_is_canonical(blobs: BlobStore) -> None:
    rootfs = merge(
        blobs, [file("usr/bin/python3.11", b"ELF"), hardlink("usr/bin/python3", "usr/bin/python3.11")]
    ).rootfs
    leader = rootfs.entries[PurePosixPath("usr/bin/python3")]
    other = rootfs.entries[PurePosixPath("usr/bin/python3.11")]
    # the first path in sorted order carries the content; the other links to it
    assert leader.type is EntryType.FILE and leader.linkname is None
    assert other.type is EntryType.HARDLINK and other.linkname == "usr/bin/python3"
    assert leader.digest == other.digest and other.size == 3
    assert content(rootfs, blobs, "usr/bin/python3.11") == b"ELF"


def test_hardlinked_names_share_the_inode_metadata(blobs: BlobStore) -> None:
    layer = [file("b", b"x", mode=0o4750, uid=7, gid=8, mtime=42), hardlink("a", "b", mode=0o644)]
    rootfs = merge(blobs, layer).rootfs
    a, b = rootfs.entries[PurePosixPath("a")], rootfs.entries[PurePosixPath("b")]
    assert (a.type, b.type, b.linkname) == (EntryType.FILE, EntryType.HARDLINK, "a")
    assert {(e.mode, e.uid, e.gid, e.mtime, e.digest) for e in (a, b)} == {(0o4750, 7, 8, 42, a.digest)}


def test_hardlink_to_a_lower_layer_file(blobs: BlobStore) -> None:
    rootfs = merge(blobs, [file("a", b"A")], [hardlink("b", "a")]).rootfs
    assert rootfs.entries[PurePosixPath("a")].type is EntryType.FILE
    b = rootfs.entries[PurePosixPath("b")]
    assert (b.type, b.linkname) == (EntryType.HARDLINK, "a")
    assert content(rootfs, blobs, "b") == b"A"


def test_hardlink_whose_file_was_replaced_above_keeps_the_old_content(blobs: BlobStore) -> None:
    # a is hidden by the upper layer, so its content was not stored on the first pass (second pass needed)
    rootfs = merge(
        blobs, [file("a", b"old inode"), hardlink("b", "a"), hardlink("c", "a")], [file("a", b"new")]
    ).rootfs
    assert content(rootfs, blobs, "a") == b"new"
    assert rootfs.entries[PurePosixPath("a")].type is EntryType.FILE
    b = rootfs.entries[PurePosixPath("b")]
    c = rootfs.entries[PurePosixPath("c")]
    assert b.type is EntryType.FILE and content(rootfs, blobs, "b") == b"old inode"
    assert (c.type, c.linkname) == (EntryType.HARDLINK, "b")


def test_hardlink_whose_file_was_whited_out_is_promoted(blobs: BlobStore) -> None:
    rootfs = merge(blobs, [file("a", b"A"), hardlink("b", "a")], [whiteout("a")]).rootfs
    assert paths(rootfs) == ["b"]
    assert rootfs.entries[PurePosixPath("b")].type is EntryType.FILE
    assert content(rootfs, blobs, "b") == b"A"


# -- escape guards ------------------------------------------------------------------------------------------
UNSAFE_LAYER = [
    file("ok", b"fine"),
    file("../escape", b"x"),
    file("/abs", b"x"),
    file("a/../../b", b"x"),
    symlink("lnk", "/etc"),
    file("lnk/passwd", b"root::0:0"),
    symlink("rel", "../../../etc"),
    file("rel/shadow", b"x"),
    hardlink("hl-out", "../../etc/passwd"),
    hardlink("hl-abs", "/etc/passwd"),
    hardlink("hl-missing", "no/such/file"),
    file("plain", b"f"),
    file("plain/child", b"x"),
]
UNSAFE_NAMES = {
    "../escape",
    "/abs",
    "a/../../b",
    "lnk/passwd",
    "rel/shadow",
    "hl-out",
    "hl-abs",
    "hl-missing",
    "plain/child",
}


def test_unsafe_entries_are_refused_together_naming_each(blobs: BlobStore) -> None:
    with pytest.raises(UnsafeLayer) as caught:
        merge(blobs, [directory("etc")], UNSAFE_LAYER)
    error = caught.value
    assert error.exit_code == 3
    named = {detail.split(": ")[1].strip("'") for detail in error.details}
    assert named == UNSAFE_NAMES
    assert all(detail.startswith("layer 1: ") for detail in error.details)
    assert "--sanitize" in error.message


def test_sanitize_drops_and_reports_unsafe_entries(blobs: BlobStore) -> None:
    result = merge(blobs, [directory("etc")], UNSAFE_LAYER, sanitize=True)
    assert {d.path for d in result.dropped} == UNSAFE_NAMES
    reasons = {d.path: d.reason for d in result.dropped}
    assert reasons["lnk/passwd"].startswith("written through symlink lnk")
    assert reasons["/abs"] == "absolute path"
    assert "missing" in reasons["hl-missing"]
    assert paths(result.rootfs) == ["etc", "lnk", "ok", "plain", "rel"]


def test_write_through_a_symlink_from_a_lower_layer_is_refused(blobs: BlobStore) -> None:
    with pytest.raises(UnsafeLayer) as caught:
        merge(
            blobs, [symlink("lib", "usr/lib"), directory("usr"), directory("usr/lib")], [file("lib/evil.so")]
        )
    assert caught.value.details == ("layer 1: 'lib/evil.so': written through symlink lib -> usr/lib",)


def test_an_upper_directory_replacing_a_symlink_is_fine(blobs: BlobStore) -> None:
    rootfs = merge(blobs, [symlink("lib", "/etc")], [directory("lib"), file("lib/x", b"x")]).rootfs
    assert rootfs.entries[PurePosixPath("lib")].type is EntryType.DIR
    assert paths(rootfs) == ["lib", "lib/x"]


def test_hidden_unsafe_entries_are_still_reported(blobs: BlobStore) -> None:
    with pytest.raises(UnsafeLayer):
        merge(blobs, [file("../x")], [file(".wh..wh..opq")])


# -- memory --------------------------------------------------------------------------------------------------
def test_memory_stays_bounded_for_big_files(tmp_path: Path, blobs: BlobStore) -> None:
    size = 48 << 20
    layer_path = write_layer_tar(
        tmp_path / "big.tar", [big_file("data/big.bin", size), file("data/small", b"s")]
    )
    layer = Layer(diff_id="sha256:unused", open=lambda: layer_path.open("rb"))
    tracemalloc.start()
    try:
        rootfs = merge_layers([layer], blobs).rootfs
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rootfs.entries[PurePosixPath("data/big.bin")].size == size
    assert peak < 8 << 20, f"peak {peak} bytes while merging a {size}-byte file"
