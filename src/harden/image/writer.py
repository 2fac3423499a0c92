"""Write a Rootfs as one deterministic, uncompressed layer tar (PAX), streamed from the blob store.

Entries are sorted by path (parents first; missing parents are written as 0755 root directories). Every entry
keeps its own mtime, capped at SOURCE_DATE_EPOCH when one is given, except a Python source whose cached bytecode
the layer holds (``bytecode_sources``: that bytecode is valid only while the source keeps the mtime it records);
owner, mode (setuid/setgid/sticky included), devices, symlink targets and xattrs are kept, and hardlinks point at
a path written earlier. The sha256 (the diff_id) is computed while writing; the file appears at ``dest`` only
when complete. Same Rootfs and clamp → byte-identical tar.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from harden.errors import InternalError, UsageError
from harden.image._streams import HashingWriter, forget_members
from harden.image._tree import entries_with_parents, link_plan
from harden.image.blobs import BlobStore
from harden.image.model import EntryType, FileEntry, ImageConfig, Rootfs
from harden.image.path_text import bytecode_source

XATTR_PREFIX = "SCHILY.xattr."
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"

_TAR_TYPES = {
    EntryType.DIR: tarfile.DIRTYPE,
    EntryType.SYMLINK: tarfile.SYMTYPE,
    EntryType.CHAR: tarfile.CHRTYPE,
    EntryType.BLOCK: tarfile.BLKTYPE,
    EntryType.FIFO: tarfile.FIFOTYPE,
}


@dataclass(frozen=True, slots=True)
class WrittenLayer:
    """An uncompressed layer tar on disk, with its diff_id (sha256 of the tar) and size."""

    path: Path
    diff_id: str
    size: int
    media_type: str = LAYER_MEDIA_TYPE

    def open(self) -> IO[bytes]:
        return self.path.open("rb")


def source_date_epoch(environ: Mapping[str, str] = os.environ) -> int:
    """``SOURCE_DATE_EPOCH`` as an int (0 when unset); anything else than digits is a usage error."""
    value = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return 0
    if not value.isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH must be a non-negative integer, not {value!r}")
    return int(value)


def iso_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def with_written_layers(
    config: ImageConfig, layers: list[WrittenLayer], *, created_by: str, epoch: int, comment: str = ""
) -> ImageConfig:
    """The config for ``layers``: their diff_ids, one new history entry, ``created`` from a non-zero epoch."""
    created = iso_time(epoch) if epoch else str(config.raw.get("created") or iso_time(0))
    entry: dict[str, Any] = {"created": created, "created_by": created_by}
    if comment:
        entry["comment"] = comment
    updated = config.with_rootfs([layer.diff_id for layer in layers], entry)
    return updated.with_fields(created=created) if epoch else updated


def bytecode_sources(entries: Iterable[FileEntry]) -> frozenset[PurePosixPath]:
    """The Python sources among ``entries`` whose cached bytecode is among them too (PEP 3147:
    ``DIR/__pycache__/NAME.TAG[.opt-N].pyc`` for ``DIR/NAME.py``). Python uses timestamp-checked bytecode only
    while its source has the mtime (and size) the .pyc records, so capping such a source's mtime would make
    every interpreter compile it again."""
    files = {entry.path for entry in entries if entry.type is EntryType.FILE}
    return frozenset(source for path in files if (source := bytecode_source(path)) in files)


def _tarinfo(entry: FileEntry, clamp: int | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(str(entry.path))
    info.mode = entry.mode & 0o7777
    info.uid, info.gid = entry.uid, entry.gid
    info.uname, info.gname = entry.uname, entry.gname
    info.mtime = entry.mtime if clamp is None else min(entry.mtime, clamp)
    info.pax_headers = {XATTR_PREFIX + key: value for key, value in sorted(entry.xattrs)}
    return info


def _header(
    entry: FileEntry, links: Mapping[PurePosixPath, PurePosixPath], blobs: BlobStore, clamp: int | None
) -> tarfile.TarInfo:
    """The tar header ``entry`` is written with (its size: of the content that follows it, if any)."""
    info = _tarinfo(entry, clamp)
    if entry.path in links:
        info.type = tarfile.LNKTYPE
        info.linkname = str(links[entry.path])
    elif entry.has_content:
        if entry.digest is None or entry.digest not in blobs:
            raise InternalError(f"no content in the blob store for {entry.path} ({entry.digest})")
        if blobs.size(entry.digest) != entry.size:
            raise InternalError(f"blob {entry.digest} of {entry.path} is not {entry.size} bytes")
        info.type = tarfile.REGTYPE
        info.size = entry.size
    else:
        info.type = _TAR_TYPES[entry.type]
        if entry.type is EntryType.SYMLINK:
            info.linkname = entry.linkname or ""
        if entry.type in (EntryType.CHAR, EntryType.BLOCK):
            info.devmajor, info.devminor = entry.devmajor, entry.devminor
    return info


def _add(tar: tarfile.TarFile, entry: FileEntry, info: tarfile.TarInfo, blobs: BlobStore) -> None:
    if info.type == tarfile.REGTYPE:
        assert entry.digest is not None  # checked by _header
        with blobs.open(entry.digest) as content:
            tar.addfile(info, content)
    else:
        tar.addfile(info)


@dataclass(frozen=True, slots=True)
class LayerPlan:
    """The entries of one layer tar in their order (missing parents added), which of them are hardlinks, and
    the mtime cap: everything ``write_planned`` writes, so that the tar's size is known before it is written
    (``size``: a stream that carries the layer after a header naming its size, as an engine's load does)."""

    entries: tuple[FileEntry, ...]
    links: Mapping[PurePosixPath, PurePosixPath]
    clamp: int | None
    unclamped: frozenset[PurePosixPath] = field(init=False)
    """Entries above ``clamp`` that keep their mtime: Python sources whose bytecode the layer holds."""

    def __post_init__(self) -> None:
        unclamped: frozenset[PurePosixPath] = frozenset()
        if self.clamp is not None:
            sources = bytecode_sources(self.entries)
            unclamped = frozenset(e.path for e in self.entries if e.path in sources and e.mtime > self.clamp)
        object.__setattr__(self, "unclamped", unclamped)

    def clamp_of(self, entry: FileEntry) -> int | None:
        return None if entry.path in self.unclamped else self.clamp

    def notes(self) -> tuple[str, ...]:
        """What a report says of the mtimes the clamp left as they were."""
        if not self.unclamped:
            return ()
        count = len(self.unclamped)
        sample = ", ".join("/" + str(path) for path in sorted(self.unclamped)[:3])
        return (f"SOURCE_DATE_EPOCH={self.clamp} caps every mtime except those of {count:,} Python "
                f"source{'s' if count != 1 else ''} whose cached bytecode the image keeps: they keep the original's "
                "mtime, which that bytecode is checked against (capped, every interpreter would compile them "
                f"again), e.g. {sample}",)

    def size(self, blobs: BlobStore) -> int:
        """The bytes ``write_planned`` will write: every header and padded content, the two end blocks, and
        the padding to a whole record, as tarfile writes them."""
        total = 0
        for entry in self.entries:
            info = _header(entry, self.links, blobs, self.clamp_of(entry))
            total += len(info.tobuf(tarfile.PAX_FORMAT, _ENCODING, _ERRORS)) + _padded(info.size)
        total += 2 * tarfile.BLOCKSIZE
        return _padded(total, tarfile.RECORDSIZE)


def _padded(size: int, unit: int = tarfile.BLOCKSIZE) -> int:
    return -(-size // unit) * unit


def plan_layer(rootfs: Rootfs, *, clamp_mtime: int | None = None) -> LayerPlan:
    """What writing ``rootfs`` as one layer writes (``write_planned``). Entries keep their own mtimes (so kept
    bytecode stays valid against its sources); ``clamp_mtime`` (SOURCE_DATE_EPOCH) caps every mtime at that
    value, as reproducible builds expect, except the mtime of a source whose bytecode the layer holds
    (``LayerPlan.unclamped``, for the run's report)."""
    return LayerPlan(tuple(entries_with_parents(rootfs)), link_plan(rootfs), clamp_mtime)


class _Tee:
    """A write-only file that writes everything to two."""

    def __init__(self, first: IO[bytes], second: IO[bytes]) -> None:
        self._first = first
        self._second = second

    def write(self, data: bytes) -> int:
        self._second.write(data)
        return self._first.write(data)

    def flush(self) -> None:
        self._first.flush()
        self._second.flush()


def write_layer(rootfs: Rootfs, blobs: BlobStore, dest: Path, *, clamp_mtime: int | None = None) -> WrittenLayer:
    """Write ``rootfs`` to ``dest`` as one uncompressed layer tar (``plan_layer``); return its diff_id and
    size."""
    return write_planned(plan_layer(rootfs, clamp_mtime=clamp_mtime), blobs, dest)


def write_planned(plan: LayerPlan, blobs: BlobStore, dest: Path, *, copy_to: IO[bytes] | None = None,
                  size: int | None = None) -> WrittenLayer:
    """Write ``plan`` to ``dest``, and every byte of it to ``copy_to`` too as it is written; ``size``, the
    planned size (``LayerPlan.size``), is checked when given: a copy announced with it must not be cut short or
    run over. The file appears at ``dest`` only when complete."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw:
            out = HashingWriter(raw if copy_to is None else cast(IO[bytes], _Tee(raw, copy_to)))
            with tarfile.open(
                fileobj=cast(IO[bytes], out), mode="w|", format=tarfile.PAX_FORMAT, encoding=_ENCODING,
                errors=_ERRORS,
            ) as tar:
                for entry in plan.entries:
                    _add(tar, entry, _header(entry, plan.links, blobs, plan.clamp_of(entry)), blobs)
                    forget_members(tar)
        if size is not None and out.size != size:
            raise InternalError(f"the layer tar is {out.size} bytes, not the {size} bytes planned")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return WrittenLayer(dest, out.digest, out.size)
