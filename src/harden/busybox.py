"""busybox: one multi-call binary whose applets are reached through links named after them.

busybox picks the applet from the last component of ``argv[0]``, so ``bin/sh -> /bin/busybox`` runs its shell
and ``bin/ls -> /bin/busybox`` its ls. Removing the binary to drop the shell would leave every other applet
link dangling; removing only the ``sh``/``ash`` links drops the shell and keeps the rest.

The applets a binary provides are read from the binary, never by running it (it may be built for another
architecture): busybox's build generates ``applet_names[]`` (applets/applet_tables.c), every applet name
sorted by ``strcmp``, each ended by a NUL, the whole closed by one more NUL. That table is the longest run of
strictly ascending NUL-terminated names ending in ``\\0\\0`` in the file; a binary is taken for busybox when
it is an ELF file that also carries busybox's ``BusyBox v<version>`` banner.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from harden.image.blobs import BlobStore
from harden.image.files import file_bytes
from harden.image.model import EntryType, Rootfs

ELF_MAGIC = b"\x7fELF"
BANNER = re.compile(rb"BusyBox v([0-9][^\s\x00()]*)")
_NAME = re.compile(rb"[A-Za-z0-9_.\[\-]{1,64}")
_TAIL = re.compile(rb"[A-Za-z0-9_.\[\-]{1,64}\Z")


def _name_offsets(names: list[bytes]) -> list[int]:
    """``applet_nameofs[]``: the offsets in the table of the names at ``i * N / K`` for ``i`` in ``1..K-1``,
    K = 8 from 128 applets, 4 from 32, none below (applets/applet_tables.c, busybox >= 1.27)."""
    count = len(names)
    known = 8 if count >= 128 else 4 if count >= 32 else 0
    offsets, position = [], 0
    for name in names:
        offsets.append(position)
        position += len(name) + 1
    return [offsets[i * count // known] for i in range(1, known)] if known else []


def _offsets_stored(data: bytes, names: list[bytes]) -> bool:
    values = _name_offsets(names)
    if not values or max(values) > 0xFFFF:
        return False
    return any(struct.pack(f"{order}{len(values)}H", *values) in data for order in "<>")


def applet_names(data: bytes) -> tuple[str, ...]:
    """The applet names of a busybox binary's ``applet_names[]`` table, in table order; () when none.

    The longest run of strictly ascending names closed by a double NUL is the table. Its first name may be
    wrong in two ways: glued to the bytes before the table (no NUL between them), or preceded by a string
    that happens to sort first. The binary's ``applet_nameofs[]`` (offsets of every N/8th name) tells which
    reading is right; without it (old or tiny builds) a glued tail is taken when binary data (a byte that is
    not printable) comes right before it."""
    tokens = data.split(b"\x00")
    best: tuple[list[bytes], bytes] = ([], b"")
    run_start = 0
    for index, token in enumerate(tokens):
        if _NAME.fullmatch(token):
            continue
        if not token and index > 0:  # a double NUL closes the run tokens[run_start:index]
            names = tokens[run_start:index]
            start = len(names) - 1 if names else 0
            while start > 0 and names[start - 1] < names[start]:
                start -= 1
            before = tokens[run_start - 1] if start == 0 and run_start > 0 else b""
            if len(names) - start > len(best[0]) or (not best[0] and before):
                best = (names[start:], before)
        run_start = index + 1
    found, before = best
    glued = _TAIL.search(before)
    candidates = [found]
    if found:  # the first name may be a string before the table glued to its first name, or not a name at all
        candidates += [[found[0][i:], *found[1:]] for i in range(1, len(found[0]))]
        candidates.append(found[1:])
    if glued is not None:  # or the first name may be glued to the bytes before the run
        tail = glued.group()
        candidates += [[tail[i:], *found] for i in range(len(tail)) if not found or tail[i:] < found[0]]
    for candidate in candidates:
        if _offsets_stored(data, candidate):
            return tuple(name.decode("ascii") for name in candidate)
    if glued is not None and (not found or glued.group() < found[0]):
        previous = before[glued.start() - 1] if glued.start() else 0
        if not 0x20 <= previous < 0x7F:  # binary data, not the end of a text string
            found = [glued.group(), *found]
    return tuple(name.decode("ascii") for name in found)


def busybox_version(data: bytes) -> str | None:
    """``1.36.1`` from the ``BusyBox v1.36.1 (...)`` banner; None when the banner is not there."""
    found = BANNER.search(data)
    return found.group(1).decode("ascii", "replace") if found else None


@dataclass(frozen=True, slots=True)
class BusyboxBinary:
    path: PurePosixPath
    """The real path of the binary (links followed)."""
    version: str
    applets: tuple[str, ...]

    def provides(self, applet: str) -> bool:
        return applet in self.applets


def read_busybox(rootfs: Rootfs, blobs: BlobStore, path: PurePosixPath) -> BusyboxBinary | None:
    """The busybox binary at ``path`` (links followed), or None when that is not busybox."""
    real = rootfs.resolve(path)
    entry = rootfs.get(real) if real is not None else None
    if real is None or entry is None or not entry.has_content:
        return None
    data = file_bytes(rootfs, blobs, real)
    if data is None or not data.startswith(ELF_MAGIC) or (version := busybox_version(data)) is None:
        return None
    applets = applet_names(data)
    if not applets:
        return None
    inode = PurePosixPath(entry.linkname) if entry.type is EntryType.HARDLINK and entry.linkname else real
    return BusyboxBinary(inode, version, applets)


def find_busybox(rootfs: Rootfs, blobs: BlobStore) -> tuple[BusyboxBinary, ...]:
    """Every busybox binary whose file name starts with ``busybox`` (``bin/busybox``, ``busybox.static``)."""
    found: dict[PurePosixPath, BusyboxBinary] = {}
    for entry in rootfs:
        if entry.type is EntryType.FILE and entry.path.name.startswith("busybox"):
            binary = read_busybox(rootfs, blobs, entry.path)
            if binary is not None:
                found.setdefault(binary.path, binary)
    return tuple(found.values())


@dataclass(frozen=True, slots=True)
class AppletLink:
    path: PurePosixPath
    """The link in the rootfs."""
    kind: EntryType
    """SYMLINK (dangles once the binary goes) or HARDLINK (keeps a full copy of busybox alive)."""
    applet: str
    """The name busybox runs it as: the link's own file name."""
    known: bool
    """Whether the binary has that applet (a link with an unknown name only prints an error)."""


def applet_links(rootfs: Rootfs, binary: BusyboxBinary) -> tuple[AppletLink, ...]:
    """Every symlink in the rootfs that resolves to the binary (directly or through other links) and every
    other hardlink of its inode, sorted by path. The binary's own path is not a link and is not listed."""
    names = set(binary.applets)
    found: list[AppletLink] = []
    for entry in rootfs:
        if entry.path == binary.path:
            continue
        if entry.type is EntryType.SYMLINK:
            if rootfs.resolve(entry.path) != binary.path and not _hardlinked(rootfs, entry.path, binary.path):
                continue
        elif entry.type is not EntryType.HARDLINK or PurePosixPath(entry.linkname or "") != binary.path:
            continue
        found.append(AppletLink(entry.path, entry.type, entry.path.name, entry.path.name in names))
    return tuple(sorted(found, key=lambda link: link.path))


def _hardlinked(rootfs: Rootfs, path: PurePosixPath, inode: PurePosixPath) -> bool:
    """Whether the symlink at ``path`` resolves to another hardlink of ``inode``."""
    real = rootfs.resolve(path)
    entry = rootfs.get(real) if real is not None else None
    return entry is not None and entry.type is EntryType.HARDLINK and PurePosixPath(entry.linkname or "") == inode


@dataclass(frozen=True, slots=True)
class ShellRemoval:
    """What removing busybox's shell links means for one binary."""

    binary: BusyboxBinary
    shell_links: tuple[AppletLink, ...]
    """Links whose name is a shell: the ones to remove."""
    other_links: tuple[AppletLink, ...]
    """Links to other applets: they stay, and keep working, as long as the binary stays."""
    other_applets: tuple[str, ...]
    """Applets the binary provides that are not shells, linked or not (what else the binary still does)."""

    @property
    def summary(self) -> str:
        linked = len(self.other_links)
        return (
            f"busybox {self.binary.version} (/{self.binary.path}) also provides {len(self.other_applets)} other "
            f"applets, {linked} of them linked in the image"
            + (f" ({', '.join(link.applet for link in self.other_links[:8])}{', ...' if linked > 8 else ''})"
               if linked else "")
        )


def plan_shell_removal(rootfs: Rootfs, binary: BusyboxBinary, shells: Iterable[str]) -> ShellRemoval:
    """The binary's links named after a shell in ``shells`` (drop-shells' list: busybox's sh, ash, hush and
    bash applets among them), and what else it provides."""
    shell_names = set(shells)
    links = applet_links(rootfs, binary)
    return ShellRemoval(
        binary,
        tuple(link for link in links if link.applet in shell_names),
        tuple(link for link in links if link.applet not in shell_names),
        tuple(name for name in binary.applets if name not in shell_names),
    )


def left_dangling(rootfs: Rootfs, binary: BusyboxBinary, removed: Collection[PurePosixPath]) -> tuple[AppletLink, ...]:
    """The applet links that the removals in ``removed`` leave behind, i.e. what would break (symlinks
    dangle) or keep busybox's bytes (hardlinks) if the binary itself were removed too: removing the binary
    is only complete when this is empty or these go with it."""
    gone = set(removed)
    return tuple(link for link in applet_links(rootfs, binary) if link.path not in gone)
