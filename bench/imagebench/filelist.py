"""What one image holds that another does not: file lists compared by real path, grouped by the Debian package
that shipped each file (dpkg's ``var/lib/dpkg/info/*.list`` of a reference image) and by directory."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from imagebench.archive_stats import Entry, Listing
from imagebench.model import Group

DPKG_INFO = "var/lib/dpkg/info/"
UNOWNED = "(no package)"


def is_dpkg_list(path: str) -> bool:
    return path.startswith(DPKG_INFO) and path.endswith(".list")


def resolve_parents(path: str, entries: Mapping[str, Entry], *, depth: int = 40) -> str:
    """``path`` with every symlinked parent directory resolved inside the image (``lib/x`` → ``usr/lib/x`` on a
    merged-/usr system); the last component is kept as it is (a symlink is an entry of its own)."""
    parts = [p for p in path.strip("/").split("/") if p and p != "."]
    resolved: list[str] = []
    for index, part in enumerate(parts):
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        resolved.append(part)
        if index == len(parts) - 1:
            break
        for _ in range(depth):
            entry = entries.get("/".join(resolved))
            if entry is None or entry.kind != "symlink":
                break
            target = entry.link
            base = "" if target.startswith("/") else "/".join(resolved[:-1])
            resolved = [p for p in posixpath.normpath(posixpath.join("/", base, target)).strip("/").split("/") if p]
    return "/".join(resolved)


def canonical(listing: Listing) -> dict[str, Entry]:
    """The listing keyed by real path. Symlinks to directories are left out (they hold no file of their own and
    their targets' files are listed under the real path)."""
    keyed = {resolve_parents(path, listing.entries): entry for path, entry in listing.entries.items()}
    directories: set[str] = set()
    for path in keyed:
        while (path := posixpath.dirname(path)) and path not in directories:
            directories.add(path)
    real: dict[str, Entry] = {}
    for path, entry in sorted(keyed.items()):
        target = resolve_parents(path + "/.keep", listing.entries).rsplit("/", 1)[0]
        if entry.kind == "symlink" and target in directories:
            continue
        real[path] = entry
    return real


def dpkg_owners(listing: Listing) -> dict[str, str]:
    """Real path → package, from the dpkg file lists captured in ``listing``."""
    owners: dict[str, str] = {}
    for path, content in sorted(listing.captured.items()):
        if not is_dpkg_list(path):
            continue
        package = posixpath.basename(path)[: -len(".list")].split(":")[0]
        for line in content.decode("utf-8", "surrogateescape").splitlines():
            line = line.strip()
            if line and line != "/.":
                owners.setdefault(resolve_parents(line, listing.entries), package)
    return owners


def directory_of(path: str, depth: int = 4) -> str:
    parent = posixpath.dirname(path)
    return "/" + "/".join(parent.split("/")[:depth]) if parent else "/"


@dataclass(frozen=True, slots=True)
class Comparison:
    common: int
    only_a: dict[str, Entry]
    only_b: dict[str, Entry]


def compare(a: Mapping[str, Entry], b: Mapping[str, Entry]) -> Comparison:
    common = sum(1 for path in a if path in b)
    return Comparison(common, {p: e for p, e in a.items() if p not in b}, {p: e for p, e in b.items() if p not in a})


def groups(entries: Mapping[str, Entry], key: Iterable[tuple[str, str]] | None = None, *, by: str,
           owners: Mapping[str, str] | None = None, top: int = 12, examples: int = 3) -> tuple[Group, ...]:
    """Entries grouped ``by`` "package" (``owners``; unowned files fall under ``UNOWNED``) or "directory",
    largest first (bytes, then files), at most ``top`` groups."""
    sums: dict[str, list[int]] = {}
    names: dict[str, list[str]] = {}
    for path, entry in sorted(entries.items()):
        name = (owners or {}).get(path, UNOWNED) if by == "package" else directory_of(path)
        totals = sums.setdefault(name, [0, 0])
        totals[0] += 1
        totals[1] += entry.size
        names.setdefault(name, []).append(path)
    ranked = sorted(sums.items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))[:top]
    return tuple(Group(name, files, size, tuple("/" + p for p in _largest(names[name], entries, examples)))
                 for name, (files, size) in ranked)


def _largest(paths: list[str], entries: Mapping[str, Entry], count: int) -> list[str]:
    return sorted(paths, key=lambda p: (-entries[p].size, p))[:count]


SHELLS = ("sh", "bash", "dash", "ash", "zsh", "busybox")
PACKAGE_MANAGERS = ("dpkg", "apt", "apt-get", "apk", "rpm", "dnf", "yum", "microdnf", "pip", "pip3")
BIN_DIRS = ("bin", "usr/bin", "sbin", "usr/sbin", "usr/local/bin")


def programs(real: Mapping[str, Entry], names: Iterable[str]) -> tuple[str, ...]:
    """Which of ``names`` exist as files or symlinks in the usual bin directories of ``real`` (a ``canonical``
    listing), as absolute paths."""
    found = []
    for name in names:
        for directory in BIN_DIRS:
            path = f"{directory}/{name}"
            if path in real:
                found.append("/" + path)
    return tuple(sorted(set(found)))
