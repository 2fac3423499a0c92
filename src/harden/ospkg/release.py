"""Which OS an image is: ``etc/os-release`` (else ``usr/lib/os-release``), read the way os-release(5) says.

Values may be quoted with double or single quotes, with backslash escapes inside double quotes; comment and
blank lines are skipped. An Alpine rootfs without os-release still names itself in ``etc/alpine-release``.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from harden.dpkg.status import decoded
from harden.image.blobs import BlobStore
from harden.image.files import file_bytes
from harden.image.model import Rootfs

OS_RELEASE = (PurePosixPath("etc/os-release"), PurePosixPath("usr/lib/os-release"))
ALPINE_RELEASE = PurePosixPath("etc/alpine-release")


@dataclass(frozen=True, slots=True)
class OsRelease:
    id: str = ""
    """``ID``, lowercase (``debian``, ``alpine``, ``wolfi``, ``fedora``); "" when unknown."""
    version_id: str = ""
    name: str = ""
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)
    source: PurePosixPath | None = None

    @property
    def label(self) -> str:
        """How a report names the OS: ``PRETTY_NAME``, else ``NAME VERSION_ID``, else ``ID``."""
        if self.pretty_name:
            return self.pretty_name
        text = " ".join(part for part in (self.name or self.id, self.version_id) if part)
        return text or "unknown OS"

    def is_like(self, *ids: str) -> bool:
        """Whether ``ID`` or one of ``ID_LIKE`` is among ``ids``."""
        return self.id in ids or any(like in ids for like in self.id_like)


def parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            words = shlex.split(raw, comments=False, posix=True)
        except ValueError:  # an unbalanced quote: take the text as it is
            words = [raw.strip().strip("\"'")]
        values[key.strip()] = " ".join(words)
    return values


def read_os_release(rootfs: Rootfs, blobs: BlobStore) -> OsRelease:
    for path in OS_RELEASE:
        data = file_bytes(rootfs, blobs, path)
        if data is not None:
            values = parse_os_release(decoded(data))
            return OsRelease(
                id=values.get("ID", "").lower(),
                version_id=values.get("VERSION_ID", ""),
                name=values.get("NAME", ""),
                pretty_name=values.get("PRETTY_NAME", ""),
                id_like=tuple(values.get("ID_LIKE", "").lower().split()),
                fields=values,
                source=path,
            )
    alpine = file_bytes(rootfs, blobs, ALPINE_RELEASE)
    if alpine is not None:
        version = decoded(alpine).strip()
        return OsRelease(id="alpine", version_id=version, name="Alpine Linux", source=ALPINE_RELEASE)
    return OsRelease()
