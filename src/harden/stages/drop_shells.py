"""drop-shells: what it removes and how it rewrites the config is described in ``stages/drop-shells.toml``;
busybox applets are read by ``harden.busybox``."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, ClassVar, Literal

from harden.busybox import BusyboxBinary, plan_shell_removal, read_busybox
from harden.errors import UnsupportedImage
from harden.image.blobs import BlobStore
from harden.image.model import EntryType, ImageConfig, Rootfs
from harden.plan import Change, Plan, Remove, SetConfig, Skip
from harden.pyenv import DEFAULT_PATH, find_python_envs
from harden.stages._globs import GlobSet
from harden.stages._shell_form import command_index, is_shell_form, shell_of, to_exec_form
from harden.stages.base import StageContext, StageSettings

log = logging.getLogger(__name__)

CATEGORY = "shells"
ROOT = PurePosixPath(".")


def _root_relative(path: str) -> PurePosixPath:
    return PurePosixPath(path.lstrip("/") or ".")


def link_chain(rootfs: Rootfs, path: PurePosixPath, max_links: int = 40) -> list[PurePosixPath]:
    """``path`` and each path its symlinks pass through, ending at the real entry (parents resolved)."""
    chain: list[PurePosixPath] = []
    current = path
    for _ in range(max_links):
        parent = rootfs.resolve(current.parent) if current.parent != ROOT else ROOT
        if parent is None:
            break
        concrete = parent / current.name
        entry = rootfs.get(concrete)
        if entry is None:
            break
        if entry.is_dir:
            break
        chain.append(concrete)
        if entry.type is EntryType.HARDLINK and entry.linkname:
            chain.append(_root_relative(entry.linkname))
            break
        if entry.type is not EntryType.SYMLINK or entry.linkname is None:
            break
        target = PurePosixPath(entry.linkname)
        current = _root_relative(str(target)) if target.is_absolute() else parent / target
    return chain


def _inode(rootfs: Rootfs, path: PurePosixPath) -> PurePosixPath:
    entry = rootfs.get(path)
    if entry is not None and entry.type is EntryType.HARDLINK and entry.linkname:
        return _root_relative(entry.linkname)
    return path


def _shebang(rootfs: Rootfs, blobs: BlobStore, path: PurePosixPath) -> list[str]:
    resolved = rootfs.resolve(path)
    entry = rootfs.get(resolved) if resolved is not None else None
    if entry is None or not entry.has_content or entry.digest is None or entry.digest not in blobs:
        return []
    with blobs.open(entry.digest) as stream:
        head = stream.read(256)
    if not head.startswith(b"#!"):
        return []
    return head[2:].split(b"\n", 1)[0].decode("utf-8", errors="replace").split()


def _interpreter_of_script(words: list[str]) -> str:
    """``#!/usr/bin/env python3`` → ``python3``; ``#!/bin/sh -e`` → ``sh``."""
    if not words:
        return ""
    name = PurePosixPath(words[0]).name
    if name == "env":
        rest = [w for w in words[1:] if not w.startswith("-")]
        return PurePosixPath(rest[0]).name if rest else ""
    return name


def find_program(rootfs: Rootfs, config: ImageConfig, program: str) -> PurePosixPath | None:
    """Where the runtime finds ``program``: as given when it has a ``/``, else along the config's PATH."""
    if "/" in program:
        candidate = (
            _root_relative(program)
            if program.startswith("/")
            else _root_relative(f"{config.working_dir or '/'}/{program}")
        )
        return candidate if rootfs.resolve(candidate) is not None else None
    path = config.env_value("PATH") or DEFAULT_PATH
    for directory in path.split(":"):
        if directory.startswith("/"):
            candidate = _root_relative(directory) / program
            resolved = rootfs.resolve(candidate)
            entry = rootfs.get(resolved) if resolved is not None else None
            if entry is not None and entry.has_content:
                return candidate
    return None


@dataclass(frozen=True, slots=True)
class DropShellsSettings(StageSettings):
    mode: Literal["shells", "all-binaries"]
    shells: tuple[str, ...]
    bin_dirs: tuple[str, ...]
    keep: GlobSet
    keep_python_scripts: bool
    unconvertible_healthcheck: Literal["fail", "remove"]


class DropShells:
    name: ClassVar[str] = "drop-shells"
    settings_type: ClassVar[type[StageSettings]] = DropShellsSettings

    def plan(self, ctx: StageContext[DropShellsSettings]) -> Plan:
        shells = frozenset(ctx.settings.shells)
        config_changes, programs, notes = self._convert_config(ctx, shells)
        bin_dirs = self._real_bin_dirs(ctx.rootfs, ctx.settings.bin_dirs)
        if ctx.settings.mode == "shells":
            removals, skipped = self._shells(ctx.rootfs, ctx.blobs, bin_dirs, shells)
        else:
            removals, skipped = self._all_binaries(ctx, bin_dirs, programs)
        removals.update(self._dangling_links(ctx.rootfs, removals))
        changes: list[Change] = [*config_changes]
        changes.extend(Remove(path, removals[path], CATEGORY) for path in sorted(removals))
        return Plan(self.name, tuple(changes), tuple(skipped), tuple(notes))

    # --- config ------------------------------------------------------------------------------------------

    def _convert_config(
        self, ctx: StageContext[DropShellsSettings], shells: frozenset[str]
    ) -> tuple[list[Change], list[PurePosixPath], list[str]]:
        config = ctx.config
        changes: list[Change] = []
        notes: list[str] = []
        entrypoint = list(config.entrypoint or [])
        cmd = list(config.cmd or [])
        if entrypoint and is_shell_form(entrypoint, shells):
            if command_index(entrypoint) == len(entrypoint):  # ENTRYPOINT ["sh", "-c"] + CMD ["cmd", ...]
                words = to_exec_form("Entrypoint+Cmd", [*entrypoint, *cmd], shells)
                changes.append(SetConfig("Entrypoint", None, "Entrypoint was a bare `sh -c`: no shell now"))
                changes.append(SetConfig("Cmd", words, f"shell-form command {cmd[:1]!r} → exec form"))
                entrypoint, cmd = [], words
            else:
                words = to_exec_form("Entrypoint", entrypoint, shells)
                changes.append(SetConfig("Entrypoint", words, f"shell-form Entrypoint {entrypoint!r} → exec form"))
                if cmd:
                    reason = "Cmd was ignored by the shell-form Entrypoint; exec form would pass it on"
                    changes.append(SetConfig("Cmd", None, reason))
                entrypoint, cmd = words, []
        elif entrypoint and shell_of(entrypoint, shells):
            raise UnsupportedImage(
                f"Entrypoint runs a shell ({entrypoint[0]}); it cannot work once shells are dropped",
                details=[f"Entrypoint: {entrypoint}"],
            )
        if cmd and is_shell_form(cmd, shells):
            words = to_exec_form("Cmd", cmd, shells)
            changes.append(SetConfig("Cmd", words, f"shell-form Cmd {cmd!r} → exec form"))
            cmd = words
        elif cmd and not entrypoint and shell_of(cmd, shells):
            raise UnsupportedImage(
                f"Cmd runs a shell ({cmd[0]}); it cannot work once shells are dropped",
                details=[f"Cmd: {cmd}"],
            )
        runs: list[tuple[str, str]] = []
        if entrypoint:
            runs.append(("Entrypoint", entrypoint[0]))
        if cmd:
            runs.append(("Cmd", cmd[0]))
        on_failure = ctx.settings.unconvertible_healthcheck
        health_change, health_program = self._convert_healthcheck(config, on_failure, shells)
        if health_change is not None:
            changes.append(health_change)
        if health_program is not None:
            runs.append(("Healthcheck", health_program))
        programs: list[PurePosixPath] = []
        for field, program in runs:
            found = find_program(ctx.rootfs, config, program)
            if found is None:
                if field != "Cmd" or not entrypoint:
                    notes.append(f"{field} program {program!r} is not in the image (was it before?)")
                continue
            programs.append(found)
            interpreter = _interpreter_of_script(_shebang(ctx.rootfs, ctx.blobs, found))
            if interpreter in shells:
                raise UnsupportedImage(
                    f"{field} runs /{found}, a shell script (#!{interpreter}); it cannot start without a shell",
                    details=[f"{field}: /{found}"],
                )
        return changes, programs, notes

    @staticmethod
    def _convert_healthcheck(
        config: ImageConfig, on_failure: Literal["fail", "remove"], shells: frozenset[str]
    ) -> tuple[SetConfig | None, str | None]:
        health = config.healthcheck
        test: list[str] = list((health or {}).get("Test") or [])
        if health is None or not test or test[0] == "NONE":
            return None, None
        try:
            if test[0] == "CMD-SHELL":
                words = to_exec_form("Healthcheck", ["sh", "-c", " ".join(test[1:])], shells)
            elif test[0] == "CMD" and is_shell_form(test[1:], shells):
                words = to_exec_form("Healthcheck", test[1:], shells)
            elif test[0] == "CMD" and shell_of(test[1:], shells):
                raise UnsupportedImage(f"Healthcheck runs a shell ({test[1]})", details=[f"Healthcheck: {test}"])
            else:
                return None, test[1] if len(test) > 1 else None
        except UnsupportedImage as exc:
            if on_failure == "fail":
                raise
            return SetConfig("Healthcheck", None, f"removed: {exc.message}"), None
        new: dict[str, Any] = dict(health)
        new["Test"] = ["CMD", *words]
        return SetConfig("Healthcheck", new, f"shell-form Healthcheck {test[1:]!r} → exec form"), words[0]

    # --- files -------------------------------------------------------------------------------------------

    @staticmethod
    def _real_bin_dirs(rootfs: Rootfs, names: Iterable[str]) -> list[PurePosixPath]:
        found: list[PurePosixPath] = []
        for name in names:
            real = rootfs.resolve(PurePosixPath(name))
            entry = rootfs.get(real) if real is not None else None
            if real is not None and entry is not None and entry.is_dir and real not in found:
                found.append(real)
        return found

    @staticmethod
    def _shells(rootfs: Rootfs, blobs: BlobStore, bin_dirs: Sequence[PurePosixPath],
                shells: frozenset[str]) -> tuple[dict[PurePosixPath, str], list[Skip]]:
        removals: dict[PurePosixPath, str] = {}
        inodes: dict[PurePosixPath, str] = {}
        busyboxes: dict[PurePosixPath, BusyboxBinary] = {}
        for directory in bin_dirs:
            for name in sorted(shells):
                path = directory / name
                if path not in rootfs:
                    continue
                binary = read_busybox(rootfs, blobs, path)
                if binary is not None and binary.path.name not in shells:
                    busyboxes.setdefault(binary.path, binary)
                    continue
                chain = link_chain(rootfs, path)
                for hop in chain:
                    removals.setdefault(hop, f"shell {name}" if hop == path else f"shell {name} (via /{path})")
                real = chain[-1] if chain else path
                entry = rootfs.get(real)
                if entry is not None and entry.has_content:
                    inodes.setdefault(_inode(rootfs, real), name)
        digests = {
            entry.digest: shell
            for inode, shell in inodes.items()
            if (entry := rootfs.get(inode)) is not None and entry.digest is not None and entry.size > 0
        }
        for entry in rootfs:
            if not entry.has_content or entry.path in removals:
                continue
            inode = _inode(rootfs, entry.path)
            if inode in inodes:
                removals[entry.path] = f"hardlink of shell {inodes[inode]} (/{inode})"
            elif entry.digest in digests:
                removals[entry.path] = f"byte-identical copy of shell {digests[entry.digest]}"
        skipped: list[Skip] = []
        for binary in busyboxes.values():
            plan = plan_shell_removal(rootfs, binary, shells)
            for link in plan.shell_links:
                kind = "hardlink" if link.kind is EntryType.HARDLINK else "link"
                removals.setdefault(link.path, f"shell {link.applet}: busybox applet {kind} to /{binary.path}")
            inside = [name for name in binary.applets if name in shells]
            still = f"; `busybox {inside[0]}` still runs a shell" if inside else ""
            skipped.append(Skip(binary.path, (
                f"kept: {plan.summary}; only its shell links go here{still}; remove-unreachable removes it, with "
                "every applet link left, when nothing the runtime runs needs it"
            )))
        return removals, skipped

    @staticmethod
    def _all_binaries(
        ctx: StageContext[DropShellsSettings],
        bin_dirs: Sequence[PurePosixPath],
        programs: Sequence[PurePosixPath],
    ) -> tuple[dict[PurePosixPath, str], list[Skip]]:
        rootfs = ctx.rootfs
        keep = ctx.settings.keep
        kept: dict[PurePosixPath, str] = {}
        interpreters: set[PurePosixPath] = set()
        for env in find_python_envs(rootfs, ctx.config, ctx.blobs):
            if env.interpreter is None:
                continue
            chain = link_chain(rootfs, env.interpreter)
            for hop in chain:
                kept.setdefault(hop, f"Python interpreter (chain of /{env.interpreter})")
            if chain:
                interpreters.add(chain[-1])
        for program in programs:
            for hop in link_chain(rootfs, program):
                kept.setdefault(hop, f"run by the image config (/{program})")
        dirs = set(bin_dirs)
        for entry in rootfs:  # what a kept link leads to stays too (/usr/bin/env -> /bin/busybox on Alpine)
            if entry.type is not EntryType.SYMLINK or not any(d in entry.path.parents for d in dirs):
                continue
            if (pattern := keep.first_match(entry.path)) is not None:
                for hop in link_chain(rootfs, entry.path)[1:]:
                    kept.setdefault(hop, f"keep glob {pattern!r} (via /{entry.path})")
        python_scripts = ctx.settings.keep_python_scripts
        removals: dict[PurePosixPath, str] = {}
        skipped: list[Skip] = []
        for entry in rootfs:
            path = entry.path
            if not any(d in path.parents for d in dirs) or entry.is_dir:
                continue
            why = kept.get(path)
            if why is None and interpreters and rootfs.resolve(path) in interpreters:
                why = "another name of a Python interpreter"
            if why is None:
                real = rootfs.resolve(path)
                pattern = keep.first_match(path) or (keep.first_match(real) if real is not None else None)
                if pattern is not None:
                    why = f"keep glob {pattern!r}"
            if why is None and python_scripts:
                shebang = _shebang(rootfs, ctx.blobs, path)
                if _interpreter_of_script(shebang).startswith("python"):
                    why = f"Python script (#!{' '.join(shebang)})"
            if why is not None:
                skipped.append(Skip(path, f"kept: {why}"))
                continue
            removals[path] = "OS binary (mode = all-binaries)"
        kept_inodes = {_inode(rootfs, p) for p in kept}
        for entry in rootfs:
            if entry.type is EntryType.HARDLINK and entry.path not in removals and entry.path not in kept:
                inode = _inode(rootfs, entry.path)
                if inode in removals and inode not in kept_inodes:
                    removals[entry.path] = f"hardlink of removed binary /{inode}"
        return removals, skipped

    @staticmethod
    def _dangling_links(rootfs: Rootfs, removals: dict[PurePosixPath, str]) -> dict[PurePosixPath, str]:
        """Symlinks anywhere that would point at a removed file."""
        found: dict[PurePosixPath, str] = {}
        for entry in rootfs:
            if entry.type is not EntryType.SYMLINK or entry.path in removals:
                continue
            chain = link_chain(rootfs, entry.path)
            if any(hop in removals for hop in chain[1:]):
                target = next(hop for hop in chain[1:] if hop in removals)
                found[entry.path] = f"symlink to removed /{target} ({removals[target]})"
        return found
