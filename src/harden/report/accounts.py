"""/etc/passwd, /etc/group and /etc/shadow of an image, and who the configured ``USER`` really is."""

from __future__ import annotations

from dataclasses import dataclass

from harden.image.blobs import BlobStore
from harden.image.model import Rootfs
from harden.report.imagefiles import read_text


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    uid: int | None
    gid: int | None
    home: str = ""
    shell: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    gid: int | None


@dataclass(frozen=True, slots=True)
class Accounts:
    users: tuple[Account, ...]
    groups: tuple[Group, ...]
    shadow: tuple[tuple[str, str], ...]  # (name, password field)
    has_passwd: bool
    has_shadow: bool

    def user(self, name: str) -> Account | None:
        return next((u for u in self.users if u.name == name), None)

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _records(text: str | None) -> list[list[str]]:
    if not text:
        return []
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        rows.append(line.split(":"))
    return rows


def read_accounts(rootfs: Rootfs, blobs: BlobStore) -> Accounts:
    passwd = read_text(rootfs, blobs, "etc/passwd")
    group = read_text(rootfs, blobs, "etc/group")
    shadow = read_text(rootfs, blobs, "etc/shadow")
    users = tuple(
        Account(f[0], _int(f[2]) if len(f) > 2 else None, _int(f[3]) if len(f) > 3 else None,
                f[5] if len(f) > 5 else "", f[6] if len(f) > 6 else "")
        for f in _records(passwd)
    )
    groups = tuple(Group(f[0], _int(f[2]) if len(f) > 2 else None) for f in _records(group))
    shadow_rows = tuple((f[0], f[1] if len(f) > 1 else "") for f in _records(shadow))
    return Accounts(users, groups, shadow_rows, passwd is not None, shadow is not None)


@dataclass(frozen=True, slots=True)
class EffectiveUser:
    """What ``USER`` means at run time. ``uid`` is None when a name cannot be resolved."""

    configured: str
    user: str
    group: str
    uid: int | None
    gid: int | None

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    @property
    def unresolved(self) -> bool:
        return self.uid is None


def effective_user(configured: str, accounts: Accounts) -> EffectiveUser:
    """Docker's rules: empty means root; ``name``, ``uid``, ``name:group``, ``uid:gid``; names via passwd.

    Stricter than dockle, which only treats "" and "root" as root: ``0``, ``0:0``, ``root:root`` and any name
    whose passwd uid is 0 are root too.
    """
    user, _, group = configured.partition(":")
    if not user:
        return EffectiveUser(configured, "root", group, 0, _group_id(group, accounts, default=0))
    uid = _int(user)
    account = None if uid is not None else accounts.user(user)
    if uid is None:
        if account is not None:
            uid = account.uid
        elif user == "root":
            uid = 0  # no passwd at all: the kernel still runs "root" as nothing else can; engines refuse it
    default_gid = account.gid if account is not None else (0 if uid == 0 else None)
    return EffectiveUser(configured, user, group, uid, _group_id(group, accounts, default=default_gid))


def _group_id(group: str, accounts: Accounts, default: int | None) -> int | None:
    if not group:
        return default
    gid = _int(group)
    if gid is not None:
        return gid
    found = accounts.group(group)
    return found.gid if found is not None else None
