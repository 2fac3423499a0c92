"""Disk space: the limit on an image's uncompressed size (a guard against decompression bombs), and the one
error a full disk becomes.

A small gzip or zstd layer can expand to many gigabytes, and a layer tar can declare huge (sparse) files: harden
counts the uncompressed bytes it reads from one image's layers *while* they stream and stops as soon as the count
crosses the limit, before the chunk that crossed it is written anywhere (``ImageBudget``). A tar entry whose
declared size alone is more than what is left fails before any of it is read. A compressed outer archive
(``docker save | gzip``) and an engine's ``save`` stream are held to the same limit as they are written into the
workspace.

The limit (``SizeLimit``): an explicit value (``--max-image-size``), else ``$HARDEN_MAX_IMAGE_BYTES`` (both read
by ``requested_limit``, at the library's front door), else the default of ``limit_for``: the free space of the
workspace's filesystem less a margin (a tenth of it, at most 1 GiB), capped at 64 GiB. Hardening needs that
space several times over (merged contents, the new layer, verification trees), so an image whose layers alone
would not fit is refused up front instead of filling the disk minutes later.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from harden.errors import ImageTooLarge, NoSpace, UsageError
from harden.image.workspace import ENV_WORKDIR, workspace_base
from harden.units import human_bytes

ENV_MAX_IMAGE_BYTES = "HARDEN_MAX_IMAGE_BYTES"
DEFAULT_CAP = 64 << 30
MARGIN_CAP = 1 << 30
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``500M``, ``20G``, ``1.5T``, ``64k`` or a plain number of bytes; units are binary (``M`` = 2**20, and
    ``MB``/``MiB`` mean the same). Raises ValueError for anything else, zero and negative sizes included."""
    match = _SIZE_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size (use e.g. 500M, 20G or a number of bytes)")
    number, unit = match.groups()
    size = int(float(number) * _UNITS[unit.lower()]) if "." in number else int(number) * _UNITS[unit.lower()]
    if size <= 0:
        raise ValueError(f"{text!r} is not a size above zero")
    return size


@dataclass(frozen=True, slots=True)
class SizeLimit:
    """At most ``max_bytes`` uncompressed bytes from one image's layers; ``origin`` says where that came from."""

    max_bytes: int
    origin: str
    from_free_space: bool = False
    """The default, from the workspace's free space: a larger disk raises it."""

    def describe(self) -> str:
        return f"the {human_bytes(self.max_bytes)} limit on an image's uncompressed size ({self.origin})"

    def how_to_raise(self) -> str:
        disk = f", or set {ENV_WORKDIR} to a larger disk" if self.from_free_space else ""
        return f"raise it with --max-image-size SIZE or {ENV_MAX_IMAGE_BYTES}{disk}"


def requested_limit(explicit: int | None, environ: Mapping[str, str] | None = None) -> SizeLimit | None:
    """The limit asked for: ``explicit`` (``--max-image-size``), else ``$HARDEN_MAX_IMAGE_BYTES``, else None
    (the default, known once the workspace is). A bad variable is a UsageError, raised before any work."""
    if explicit is not None:
        if explicit <= 0:
            raise UsageError(f"the image size limit must be above zero, got {explicit}")
        return SizeLimit(explicit, "set explicitly")
    text = (os.environ if environ is None else environ).get(ENV_MAX_IMAGE_BYTES, "").strip()
    if not text:
        return None
    try:
        return SizeLimit(parse_size(text), f"from {ENV_MAX_IMAGE_BYTES}")
    except ValueError as exc:
        raise UsageError(f"{ENV_MAX_IMAGE_BYTES}: {exc}") from None


def limit_for(requested: SizeLimit | None, workspace: Path) -> SizeLimit:
    """``requested``, else the default for a workspace at ``workspace``: its filesystem's free space less a
    margin (a tenth of it, at most 1 GiB), capped at 64 GiB."""
    if requested is not None:
        return requested
    existing = _existing(workspace)
    free = shutil.disk_usage(existing).free
    from_free = free - min(MARGIN_CAP, free // 10)
    if from_free >= DEFAULT_CAP:
        return SizeLimit(DEFAULT_CAP, "the default cap")
    where = mount_point(existing)
    return SizeLimit(max(from_free, 0), f"the default: the {human_bytes(free)} free on {where} less a margin", True)


def too_large(what: str, expanded: int, compressed: int | None, limit: SizeLimit, *, entry: str = "") -> ImageTooLarge:
    """The one-line error for ``what`` (a layer, an archive) that expanded to ``expanded`` bytes so far."""
    source = f" from {human_bytes(compressed)} compressed" if compressed is not None else ""
    return ImageTooLarge(
        f"{what} expanded to {human_bytes(expanded)} ({expanded} bytes) so far{source}{entry}: "
        f"over {limit.describe()}; {limit.how_to_raise()}"
    )


class ImageBudget:
    """The uncompressed bytes read from one image's layers, counted against ``limit`` (None: no limit)."""

    def __init__(self, limit: SizeLimit | None) -> None:
        self.limit = limit
        self.used = 0

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else self.limit.max_bytes - self.used

    def layer(self, index: int, diff_id: str, compressed: int | None) -> LayerMeter:
        return LayerMeter(self, f"layer {index} ({short_digest(diff_id)})", compressed)


class LayerMeter:
    """One layer's share of an ``ImageBudget``: ``charge`` the bytes as they are read, ``check_entry`` a tar
    entry's declared size before reading it. Both raise ImageTooLarge once the image is over its limit."""

    def __init__(self, budget: ImageBudget, what: str, compressed: int | None) -> None:
        self._budget = budget
        self._what = what
        self._compressed = compressed
        self.expanded = 0

    def charge(self, count: int) -> None:
        self.expanded += count
        self._budget.used += count
        limit = self._budget.limit
        if limit is not None and self._budget.used > limit.max_bytes:
            raise self._error()

    def check_entry(self, name: str, size: int, *, starts_at: int | None = None) -> None:
        """Fail when entry ``name`` of ``size`` bytes cannot fit in what is left. ``starts_at``: where its bytes
        begin in this layer's stream, when they come from it (a read ahead may have counted some already)."""
        remaining = self._budget.remaining
        needed = size if starts_at is None else starts_at + size - self.expanded
        if remaining is not None and needed > remaining:
            raise self._error(f", and its entry {name!r} declares {human_bytes(size)}")

    def _error(self, entry: str = "") -> ImageTooLarge:
        assert self._budget.limit is not None
        before = self._budget.used - self.expanded
        if before:
            entry = f" (after {human_bytes(before)} from the layers read before it){entry}"
        return too_large(self._what, self.expanded, self._compressed, self._budget.limit, entry=entry)


def short_digest(digest: str) -> str:
    """``sha256:0123456789ab`` — the algorithm and the first 12 hex digits, as ``docker images`` shows ids."""
    algorithm, _, hex_digest = digest.partition(":")
    return f"{algorithm}:{hex_digest[:12]}" if hex_digest else digest[:19]


def limited_chunks(
    chunks: Iterable[bytes], what: str, limit: SizeLimit | None, compressed: int | None = None
) -> Iterator[bytes]:
    """``chunks`` as they come, raising ImageTooLarge (before handing it out) at the one that crosses ``limit``."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if limit is not None and total > limit.max_bytes:
            raise too_large(what, total, compressed, limit)
        yield chunk


# -- a full disk ---------------------------------------------------------------------------------------------
def is_no_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS


def no_space_error(exc: OSError, step: str | None = None) -> NoSpace:
    """The one-line error for ENOSPC / EDQUOT: which filesystem, during what, how much it has free now (the
    workspace is gone by the time this is asked, so that is what a run can use), and what to do."""
    named = exc.filename if isinstance(exc.filename, str) and os.path.isabs(exc.filename) else None
    path = Path(named) if named else workspace_base()
    what = f"writing {named}" if named else f"writing under {path}"
    if step:
        what += f" (step '{step}')"
    existing = _existing(path)
    try:
        free = human_bytes(shutil.disk_usage(existing).free)
    except OSError:
        free = "?"
    problem = "disk quota exceeded" if exc.errno == errno.EDQUOT else "no space left"
    return NoSpace(
        f"{problem} on {mount_point(existing)} while {what}: {free} free; "
        f"set {ENV_WORKDIR} to a larger disk or lower --max-image-size"
    )


def mount_point(path: Path) -> Path:
    """The mount point of the filesystem ``path`` (an existing path) is on."""
    current = path.resolve()
    while not os.path.ismount(current) and current != current.parent:
        current = current.parent
    return current


def _existing(path: Path) -> Path:
    """``path``, or its nearest ancestor that exists (a workspace subfolder may not be created yet)."""
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current

