"""Merge an image's layers into one ``Rootfs``: whiteouts, opaque directories, hardlinks and escape guards.

Layers are read newest-first, streamed, never extracted: the first occurrence of a path wins; ``.wh.NAME``
hides NAME and everything below it in *lower* layers; ``.wh..wh..opq`` in a directory hides that directory's
lower-layer children; an upper non-directory hides everything below its path. Only winning file contents are
stored (in the BlobStore); everything else is metadata. A layer that lies uncompressed in a file on disk
(``Layer.region``) is not streamed but seeked through: its winning files are hashed where they are and kept
by reference (nothing is copied) while a background thread reads the layer once more to check its diff_id.

With a ``SizeLimit``, the uncompressed bytes of the layers are counted as they are read (a layer on disk counts
its whole size up front; a sparse entry counts its expanded size) and the merge stops with ImageTooLarge at the
read that crosses the limit, before those bytes are stored. A regular entry whose declared size alone is more
than what is left fails before any of it is read.

Unsafe entries — absolute names, ``..`` components, entries whose parent is a symlink (or not a directory) in
the merged tree, hardlinks to absolute, ``..`` or missing targets — are refused together in one UnsafeLayer
naming each of them, or, with ``sanitize=True``, dropped and returned in ``MergeResult.dropped``.

Hardlinks end in a canonical form: in each group of paths sharing one inode, the first path in sorted order
is the FILE and the others are HARDLINKs to it, all carrying the inode's content digest, size and metadata.
A group whose original file was hidden keeps its surviving links, the first promoted to a regular file.
"""

from __future__ import annotations

import io
import logging
import tarfile
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Literal, cast

from harden.errors import BadArchive, UnsafeLayer
from harden.image._streams import CHUNK, MeteredReader, drain, forget_members
from harden.image.blobs import BlobStore, RegionSource
from harden.image.model import EntryType, FileEntry, FileRegion, Layer, Rootfs
from harden.image.space import ImageBudget, LayerMeter, SizeLimit

log = logging.getLogger(__name__)

ROOT = PurePosixPath(".")
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
XATTR_PREFIX = "SCHILY.xattr."
IMPLICIT_DIR_MODE = 0o755
HEADER_BUFFER = 32 << 10
"""Read-ahead when seeking through a layer on disk: small members come along with their headers."""

Content = Callable[[tarfile.TarInfo], tuple[str, int]]
"""Stores a regular member's content in the BlobStore; returns (sha256 hex, size)."""


@dataclass(frozen=True, slots=True)
class DroppedEntry:
    """An unsafe layer entry: refused (UnsafeLayer details) or, under sanitize, dropped and reported."""

    layer: int
    path: str
    reason: str

    def describe(self) -> str:
        return f"layer {self.layer}: {self.path!r}: {self.reason}"


@dataclass(frozen=True, slots=True)
class MergeResult:
    rootfs: Rootfs
    dropped: tuple[DroppedEntry, ...] = ()
    listings: Mapping[str, tuple[ListedMember, ...]] = field(default_factory=dict)
    """Every member header of each layer the merge read, by diff_id (the report's efficiency figure reads them
    instead of parsing the tars a second time); empty when ``merge_layers`` was asked not to list them."""


def merge_layers(
    layers: Sequence[Layer], blobs: BlobStore, *, sanitize: bool = False, limit: SizeLimit | None = None,
    list_members: bool = True,
) -> MergeResult:
    """Merge ``layers`` (oldest first, as in the config) into one Rootfs; contents go into ``blobs``. The
    layers may expand to at most ``limit`` uncompressed bytes in all (None: no limit). ``list_members=False``
    where nothing reads the listings (no efficiency figure)."""
    merger = _Merger(blobs, limit, list_members)
    for index in range(len(layers) - 1, -1, -1):
        merger.merge_layer(layers[index], index)
    return merger.finish(sanitize=sanitize)


def normalize_name(name: str) -> PurePosixPath | str:
    """A root-relative path for a tar name, or the reason it is unsafe (absolute, or with ``..``)."""
    if name.startswith("/"):
        return "absolute path"
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        return "path with '..'"
    return PurePosixPath(name) if parts else ROOT  # parsing the whole name drops "" and "." parts too


def _kind(member: tarfile.TarInfo) -> EntryType | None:
    if member.isreg():
        return EntryType.FILE
    if member.isdir():
        return EntryType.DIR
    if member.issym():
        return EntryType.SYMLINK
    if member.islnk():
        return EntryType.HARDLINK
    if member.ischr():
        return EntryType.CHAR
    if member.isblk():
        return EntryType.BLOCK
    if member.isfifo():
        return EntryType.FIFO
    return None


def _xattrs(member: tarfile.TarInfo) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            (key[len(XATTR_PREFIX) :], value)
            for key, value in member.pax_headers.items()
            if key.startswith(XATTR_PREFIX)
        )
    )


def _entry(
    member: tarfile.TarInfo,
    path: PurePosixPath,
    kind: EntryType,
    *,
    content: tuple[str, int] | None = None,
    linkname: str | None = None,
) -> FileEntry:
    device = kind in (EntryType.CHAR, EntryType.BLOCK)
    return FileEntry(
        path=path,
        type=kind,
        mode=member.mode & 0o7777,
        uid=member.uid,
        gid=member.gid,
        size=content[1] if content else 0,
        digest=content[0] if content else None,
        linkname=linkname,
        devmajor=member.devmajor if device else 0,
        devminor=member.devminor if device else 0,
        mtime=int(member.mtime),
        uname=member.uname or "",
        gname=member.gname or "",
        xattrs=_xattrs(member),
    )


@dataclass(slots=True)
class _LayerState:
    """What one layer pass remembers: its regular files (stored content or None) and its hardlinks."""

    index: int
    files: dict[PurePosixPath, tuple[str, int] | None] = field(default_factory=dict)
    links: dict[PurePosixPath, PurePosixPath] = field(default_factory=dict)
    refetch: dict[PurePosixPath, list[PurePosixPath]] = field(default_factory=lambda: defaultdict(list))
    whited: set[PurePosixPath] = field(default_factory=set)
    opaque: set[PurePosixPath] = field(default_factory=set)
    """Directories whose lower-layer children are hidden: opaque markers, and hidden non-directories."""

    def file_behind(self, target: PurePosixPath) -> PurePosixPath | None:
        """The regular file of this layer that ``target`` is (following this layer's hardlink chains)."""
        for _ in range(64):
            if target in self.files:
                return target
            nxt = self.links.get(target)
            if nxt is None:
                return None
            target = nxt
        return None


class _Merger:
    def __init__(self, blobs: BlobStore, limit: SizeLimit | None = None, list_members: bool = True) -> None:
        self.blobs = blobs
        self.list_members = list_members
        self.budget = ImageBudget(limit)
        self.entries: dict[PurePosixPath, FileEntry] = {}
        self.origin: dict[PurePosixPath, int] = {}
        self.whited: set[PurePosixPath] = set()
        self.opaque: set[PurePosixPath] = set()
        self.problems: list[DroppedEntry] = []
        self.bad: set[PurePosixPath] = set()
        self.pending: dict[PurePosixPath, list[PurePosixPath]] = defaultdict(list)
        self.inode: dict[PurePosixPath, tuple[int, PurePosixPath]] = {}
        self._content: Content = _no_content
        self.listings: dict[str, tuple[ListedMember, ...]] = {}
        self._ancestry: dict[PurePosixPath, tuple[PurePosixPath, ...]] = {ROOT: (ROOT,)}
        self._hiding: dict[PurePosixPath, bool] = {}
        """For the layer being read: whether the directory's ancestors hide what it holds (``_hidden``)."""

    def _ancestors(self, path: PurePosixPath) -> tuple[PurePosixPath, ...]:
        """``path.parents`` (nearest first, "." last), as shared objects whose hashes are computed once."""
        parent = path.parent
        known = self._ancestry.get(parent)
        if known is not None:
            return known
        missing: list[PurePosixPath] = []
        while known is None:  # climb to the nearest directory seen before (no recursion: paths may be deep)
            missing.append(parent)
            parent = parent.parent
            known = self._ancestry.get(parent)
        for directory in reversed(missing):
            known = (directory, *known)
            self._ancestry[directory] = known
        return known

    # -- one layer ---------------------------------------------------------------------------------------
    def merge_layer(self, layer: Layer, index: int) -> None:
        state = _LayerState(index)
        self._hiding = {}
        meter = self.budget.layer(index, layer.diff_id, layer.size)
        listed: list[ListedMember] | None = [] if self.list_members else None
        with _reading(layer, index, self.blobs, meter, listed=listed) as (members, content):
            self._content = content
            for member in members:
                self._member(member, state)
        self._content = _no_content
        if listed is not None:
            self.listings[layer.diff_id] = tuple(listed)
        if state.refetch:
            self._refetch(layer, state)
        self.whited |= state.whited
        self.opaque |= state.opaque
        log.debug("merged layer %d: %d paths so far", index, len(self.entries))

    def _problem(self, layer: int, path: str, reason: str) -> None:
        self.problems.append(DroppedEntry(layer, path, reason))

    def _hidden(self, path: PurePosixPath, layer: int) -> bool:
        """True when an upper layer's entry, whiteout or opaque marker hides ``path`` of ``layer``."""
        owner = self.origin.get(path)
        if owner is not None and owner != layer:
            return True
        if path in self.whited:
            return True
        parent = path.parent
        hides = self._hiding.get(parent)
        if hides is None:
            hides = self._hiding[parent] = self._hidden_by_ancestors(path, layer)
        return hides

    def _hidden_by_ancestors(self, path: PurePosixPath, layer: int) -> bool:
        """Whether a whiteout, an opaque marker or an upper layer's non-directory above ``path`` hides it. While
        one layer is read, none of those changes (they are merged in when it ends, and this layer's own entries
        never count), so the answer holds for every path of the same directory (``_hiding``)."""
        for parent in self._ancestors(path):
            if parent in self.opaque or parent in self.whited:
                return True
            above = self.entries.get(parent)
            if above is not None and self.origin[parent] != layer and above.type is not EntryType.DIR:
                return True
        return False

    def _member(self, member: tarfile.TarInfo, state: _LayerState) -> None:
        path = normalize_name(member.name)
        if isinstance(path, str):
            self._problem(state.index, member.name, path)
            return
        if path == ROOT:
            return
        if path.name.startswith(WHITEOUT_PREFIX):
            self._whiteout(path, state)
            return
        kind = _kind(member)
        if kind is None:
            self._problem(state.index, member.name, f"unsupported tar entry type {member.type!r}")
            return
        visible = not self._hidden(path, state.index)
        if not visible and kind is not EntryType.DIR:
            # Even hidden (by a directory above), a non-directory here replaced whatever lower layers had
            # below this path: for them it acts like an opaque marker.
            state.opaque.add(path)
        if kind is EntryType.FILE:
            self._file(member, path, visible, state)
        elif kind is EntryType.HARDLINK:
            self._hardlink(member, path, visible, state)
        else:
            state.files.pop(path, None)
            state.links.pop(path, None)
            for link in self.pending.pop(path, []):
                self._problem(self.origin.get(link, state.index), str(link), f"hardlink to {path}, a {kind}")
                self.bad.add(link)
            if visible:
                linkname = member.linkname if kind is EntryType.SYMLINK else None
                self._put(_entry(member, path, kind, linkname=linkname), state.index)

    def _whiteout(self, path: PurePosixPath, state: _LayerState) -> None:
        name = path.name
        if name == OPAQUE_MARKER:
            state.opaque.add(path.parent)
        elif name.startswith(WHITEOUT_PREFIX * 2):
            return  # aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): nothing to hide
        else:
            hidden = name[len(WHITEOUT_PREFIX) :]
            if hidden not in ("", ".", ".."):
                state.whited.add(path.parent / hidden)

    def _put(self, entry: FileEntry, layer: int) -> None:
        self.entries[entry.path] = entry
        self.origin[entry.path] = layer

    def _file(self, member: tarfile.TarInfo, path: PurePosixPath, visible: bool, state: _LayerState) -> None:
        waiting = self.pending.pop(path, [])
        content: tuple[str, int] | None = None
        if visible or waiting:
            content = self._content(member)
        state.files[path] = content
        state.links.pop(path, None)
        for link in waiting:
            self.inode[link] = (state.index, path)
            self._fill_link(link, content)
        if visible:
            self._put(_entry(member, path, EntryType.FILE, content=content), state.index)

    def _hardlink(
        self, member: tarfile.TarInfo, path: PurePosixPath, visible: bool, state: _LayerState
    ) -> None:
        target = normalize_name(member.linkname)
        waiting = self.pending.pop(path, [])
        if isinstance(target, str) or target == ROOT:
            reason = target if isinstance(target, str) else "the root"
            self._problem(state.index, member.name, f"hardlink target {member.linkname!r}: {reason}")
            for link in waiting:
                self._problem(self.origin.get(link, state.index), str(link), f"hardlink via {member.name!r}")
                self.bad.add(link)
            return
        state.files.pop(path, None)
        state.links[path] = target
        links = waiting
        if visible:
            self._put(_entry(member, path, EntryType.HARDLINK, linkname=str(target)), state.index)
            links = [path, *waiting]
        if not links:
            return
        source = state.file_behind(target)
        if source is None:
            self.pending[target].extend(links)  # the target is in a lower layer (or missing)
            return
        content = state.files[source]
        for link in links:
            self.inode[link] = (state.index, source)
            if content is None:
                state.refetch[source].append(link)
            else:
                self._fill_link(link, content)

    def _fill_link(self, link: PurePosixPath, content: tuple[str, int] | None) -> None:
        entry = self.entries.get(link)
        if entry is not None and entry.type is EntryType.HARDLINK and content is not None:
            self.entries[link] = entry.evolve(digest=content[0], size=content[1])

    def _refetch(self, layer: Layer, state: _LayerState) -> None:
        """Second pass over a layer for hardlinked files whose own path was hidden (so not stored)."""
        wanted = dict(state.refetch)
        # a second read of a layer the image's budget already counted: held to the limit on its own
        meter = ImageBudget(self.budget.limit).layer(state.index, layer.diff_id, layer.size)
        try:
            with _reading(layer, state.index, self.blobs, meter, check=False) as (members, content):
                for member in members:
                    path = normalize_name(member.name)
                    if isinstance(path, PurePosixPath) and path in wanted and member.isreg():
                        stored = content(member)
                        for link in wanted.pop(path):
                            self._fill_link(link, stored)
                    if not wanted:
                        break
        except BadArchive as exc:
            cause = exc.__cause__ or exc.message
            raise BadArchive(f"layer {state.index} ({layer.diff_id}): changed between reads ({cause})") from exc
        if wanted:
            raise BadArchive(f"layer {state.index} ({layer.diff_id}): changed between reads")

    # -- the merged tree ---------------------------------------------------------------------------------
    def finish(self, *, sanitize: bool) -> MergeResult:
        for target, links in self.pending.items():
            for link in links:
                self._problem(self.origin.get(link, -1), str(link), f"hardlink target {target} is missing")
                self.bad.add(link)
        self.pending.clear()
        self._check_parents()
        problems = tuple(sorted(set(self.problems), key=lambda p: (p.layer, p.path, p.reason)))
        if problems and not sanitize:
            raise UnsafeLayer(
                f"{len(problems)} unsafe layer entr{'y' if len(problems) == 1 else 'ies'}"
                " (re-run with --sanitize to drop them)",
                details=[p.describe() for p in problems],
            )
        for path in self.bad:
            self.entries.pop(path, None)
            self.origin.pop(path, None)
        self._canonical_hardlinks()
        self._implicit_parents()
        if problems:
            log.warning("dropped %d unsafe layer entries", len(problems))
        return MergeResult(Rootfs(self.entries), problems, dict(self.listings))

    def _check_parents(self) -> None:
        verdicts: dict[PurePosixPath, str | None] = {}  # by directory: why what it holds is unsafe (once each)
        for path in list(self.entries):
            ancestors = self._ancestors(path)
            if ancestors[0] in verdicts:
                reason = verdicts[ancestors[0]]
            else:
                reason = verdicts[ancestors[0]] = self._unsafe_parent(ancestors)
            if reason is not None:
                self._problem(self.origin[path], str(path), reason)
                self.bad.add(path)

    def _unsafe_parent(self, ancestors: tuple[PurePosixPath, ...]) -> str | None:
        """Why a path below ``ancestors`` (nearest first) is unsafe: the topmost one that is not a directory."""
        for parent in ancestors[-2::-1]:  # from the top, without "."
            above = self.entries.get(parent)
            if above is None or above.type is EntryType.DIR:
                continue
            if above.type is EntryType.SYMLINK:
                return f"written through symlink {parent} -> {above.linkname}"
            return f"parent {parent} is a {above.type}, not a directory"
        return None

    def _canonical_hardlinks(self) -> None:
        groups: dict[tuple[int, PurePosixPath], list[PurePosixPath]] = defaultdict(list)
        for link, origin in self.inode.items():
            entry = self.entries.get(link)
            if entry is not None and entry.type is EntryType.HARDLINK:
                groups[origin].append(link)
        for (layer, source), links in groups.items():
            members = sorted(links)
            original = self.entries.get(source)
            if original is not None and original.type is EntryType.FILE and self.origin[source] == layer:
                members = sorted([*links, source])
                inode = original
            else:
                inode = self.entries[members[0]]
            if inode.digest is None:
                raise BadArchive(f"layer {layer}: no content found for hardlinked {source}")
            shared = {  # one inode: every name shows the same metadata
                "digest": inode.digest,
                "size": inode.size,
                "mode": inode.mode,
                "uid": inode.uid,
                "gid": inode.gid,
                "uname": inode.uname,
                "gname": inode.gname,
                "mtime": inode.mtime,
                "xattrs": inode.xattrs,
            }
            leader = members[0]
            self.entries[leader] = self.entries[leader].evolve(type=EntryType.FILE, linkname=None, **shared)
            for other in members[1:]:
                self.entries[other] = self.entries[other].evolve(
                    type=EntryType.HARDLINK, linkname=str(leader), **shared
                )

    def _implicit_parents(self) -> None:
        missing: set[PurePosixPath] = set()
        seen: set[PurePosixPath] = set()  # a directory seen has had its own ancestors seen too
        for path in self.entries:
            for parent in self._ancestors(path):
                if parent in seen:
                    break
                seen.add(parent)
                if parent != ROOT and parent not in self.entries:
                    missing.add(parent)
        for path in missing:
            self.entries[path] = FileEntry(path=path, type=EntryType.DIR, mode=IMPLICIT_DIR_MODE)


# -- reading one layer ---------------------------------------------------------------------------------------
def _no_content(member: tarfile.TarInfo) -> tuple[str, int]:
    raise AssertionError(f"no layer is being read ({member.name})")


@contextmanager
def _reading(
    layer: Layer, index: int, blobs: BlobStore, meter: LayerMeter, *, check: bool = True,
    listed: list[ListedMember] | None = None,
) -> Iterator[tuple[Iterator[tarfile.TarInfo], Content]]:
    """The members of one layer and how to store a member's content, for one pass (each header appended to
    ``listed`` when given).

    A layer on disk is seeked through and its contents referenced (its diff_id checked in the background
    unless ``check`` is False); any other layer is streamed once (checked at its end) and contents copied.
    A tar that cannot be read is a BadArchive; so is a diff_id that does not match, after the pass.
    ``meter`` counts the uncompressed bytes: every read of a streamed layer, a layer on disk whole, up front.
    """
    what = f"layer {index} ({layer.diff_id})"
    if layer.region is None:
        stream = layer.open()
        try:
            metered = cast(IO[bytes], MeteredReader(stream, meter.charge))
            with _tar(metered, "r|", what) as tar:
                yield _members(tar, what, listed, meter=meter), _copying(blobs, tar, what, meter)
            if check:
                drain(metered)  # to the very end: bytes after the tar's end count too
        finally:
            stream.close()
        return
    meter.charge(layer.region.size)
    checker = _BackgroundDrain(layer.open()) if check else None
    try:
        with blobs.regions(layer.region.path) as source:
            reader = io.BufferedReader(
                source.reader(layer.region.offset, layer.region.size), buffer_size=HEADER_BUFFER
            )
            with _tar(reader, "r:", what) as tar:
                yield _members(tar, what, listed), _referencing(source, layer.region, tar, blobs, what, meter)
    except BaseException:
        if checker is not None:
            checker.cancel()
        raise
    if checker is not None:
        checker.wait()


@contextmanager
def _tar(stream: IO[bytes], mode: Literal["r|", "r:"], what: str) -> Iterator[tarfile.TarFile]:
    try:
        with tarfile.open(fileobj=stream, mode=mode, encoding="utf-8", errors="surrogateescape") as tar:
            yield tar
    except tarfile.TarError as exc:
        raise BadArchive(f"{what}: not a readable tar stream ({exc})") from exc


def _members(
    tar: tarfile.TarFile, what: str, listed: list[ListedMember] | None = None, *, meter: LayerMeter | None = None
) -> Iterator[tarfile.TarInfo]:
    """The members, in order; with ``meter`` (a streamed layer), a regular member whose declared size is more
    than the limit has left fails here, before its content is read (sparse ones: when they are expanded)."""
    try:
        while (member := tar.next()) is not None:
            forget_members(tar)
            if listed is not None:
                listed.append(ListedMember(member.name, member.isdir(), member.isreg(), member.size))
            if meter is not None and member.isreg() and member.sparse is None:
                meter.check_entry(member.name, member.size, starts_at=member.offset_data)
            yield member
    except tarfile.TarError as exc:
        raise BadArchive(f"{what}: not a readable tar stream ({exc})") from exc


def _copying(blobs: BlobStore, tar: tarfile.TarFile, what: str, meter: LayerMeter) -> Content:
    def content(member: tarfile.TarInfo) -> tuple[str, int]:
        if member.sparse is not None:  # expanded from a map: its holes are bytes that no read counts
            meter.check_entry(member.name, member.size)
            meter.charge(member.size)
        stream = tar.extractfile(member)
        if stream is None:
            raise BadArchive(f"{what}: cannot read {member.name}")
        return blobs.put_stream(stream)

    return content


def _referencing(
    source: RegionSource, region: FileRegion, tar: tarfile.TarFile, blobs: BlobStore, what: str, meter: LayerMeter
) -> Content:
    def content(member: tarfile.TarInfo) -> tuple[str, int]:
        if member.sparse is not None:  # stored in pieces: expand it through tarfile, into the store
            return _copying(blobs, tar, what, meter)(member)
        if member.offset_data + member.size > region.size:
            raise BadArchive(f"{what}: {member.name} runs past the end of the layer")
        return source.put(region.offset + member.offset_data, member.size)

    return content


class _BackgroundDrain:
    """Reads a layer's checked stream to its end on a thread, so its diff_id is verified during the merge."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="harden-layer-digest", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set() and self._stream.read(CHUNK):
                pass
        except BaseException as exc:  # handed to the merging thread by wait()
            self._error = exc
        finally:
            self._stream.close()

    def cancel(self) -> None:
        self._stop.set()
        self._thread.join()

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


# -- member listings -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ListedMember:
    """One member of a layer tar as its header says: name (as tarfile reads it), kind and size."""

    name: str
    is_dir: bool
    is_reg: bool
    size: int


