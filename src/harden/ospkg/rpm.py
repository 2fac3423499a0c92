"""rpm's database, recognised and never touched.

rpm keeps its database as a Berkeley DB (``Packages``, RHEL/CentOS <= 8, older Fedora), an NDB file
(``Packages.db``, SUSE) or SQLite (``rpmdb.sqlite``, Fedora >= 33, RHEL 9), in ``var/lib/rpm`` or, on Fedora
>= 36 and openSUSE, in ``usr/lib/sysimage/rpm`` (``var/lib/rpm`` then a symlink to it). harden reads none of
them (each record is a binary rpm header): the image is reported as having an rpm database that is not
pruned, so its scanners keep listing packages whose files other stages removed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import PurePosixPath

from harden.image.model import Rootfs
from harden.ospkg.model import DbKind, OsPackage, Owned, Rewrite
from harden.ospkg.release import OsRelease

RPM_DIRS = (PurePosixPath("var/lib/rpm"), PurePosixPath("usr/lib/sysimage/rpm"))
RPM_FILES = ("rpmdb.sqlite", "Packages.db", "Packages")

NOT_PRUNED = "rpm database: not read and not pruned (harden reads dpkg and apk databases only)"
NO_DB = "no OS package database (dpkg, apk or rpm): not pruned"


def find_rpm_db(rootfs: Rootfs) -> tuple[PurePosixPath, ...]:
    """The rpm database files present (real paths, each once)."""
    found: list[PurePosixPath] = []
    for directory in RPM_DIRS:
        for name in RPM_FILES:
            real = rootfs.resolve(directory / name)
            entry = rootfs.get(real) if real is not None else None
            if real is not None and entry is not None and entry.has_content and real not in found:
                found.append(real)
    return tuple(found)


class RpmDb:
    kind = DbKind.RPM
    prunable = False

    def __init__(self, files: tuple[PurePosixPath, ...], release: OsRelease) -> None:
        self._files = files
        self._release = release

    @classmethod
    def read(cls, rootfs: Rootfs, release: OsRelease) -> RpmDb | None:
        files = find_rpm_db(rootfs)
        return cls(files, release) if files else None

    @property
    def release(self) -> OsRelease:
        return self._release

    @property
    def sources(self) -> tuple[PurePosixPath, ...]:
        return self._files

    def packages(self) -> tuple[OsPackage, ...]:
        return ()

    def owned(self, package: OsPackage) -> tuple[str, ...] | None:
        return None

    def ownership(self, package: OsPackage) -> Owned | None:
        return None

    def where_installed(self, package: OsPackage, path: str) -> str:
        return path

    def without(self, packages: Collection[str] = (), files: Mapping[str, Collection[str]] | None = None) -> Rewrite:
        return Rewrite(notes=(NOT_PRUNED,))


class NoPackageDb:
    """An image without an OS package database (scratch, distroless static, a Python-only layer)."""

    kind = DbKind.NONE
    prunable = False
    sources: tuple[PurePosixPath, ...] = ()

    def __init__(self, release: OsRelease) -> None:
        self._release = release

    @property
    def release(self) -> OsRelease:
        return self._release

    def packages(self) -> tuple[OsPackage, ...]:
        return ()

    def owned(self, package: OsPackage) -> tuple[str, ...] | None:
        return None

    def ownership(self, package: OsPackage) -> Owned | None:
        return None

    def where_installed(self, package: OsPackage, path: str) -> str:
        return path

    def without(self, packages: Collection[str] = (), files: Mapping[str, Collection[str]] | None = None) -> Rewrite:
        return Rewrite(notes=(NO_DB,))
