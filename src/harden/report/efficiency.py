"""dive's efficiency figure over an image's layers, in one pass over each layer tar's headers (or the
listing the merge kept of them).

Every non-directory path gets one size per layer that touches it: its content size where the layer writes
it, 0 where a whiteout (``.wh.name``) or an opaque directory (``.wh..wh..opq``) deletes it. Then
``efficiency = Σ min(sizes) / Σ sum(sizes)`` and ``wasted = Σ (sum(sizes) - min(sizes))``: bytes shipped in
some layer that the merged filesystem does not show (overwritten or deleted copies). ``user_wasted_ratio`` is
wasted bytes over the bytes of every layer but the first (dive's CI rule ``highestUserWastedPercent``, a ratio
too).
"""

from __future__ import annotations

import bisect
import io
import logging
import os
import posixpath
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO

from harden.image._streams import forget_members
from harden.image.blobs import RangeReader
from harden.image.merge import ListedMember
from harden.image.model import Image, Layer
from harden.report.model import Efficiency, LayerStat, WastedPath

log = logging.getLogger(__name__)

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
TOP_WASTED = 20
HEADER_BUFFER = 32 << 10


def _normalize(name: str) -> str:
    path = posixpath.normpath("/" + name).lstrip("/")
    return "" if path == "." else path


@contextmanager
def _layer_tar(layer: Layer) -> Iterator[tarfile.TarFile]:
    """The layer's tar: seeked through when it lies uncompressed on disk (only headers are read; the merge
    already checked its diff_id), else streamed."""
    if layer.region is None:
        with layer.open() as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            yield tar
        return
    fd = os.open(layer.region.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        raw = RangeReader(fd, layer.region.offset, layer.region.size, str(layer.region.path))
        reader: IO[bytes] = io.BufferedReader(raw, buffer_size=HEADER_BUFFER)
        with tarfile.open(fileobj=reader, mode="r:") as tar:
            yield tar
    finally:
        os.close(fd)


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while (member := tar.next()) is not None:
        forget_members(tar)
        yield member


def _headers(layer: Layer, listed: Sequence[ListedMember] | None) -> Iterator[ListedMember]:
    """(name, kind, size) of every member: from the merge that already read them (``listed``), else from the
    tar."""
    if listed is not None:
        yield from listed
        return
    with _layer_tar(layer) as tar:
        for member in _members(tar):
            yield ListedMember(member.name, member.isdir(), member.isreg(), member.size)


def _scan_layer(layer: Layer, listed: Sequence[ListedMember] | None) -> tuple[dict[str, int], list[str], list[str]]:
    """(non-directory paths → content size, whiteout targets, opaque directories) of one layer."""
    written: dict[str, int] = {}
    deleted: list[str] = []
    opaque: list[str] = []
    for member in _headers(layer, listed):
        path = _normalize(member.name)
        if not path:
            continue
        parent, _, name = path.rpartition("/")
        if name == OPAQUE:
            opaque.append(parent)
        elif name.startswith(WHITEOUT):
            deleted.append(f"{parent}/{name[len(WHITEOUT):]}" if parent else name[len(WHITEOUT):])
        elif not member.is_dir:
            written[path] = member.size if member.is_reg else 0
    return written, deleted, opaque


def _under(known: list[str], directory: str) -> list[str]:
    """Paths of the sorted ``known`` list strictly below ``directory``."""
    prefix = directory + "/" if directory else ""
    start = bisect.bisect_left(known, prefix)
    end = bisect.bisect_left(known, prefix + "\U0010ffff")
    return known[start:end]


def efficiency_of(image: Image, listings: Mapping[str, Sequence[ListedMember]] | None = None) -> Efficiency | None:
    """``layer_efficiency`` of the image's layers; None, with a warning, when the source layers cannot be read
    again (no listing of them was kept)."""
    try:
        return layer_efficiency(image.layers, listings)
    except (OSError, tarfile.TarError) as exc:
        log.warning("layer efficiency not computed: cannot re-read the source layers (%s)", exc)
        return None


def layer_efficiency(layers: Sequence[Layer], listings: Mapping[str, Sequence[ListedMember]] | None = None, *,
                     top: int = TOP_WASTED) -> Efficiency:
    """``listings``: the member headers the merge read, by diff_id (a layer without one is read again)."""
    copies: dict[str, list[int]] = {}
    stats: list[LayerStat] = []
    for index, layer in enumerate(layers):
        written, deleted, opaque = _scan_layer(layer, (listings or {}).get(layer.diff_id))
        removed: set[str] = set()
        if deleted or opaque:
            known = sorted(copies)
            for directory in opaque:
                removed.update(_under(known, directory))
            for target in deleted:
                if target in copies:
                    removed.add(target)
                removed.update(_under(known, target))
        for path in removed - written.keys():
            copies[path].append(0)
        for path, size in written.items():
            copies.setdefault(path, []).append(size)
        stats.append(LayerStat(index, layer.diff_id, sum(written.values()), len(written),
                               len(deleted) + len(opaque)))

    minimum = total = 0
    wasted_paths: list[WastedPath] = []
    for path, sizes in copies.items():
        smallest, size_sum = min(sizes), sum(sizes)
        minimum += smallest
        total += size_sum
        if len(sizes) > 1 and size_sum > smallest:
            wasted_paths.append(WastedPath(path, len(sizes), size_sum, size_sum - smallest))
    wasted_paths.sort(key=lambda w: (-w.wasted_bytes, w.path))
    wasted = total - minimum
    user_bytes = sum(s.bytes for s in stats[1:])
    return Efficiency(
        score=minimum / total if total else 1.0,
        total_bytes=total,
        wasted_bytes=wasted,
        user_wasted_ratio=wasted / user_bytes if user_bytes else 0.0,
        layers=tuple(stats),
        wasted_paths=tuple(wasted_paths[:top]),
    )
