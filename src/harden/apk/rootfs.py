"""Where apk's database lies in a rootfs, and reading it from there.

``lib/apk/db`` is apk-tools' database layer (``apk_db_layer_name``); Wolfi and Chainguard images keep it at
``usr/lib/apk/db`` on a merged ``/usr``, where ``lib`` usually is a symlink to ``usr/lib``: both are looked
at, and one that resolves to the other counts once. What the directory holds:

* ``installed``: the packages and the files they own (``harden.apk.installed``). What scanners (Syft, Grype,
  Trivy) and harden's SBOM read; pruning rewrites it.
* ``triggers``: one line per package that has a trigger, ``<C: identity> <watched folders>``. apk ignores a
  line whose package is not installed; pruning drops the lines of pruned packages all the same.
* ``scripts.tar``: the packages' install scripts, one tar member each, named
  ``<name>-<version>.<identity>.<action>`` (``apk_db_scriptdb_write``). apk attaches a member to the installed
  package with that identity and ignores the others (``apk_read_script_archive_entry``), and no scanner reads
  it, so pruning leaves it as it is: rewriting a tar buys nothing but risk.
* ``lock``: empty. ``etc/apk/world`` is what the user asked for (intent, not state): left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from harden.apk.installed import InstalledDb, parse_installed
from harden.image.blobs import BlobStore
from harden.image.files import file_bytes
from harden.image.model import Rootfs

DB_DIRS = (PurePosixPath("lib/apk/db"), PurePosixPath("usr/lib/apk/db"))
INSTALLED = "installed"
TRIGGERS = "triggers"
SCRIPTS = "scripts.tar"


@dataclass(frozen=True, slots=True)
class ApkDbFiles:
    """The database files of one apk database directory, as root-relative paths with symlinks resolved."""

    directory: PurePosixPath
    """The directory as named (``lib/apk/db``)."""
    installed: PurePosixPath
    triggers: PurePosixPath | None
    scripts: PurePosixPath | None


def find_db(rootfs: Rootfs) -> ApkDbFiles | None:
    """The first of ``lib/apk/db`` and ``usr/lib/apk/db`` that holds an ``installed`` file."""
    for directory in DB_DIRS:
        installed = rootfs.resolve(directory / INSTALLED)
        entry = rootfs.get(installed) if installed is not None else None
        if installed is None or entry is None or not entry.has_content:
            continue
        found = {}
        for name in (TRIGGERS, SCRIPTS):
            real = rootfs.resolve(directory / name)
            other = rootfs.get(real) if real is not None else None
            found[name] = real if other is not None and other.has_content else None
        return ApkDbFiles(directory, installed, found[TRIGGERS], found[SCRIPTS])
    return None


def read_installed(rootfs: Rootfs, blobs: BlobStore, files: ApkDbFiles) -> InstalledDb | None:
    data = file_bytes(rootfs, blobs, files.installed)
    return None if data is None else parse_installed(data)
