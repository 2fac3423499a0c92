"""An image's accounts: ``/etc/passwd``, ``/etc/group`` and ``/etc/shadow`` read once, and what the config's
``USER`` means at run time, the way a container runtime resolves it. The one reader of these files: the
add-user stage, the verifier's sandbox and the report's findings all use it.

Rules (Docker's and runc's): an empty ``USER`` is root; ``name``, ``uid``, ``name:group``, ``uid:gid``; a name is
looked up in passwd (a group name in group); a numeric uid needs no passwd entry, and without one its gid is 0;
the home is the passwd entry's, else ``/root`` for uid 0 and ``/`` for anyone else; supplementary groups are the
groups that list the user's name. Lines are split on ``:``; blank lines and lines whose first non-blank
character is ``#`` are comments; a field that should be a number and is not reads as None.
"""

from __future__ import annotations

from dataclasses import dataclass

from harden.image.blobs import BlobStore
from harden.image.files import file_text
from harden.image.model import Rootfs

PASSWD = "etc/passwd"
GROUP = "etc/group"
SHADOW = "etc/shadow"


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    uid: int | None
    gid: int | None
    home: str = ""
    shell: str = ""
    line: str = ""
    """The line as read."""


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    gid: int | None
    members: tuple[str, ...] = ()
    line: str = ""


@dataclass(frozen=True, slots=True)
class Accounts:
    users: tuple[Account, ...] = ()
    groups: tuple[Group, ...] = ()
    shadow: tuple[tuple[str, str], ...] = ()
    """(name, password field) of /etc/shadow."""
    has_passwd: bool = False
    has_shadow: bool = False

    def user(self, name: str) -> Account | None:
        return next((u for u in self.users if u.name == name), None)

    def user_by_uid(self, uid: int) -> Account | None:
        return next((u for u in self.users if u.uid == uid), None)

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def records(text: str | None) -> list[list[str]]:
    """The ``:``-split fields of each record line (comments and blank lines left out)."""
    if not text:
        return []
    return [line.split(":") for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def parse_accounts(passwd: str | None, group: str | None, shadow: str | None = None) -> Accounts:
    users = tuple(
        Account(f[0], _number(f[2]) if len(f) > 2 else None, _number(f[3]) if len(f) > 3 else None,
                f[5] if len(f) > 5 else "", f[6] if len(f) > 6 else "", ":".join(f))
        for f in records(passwd)
    )
    groups = tuple(
        Group(f[0], _number(f[2]) if len(f) > 2 else None,
              tuple(m for m in (f[3].split(",") if len(f) > 3 else ()) if m), ":".join(f))
        for f in records(group)
    )
    shadow_rows = tuple((f[0], f[1] if len(f) > 1 else "") for f in records(shadow))
    return Accounts(users, groups, shadow_rows, passwd is not None, shadow is not None)


def read_accounts(rootfs: Rootfs, blobs: BlobStore) -> Accounts:
    return parse_accounts(file_text(rootfs, blobs, PASSWD), file_text(rootfs, blobs, GROUP),
                          file_text(rootfs, blobs, SHADOW))


@dataclass(frozen=True, slots=True)
class User:
    """What ``USER`` means at run time. ``uid``/``gid`` are None when a name cannot be resolved (a runtime
    refuses to start such a container)."""

    configured: str
    user: str
    """The user part as written ("" for an empty USER)."""
    group: str
    uid: int | None
    gid: int | None
    name: str = ""
    """The passwd name of the uid, "" when it has none."""
    home: str = "/"
    groups: tuple[int, ...] = ()
    """Supplementary group ids: the groups listing the user's name (its primary group left out)."""

    @property
    def resolved(self) -> bool:
        return self.uid is not None and self.gid is not None

    @property
    def is_root(self) -> bool:
        """Root, numerically: ``0``, ``0:0``, ``root:root`` and any name whose uid is 0. A ``root`` that no
        passwd resolves still names root (stricter than dockle, which only checks "" and "root")."""
        return self.uid == 0 or (self.uid is None and self.user == "root")

    def problem(self) -> str:
        """Why the runtime cannot resolve it ("" when it can)."""
        if self.uid is None:
            return f"user {self.user!r} is not in the image's /etc/passwd"
        if self.gid is None:
            return f"group {self.group!r} is not in the image's /etc/group"
        return ""


def resolve_user(configured: str, accounts: Accounts) -> User:
    user, _, group = configured.partition(":")
    account: Account | None
    if not user:
        uid: int | None = 0
        account = accounts.user_by_uid(0)
    elif user.isdigit():
        uid = int(user)
        account = accounts.user_by_uid(uid)
    else:
        account = accounts.user(user)
        uid = account.uid if account is not None else None
    gid = account.gid if account is not None else (0 if uid is not None else None)
    if group:
        found = accounts.group(group) if not group.isdigit() else None
        gid = int(group) if group.isdigit() else (found.gid if found is not None else None)
    name = account.name if account is not None else ""
    home = account.home if account is not None and account.home else ("/root" if uid == 0 else "/")
    extra = tuple(sorted({g.gid for g in accounts.groups if name and name in g.members and g.gid is not None
                          and g.gid != gid}))
    return User(configured, user, group, uid, gid, name, home, extra)
