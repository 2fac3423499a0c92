"""remove-jvm-payload: what it removes, and when, is described in ``stages/remove-jvm-payload.toml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import ClassVar

from harden.image.model import EntryType, FileEntry, Rootfs
from harden.plan import Change, GiveUp, Plan, Remove, Skip
from harden.stages._globs import GlobSet
from harden.stages.base import StageContext, StageSettings

CATEGORY = "jvm-payload"


def find_jvm(rootfs: Rootfs, markers: GlobSet, java_home: str | None) -> str | None:
    """The first path proving a JVM exists, or None."""
    if java_home:
        home = PurePosixPath(java_home.lstrip("/") or ".")
        if rootfs.get(home / "bin" / "java") is not None:
            return f"/{home}/bin/java (JAVA_HOME)"
    for entry in rootfs:
        if entry.type in (EntryType.FILE, EntryType.HARDLINK, EntryType.SYMLINK) and markers.matches(entry.path):
            return f"/{entry.path}"
    return None


@dataclass(frozen=True, slots=True)
class RemoveJvmPayloadSettings(StageSettings):
    payload: GlobSet
    jvm_markers: GlobSet
    keep: GlobSet
    dependent_modules: tuple[str, ...]


class RemoveJvmPayload:
    name: ClassVar[str] = "remove-jvm-payload"
    settings_type: ClassVar[type[StageSettings]] = RemoveJvmPayloadSettings

    def plan(self, ctx: StageContext[RemoveJvmPayloadSettings]) -> Plan:
        settings = ctx.settings
        jvm = find_jvm(ctx.rootfs, settings.jvm_markers, ctx.config.env_value("JAVA_HOME"))
        if jvm is not None:
            return Plan(self.name, notes=(f"a JVM is present ({jvm}): Java archives kept",))
        payload, keep = settings.payload, settings.keep
        chosen: list[FileEntry] = []
        skipped: list[Skip] = []
        for entry in ctx.rootfs:
            if entry.is_dir or not payload.matches(entry.path):
                continue
            if keep.matches(entry.path):
                skipped.append(Skip(entry.path, "kept by the policy's keep list"))
            else:
                chosen.append(entry)
        changes = _group_by_directory(ctx.rootfs, chosen, payload)
        total = sum(e.size for e in chosen if e.type is EntryType.FILE)
        note = f"no JVM in the image (no {', '.join(settings.jvm_markers.patterns)}, no JAVA_HOME): " \
               f"{len(chosen)} Java archives, {total} bytes, removed"
        gives_up = tuple(GiveUp(module, "imports only where the Java archives are, which this stage removed")
                         for module in settings.dependent_modules) if chosen else ()
        return Plan(self.name, tuple(changes), tuple(skipped), (note,), gives_up)


def _group_by_directory(rootfs: Rootfs, chosen: list[FileEntry], payload: GlobSet) -> list[Change]:
    """One Remove per directory that holds only payload, else one per file."""
    chosen_paths = {e.path for e in chosen}
    parents = sorted({e.path.parent for e in chosen})
    whole: set[PurePosixPath] = set()
    for parent in parents:
        inside = [e for e in rootfs.under(parent) if e.path != parent and not e.is_dir]
        if inside and all(e.path in chosen_paths for e in inside):
            whole.add(parent)
    changes: list[Change] = [Remove(d, "directory of JVM payload only; the image has no Java runtime", CATEGORY)
                             for d in sorted(whole)]
    for entry in chosen:
        if entry.path.parent not in whole:
            pattern = payload.first_match(entry.path)
            changes.append(Remove(entry.path, f"JVM payload (matches {pattern!r}); the image has no Java runtime to "
                                              "load or launch it", CATEGORY))
    return changes
