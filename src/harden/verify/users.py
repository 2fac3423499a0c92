"""Who an image runs as, resolved the way a container runtime does it: the config ``User`` ("name", "uid",
"uid:gid", "name:group"; empty means root) against the image's own ``/etc/passwd`` and ``/etc/group``.

The sandbox runner needs numbers and ``HOME``; an engine resolves the same thing itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from harden.errors import InputError
from harden.image.blobs import BlobStore
from harden.image.model import Rootfs
from harden.pyenv import file_bytes


@dataclass(frozen=True, slots=True)
class RunAs:
    uid: int
    gid: int
    home: str
    groups: tuple[int, ...] = ()
    """Supplementary groups: every ``/etc/group`` entry listing the user by name."""
    name: str = ""


@dataclass(frozen=True, slots=True)
class _Account:
    name: str
    uid: int
    gid: int
    home: str


def _lines(rootfs: Rootfs, blobs: BlobStore, path: str) -> list[list[str]]:
    data = file_bytes(rootfs, blobs, PurePosixPath(path))
    if data is None:
        return []
    rows = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def _accounts(rootfs: Rootfs, blobs: BlobStore) -> list[_Account]:
    accounts = []
    for row in _lines(rootfs, blobs, "etc/passwd"):
        if len(row) >= 6 and row[2].isdigit() and row[3].isdigit():
            accounts.append(_Account(row[0], int(row[2]), int(row[3]), row[5]))
    return accounts


def _groups(rootfs: Rootfs, blobs: BlobStore) -> list[tuple[str, int, tuple[str, ...]]]:
    groups = []
    for row in _lines(rootfs, blobs, "etc/group"):
        if len(row) >= 3 and row[2].isdigit():
            members = tuple(m for m in (row[3].split(",") if len(row) > 3 else []) if m)
            groups.append((row[0], int(row[2]), members))
    return groups


def resolve_user(user: str, rootfs: Rootfs, blobs: BlobStore) -> RunAs:
    """The numeric identity and HOME of ``user``; InputError when a name is not in the image's files."""
    spec_user, _, spec_group = (user or "0").partition(":")
    accounts = _accounts(rootfs, blobs)
    if spec_user.isdigit():
        uid = int(spec_user)
        account = next((a for a in accounts if a.uid == uid), None)
    else:
        account = next((a for a in accounts if a.name == spec_user), None)
        if account is None:
            raise InputError(f"user {spec_user!r} is not in the image's /etc/passwd",
                             details=[f"User={user}"])
        uid = account.uid
    gid = account.gid if account is not None else 0
    groups = _groups(rootfs, blobs)
    if spec_group:
        if spec_group.isdigit():
            gid = int(spec_group)
        else:
            match = next((g for g in groups if g[0] == spec_group), None)
            if match is None:
                raise InputError(f"group {spec_group!r} is not in the image's /etc/group",
                                 details=[f"User={user}"])
            gid = match[1]
    name = account.name if account is not None else ""
    extra = tuple(sorted({g[1] for g in groups if name and name in g[2] and g[1] != gid}))
    home = account.home if account is not None and account.home else ("/root" if uid == 0 else "/")
    return RunAs(uid=uid, gid=gid, home=home, groups=extra, name=name)
