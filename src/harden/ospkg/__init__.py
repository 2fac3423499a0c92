"""The OS package database of an image, whichever it is: dpkg (Debian, Ubuntu, distroless), apk (Alpine,
Wolfi, Chainguard), rpm (recognised, never modified) or none, behind one interface (``PackageDb``).

``detect(rootfs, blobs)`` names the database and the OS (``etc/os-release``); ``packages()`` gives name,
version, arch, origin, licence and purl; ``owned(package)`` the paths a package installed; ``without(...)``
the database's files rewritten without some packages (or, for apk, some files), as bytes for the caller to
put into the rootfs. Nothing here writes to a rootfs.

The readers live with their format: ``harden.dpkg`` and ``harden.apk``; this package adapts them.
"""

from __future__ import annotations

from harden.image.blobs import BlobStore
from harden.image.model import Rootfs
from harden.ospkg.apk import ApkDb
from harden.ospkg.dpkg import DpkgDb
from harden.ospkg.model import DbKind, OsPackage, Owned, PackageDb, Rewrite
from harden.ospkg.release import OsRelease, read_os_release
from harden.ospkg.rpm import NoPackageDb, RpmDb

__all__ = [
    "ApkDb",
    "DbKind",
    "DpkgDb",
    "NoPackageDb",
    "OsPackage",
    "OsRelease",
    "Owned",
    "PackageDb",
    "Rewrite",
    "RpmDb",
    "detect",
    "detect_all",
]

_NATIVE = {
    DbKind.APK: ("alpine", "wolfi", "chainguard", "postmarketos", "adelie"),
    DbKind.DPKG: ("debian", "ubuntu"),
    DbKind.RPM: ("fedora", "rhel", "centos", "rocky", "almalinux", "amzn", "ol", "suse", "opensuse", "mariner",
                 "azurelinux"),
}


def detect_all(rootfs: Rootfs, blobs: BlobStore) -> tuple[PackageDb, ...]:
    """Every OS package database in the rootfs, the OS's own first (by ``ID``/``ID_LIKE``), then dpkg, apk,
    rpm."""
    release = read_os_release(rootfs, blobs)
    found: list[PackageDb] = []
    dpkg = DpkgDb.read(rootfs, blobs, release)
    if dpkg is not None:
        found.append(dpkg)
    apk = ApkDb.read(rootfs, blobs, release)
    if apk is not None:
        found.append(apk)
    rpm = RpmDb.read(rootfs, release)
    if rpm is not None:
        found.append(rpm)
    return tuple(sorted(found, key=lambda db: not release.is_like(*_NATIVE.get(db.kind, ()))))


def detect(rootfs: Rootfs, blobs: BlobStore) -> PackageDb:
    """The image's OS package database (see ``detect_all``); a ``NoPackageDb`` when there is none."""
    found = detect_all(rootfs, blobs)
    return found[0] if found else NoPackageDb(read_os_release(rootfs, blobs))
