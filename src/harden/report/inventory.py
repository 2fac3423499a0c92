"""What is installed in an image, the way scanners (Syft, Grype, Trivy) see it.

Python distributions come from every ``*.dist-info/METADATA`` and ``*.egg-info`` (PKG-INFO) anywhere in the
rootfs, so virtualenvs, ``/usr/local`` and distro ``dist-packages`` are all found; their sizes from RECORD (or
``installed-files.txt``). OS packages come from every OS package database ``harden.ospkg`` finds: dpkg
(``var/lib/dpkg/status`` and the distroless ``status.d/*``) and apk (``lib/apk/db/installed``), with the purls
``harden.ospkg`` gives them; their sizes from the files the database says they own (dpkg's
``info/<name>.list`` or ``status.d/<name>.md5sums``, apk's ``R:`` lines), else the declared installed size.
An rpm database is named in the report's ``os`` but its packages are not listed (it is not read).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from email.parser import HeaderParser
from pathlib import PurePosixPath
from urllib.parse import quote

from harden.dpkg.rootfs import PathLookup
from harden.image.blobs import BlobStore
from harden.image.files import file_text, image_path
from harden.image.model import EntryType, Rootfs
from harden.ospkg import DbKind, OsPackage, PackageDb, detect, detect_all
from harden.pyenv import installed_files_rows, record_rows
from harden.report.model import Component, OsInfo, PackageDbInfo

MAX_LICENSE = 100


def _purl_version(version: str) -> str:
    return quote(version, safe=".-_~")


def pypi_purl(name: str, version: str) -> str:
    """``pkg:pypi/<name>@<version>``: the purl spec lowercases the name and turns ``_`` into ``-``."""
    return f"pkg:pypi/{quote(name.lower().replace('_', '-'), safe='.-_~')}@{_purl_version(version)}"


ECOSYSTEMS = {DbKind.DPKG: "deb", DbKind.APK: "apk"}
"""The SBOM ecosystem of each OS package database whose packages are listed."""


class _Sizes:
    """(files, bytes) of listed root-relative paths; directories and symlinks standing for one do not count."""

    def __init__(self, rootfs: Rootfs) -> None:
        self.rootfs = rootfs
        self._lookup = PathLookup(rootfs)

    def of(self, paths: Iterable[str]) -> tuple[int, int]:
        files = total = 0
        for path in sorted(set(paths)):
            entry = self._lookup.entry(path)
            if entry is None or self._lookup.is_dir(entry):
                continue
            files += 1
            if entry.type is EntryType.FILE:
                total += entry.size
        return files, total


def _license(headers: dict[str, str]) -> str:
    text = (headers.get("License-Expression") or headers.get("License") or "").strip()
    usable = text and "\n" not in text and len(text) <= MAX_LICENSE and text.upper() != "UNKNOWN"
    return text if usable else ""


def python_distributions(rootfs: Rootfs, blobs: BlobStore) -> Iterator[Component]:
    sizes = _Sizes(rootfs)
    for entry in rootfs:
        path = entry.path
        parent = path.parent
        if path.name == "METADATA" and parent.name.endswith(".dist-info"):
            meta_dir, kind = parent, "dist-info"
        elif path.name == "PKG-INFO" and parent.name.endswith(".egg-info"):
            meta_dir, kind = parent, "egg-info"
        elif entry.type is EntryType.FILE and path.name.endswith(".egg-info"):
            meta_dir, kind = path, "egg-info-file"
        else:
            continue
        text = file_text(rootfs, blobs, path, limit=16 << 20)
        if text is None:
            continue
        headers = dict(HeaderParser().parsestr(text, headersonly=True).items())
        name, version = headers.get("Name", "").strip(), headers.get("Version", "").strip()
        if not name or not version:
            continue
        location = meta_dir.parent
        files, size, source = _python_size(sizes, blobs, meta_dir, kind, location)
        yield Component("pypi", name, version, pypi_purl(name, version), str(location), size, files, source,
                        license=_license(headers))


def _python_size(sizes: _Sizes, blobs: BlobStore, meta_dir: PurePosixPath, kind: str,
                 location: PurePosixPath) -> tuple[int, int, str]:
    rootfs = sizes.rootfs
    if kind == "dist-info":
        record = file_text(rootfs, blobs, meta_dir / "RECORD")
        if record is not None:
            paths = [posixpath.normpath(str(location / row)) for row in record_rows(record)]
            return (*sizes.of([p for p in paths if not p.startswith("..")]), "record")
    elif kind == "egg-info":
        listed = file_text(rootfs, blobs, meta_dir / "installed-files.txt")
        if listed is not None:
            paths = [posixpath.normpath(str(meta_dir / line)) for line in installed_files_rows(listed)]
            return (*sizes.of([p for p in paths if not p.startswith("..")]), "installed-files")
    return 0, 0, "unknown"


def os_packages(databases: Iterable[PackageDb], rootfs: Rootfs) -> Iterator[Component]:
    """The installed packages of every dpkg and apk database in ``databases``."""
    sizes = _Sizes(rootfs)
    for db in databases:
        ecosystem = ECOSYSTEMS.get(db.kind)
        if ecosystem is None:
            continue
        for package in db.packages():
            if not package.name or not package.version or not package.installed:
                continue
            files, size, size_source = _os_size(sizes, db, package)
            yield Component(ecosystem, package.name, package.version, package.purl, str(package.source), size,
                            files, size_source, arch=package.arch, license=package.license)


def _os_size(sizes: _Sizes, db: PackageDb, package: OsPackage) -> tuple[int, int, str]:
    owned = db.ownership(package)
    if owned is not None:
        source = ("apk-installed" if db.kind is DbKind.APK
                  else "dpkg-md5sums" if owned.source.name.endswith(".md5sums") else "dpkg-list")
        return (*sizes.of(owned.paths), source)
    if package.installed_size is not None:
        return 0, package.installed_size, "installed-size"
    return 0, 0, "unknown"


def os_info(databases: Iterable[PackageDb], rootfs: Rootfs, blobs: BlobStore) -> OsInfo:
    """Which OS the image is (os-release) and its package databases, the OS's own first."""
    found = tuple(databases)
    release = (found[0] if found else detect(rootfs, blobs)).release
    return OsInfo(
        release.label, release.id, release.version_id,
        tuple(PackageDbInfo(db.kind.value, tuple(image_path(p) for p in db.sources), db.prunable,
                            len(db.packages())) for db in found),
    )


def inventory(rootfs: Rootfs, blobs: BlobStore,
              databases: Iterable[PackageDb] | None = None) -> tuple[Component, ...]:
    """Every installed package, sorted by ecosystem, name, location. ``databases``: the rootfs's OS package
    databases when the caller has read them already (``harden.ospkg.detect_all``)."""
    found = detect_all(rootfs, blobs) if databases is None else databases
    components = list(python_distributions(rootfs, blobs)) + list(os_packages(found, rootfs))
    return tuple(sorted(components, key=lambda c: (c.ecosystem, c.name.lower(), c.location, c.version)))
