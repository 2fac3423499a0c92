"""apk's installed database (``lib/apk/db/installed``): its packages, kept as the bytes they were read from.

The format is the one apk-tools reads in ``apk_db_fdb_read`` and writes in ``apk_db_fdb_write``
(src/database.c) with the package header of ``apk_pkg_write_index_header`` (src/package.c): one field a line,
``<letter>:<value>``; a line shorter than two bytes (a blank line) ends a package. apk-tools writes, in order:

* the index header: ``C`` package identity (``Q1`` + base64 of a SHA-1), ``P`` name, ``V`` version, ``A``
  arch, ``S`` size, ``I`` installed size, ``T`` description, ``U`` url, ``L`` licence, ``o`` origin (the
  source package), ``m`` maintainer, ``t`` build time, ``c`` commit, ``k`` provider priority, then ``D``
  depends, ``p`` provides, ``i`` install_if (space-separated dependency words);
* the installed-only fields ``r`` replaces, ``q`` replaces priority, ``s`` repository tag, ``f`` flags;
* the file database: ``F:<folder>`` (root-relative, no slash at either end; empty for the root) with an
  optional ``M:<uid>:<gid>:<octal mode>[:<xattr digest>]``, then for each file of that folder ``R:<name>``
  with an optional ``a:`` (same shape as ``M``) and ``Z:<digest>`` (``Q1`` + base64 of the SHA-1 of the
  content, or of the link target for a symlink; ``Q2`` for SHA-256).

A file's path is its folder joined with its name: ``F`` then ``R`` lines relate files to folders, and every
``a``/``Z`` line belongs to the ``R`` line before it, every ``M`` line to the ``F`` line before it. Lines keep
their bytes exactly (unknown letters included, in their place), so a database can be written back byte for
byte minus some packages, or minus some files of a package. Text is decoded with ``surrogateescape`` like
dpkg's (``harden.dpkg.status.decoded``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from harden.dpkg.status import decoded, shown

FILE_DB_LETTERS = frozenset("FMRaZ")
"""Letters of the file database: folders (F, M) and files (R, a, Z)."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line as stored (its newline included, when it has one), with its letter and value."""

    raw: bytes
    letter: str
    """The field letter; "" for a line that is not ``<letter>:<value>``."""
    value: str

    @classmethod
    def of(cls, raw: bytes) -> Line:
        text = raw.rstrip(b"\n")
        if len(text) >= 2 and text[1:2] == b":":
            return cls(raw, chr(text[0]), decoded(text[2:]))
        return cls(raw, "", decoded(text))


@dataclass(frozen=True, slots=True)
class Acl:
    """An ``M:`` or ``a:`` line: ``<uid>:<gid>:<octal mode>[:<xattr digest>]``."""

    uid: int
    gid: int
    mode: int
    xattrs: str = ""

    @classmethod
    def parse(cls, value: str) -> Acl | None:
        parts = value.split(":", 3)
        try:
            return cls(int(parts[0]), int(parts[1]), int(parts[2], 8), parts[3] if len(parts) > 3 else "")
        except (IndexError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class InstalledFile:
    """An ``R:`` line and the ``a:``/``Z:`` lines that follow it."""

    path: str
    """Root-relative: the folder joined with the name (``bin/busybox``)."""
    lines: tuple[int, ...]
    """Indexes in the package's lines: the R line first."""
    acl: Acl | None
    """From ``a:``; None means apk's default (root, 0644)."""
    digest: str
    """The ``Z:`` value as stored (``Q1...``), "" when there is none."""


@dataclass(frozen=True, slots=True)
class Folder:
    """An ``F:`` line, the ``M:`` line that may follow it, and the files listed under it."""

    path: str
    """Root-relative, "" for the root."""
    lines: tuple[int, ...]
    """Indexes in the package's lines: the F line, then its M lines."""
    acl: Acl | None
    """From ``M:``; None means apk's default (root, 0755)."""
    files: tuple[InstalledFile, ...]


@dataclass(frozen=True, slots=True)
class Package:
    """One package: its lines exactly as stored, the blank lines after it, and what they say."""

    lines: tuple[Line, ...]
    tail: bytes
    fields: Mapping[str, str]
    """Letter -> value of the first line with that letter, file-database letters left out."""
    folders: tuple[Folder, ...]

    def field(self, letter: str) -> str:
        return self.fields.get(letter, "")

    @property
    def body(self) -> bytes:
        return b"".join(line.raw for line in self.lines)

    @property
    def name(self) -> str:
        return self.field("P")

    @property
    def version(self) -> str:
        return self.field("V")

    @property
    def arch(self) -> str:
        return self.field("A")

    @property
    def origin(self) -> str:
        """The source package (``o:``); the name itself when the record has none."""
        return self.field("o") or self.name

    @property
    def license(self) -> str:
        return self.field("L")

    @property
    def identity(self) -> str:
        """``C:``: the package's checksum, which ``triggers`` and ``scripts.tar`` name it by."""
        return self.field("C")

    @property
    def label(self) -> str:
        """``<name> <version>`` for a report."""
        return shown(f"{self.name} {self.version}".strip())

    def words(self, letter: str) -> tuple[str, ...]:
        """The space-separated words of a dependency field (``D``, ``p``, ``i``, ``r``)."""
        return tuple(self.field(letter).split())

    @property
    def files(self) -> tuple[InstalledFile, ...]:
        return tuple(f for folder in self.folders for f in folder.files)

    @property
    def paths(self) -> tuple[str, ...]:
        """Root-relative paths of every ``R:`` entry, in database order."""
        return tuple(f.path for f in self.files)

    def without_files(self, gone: Collection[str], gone_folders: Collection[str] = ()) -> bytes:
        """This package's bytes (tail included) without the ``R:``/``a:``/``Z:`` lines of the files at
        ``gone`` and without the ``F:``/``M:`` lines of the folders in ``gone_folders`` that no file is left
        in. Every other line is kept byte for byte, in its place; header fields (``I:`` installed size
        included) are not recomputed: they describe the package as apk installed it, and ``C:`` names it."""
        drop: set[int] = set()
        for folder in self.folders:
            kept = [f for f in folder.files if f.path not in gone]
            for file in folder.files:
                if file.path in gone:
                    drop.update(file.lines)
            if not kept and folder.path in gone_folders:
                drop.update(folder.lines)
        return b"".join(line.raw for i, line in enumerate(self.lines) if i not in drop) + self.tail


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _package(lines: tuple[Line, ...], tail: bytes) -> Package:
    fields: dict[str, str] = {}
    folders: list[Folder] = []
    folder: tuple[str, list[int], Acl | None] | None = None
    files: list[InstalledFile] = []
    current: list[int] | None = None  # the lines of the file being read
    current_file: tuple[str, Acl | None, str] | None = None

    def close_file() -> None:
        nonlocal current, current_file
        if current is not None and current_file is not None:
            files.append(InstalledFile(current_file[0], tuple(current), current_file[1], current_file[2]))
        current, current_file = None, None

    def close_folder() -> None:
        nonlocal folder, files
        close_file()
        if folder is not None:
            folders.append(Folder(folder[0], tuple(folder[1]), folder[2], tuple(files)))
        elif files:  # R lines before any F: apk refuses them; kept as files of the root
            folders.append(Folder("", (), None, tuple(files)))
        folder, files = None, []

    for index, line in enumerate(lines):
        letter = line.letter
        if letter == "F":
            close_folder()
            folder = (line.value.strip("/"), [index], None)
        elif letter == "M" and folder is not None:
            folder[1].append(index)
            folder = (folder[0], folder[1], Acl.parse(line.value))
        elif letter == "R":
            close_file()
            current = [index]
            current_file = (_join(folder[0] if folder else "", line.value), None, "")
        elif letter in ("a", "Z") and current is not None and current_file is not None:
            current.append(index)
            path, acl, digest = current_file
            current_file = (path, Acl.parse(line.value), digest) if letter == "a" else (path, acl, line.value)
        elif letter and letter not in FILE_DB_LETTERS:
            close_file()
            fields.setdefault(letter, line.value)
        else:  # a stray M/a/Z (apk would call it a format error): kept in place, owned by nothing
            close_file()
    close_folder()
    return Package(lines, tail, fields, tuple(folders))


def _is_separator(line: bytes) -> bool:
    """apk's rule: a line shorter than two bytes (newline not counted) ends a package."""
    return len(line.rstrip(b"\n")) < 2


@dataclass(frozen=True, slots=True)
class InstalledDb:
    head: bytes
    """Separator lines before the first package."""
    packages: tuple[Package, ...]

    def to_bytes(self) -> bytes:
        return self.without()

    def without(
        self,
        packages: Collection[int] = (),
        files: Mapping[int, Collection[str]] | None = None,
        gone_folders: Collection[str] = (),
    ) -> bytes:
        """The database minus the packages at the indexes ``packages`` and, for the packages in ``files``,
        minus those files (see ``Package.without_files``). Every other byte is kept; the file still ends the
        way it ended (the last package kept takes over a removed last package's trailing blank lines)."""
        files = files or {}
        kept = [i for i in range(len(self.packages)) if i not in packages]
        parts = [self.head]
        for i in kept:
            package = self.packages[i]
            if i in files:
                parts.append(package.without_files(set(files[i]), set(gone_folders)))
            else:
                parts.append(package.body + package.tail)
        last = len(self.packages) - 1
        if kept and last in packages:
            own_tail = len(self.packages[kept[-1]].tail)
            parts[-1] = parts[-1][: len(parts[-1]) - own_tail] + self.packages[last].tail
        return b"".join(parts)


def parse_installed(data: bytes) -> InstalledDb:
    """The packages of an installed database; ``parse_installed(data).to_bytes() == data``."""
    raw_lines = data.split(b"\n")
    items = [line + b"\n" for line in raw_lines[:-1]] + ([raw_lines[-1]] if raw_lines[-1] else [])
    head: list[bytes] = []
    blocks: list[tuple[list[bytes], list[bytes]]] = []
    for line in items:
        if _is_separator(line):
            (blocks[-1][1] if blocks else head).append(line)
        else:
            if not blocks or blocks[-1][1]:
                blocks.append(([], []))
            blocks[-1][0].append(line)
    packages = tuple(
        _package(tuple(Line.of(raw) for raw in body), b"".join(tail)) for body, tail in blocks
    )
    return InstalledDb(b"".join(head), packages)


# --- lib/apk/db/triggers -------------------------------------------------------------------------------------


def triggers_without(data: bytes, identities: Collection[str]) -> bytes:
    """``lib/apk/db/triggers`` without the lines of the packages whose ``C:`` identity is in ``identities``.

    Each line is ``<package identity> <folder> <folder>...`` (``apk_db_triggers_write``); apk attaches a line
    to the installed package with that identity and ignores a line naming none, so a line left behind is
    harmless, but the file is small and dropping it keeps the database true. Other lines are kept byte for
    byte."""
    if not identities:
        return data
    wanted = {identity.encode("utf-8", "surrogateescape") for identity in identities}
    kept = [line for line in data.splitlines(keepends=True) if line.split(b" ", 1)[0].strip() not in wanted]
    return b"".join(kept)

