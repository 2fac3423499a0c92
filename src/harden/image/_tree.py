"""Walking a Rootfs for output: every path with its missing parents, and how to write hardlink groups.

In a hardlink group one member carries the content and the others link to it. A group is a FILE plus
the HARDLINK entries whose ``linkname`` leads to it with the same content digest; links whose file is gone
(removed by a stage) or whose content differs form groups of their own. In every group the first path in
sorted order is written with the content, so a link always points at a path written earlier.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import PurePosixPath

from harden.image.model import EntryType, FileEntry, Rootfs

ROOT = PurePosixPath(".")
IMPLICIT_DIR_MODE = 0o755

_MAX_HOPS = 40


def _group_key(rootfs: Rootfs, path: PurePosixPath) -> tuple[str, str, str]:
    entry = rootfs.entries[path]
    target_text = entry.linkname or ""
    for _ in range(_MAX_HOPS):
        target = rootfs.get(target_text) if target_text else None
        if target is None or target.type is not EntryType.HARDLINK:
            break
        target_text = target.linkname or ""
    target = rootfs.get(target_text) if target_text else None
    if target is not None and target.type is EntryType.FILE and target.digest == entry.digest:
        return ("file", target_text, "")
    return ("orphan", entry.linkname or "", entry.digest or "")


def link_plan(rootfs: Rootfs) -> dict[PurePosixPath, PurePosixPath]:
    """path → the earlier path it links to; paths not in the map carry their own content."""
    groups: dict[tuple[str, str, str], set[PurePosixPath]] = defaultdict(set)
    for path, entry in rootfs.entries.items():
        if entry.type is EntryType.HARDLINK:
            key = _group_key(rootfs, path)
            groups[key].add(path)
            if key[0] == "file":
                groups[key].add(PurePosixPath(key[1]))
    plan: dict[PurePosixPath, PurePosixPath] = {}
    for members in groups.values():
        ordered = sorted(members)
        for other in ordered[1:]:
            plan[other] = ordered[0]
    return plan


def entries_with_parents(rootfs: Rootfs) -> Iterator[FileEntry]:
    """Every entry in sorted path order (parents first), missing parents added as 0755 root directories."""
    entries = dict(rootfs.entries)
    entries.pop(ROOT, None)
    for path in list(entries):
        for parent in path.parents:
            if parent == ROOT or parent in entries:
                break  # a present parent's own parents are (or will be) added when its path comes
            entries[parent] = FileEntry(path=parent, type=EntryType.DIR, mode=IMPLICIT_DIR_MODE)
    for path in sorted(entries, key=_parts):  # the order of PurePosixPath's comparisons, without its overhead
        yield entries[path]


def _parts(path: PurePosixPath) -> tuple[str, ...]:
    return path.parts
