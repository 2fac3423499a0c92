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
from collections.abc import Iterator
from email.parser import HeaderParser
from pathlib import PurePosixPath
from urllib.parse import quote

from harden.image.blobs import BlobStore
from harden.image.model import EntryType, FileEntry, Rootfs
from harden.report.imagefiles import read_text
from harden.report.model import Component

DPKG = PurePosixPath("var/lib/dpkg")
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
    """(files, bytes) of listed root-relative paths, resolving each directory's symlinks (usrmerge) once."""

    def __init__(self, rootfs: Rootfs) -> None:
        self.rootfs = rootfs
        self._dirs: dict[str, PurePosixPath | None] = {}

    def _lookup(self, path: str) -> FileEntry | None:
        entry = self.rootfs.get(path)
        if entry is not None:
            return entry
        parent, _, name = path.rpartition("/")
        if parent not in self._dirs:
            self._dirs[parent] = self.rootfs.resolve(parent) if parent else PurePosixPath(".")
        resolved = self._dirs[parent]
        return None if resolved is None else self.rootfs.get(resolved / name)

    def of(self, paths: list[str]) -> tuple[int, int]:
        files = total = 0
        for path in sorted(set(paths)):
            entry = self._lookup(path)
            if entry is None or entry.is_dir or _links_to_dir(self.rootfs, entry.path, entry.type):
                continue
            files += 1
            if entry.type is EntryType.FILE:
                total += entry.size
        return files, total


def _links_to_dir(rootfs: Rootfs, path: PurePosixPath, kind: EntryType) -> bool:
    """A symlink standing where a package put a directory (usrmerge's /bin → usr/bin)."""
    if kind is not EntryType.SYMLINK:
        return False
    target = rootfs.resolve(path)
    entry = rootfs.get(target) if target is not None else None
    return entry is not None and entry.is_dir


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
        text = read_text(rootfs, blobs, path, limit=16 << 20)
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
        record = read_text(rootfs, blobs, meta_dir / "RECORD")
        if record is not None:
            paths = [posixpath.normpath(str(location / row[0]))
                     for row in csv.reader(io.StringIO(record)) if row and row[0]]
            return (*sizes.of([p for p in paths if not p.startswith("..")]), "record")
    elif kind == "egg-info":
        listed = read_text(rootfs, blobs, meta_dir / "installed-files.txt")
        if listed is not None:
            lines = [line.strip() for line in listed.splitlines() if line.strip()]
            paths = [posixpath.normpath(str(meta_dir / line)) for line in lines]
            return (*sizes.of([p for p in paths if not p.startswith("..")]), "installed-files")
    return 0, 0, "unknown"


def _paragraphs(text: str) -> Iterator[dict[str, str]]:
    """deb822 paragraphs; continuation lines are folded into the field (kept with newlines)."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, ""
        elif line[0] in " \t" and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            fields[key] = value.strip()
    if fields:
        yield fields


def os_release(rootfs: Rootfs, blobs: BlobStore) -> dict[str, str]:
    text = read_text(rootfs, blobs, "etc/os-release") or read_text(rootfs, blobs, "usr/lib/os-release") or ""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def _status_files(rootfs: Rootfs) -> list[PurePosixPath]:
    found = []
    if rootfs.get(DPKG / "status") is not None:
        found.append(DPKG / "status")
    for entry in rootfs.under(DPKG / "status.d"):
        if entry.has_content and not entry.path.name.endswith(".md5sums"):
            found.append(entry.path)
    return sorted(found)


def debian_packages(rootfs: Rootfs, blobs: BlobStore) -> Iterator[Component]:
    release = os_release(rootfs, blobs)
    namespace = release.get("ID", "debian") if release.get("ID") in ("debian", "ubuntu") else "debian"
    distro = f"{namespace}-{release['VERSION_ID']}" if release.get("VERSION_ID") else ""
    seen: set[tuple[str, str]] = set()
    sizes = _Sizes(rootfs)
    for status in _status_files(rootfs):
        text = read_text(rootfs, blobs, status)
        if text is None:
            continue
        for fields in _paragraphs(text):
            name, version = fields.get("Package", ""), fields.get("Version", "")
            state = fields.get("Status", "install ok installed").split()
            if not name or not version or (state and state[-1] != "installed"):
                continue
            arch = fields.get("Architecture", "")
            if (name, arch) in seen:
                continue
            seen.add((name, arch))
            files, size, source = _deb_size(sizes, blobs, name, arch, fields.get("Installed-Size", ""))
            purl = deb_purl(namespace, name, version, arch, distro)
            yield Component("deb", name, version, purl, str(status), size, files, source, arch=arch)


def _deb_size(sizes: _Sizes, blobs: BlobStore, name: str, arch: str, declared: str) -> tuple[int, int, str]:
    rootfs = sizes.rootfs
    for list_name in (f"{name}:{arch}.list", f"{name}.list"):
        listed = read_text(rootfs, blobs, DPKG / "info" / list_name)
        if listed is not None:
            lines = [line.strip() for line in listed.splitlines()]
            paths = [line.lstrip("/") for line in lines if line not in ("", "/.")]
            return (*sizes.of([p for p in paths if p]), "dpkg-list")
    if re.fullmatch(r"\d+", declared.strip()):
        return 0, int(declared) * 1024, "installed-size"
    return 0, 0, "unknown"


def inventory(rootfs: Rootfs, blobs: BlobStore) -> tuple[Component, ...]:
    """Every installed package, sorted by ecosystem, name, location."""
    found = list(python_distributions(rootfs, blobs)) + list(debian_packages(rootfs, blobs))
    return tuple(sorted(found, key=lambda c: (c.ecosystem, c.name.lower(), c.location, c.version)))
