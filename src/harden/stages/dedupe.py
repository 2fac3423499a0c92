"""dedupe: byte-identical files become hardlinks to one copy; what counts as identical and what is left alone
is described in ``stages/dedupe.toml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import ClassVar

from harden.image.model import EntryType, FileEntry
from harden.plan import Change, Plan, Replace
from harden.stages._globs import GlobSet
from harden.stages.base import StageContext, StageSettings

CATEGORY = "duplicates"
_Key = tuple[str, int, int, int, int, str, str, tuple[tuple[str, str], ...]]


def _key(entry: FileEntry) -> _Key:
    return (
        entry.digest or "",
        entry.size,
        entry.mode,
        entry.uid,
        entry.gid,
        entry.uname,
        entry.gname,
        entry.xattrs,
    )


@dataclass(frozen=True, slots=True)
class DedupeSettings(StageSettings):
    min_size: int
    exclude: GlobSet


class Dedupe:
    name: ClassVar[str] = "dedupe"
    settings_type: ClassVar[type[StageSettings]] = DedupeSettings

    def plan(self, ctx: StageContext[DedupeSettings]) -> Plan:
        min_size = ctx.settings.min_size
        exclude = ctx.settings.exclude
        groups: dict[_Key, list[FileEntry]] = {}
        for entry in ctx.rootfs:
            if entry.type is not EntryType.FILE or entry.digest is None or entry.size < max(min_size, 1):
                continue
            if exclude.matches(entry.path):
                continue
            groups.setdefault(_key(entry), []).append(entry)
        changes: list[Change] = []
        canonical_of: dict[PurePosixPath, PurePosixPath] = {}
        saved = 0
        for copies in groups.values():
            if len(copies) < 2:
                continue
            first, *others = sorted(copies, key=lambda e: e.path)
            for entry in others:
                canonical_of[entry.path] = first.path
                saved += entry.size
                link = entry.evolve(type=EntryType.HARDLINK, linkname=str(first.path))
                reason = f"identical to /{first.path} (sha256 {entry.digest[:12] if entry.digest else '?'}…): "
                changes.append(Replace(link, f"{reason}hardlinked, saves {entry.size} bytes", CATEGORY))
        for entry in ctx.rootfs:
            if entry.type is EntryType.HARDLINK and entry.linkname is not None:
                target = canonical_of.get(PurePosixPath(entry.linkname))
                if target is not None:
                    moved = entry.evolve(linkname=str(target))
                    reason = f"hardlink re-pointed from /{entry.linkname} (now a link) to /{target}"
                    changes.append(Replace(moved, reason, CATEGORY))
        notes = (f"{len(canonical_of)} duplicate files hardlinked, {saved} bytes stored once",)
        return Plan(self.name, tuple(changes), (), notes)
