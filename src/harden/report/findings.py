"""Security findings for one image state, and what ``--fail-on`` makes of them.

Every check is a small function ``(Facts) -> Iterator[Finding]``; ``find_issues`` runs them all and returns
the findings sorted by severity, code and location, so the output is deterministic.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from harden.accounts import Accounts, read_accounts, resolve_user
from harden.elf.hardening import ElfHardening
from harden.errors import FindingsError, UsageError
from harden.image.blobs import BlobStore
from harden.image.files import image_path
from harden.image.model import EntryType, FileEntry, ImageConfig, Rootfs
from harden.image.transports import moving_tag
from harden.report.categories import is_installer, is_shell
from harden.report.model import Component, Finding, Severity, VerificationLike
from harden.report.rules import RULES

FAIL_ON_CHOICES = ("error", "warning", "never")

# dockle's CIS-DI-0010 lists (pkg/assessor/manifest and pkg/assessor/credential), plus a few stricter entries.
SUSPICIOUS_ENV_PARTS = ("PASSWD", "PASSWORD", "SECRET", "KEY", "ACCESS", "TOKEN", "CREDENTIAL")
ACCEPTED_ENV_KEYS = frozenset({"GPG_KEY", "GPG_KEYS"})
CREDENTIAL_NAMES = frozenset({
    "credentials.json", "credential.json", "credentials", "credential", "password.txt", "id_rsa", "id_dsa",
    "id_ecdsa", "id_ed25519", "secret_token.rb", "carrierwave.rb", "omniauth.rb", "settings.py",
    "database.yml", "credentials.xml", ".netrc", ".pgpass", ".git-credentials", ".pypirc",
})
# framework settings files dockle flags everywhere; inside installed libraries they are code, not secrets
_LIBRARY_ONLY_NAMES = frozenset({"settings.py", "database.yml", "carrierwave.rb", "omniauth.rb"})
CREDENTIAL_PATHS = ((".aws", "credentials"), (".docker", "config.json"), (".kube", "config"))
CREDENTIAL_EXTENSIONS = frozenset({
    ".secret", ".ovpn", ".private_key", ".cscfg", ".rdp", ".mdf", ".sdf", ".bek", ".tpm", ".fve", ".jks",
    ".psafe3", ".agilekeychain", ".keychain", ".pcap", ".gnucache",
})
KEY_EXTENSIONS = frozenset({".pem", ".key", ".p8"})
PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
MAX_KEY_FILE = 256 * 1024

# dockle's DKL-LI-0003 (pkg/assessor/cache)
UNNECESSARY_FILES = frozenset({"Dockerfile", "docker-compose.yml", ".vimrc"})
UNNECESSARY_DIRS = frozenset({".cache", "tmp", ".git", ".vscode", ".idea", ".npm"})
UNCONTROLLED_DIRS = frozenset({"node_modules", "vendor"})

APT_CACHE_DIRS = (PurePosixPath("var/lib/apt/lists"), PurePosixPath("var/cache/apt"))


@dataclass(frozen=True, slots=True)
class Facts:
    """What the checks look at."""

    rootfs: Rootfs
    config: ImageConfig
    blobs: BlobStore
    accounts: Accounts
    elf: tuple[ElfHardening, ...] = ()
    reference: str | None = None


def _finding(code: str, message: str, location: str) -> Finding:
    return Finding(code, RULES[code].severity, message, location)


def check_user(facts: Facts) -> Iterator[Finding]:
    configured = facts.config.user
    who = resolve_user(configured, facts.accounts)
    shown = f"USER {configured!r}" if configured else "no USER (defaults to root)"
    if who.is_root:
        yield _finding("CIS-DI-0001", f"{shown} runs as root (uid 0)", "config:User")
    elif who.uid is None:
        where = "/etc/passwd" if facts.accounts.has_passwd else "the image (it has no /etc/passwd)"
        message = f"{shown}: user {who.user!r} is not in {where}; the container cannot start"
        yield _finding("HDN-0001", message, "config:User")
    elif who.gid is None:
        message = f"{shown}: group {who.group!r} is not in /etc/group; the container cannot start"
        yield _finding("HDN-0001", message, "config:User")


def check_healthcheck(facts: Facts) -> Iterator[Finding]:
    health = facts.config.healthcheck
    test = list(health.get("Test") or []) if health else []
    if not test or test[0] == "NONE":
        yield _finding("CIS-DI-0006", "no HEALTHCHECK in the image config", "config:Healthcheck")


def check_env_secrets(facts: Facts) -> Iterator[Finding]:
    for item in facts.config.env:
        key = item.partition("=")[0]
        if key in ACCEPTED_ENV_KEYS:
            continue
        upper = key.upper()
        if any(part in upper for part in SUSPICIOUS_ENV_PARTS):
            message = f"suspicious ENV key {key} (its value is not shown)"
            yield _finding("CIS-DI-0010", message, f"config:Env/{key}")


def _in_library(path: PurePosixPath) -> bool:
    return any(part in ("site-packages", "dist-packages") for part in path.parts)


def _credential_file(path: PurePosixPath) -> str | None:
    name = path.name
    parts = path.parts
    for tail in CREDENTIAL_PATHS:
        if parts[-len(tail):] == tail:
            return f"credential file {'/'.join(tail)}"
    if name in CREDENTIAL_NAMES and not (name in _LIBRARY_ONLY_NAMES and _in_library(path)):
        return f"suspicious file name {name}"
    if path.suffix in CREDENTIAL_EXTENSIONS:
        return f"suspicious file extension {path.suffix}"
    return None


def _has_private_key(entry: FileEntry, blobs: BlobStore) -> bool:
    if entry.digest is None or entry.size > MAX_KEY_FILE or entry.digest not in blobs:
        return False
    return PRIVATE_KEY.search(blobs.read(entry.digest)) is not None


def check_files(facts: Facts) -> Iterator[Finding]:
    """One pass: setuid/setgid, credential files, keys, world-writable files, shells, installers."""
    shells: list[str] = []
    installers: list[str] = []
    for entry in facts.rootfs:
        path = entry.path
        shown = image_path(path)
        if entry.setid:
            bits = " and ".join(b for b, m in (("setuid", 0o4000), ("setgid", 0o2000)) if entry.mode & m)
            yield _finding("CIS-DI-0008", f"{bits} file, mode {entry.mode & 0o7777:04o}, owner "
                           f"{entry.uid}:{entry.gid}", shown)
        if not entry.is_dir and is_shell(path):
            shells.append(shown)
        elif not entry.is_dir and is_installer(path) and path.parent.name in ("bin", "sbin"):
            installers.append(shown)
        if entry.type is EntryType.SYMLINK:
            continue
        if entry.mode & 0o002 and not (entry.is_dir and entry.mode & 0o1000):
            kind = "directory without the sticky bit" if entry.is_dir else "file"
            yield _finding("HDN-0002", f"world-writable {kind}, mode {entry.mode & 0o7777:04o}", shown)
        if entry.is_dir:
            continue
        reason = _credential_file(path)
        if reason is not None:
            yield _finding("CIS-DI-0010", reason, shown)
        elif path.suffix in KEY_EXTENSIONS and entry.has_content and _has_private_key(entry, facts.blobs):
            yield _finding("HDN-0005", "file contains a PRIVATE KEY block", shown)
    for shown in shells:
        yield _finding("HDN-0003", "shell binary", shown)
    for shown in installers:
        yield _finding("HDN-0004", "package installer command", shown)


def check_apt_caches(facts: Facts) -> Iterator[Finding]:
    for root in APT_CACHE_DIRS:
        cached = [e for e in facts.rootfs.under(root)
                  if e.type is EntryType.FILE and e.path.name != "lock" and e.size > 0]
        if cached:
            total = sum(e.size for e in cached)
            yield _finding("DKL-DI-0005", f"{len(cached)} cached apt files, {total} bytes", image_path(root))


def check_unnecessary(facts: Facts) -> Iterator[Finding]:
    reported: set[PurePosixPath] = set()
    for entry in facts.rootfs:
        if entry.is_dir:
            continue
        path = entry.path
        if any(part in UNCONTROLLED_DIRS for part in path.parts):
            continue
        if path.name in UNNECESSARY_FILES:
            yield _finding("DKL-LI-0003", f"unnecessary file {path.name}", image_path(path))
        parent = path.parent
        if parent.name in UNNECESSARY_DIRS and parent not in reported:
            reported.add(parent)
            message = f"suspicious directory {parent.name}/ is not empty"
            yield _finding("DKL-LI-0003", message, image_path(parent))


def check_accounts(facts: Facts) -> Iterator[Finding]:
    accounts = facts.accounts
    for name, password in accounts.shadow:
        if password == "":
            yield _finding("DKL-LI-0001", f"user {name!r} has an empty password", f"/etc/shadow:{name}")
    for label, ids, where in (
        ("UID", [(u.name, u.uid) for u in accounts.users], "/etc/passwd"),
        ("GID", [(g.name, g.gid) for g in accounts.groups], "/etc/group"),
    ):
        counts = Counter(i for _, i in ids if i is not None)
        for value, count in sorted(counts.items()):
            if count > 1:
                names = ", ".join(n for n, i in ids if i == value)
                yield _finding("DKL-LI-0002", f"duplicate {label} {value}: {names}", f"{where}:{value}")


def check_elf(facts: Facts) -> Iterator[Finding]:
    for row in facts.elf:
        if not row.is_linked_program:
            continue
        shown = image_path(row.path)
        if row.execstack:
            yield _finding("HDN-0006", f"{row.elf_type} has an executable stack (no NX)", shown)
        if row.relro == "none":
            yield _finding("HDN-0007", f"{row.elf_type} has no RELRO", shown)
        for kind, entries in (("RPATH", row.rpath), ("RUNPATH", row.runpath)):
            for entry in entries:
                if not entry.startswith(("/", "$ORIGIN", "${ORIGIN}")):
                    yield _finding("HDN-0008", f"{kind} entry {entry!r} is relative to the working directory",
                                   shown)


def check_reference(facts: Facts) -> Iterator[Finding]:
    """DKL-DI-0006 for a reference to the moving ``latest`` tag (an engine or registry name without a tag or
    tagged ``latest``; files and digests are pinned): the reference's transport says which."""
    reference = facts.reference
    if reference and moving_tag(reference):
        yield _finding("DKL-DI-0006", f"{reference!r} refers to the moving 'latest' tag", "reference")


CHECKS: tuple[Callable[[Facts], Iterable[Finding]], ...] = (
    check_user, check_healthcheck, check_env_secrets, check_files, check_apt_caches, check_unnecessary,
    check_accounts, check_elf, check_reference,
)


def find_issues(rootfs: Rootfs, config: ImageConfig, blobs: BlobStore, *, elf: Sequence[ElfHardening] = (),
                reference: str | None = None) -> list[Finding]:
    """Every finding for one image state, sorted worst first, then by code and location."""
    facts = Facts(rootfs, config, blobs, read_accounts(rootfs, blobs), tuple(elf), reference)
    found = {f.key: f for check in CHECKS for f in check(facts)}
    return sort_findings(found.values())


def metadata_findings(before: Sequence[Component], after: Sequence[Component], *,
                      allowed: Iterable[str] = ("pip", "setuptools", "wheel")) -> list[Finding]:
    """HDN-0009 for each Python distribution whose metadata is gone after hardening, except ``allowed`` names
    (installers, and whatever the policy removes on purpose)."""
    kept = {c.key for c in after}
    allowed_names = {_normalize(name) for name in allowed}
    found = []
    for component in before:
        if component.ecosystem != "pypi" or component.key in kept:
            continue
        if _normalize(component.name) in allowed_names:
            continue
        found.append(_finding("HDN-0009", f"{component.name} {component.version} lost its dist-info",
                              image_path(component.location)))
    return sort_findings(found)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def verification_findings(verification: VerificationLike | None) -> list[Finding]:
    """One finding per verification failure (SARIF carries each), and one warning per need of a writable path.
    Read from the verification document, so the report never depends on the verifier's classes."""
    if verification is None:
        return []
    details = verification.to_dict()
    found: list[Finding] = []
    covered: set[str] = set()
    for diff in details.get("imports") or ():
        for loss in diff.get("regressions") or ():
            text = f"{loss['module']}: {loss['after']}" + (f" ({loss['hint']})" if loss.get("hint") else "")
            found.append(_finding("HV-0001", text, loss.get("origin") or f"module:{loss['module']}"))
            covered.add(loss["module"])
    for touched in details.get("touched") or ():
        if touched.get("failure"):
            found.append(_finding("HV-0002", touched["failure"], touched["path"]))
            covered.add(touched["path"])
    for need in details.get("writable") or ():
        where = (need.get("paths") or [f"{need['kind']}:{need['target']}"])[0]
        found.append(_finding("HV-0003", f"{need['kind']} {need['target']}: {need['error']}; {need['remedy']}",
                              where))
    for line in verification.failures():
        if not any(line.startswith((f"{name}:", f"{name} ")) for name in covered):
            found.append(_finding("HV-0004", line, "verification"))
    return found


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.severity.rank, f.code, f.location, f.message))


def count_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    counts = dict.fromkeys((s.value for s in Severity), 0)
    for finding in findings:
        counts[finding.severity.value] += 1
    return counts


def _threshold(fail_on: str) -> int | None:
    if fail_on not in FAIL_ON_CHOICES:
        raise UsageError(f"--fail-on must be one of {', '.join(FAIL_ON_CHOICES)}, got {fail_on!r}")
    return None if fail_on == "never" else Severity(fail_on).rank


def failing(findings: Iterable[Finding], fail_on: str) -> list[Finding]:
    """The findings at or above the ``--fail-on`` threshold."""
    threshold = _threshold(fail_on)
    if threshold is None:
        return []
    return [f for f in findings if f.severity.rank >= threshold]


def exit_code_for(findings: Iterable[Finding], fail_on: str) -> int:
    """1 when a finding is at or above ``fail_on`` (error | warning), else 0; ``never`` always gives 0."""
    return 1 if failing(findings, fail_on) else 0


def enforce_fail_on(findings: Iterable[Finding], fail_on: str, *, report: str = "report.md") -> None:
    """Raise FindingsError (exit 1) naming each finding at or above ``fail_on``."""
    bad = failing(findings, fail_on)
    if bad:
        raise FindingsError(
            f"{len(bad)} finding(s) at or above --fail-on {fail_on} (see {report})",
            details=[f"{f.code} {f.location}: {f.message}" for f in bad],
        )
