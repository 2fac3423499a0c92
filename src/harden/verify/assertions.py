"""Hardening assertions on the hardened image, from facts the probe gathered inside it (and, for what the
original had, inside the original) plus the exact file metadata of the model.

HV-NO-SHELL          ``subprocess.run(..., shell=True)`` fails
HV-NO-SHELL-BINARY   no shell binary on disk (model scan and in-image check)
HV-NON-ROOT          the process runs with a non-zero uid (numerically: ``USER 0`` is root too)
HV-NO-SETID          no setuid/setgid file
HV-HOME-WRITABLE     ``HOME`` is writable by the user
HV-CA-BUNDLE         every CA bundle the original had is still there
HV-TZDATA            time zone data the original had is still there
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from harden.busybox import read_busybox
from harden.image.blobs import BlobStore
from harden.image.model import EntryType, Rootfs
from harden.shipped_names import MULTI_CALL_BINARIES, shell_names
from harden.verify.result import Assertion

_SHOWN = 5


def _listing(paths: list[str]) -> str:
    more = f" (+{len(paths) - _SHOWN} more)" if len(paths) > _SHOWN else ""
    return ", ".join(paths[:_SHOWN]) + more


def shells_in_model(rootfs: Rootfs, blobs: BlobStore | None = None) -> list[str]:
    """Shell binaries (files, links) in any ``bin``/``sbin`` directory: the shipped shell names
    (``harden.shipped_names``) and the multi-call binaries. busybox is one when it has a shell applet
    (``busybox sh`` runs a shell even once its sh/ash links are gone); with ``blobs`` its applet table is read,
    and a busybox built without a shell is not counted."""
    names = shell_names() | MULTI_CALL_BINARIES
    found = []
    for entry in rootfs:
        if entry.type is EntryType.DIR or entry.path.name not in names:
            continue
        if entry.path.parent.name not in ("bin", "sbin"):
            continue
        if blobs is not None and entry.path.name == "busybox" and not _busybox_shells(rootfs, blobs, entry.path):
            continue
        found.append("/" + str(entry.path))
    return sorted(found)


def _busybox_shells(rootfs: Rootfs, blobs: BlobStore, path: PurePosixPath) -> tuple[str, ...] | None:
    """The shell applets of the busybox at ``path``; None when it is not a busybox that harden can read
    (then its name decides)."""
    binary = read_busybox(rootfs, blobs, path)
    if binary is None:
        return None
    return tuple(name for name in binary.applets if name in shell_names())


def setid_files(rootfs: Rootfs) -> list[str]:
    return sorted("/" + str(entry.path) for entry in rootfs if entry.setid)


def hardening_assertions(hardened: Rootfs, after: Mapping[str, Any] | None, before: Mapping[str, Any] | None,
                         *, why_no_facts: str = "", blobs: BlobStore | None = None) -> tuple[Assertion, ...]:
    """``after``/``before``: the probe's ``assert`` facts from each image (None when it could not run there;
    ``why_no_facts`` says why). Checks that need the hardened image's facts fail without them. ``blobs``: the
    hardened image's contents, to read a busybox's applets."""
    missing = f"the probe could not run in the hardened image: {why_no_facts or 'no facts'}"
    results = [_no_setid(hardened), _no_shell_binary(hardened, after, blobs)]
    if after is None:
        for code, title in (("HV-NO-SHELL", "shell=True fails"), ("HV-NON-ROOT", "runs as a non-root uid"),
                            ("HV-HOME-WRITABLE", "HOME is writable"), ("HV-CA-BUNDLE", "CA bundle kept"),
                            ("HV-TZDATA", "time zone data kept")):
            results.append(Assertion(code, title, False, missing))
        return tuple(sorted(results, key=lambda a: a.code))
    results += [_no_shell(after), _non_root(after), _home_writable(after), _ca_bundle(after, before),
                _tzdata(after, before)]
    return tuple(sorted(results, key=lambda a: a.code))


def _no_setid(rootfs: Rootfs) -> Assertion:
    found = setid_files(rootfs)
    return Assertion("HV-NO-SETID", "no setuid/setgid files", not found,
                     f"setuid/setgid files: {_listing(found)}" if found else "none")


def _no_shell_binary(rootfs: Rootfs, after: Mapping[str, Any] | None, blobs: BlobStore | None) -> Assertion:
    found = set(shells_in_model(rootfs, blobs))
    if after is not None:
        found.update(after.get("shells_on_disk", ()))
    paths = sorted(found)
    detail = f"shell binaries: {_listing(paths)}" if paths else "none"
    for path in paths:
        inside = _busybox_shells(rootfs, blobs, PurePosixPath(path.lstrip("/"))) if blobs is not None else None
        if inside:
            detail += (f"; {path} is busybox with the shell applets {', '.join(inside)}: `{PurePosixPath(path).name} "
                       f"{inside[0]}` runs a shell without any sh link (it stays while the runtime needs it: see "
                       "remove-unreachable's notes)")
    return Assertion("HV-NO-SHELL-BINARY", "no shell binary on disk", not paths, detail)


def _no_shell(after: Mapping[str, Any]) -> Assertion:
    ran = bool(after.get("shell_true_ran"))
    detail = "subprocess.run('exit 0', shell=True) succeeded" if ran else (
        f"subprocess.run(..., shell=True) fails: {after.get('shell_true_error', '')}")
    return Assertion("HV-NO-SHELL", "shell=True fails", not ran, detail)


def _non_root(after: Mapping[str, Any]) -> Assertion:
    uid, euid, gid = after.get("uid"), after.get("euid"), after.get("gid")
    passed = uid not in (0, None) and euid not in (0, None)
    return Assertion("HV-NON-ROOT", "runs as a non-root uid", passed,
                     f"runs as uid {uid} (euid {euid}), gid {gid}")


def _home_writable(after: Mapping[str, Any]) -> Assertion:
    home = after.get("home", "")
    if after.get("home_writable"):
        return Assertion("HV-HOME-WRITABLE", "HOME is writable", True, f"{home} is writable")
    return Assertion("HV-HOME-WRITABLE", "HOME is writable", False,
                     f"HOME {home or '(unset)'} is not writable: {after.get('home_error', '')}")


def _ca_bundle(after: Mapping[str, Any], before: Mapping[str, Any] | None) -> Assertion:
    had = set(before.get("ca_files", ())) if before is not None else set()
    has = set(after.get("ca_files", ()))
    lost = sorted(had - has)
    if lost:
        return Assertion("HV-CA-BUNDLE", "CA bundle kept", False, f"CA bundles gone: {_listing(lost)}")
    if not had:
        return Assertion("HV-CA-BUNDLE", "CA bundle kept", True, "the original had no CA bundle")
    return Assertion("HV-CA-BUNDLE", "CA bundle kept", True, f"present: {_listing(sorted(has))}")


def _tzdata(after: Mapping[str, Any], before: Mapping[str, Any] | None) -> Assertion:
    problems = []
    if before is not None and before.get("zoneinfo_dir") and not after.get("zoneinfo_dir"):
        problems.append("/usr/share/zoneinfo (or $TZDIR) lost its data")
    if before is not None and before.get("zoneinfo_lookup") == "ok" and after.get("zoneinfo_lookup") != "ok":
        problems.append(f"zoneinfo.ZoneInfo('America/New_York') now fails ({after.get('zoneinfo_lookup')})")
    if problems:
        return Assertion("HV-TZDATA", "time zone data kept", False, "; ".join(problems))
    had = before is not None and (before.get("zoneinfo_dir") or before.get("zoneinfo_lookup") == "ok")
    return Assertion("HV-TZDATA", "time zone data kept", True,
                     "time zones resolve as before" if had else "the original had no time zone data")
