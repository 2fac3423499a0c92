"""dpkg's database behind the ``PackageDb`` interface: a thin wrapper over ``harden.dpkg``'s readers."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from harden.dpkg.owned import Diversion, FileList, InfoDir, file_list, read_diversions, where_installed
from harden.dpkg.status import Record, StatusFile, StatusSource, read_status, shown, status_sources
from harden.image.blobs import BlobStore
from harden.image.model import Rootfs
from harden.ospkg.model import DbKind, OsPackage, Owned, Rewrite
from harden.ospkg.purl import deb_purl
from harden.ospkg.release import OsRelease


@dataclass(frozen=True, slots=True)
class _Place:
    source: StatusSource
    status: StatusFile
    index: int

    @property
    def record(self) -> Record:
        return self.status.records[self.index]


def _key(record: Record) -> str:
    return f"{record.package}:{record.arch}" if record.arch else record.package


def _installed_size(record: Record) -> int | None:
    declared = record.field("Installed-Size").strip()
    return int(declared) * 1024 if declared.isascii() and declared.isdigit() else None


class DpkgDb:
    """``var/lib/dpkg/status`` and the distroless ``status.d/<name>`` files of one rootfs."""

    kind = DbKind.DPKG
    prunable = True

    def __init__(self, rootfs: Rootfs, blobs: BlobStore, found: list[tuple[StatusSource, StatusFile]],
                 release: OsRelease) -> None:
        self._rootfs = rootfs
        self._blobs = blobs
        self._found = found
        self._release = release
        self._info = InfoDir(rootfs)
        self._diversions: Mapping[str, Diversion] | None = None
        self._lists: dict[str, FileList | None] = {}
        namespace = release.id if release.id in ("debian", "ubuntu") else "debian"
        distro = f"{namespace}-{release.version_id}" if release.version_id else ""
        self._places: dict[str, _Place] = {}
        packages: list[OsPackage] = []
        for source, status in found:
            for index, record in enumerate(status.records):
                if not record.package or _key(record) in self._places:
                    continue
                name, version, arch = shown(record.package), shown(record.version), shown(record.arch)
                origin = shown(record.field("source").split(" ", 1)[0]) or name
                purl = deb_purl(namespace, name, version, arch, distro)
                package = OsPackage(_key(record), name, version, arch, origin, "", purl, source.path,
                                    record.installed, record.essential, _installed_size(record))
                self._places[package.key] = _Place(source, status, index)
                packages.append(package)
        self._packages = tuple(packages)

    @classmethod
    def read(cls, rootfs: Rootfs, blobs: BlobStore, release: OsRelease) -> DpkgDb | None:
        read = ((source, read_status(rootfs, blobs, source)) for source in status_sources(rootfs))
        found = [(source, status) for source, status in read if status is not None]
        return cls(rootfs, blobs, found, release) if found else None

    @property
    def release(self) -> OsRelease:
        return self._release

    @property
    def sources(self) -> tuple[PurePosixPath, ...]:
        return tuple(source.path for source, _ in self._found)

    def packages(self) -> tuple[OsPackage, ...]:
        return self._packages

    def owned(self, package: OsPackage) -> tuple[str, ...] | None:
        """The ``.list`` (else ``status.d`` ``.md5sums``) paths plus the record's ``Conffiles``; None without
        a file list, or for a record that is not installed."""
        found = self.ownership(package)
        return None if found is None else found.paths

    def ownership(self, package: OsPackage) -> Owned | None:
        place = self._places[package.key]
        if not place.record.installed:
            return None
        listed = self._file_list(package.key, place)
        if listed is None:
            return None
        return Owned(tuple(dict.fromkeys([*listed.paths, *place.record.conffiles()])), frozenset(), listed.source)

    def _file_list(self, key: str, place: _Place) -> FileList | None:
        if key not in self._lists:
            self._lists[key] = file_list(self._rootfs, self._blobs, self._info, place.record, place.source.md5sums)
        return self._lists[key]

    def where_installed(self, package: OsPackage, path: str) -> str:
        if self._diversions is None:
            self._diversions = read_diversions(self._rootfs, self._blobs)
        return where_installed(path, self._places[package.key].record.package, self._diversions)

    def without(self, packages: Collection[str] = (), files: Mapping[str, Collection[str]] | None = None) -> Rewrite:
        """The status files minus the records of ``packages``, every other record byte for byte; the gone
        packages' ``info/<package>[:<arch>].*`` files, and a ``status.d`` file (with its ``.md5sums``) whose
        every record goes, to remove. ``files`` is not applied: dpkg's ``.list`` files of kept packages stay
        as they are (the prune-package-db stage names the files left instead)."""
        by_source: dict[PurePosixPath, tuple[StatusSource, StatusFile, dict[int, str]]] = {}
        removals: dict[PurePosixPath, str] = {}
        removed_for: dict[PurePosixPath, tuple[str, ...]] = {}
        for key in packages:
            place = self._places.get(key)
            if place is None:
                continue
            _, _, drop = by_source.setdefault(place.source.path, (place.source, place.status, {}))
            drop[place.index] = key
            reason = f"the package database forgets {place.record.label}"
            for _, info_files in self._info.list_files(place.record):
                for path in info_files:
                    if path not in removals:
                        removals[path], removed_for[path] = reason, (key,)
        contents: dict[PurePosixPath, bytes] = {}
        for source, status, drop in by_source.values():
            real = self._rootfs.resolve(source.path) or source.path
            if source.in_status_d and len(drop) == len(status.records):
                labels = ", ".join(status.records[i].label for i in sorted(drop))
                for gone in (real, source.md5sums):
                    if gone is not None:
                        removals[gone] = f"every record of this status.d file is gone ({labels})"
                        removed_for[gone] = tuple(drop[i] for i in sorted(drop))
            else:
                contents[real] = status.without(set(drop))
        notes = ("dpkg: the file lists of kept packages are not rewritten",) if files else ()
        return Rewrite(contents, removals, removed_for, notes=notes)
