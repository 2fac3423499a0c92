"""Reading the content of one file of an image (passwd, dpkg status, dist-info METADATA, a shebang line) from its
rootfs and blob store: the one reader every module uses. Symlinks are followed (in every component), a hardlink
entry without its own digest reads its target, and a file over ``limit`` bytes is not read."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath

from harden.image.blobs import BlobStore
from harden.image.model import EntryType, FileEntry, Rootfs

log = logging.getLogger(__name__)

MAX_TEXT = 64 << 20
"""The most bytes read of one file (metadata files are small; a bigger one is not what the caller expects)."""


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


def file_bytes(rootfs: Rootfs, blobs: BlobStore, path: PurePosixPath | str, limit: int = MAX_TEXT) -> bytes | None:
    """The content of the file at ``path``; None when there is none, or it is over ``limit`` bytes."""
    entry = content_entry(rootfs, path)
    if entry is None or entry.digest is None or entry.size > limit:
        return None
    if entry.digest not in blobs:
        log.warning("content of %s (sha256 %s) is missing from the blob store", path, entry.digest)
        return None
    return blobs.read(entry.digest)


def file_text(rootfs: Rootfs, blobs: BlobStore, path: PurePosixPath | str, limit: int = MAX_TEXT) -> str | None:
    data = file_bytes(rootfs, blobs, path, limit)
    return None if data is None else data.decode("utf-8", errors="replace")


def image_path(path: PurePosixPath | str) -> str:
    """A root-relative model path as users see it: "/usr/bin/su"."""
    text = str(path)
    return "/" if text in (".", "") else "/" + text.lstrip("/")
