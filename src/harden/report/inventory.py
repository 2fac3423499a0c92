"""What is installed in an image, the way scanners (Syft, Grype, Trivy) see it.

Python distributions come from every ``*.dist-info/METADATA`` and ``*.egg-info`` (PKG-INFO) anywhere in the
rootfs, so virtualenvs, ``/usr/local`` and distro ``dist-packages`` are all found; their sizes from RECORD (or
``installed-files.txt``). Debian packages come from ``var/lib/dpkg/status`` and ``var/lib/dpkg/status.d/*``
(the distroless layout); their sizes from ``var/lib/dpkg/info/<name>.list``, else the declared Installed-Size.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
from collections.abc import Iterable, Iterator
from email.parser import HeaderParser
from pathlib import PurePosixPath
from urllib.parse import quote

from harden.dpkg.owned import InfoDir, file_list
from harden.dpkg.rootfs import PathLookup
from harden.dpkg.status import Record, read_status, shown, status_sources
from harden.image.blobs import BlobStore
from harden.image.files import file_text
from harden.image.model import EntryType, Rootfs
from harden.report.model import Component

MAX_LICENSE = 100


def _purl_version(version: str) -> str:
    return quote(version, safe=".-_~")


def pypi_purl(name: str, version: str) -> str:
    """``pkg:pypi/<name>@<version>``: the purl spec lowercases the name and turns ``_`` into ``-``."""
    return f"pkg:pypi/{quote(name.lower().replace('_', '-'), safe='.-_~')}@{_purl_version(version)}"


def deb_purl(namespace: str, name: str, version: str, arch: str, distro: str) -> str:
    qualifiers = [f"arch={quote(arch, safe='')}"] if arch else []
    if distro:
        qualifiers.append(f"distro={quote(distro, safe='.-_~')}")
    query = "?" + "&".join(qualifiers) if qualifiers else ""
    return f"pkg:deb/{namespace}/{quote(name, safe='.-_~+')}@{_purl_version(version)}{query}"


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
            paths = [posixpath.normpath(str(location / row[0]))
                     for row in csv.reader(io.StringIO(record)) if row and row[0]]
            return (*sizes.of([p for p in paths if not p.startswith("..")]), "record")
    elif kind == "egg-info":
        listed = file_text(rootfs, blobs, meta_dir / "installed-files.txt")
        if listed is not None:
            lines = [line.strip() for line in listed.splitlines() if line.strip()]
            paths = [posixpath.normpath(str(meta_dir / line)) for line in lines]
            return (*sizes.of([p for p in paths if not p.startswith("..")]), "installed-files")
    return 0, 0, "unknown"


def os_release(rootfs: Rootfs, blobs: BlobStore) -> dict[str, str]:
    text = file_text(rootfs, blobs, "etc/os-release") or file_text(rootfs, blobs, "usr/lib/os-release") or ""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def debian_packages(rootfs: Rootfs, blobs: BlobStore) -> Iterator[Component]:
    release = os_release(rootfs, blobs)
    namespace = release.get("ID", "debian") if release.get("ID") in ("debian", "ubuntu") else "debian"
    distro = f"{namespace}-{release['VERSION_ID']}" if release.get("VERSION_ID") else ""
    seen: set[tuple[str, str]] = set()
    sizes = _Sizes(rootfs)
    info = InfoDir(rootfs)
    for source in status_sources(rootfs):
        status = read_status(rootfs, blobs, source)
        for record in status.records if status is not None else ():
            name, version, arch = shown(record.package), shown(record.version), shown(record.arch)
            if not name or not version or not record.installed or (name, arch) in seen:
                continue
            seen.add((name, arch))
            files, size, size_source = _deb_size(sizes, blobs, info, record)
            purl = deb_purl(namespace, name, version, arch, distro)
            yield Component("deb", name, version, purl, str(source.path), size, files, size_source, arch=arch)


def _deb_size(sizes: _Sizes, blobs: BlobStore, info: InfoDir, record: Record) -> tuple[int, int, str]:
    listed = file_list(sizes.rootfs, blobs, info, record)
    if listed is not None:
        return (*sizes.of(listed.paths), "dpkg-list")
    declared = record.field("Installed-Size")
    if re.fullmatch(r"\d+", declared.strip()):
        return 0, int(declared) * 1024, "installed-size"
    return 0, 0, "unknown"


def inventory(rootfs: Rootfs, blobs: BlobStore) -> tuple[Component, ...]:
    """Every installed package, sorted by ecosystem, name, location."""
    found = list(python_distributions(rootfs, blobs)) + list(debian_packages(rootfs, blobs))
    return tuple(sorted(found, key=lambda c: (c.ecosystem, c.name.lower(), c.location, c.version)))
