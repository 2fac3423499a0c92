"""This machine as a place to run images: its own platform, and the foreign ones the kernel runs through an
interpreter registered in ``binfmt_misc`` (qemu-user: Debian's ``qemu-user-static``).

An interpreter counts only when it is enabled, matches the ELF header of the image's own program, and was
registered with the ``F`` (fix binary) flag: the kernel then opened it at registration, so it runs inside a
container or a sandbox whose root is the image (without ``F`` the kernel looks for the interpreter's path
inside that root, where it is not).
"""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass
from pathlib import Path

from harden.image.model import Platform

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
             "armv6l": "arm", "i686": "386", "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x",
             "riscv64": "riscv64"}


def host_platform() -> Platform:
    machine = _platform.machine().lower()
    return Platform("linux", _MACHINES.get(machine, machine))


@dataclass(frozen=True, slots=True)
class Interpreter:
    """One ``binfmt_misc`` entry: its name, interpreter, flags, and the magic/mask/offset it matches."""

    name: str
    interpreter: str
    flags: str
    offset: int
    magic: bytes
    mask: bytes

    def matches(self, head: bytes) -> bool:
        part = head[self.offset:self.offset + len(self.magic)]
        if len(part) < len(self.magic):
            return False
        mask = self.mask or b"\xff" * len(self.magic)
        return all((b & m) == (g & m) for b, m, g in zip(part, mask, self.magic, strict=True))


def parse_entry(name: str, text: str) -> Interpreter | None:
    """A ``/proc/sys/fs/binfmt_misc/NAME`` file as an Interpreter; None when disabled or not a magic match."""
    fields: dict[str, str] = {}
    enabled = False
    for line in text.splitlines():
        if line.strip() == "enabled":
            enabled = True
            continue
        key, _, value = line.partition(" ")
        fields[key] = value.strip()
    if not enabled or "magic" not in fields:
        return None
    try:
        magic = bytes.fromhex(fields["magic"])
        mask = bytes.fromhex(fields.get("mask", ""))
        offset = int(fields.get("offset", "0"))
    except ValueError:
        return None
    return Interpreter(name, fields.get("interpreter", ""), fields.get("flags:", fields.get("flags", "")), offset,
                       magic, mask)


def registered(folder: Path = BINFMT_DIR) -> tuple[Interpreter, ...]:
    """The enabled magic-matching interpreters; none when binfmt_misc is not mounted or is disabled."""
    try:
        if (folder / "status").read_text().strip() != "enabled":
            return ()
        names = sorted(p.name for p in folder.iterdir() if p.name not in ("status", "register"))
    except OSError:
        return ()
    found = []
    for name in names:
        try:
            entry = parse_entry(name, (folder / name).read_text())
        except OSError:
            continue
        if entry is not None:
            found.append(entry)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Execution:
    """Whether images of a platform run here, and how (``native``, ``binfmt``) or why not."""

    runs: bool
    how: str


def can_execute(platform: Platform | None, program_head: bytes | None, *,
                interpreters: tuple[Interpreter, ...] | None = None, host: Platform | None = None) -> Execution:
    """Whether this machine runs a program of ``platform`` whose first bytes are ``program_head`` (the image's
    Python: its ELF header decides what the kernel does with it)."""
    host = host or host_platform()
    if platform is None or platform.matches(Platform(host.os, host.architecture)) or (
            platform.os == host.os and platform.architecture == host.architecture):
        return Execution(True, f"native ({host})")
    if program_head is None or not program_head.startswith(b"\x7fELF"):
        return Execution(False, f"{platform} is not {host}, and the image's program is not an ELF file to match "
                                "against binfmt_misc")
    entries = registered() if interpreters is None else interpreters
    for entry in entries:
        if entry.matches(program_head):
            if "F" not in entry.flags:
                return Execution(False, f"binfmt_misc runs {platform} through {entry.interpreter} ({entry.name}), "
                                        "but without the F flag, so not inside a container or sandbox")
            return Execution(True, f"through binfmt_misc: {entry.name} ({entry.interpreter})")
    return Execution(False, f"{platform} is not this machine's {host}, and binfmt_misc has no enabled interpreter "
                            "for it (Debian: apt-get install qemu-user-static)")
