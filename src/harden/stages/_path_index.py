"""A read-only index over a Rootfs for stages: children, subtrees, and turning "these paths go" into the
fewest ``Remove`` targets (a whole directory when everything below it goes).

Directories that have entries below them but no entry of their own (layers may omit parents) are indexed too.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from harden.image.model import EntryType, FileEntry, Rootfs, path_order
from harden.image.path_text import add_parents, has_parent_in, parent_text
from harden.stages._globs import GlobSet

ROOT = PurePosixPath(".")


class PathIndex:
    __slots__ = ("_children", "_paths", "rootfs")

    def __init__(self, rootfs: Rootfs) -> None:
        self.rootfs = rootfs
        # text keys: a path's parent as text is a slice, where PurePosixPath.parent makes (and hashes) a new object
        entries = {str(path): path for path in rootfs.entries}
        entries.pop(".", None)
        folders: set[str] = set()
        for text in entries:
            add_parents(text, folders)
        implied = [PurePosixPath(text) for text in folders if text not in entries]
        if implied:
            self._paths: list[PurePosixPath] = sorted([*entries.values(), *implied], key=path_order)
        else:  # the common case: the rootfs's own order, computed once per Rootfs
            self._paths = [entry.path for entry in rootfs if str(entry.path) != "."]
        self._children: dict[str, list[PurePosixPath]] = {}
        for path in self._paths:
            self._children.setdefault(parent_text(str(path)), []).append(path)

    def __iter__(self) -> Iterator[PurePosixPath]:
        """Every path (entries and implied directories) in sorted order: parents before children."""
        return iter(self._paths)

    def __contains__(self, path: object) -> bool:
        return str(path) in self._children or path in self.rootfs

    def entry(self, path: PurePosixPath) -> FileEntry | None:
        return self.rootfs.get(path)

    def is_dir(self, path: PurePosixPath) -> bool:
        """A directory entry, or a path with something below it."""
        entry = self.rootfs.get(path)
        if entry is not None:
            return entry.type is EntryType.DIR
        return str(path) in self._children

    def children(self, path: PurePosixPath) -> tuple[PurePosixPath, ...]:
        return tuple(self._children.get(str(path), ()))

    def subtree(self, prefix: PurePosixPath, *, include_self: bool = True) -> Iterator[PurePosixPath]:
        """``prefix`` (if present and asked for) and every path below it, sorted."""
        if prefix == ROOT:
            yield from self._paths
            return
        parts = prefix.parts
        start = bisect.bisect_left(self._paths, prefix)
        for index in range(start, len(self._paths)):
            path = self._paths[index]
            if path.parts[: len(parts)] != parts:
                break
            if path == prefix and not include_self:
                continue
            yield path

    def collapse(
        self, leaves: Iterable[PurePosixPath], may_remove_dir: Callable[[PurePosixPath], bool]
    ) -> list[PurePosixPath]:
        """The fewest paths whose removal removes exactly ``leaves``: a directory that ``may_remove_dir``
        allows and whose every child is removed is removed whole (and its own children are not listed)."""
        removed = set(leaves)
        texts = {str(leaf) for leaf in removed}
        parents: set[str] = set()
        for text in texts:
            add_parents(text, parents)
        for text in sorted(parents, key=lambda t: t.count("/"), reverse=True):  # the deepest first
            if text in texts:
                continue
            directory = PurePosixPath(text)
            if not may_remove_dir(directory):
                continue
            children = self._children.get(text, ())
            if children and all(str(child) in texts for child in children):
                removed.add(directory)
                texts.add(text)
        return self.topmost_entries(removed)

    def removal_targets(self, path: PurePosixPath) -> list[PurePosixPath]:
        """``[path]`` when it is an entry; for an implied directory, the topmost entries below it."""
        return [path] if path in self.rootfs else self.topmost_entries(self.subtree(path))

    def topmost_entries(self, removed: Iterable[PurePosixPath]) -> list[PurePosixPath]:
        """The entries of ``removed`` with no removed entry above them. A directory implied by its children
        (no entry of its own) cannot be a ``Remove`` target, so its children stand in for it."""
        chosen: list[PurePosixPath] = []
        chosen_texts: set[str] = set()
        for path in sorted(removed, key=path_order):
            if path not in self.rootfs or has_parent_in(path, chosen_texts):
                continue
            chosen.append(path)
            chosen_texts.add(str(path))
        return chosen


@dataclass(frozen=True, slots=True)
class GlobSelection:
    """What ``remove``/``keep`` globs select: topmost removals with the pattern that selected them, and
    topmost kept paths (that a remove pattern selected) with why they are kept."""

    removed: tuple[tuple[PurePosixPath, str], ...]
    kept: tuple[tuple[PurePosixPath, str], ...]


def select_by_globs(
    index: PathIndex,
    remove: GlobSet,
    keep: GlobSet,
    protect: Callable[[PurePosixPath], str | None] | None = None,
) -> GlobSelection:
    """``rm -rf`` semantics with exceptions: a path matching ``remove`` goes with everything below it, except
    what matches ``keep`` or what ``protect`` gives a reason for (a kept path keeps everything below it, and
    its parents stay)."""
    marked: dict[str, str] = {}  # by path text, as parent_text gives a parent
    keeping: dict[str, str] = {}
    kept: dict[PurePosixPath, str] = {}
    marked_paths: list[PurePosixPath] = []
    for path in index:
        text = str(path)
        parent = parent_text(text)
        why = keeping.get(parent)
        if why is None and (keep_pattern := keep.first_match(text)) is not None:
            why = f"keep glob {keep_pattern!r}"
        if why is not None:
            keeping[text] = why
        pattern = marked.get(parent) or remove.first_match(text)
        if pattern is None:
            continue
        marked[text] = pattern
        marked_paths.append(path)
        if why is None and protect is not None:
            why = protect(path)
        if why is not None:
            kept[path] = why
    protected = set(kept)
    for path in kept:
        protected.update(path.parents)
    removable = {path for path in marked_paths if path not in protected}
    removed = tuple((p, marked[str(p)]) for p in index.topmost_entries(removable))
    kept_top = tuple((p, kept[p]) for p in sorted(kept) if p.parent not in kept)
    return GlobSelection(removed, kept_top)


def shorten(path: PurePosixPath, roots: Iterable[PurePosixPath]) -> str:
    """``path`` relative to the deepest root containing it (``numpy/testing``), else root-relative."""
    best: PurePosixPath | None = None
    for root in roots:
        if root in path.parents and (best is None or len(root.parts) > len(best.parts)):
            best = root
    return str(path.relative_to(best)) if best is not None else str(path)


def prune_subtree(
    index: PathIndex, top: PurePosixPath, keep: GlobSet
) -> tuple[list[PurePosixPath], list[tuple[PurePosixPath, str]]]:
    """Remove ``top`` except what ``keep`` matches below it: (topmost removals, topmost kept with pattern)."""
    kept: dict[PurePosixPath, str] = {}
    paths = list(index.subtree(top))
    for path in paths:
        pattern = kept.get(path.parent) or keep.first_match(path)
        if pattern is not None:
            kept[path] = pattern
    protected = set(kept)
    for path in kept:
        protected.update(path.parents)
    removable = {p for p in paths if p not in protected}
    removed = index.topmost_entries(removable)
    return removed, [(p, kept[p]) for p in sorted(kept) if p.parent not in kept]
