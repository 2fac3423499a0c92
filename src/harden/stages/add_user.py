"""add-user: the user it adds, the config it sets and the permissions it fixes are described in
``stages/add-user.toml``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import ClassVar

from harden.accounts import Accounts, read_accounts, records, resolve_user
from harden.errors import PolicyError, UnsupportedImage
from harden.image.files import file_bytes, file_text
from harden.image.model import EntryType, FileEntry, Rootfs
from harden.plan import Add, Change, Plan, Replace, SetConfig, Skip
from harden.stages._config_env import env_with
from harden.stages.base import StageContext, StageSettings

_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_MAX_ID = 2**31 - 2
TMP = PurePosixPath("tmp")


def _appended(data: bytes, line: str) -> bytes:
    if data and not data.endswith(b"\n"):
        data += b"\n"
    return data + line.encode() + b"\n"


@dataclass(frozen=True, slots=True)
class AddUserSettings(StageSettings):
    name: str
    uid: int
    gid: int
    home: str
    shell: str
    keep_existing_user: bool
    set_home_env: bool
    clear_setid: bool
    fix_world_writable: bool


class AddUser:
    name: ClassVar[str] = "add-user"
    settings_type: ClassVar[type[StageSettings]] = AddUserSettings

    def plan(self, ctx: StageContext[AddUserSettings]) -> Plan:
        settings = ctx.settings
        changes: list[Change] = []
        skipped: list[Skip] = []
        notes: list[str] = []
        accounts = read_accounts(ctx.rootfs, ctx.blobs)
        existing = resolve_user(ctx.config.user, accounts) if ctx.config.user else None
        if (existing is not None and existing.resolved and existing.name and not existing.is_root
                and settings.keep_existing_user):
            numeric = f"{existing.uid}:{existing.gid}"
            notes.append(f"kept the image's non-root user {existing.name} ({numeric})")
            if ctx.config.user != numeric:
                changes.append(SetConfig("User", numeric, f"User {ctx.config.user!r} written numerically", "user"))
            home = existing.home
        else:
            home = self._add_user(ctx, accounts, changes)
        if settings.set_home_env and home and ctx.config.env_value("HOME") != home:
            changes.append(
                SetConfig("Env", env_with(ctx.config, "HOME", home), f"HOME={home}: the user's home", "user")
            )
        changes = self._with_permissions(ctx.rootfs, settings, changes, skipped)
        return Plan(self.name, tuple(changes), tuple(skipped), tuple(notes))

    # --- the user ---------------------------------------------------------------------------------------

    def _add_user(self, ctx: StageContext[AddUserSettings], accounts: Accounts, changes: list[Change]) -> str:
        settings = ctx.settings
        name = settings.name
        uid, gid = settings.uid, settings.gid
        if not _NAME.match(name):
            raise PolicyError("invalid add-user.name", details=[f"add-user.settings.name = {name!r}"])
        for key, value in (("uid", uid), ("gid", gid)):
            if not 0 < value <= _MAX_ID:
                raise PolicyError(
                    f"add-user.{key} must be a non-root id (1..{_MAX_ID})",
                    details=[f"add-user.settings.{key} = {value}"],
                )
        home_rel = PurePosixPath(settings.home.lstrip("/"))
        if ".." in home_rel.parts or home_rel == PurePosixPath("."):
            raise PolicyError("invalid add-user.home", details=[f"add-user.settings.home = {home_rel}"])
        home = f"/{home_rel}"
        shell = settings.shell

        self._check_conflicts(name, uid, gid, accounts)
        have_user = accounts.user(name) is not None
        have_group = accounts.group(name) is not None
        files = {
            "etc/passwd": (
                None if have_user else f"{name}:x:{uid}:{gid}:{name}:{home}:{shell}",
                "root:x:0:0:root:/root:/usr/sbin/nologin",
            ),
            "etc/group": (None if have_group else f"{name}:x:{gid}:", "root:x:0:"),
        }
        for path, (line, first_line) in files.items():
            if line is not None:
                changes.append(self._append_line(ctx, PurePosixPath(path), line, first_line))
        for path, line in (("etc/shadow", f"{name}:!::0:99999:7:::"), ("etc/gshadow", f"{name}:!::")):
            text = file_text(ctx.rootfs, ctx.blobs, path)
            if text is not None and not any(fields[0] == name for fields in records(text)):
                changes.append(self._append_line(ctx, PurePosixPath(path), line, None))
        changes.extend(self._home(ctx.rootfs, home_rel, uid, gid))
        changes.append(SetConfig("User", f"{uid}:{gid}", f"run as {name}, numerically for runAsNonRoot", "user"))
        return home

    @staticmethod
    def _check_conflicts(name: str, uid: int, gid: int, accounts: Accounts) -> None:
        for account in accounts.users:
            if account.uid is None or account.gid is None:
                continue
            same_name, same_uid = account.name == name, account.uid == uid
            if same_name != same_uid or (same_name and account.gid != gid):
                raise UnsupportedImage(
                    f"etc/passwd already has a conflicting account for {name} ({uid}:{gid}); "
                    "set add-user name/uid/gid in the policy to match it or to unused values",
                    details=[f"etc/passwd: {account.line}"],
                )
        for group in accounts.groups:
            if group.gid is None:
                continue
            if (group.name == name) != (group.gid == gid):
                raise UnsupportedImage(
                    f"etc/group already has a conflicting group for {name} ({gid}); "
                    "set add-user name/gid in the policy to match it or to unused values",
                    details=[f"etc/group: {group.line}"],
                )

    @staticmethod
    def _append_line(ctx: StageContext[AddUserSettings], path: PurePosixPath, line: str,
                     first_line: str | None) -> Change:
        real = ctx.rootfs.resolve(path) or path
        entry = ctx.rootfs.get(real)
        if entry is None:
            content = _appended(_appended(b"", first_line), line) if first_line else _appended(b"", line)
            digest, size = ctx.blobs.put_bytes(content)
            new = FileEntry(real, EntryType.FILE, mode=0o644, size=size, digest=digest)
            return Add(new, f"created /{path} with root and the new account", "user")
        data = file_bytes(ctx.rootfs, ctx.blobs, real) or b""
        digest, size = ctx.blobs.put_bytes(_appended(data, line))
        new = entry.evolve(type=EntryType.FILE, digest=digest, size=size, linkname=None)
        return Replace(new, f"appended {line.split(':')[0]} to /{path}; existing lines kept", "user")

    @staticmethod
    def _home(rootfs: Rootfs, home: PurePosixPath, uid: int, gid: int) -> list[Change]:
        changes: list[Change] = []
        for parent in reversed(home.parents):
            if parent == PurePosixPath(".") or parent in rootfs:
                continue
            entry = FileEntry(parent, EntryType.DIR, mode=0o755)
            changes.append(Add(entry, f"parent of the home directory /{home}", "user"))
        current = rootfs.get(home)
        if current is None:
            entry = FileEntry(home, EntryType.DIR, mode=0o750, uid=uid, gid=gid)
            changes.append(Add(entry, f"home directory of the new user, {uid}:{gid} 0750", "user"))
        elif not current.is_dir:
            raise UnsupportedImage(f"/{home} exists and is not a directory", details=[f"/{home}"])
        elif (current.uid, current.gid, current.mode & 0o7777) != (uid, gid, 0o750):
            entry = current.evolve(uid=uid, gid=gid, mode=0o750)
            changes.append(Replace(entry, f"home directory owned by {uid}:{gid}, mode 0750", "user"))
        return changes

    # --- permissions -----------------------------------------------------------------------------------

    @staticmethod
    def _with_permissions(
        rootfs: Rootfs, settings: AddUserSettings, planned: list[Change], skipped: list[Skip]
    ) -> list[Change]:
        """``planned`` plus permission fixes; a path already planned gets the fix folded into its change."""
        clear_setid = settings.clear_setid
        fix_writable = settings.fix_world_writable
        changes = list(planned)
        pending = {c.entry.path: i for i, c in enumerate(changes) if isinstance(c, Replace | Add)}
        entries = {e.path: e for e in rootfs}
        for index in pending.values():
            change = changes[index]
            assert isinstance(change, Replace | Add)
            entries[change.entry.path] = change.entry
        for path in sorted(entries):
            entry = entries[path]
            if entry.path == TMP:
                continue
            mode = entry.mode
            why: list[str] = []
            if clear_setid and entry.has_content and mode & 0o6000:
                bits = " and ".join(b for b, m in (("setuid", 0o4000), ("setgid", 0o2000)) if mode & m)
                why.append(f"cleared {bits}")
                mode &= ~0o6000
            writable = entry.has_content or entry.is_dir
            if fix_writable and writable and mode & 0o002:
                if entry.is_dir and mode & 0o1000:
                    skipped.append(Skip(entry.path, "kept world-writable: sticky directory (like /tmp)"))
                else:
                    why.append("removed world write")
                    mode &= ~0o002
            if not why:
                continue
            reason = f"{', '.join(why)} (mode {entry.mode & 0o7777:04o} → {mode & 0o7777:04o})"
            if path in pending:
                old = changes[pending[path]]
                assert isinstance(old, Replace | Add)
                changes[pending[path]] = type(old)(old.entry.evolve(mode=mode), f"{old.reason}; {reason}", old.category)
            else:
                changes.append(Replace(entry.evolve(mode=mode), reason, "permissions"))
        tmp = entries.get(TMP)
        if tmp is None:
            new = FileEntry(TMP, EntryType.DIR, mode=0o1777)
            changes.append(Add(new, "/tmp for the non-root user: mode 1777", "permissions"))
        elif tmp.is_dir and tmp.mode & 0o7777 != 0o1777:
            reason = f"/tmp writable by the non-root user (mode {tmp.mode & 0o7777:04o} → 1777)"
            changes.append(Replace(tmp.evolve(mode=0o1777), reason, "permissions"))
        elif not tmp.is_dir:
            skipped.append(Skip(TMP, f"kept /tmp as it is: a {tmp.type.value}, not a directory"))
        return changes
