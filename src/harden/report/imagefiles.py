"""Reading small files of an image (passwd, dpkg status, dist-info METADATA) from its rootfs and blobs."""

from __future__ import annotations

from pathlib import PurePosixPath

from harden.image.blobs import BlobStore
from harden.image.model import EntryType, FileEntry, Rootfs

MAX_TEXT = 64 << 20


def content_entry(rootfs: Rootfs, path: PurePosixPath | str) -> FileEntry | None:
    """The entry holding ``path``'s content, following symlinks and hardlinks; None if there is none."""
    resolved = rootfs.resolve(path)
    if resolved is None:
        return None
    entry = rootfs.get(resolved)
    if entry is not None and entry.type is EntryType.HARDLINK and entry.digest is None and entry.linkname:
        entry = rootfs.get(entry.linkname)
    if entry is None or not entry.has_content or entry.digest is None:
        return None
    return entry


def read_bytes(
    rootfs: Rootfs, blobs: BlobStore, path: PurePosixPath | str, limit: int = MAX_TEXT
) -> bytes | None:
    entry = content_entry(rootfs, path)
    if entry is None or entry.digest is None or entry.size > limit or entry.digest not in blobs:
        return None
    return blobs.read(entry.digest)


def read_text(
    rootfs: Rootfs, blobs: BlobStore, path: PurePosixPath | str, limit: int = MAX_TEXT
) -> str | None:
    data = read_bytes(rootfs, blobs, path, limit)
    return None if data is None else data.decode("utf-8", errors="replace")


def image_path(path: PurePosixPath | str) -> str:
    """A root-relative model path as users see it: "/usr/bin/su"."""
    text = str(path)
    return "/" if text in (".", "") else "/" + text.lstrip("/")
