"""Who the sandbox runs an image as: the config ``User`` resolved by ``harden.accounts`` (a container runtime's
rules), as the numbers and ``HOME`` the sandbox needs; an engine resolves the same thing itself."""

from __future__ import annotations

from dataclasses import dataclass

from harden import accounts
from harden.errors import InputError
from harden.image.blobs import BlobStore
from harden.image.model import Rootfs


@dataclass(frozen=True, slots=True)
class RunAs:
    uid: int
    gid: int
    home: str
    groups: tuple[int, ...] = ()
    """Supplementary groups: every ``/etc/group`` entry listing the user by name."""
    name: str = ""


def resolve_user(user: str, rootfs: Rootfs, blobs: BlobStore) -> RunAs:
    """The numeric identity and HOME of ``user`` (``harden.accounts``' rules); InputError when a name is not in
    the image's files, as a runtime refuses it."""
    found = accounts.resolve_user(user, accounts.read_accounts(rootfs, blobs))
    if found.uid is None or found.gid is None:
        raise InputError(found.problem(), details=[f"User={user}"])
    return RunAs(uid=found.uid, gid=found.gid, home=found.home, groups=found.groups, name=found.name)
