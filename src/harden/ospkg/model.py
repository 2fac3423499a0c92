"""The values every OS package database speaks in, and the interface each reader implements."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Protocol

from harden.ospkg.release import OsRelease


class DbKind(StrEnum):
    DPKG = "dpkg"
    APK = "apk"
    RPM = "rpm"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class OsPackage:
    """One package of an OS package database, the way scanners see it."""

    key: str
    """Unique in its database: apk ``<name>``; dpkg ``<name>:<arch>`` (``<name>`` without an arch)."""
    name: str
    version: str
    arch: str
    origin: str
    """The source package (apk ``o:``, dpkg ``Source:``); the name itself when the record has none."""
    license: str
    """apk ``L:`` as written (SPDX-like); "" for dpkg, whose status records carry none."""
    purl: str
    source: PurePosixPath
    """The database file holding its record."""
    installed: bool = True
    """False for a dpkg record that is not installed (removed, config-files kept, half-installed)."""
    essential: bool = False
    """dpkg's ``Essential: yes``; apk has no such flag."""
    installed_size: int | None = None
    """Bytes the record declares installed (dpkg ``Installed-Size`` KiB x 1024, apk ``I:``); None without one."""

    @property
    def label(self) -> str:
        """``<name> <version>`` for a report."""
        return f"{self.name} {self.version}".strip()


@dataclass(frozen=True, slots=True)
class Owned:
    """What a package installed, as its database says, and where that was read."""

    paths: tuple[str, ...]
    """Root-relative, each once, directories included where the database lists them (``PackageDb.owned``)."""
    folders: frozenset[str]
    """Those of ``paths`` the database itself says are directories (apk ``F:``); dpkg's lists do not say,
    so callers tell its directories by listed children and by the rootfs."""
    source: PurePosixPath
    """The file the list was read from: dpkg's ``info/<package>.list`` (or a ``status.d`` ``.md5sums``),
    apk's ``installed``."""


@dataclass(frozen=True, slots=True)
class Rewrite:
    """What a database's files become once some packages (or some files of a package) are gone.

    The paths are the real paths (symlinks resolved) of database files that exist in the rootfs; nothing
    is written here: the caller (the prune-package-db stage) puts the bytes into the blob store and plans
    ``Replace``/``Remove`` changes with the reasons."""

    contents: Mapping[PurePosixPath, bytes] = field(default_factory=dict)
    """Database files with new content."""
    removals: Mapping[PurePosixPath, str] = field(default_factory=dict)
    """Database files to remove (dpkg ``info/<package>.*``, emptied ``status.d`` files), with the reason."""
    removed_for: Mapping[PurePosixPath, tuple[str, ...]] = field(default_factory=dict)
    """For each of ``removals``: the keys of the packages whose going removes it (a caller's reasons are
    per package)."""
    trimmed: tuple[str, ...] = ()
    """Keys of kept packages whose records lost the lines of files no longer in the image (apk)."""
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.contents and not self.removals


class PackageDb(Protocol):
    """An OS package database found in a rootfs. Implementations never modify the rootfs."""

    @property
    def kind(self) -> DbKind: ...

    @property
    def release(self) -> OsRelease: ...

    @property
    def sources(self) -> tuple[PurePosixPath, ...]:
        """The database files read (or, for rpm, recognised)."""
        ...

    @property
    def prunable(self) -> bool:
        """Whether ``without`` can rewrite this database (False for rpm and for no database)."""
        ...

    def packages(self) -> tuple[OsPackage, ...]:
        """Every record, in database order; rpm's are not read (an empty tuple)."""
        ...

    def owned(self, package: OsPackage) -> tuple[str, ...] | None:
        """Root-relative paths the package installed (directories included where the database lists them);
        None when ownership is unknown (a dpkg record without a file list, rpm)."""
        ...

    def ownership(self, package: OsPackage) -> Owned | None:
        """``owned`` with which paths are folders and where the list was read; None exactly when ``owned``
        is None."""
        ...

    def where_installed(self, package: OsPackage, path: str) -> str:
        """Where an owned ``path`` really lies (dpkg-divert may have moved it); ``path`` itself elsewhere."""
        ...

    def without(self, packages: Collection[str] = (), files: Mapping[str, Collection[str]] | None = None) -> Rewrite:
        """The database's files minus the packages whose keys are in ``packages`` and, for the packages in
        ``files`` (key -> owned paths no longer in the image), minus those files where the format lists
        files in the record itself (apk); dpkg's file lists of kept packages are not rewritten (a note says
        so). rpm and no database: an empty Rewrite with a note."""
        ...
