"""apk's database behind the ``PackageDb`` interface (``harden.apk`` does the reading)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import PurePosixPath

from harden.apk.installed import InstalledDb, triggers_without
from harden.apk.rootfs import ApkDbFiles, find_db, read_installed
from harden.dpkg.rootfs import PathLookup
from harden.dpkg.status import shown
from harden.image.blobs import BlobStore
from harden.image.files import file_bytes
from harden.image.model import Rootfs
from harden.ospkg.model import DbKind, OsPackage, Owned, Rewrite
from harden.ospkg.purl import apk_purl
from harden.ospkg.release import OsRelease


class ApkDb:
    """``lib/apk/db/installed`` (and ``triggers``) of one rootfs."""

    kind = DbKind.APK
    prunable = True

    def __init__(self, rootfs: Rootfs, blobs: BlobStore, files: ApkDbFiles, db: InstalledDb,
                 release: OsRelease) -> None:
        self._rootfs = rootfs
        self._blobs = blobs
        self.files = files
        self.db = db
        self._release = release
        self._packages = tuple(self._package(i) for i in range(len(db.packages)))
        self._index = {p.key: i for i, p in reversed(list(enumerate(self._packages)))}

    @classmethod
    def read(cls, rootfs: Rootfs, blobs: BlobStore, release: OsRelease) -> ApkDb | None:
        files = find_db(rootfs)
        db = read_installed(rootfs, blobs, files) if files is not None else None
        return None if files is None or db is None else cls(rootfs, blobs, files, db, release)

    @property
    def release(self) -> OsRelease:
        return self._release

    @property
    def sources(self) -> tuple[PurePosixPath, ...]:
        return tuple(p for p in (self.files.installed, self.files.triggers) if p is not None)

    def _package(self, index: int) -> OsPackage:
        record = self.db.packages[index]
        name, version, arch = shown(record.name), shown(record.version), shown(record.arch)
        origin = shown(record.origin)
        release = self._release
        distro = f"{release.id or 'alpine'}-{release.version_id}" if release.version_id else ""
        purl = apk_purl(release.id or "alpine", name, version, arch, distro, origin if origin != name else "")
        size = record.field("I").strip()
        installed_size = int(size) if size.isascii() and size.isdigit() else None
        return OsPackage(name, name, version, arch, origin, shown(record.license), purl, self.files.installed,
                         installed_size=installed_size)

    def packages(self) -> tuple[OsPackage, ...]:
        return tuple(p for p in self._packages if p.name)

    def record(self, package: OsPackage) -> int:
        """The index of the package's record (the first with that name)."""
        return self._index[package.key]

    def owned(self, package: OsPackage) -> tuple[str, ...] | None:
        """The package's files (``R:``) and folders (``F:``), as the database lists them."""
        found = self.ownership(package)
        return None if found is None else found.paths

    def ownership(self, package: OsPackage) -> Owned:
        record = self.db.packages[self.record(package)]
        folders = [f.path for f in record.folders if f.path]
        return Owned(tuple(dict.fromkeys([*folders, *record.paths])), frozenset(folders), self.files.installed)

    def where_installed(self, package: OsPackage, path: str) -> str:
        return path

    def without(self, packages: Collection[str] = (), files: Mapping[str, Collection[str]] | None = None) -> Rewrite:
        """``installed`` minus the records of ``packages`` and, for the packages in ``files``, minus the
        ``R:`` (with ``a:``/``Z:``) lines of those files and the ``F:`` (with ``M:``) lines of folders that
        are no longer in the rootfs and have no file left; ``triggers`` minus the removed packages' lines."""
        drop = {self._index[key] for key in packages if key in self._index}
        partly = {self._index[key]: set(paths) for key, paths in (files or {}).items()
                  if key in self._index and self._index[key] not in drop and paths}
        if not drop and not partly:
            return Rewrite()
        lookup = PathLookup(self._rootfs)
        folders = {f.path for i in partly for f in self.db.packages[i].folders}
        gone_folders = {path for path in folders if path and lookup.entry(path) is None}
        contents = {self.files.installed: self.db.without(drop, partly, gone_folders)}
        notes: list[str] = []
        identities = {self.db.packages[i].identity for i in drop if self.db.packages[i].identity}
        if self.files.triggers is not None and identities:
            data = file_bytes(self._rootfs, self._blobs, self.files.triggers)
            if data is not None and (trimmed := triggers_without(data, identities)) != data:
                contents[self.files.triggers] = trimmed
        if self.files.scripts is not None and drop:
            notes.append(f"/{self.files.scripts} left as it is: apk ignores the scripts of packages that are "
                         "not installed")
        kept_trimmed = tuple(self.db.packages[i].name for i in sorted(partly))
        return Rewrite(contents, notes=tuple(notes), trimmed=kept_trimmed)
