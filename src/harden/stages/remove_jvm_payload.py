"""remove-jvm-payload: Java archives in an image with no Java runtime are dead weight.

Evidence first: the stage looks for a JVM (``jvm_markers`` such as ``bin/java`` or ``libjvm.so``, and the
``JAVA_HOME`` of the config). Found → nothing is removed, and the plan says where the JVM is. Not found → every
``payload`` file (jars) goes; a directory holding nothing but payload goes as one change.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import ClassVar

from harden.image.model import EntryType, FileEntry, Rootfs
from harden.plan import Change, GiveUp, Plan, Remove, Skip
from harden.stages._globs import GlobSet
from harden.stages._stage_settings import StageSettings
from harden.stages.base import StageContext

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


class RemoveJvmPayload:
    name: ClassVar[str] = "remove-jvm-payload"

    def plan(self, ctx: StageContext) -> Plan:
        settings = StageSettings.resolve(self.name, ctx.settings)
        if not settings.enabled:
            return Plan(self.name, notes=("disabled by policy",))
        jvm = find_jvm(ctx.rootfs, settings.globs("jvm_markers"), ctx.config.env_value("JAVA_HOME"))
        if jvm is not None:
            return Plan(self.name, notes=(f"a JVM is present ({jvm}): Java archives kept",))
        payload, keep = settings.globs("payload"), settings.globs("keep")
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
        note = f"no JVM in the image (no {', '.join(settings.strings('jvm_markers'))}, no JAVA_HOME): " \
               f"{len(chosen)} Java archives, {total} bytes, removed"
        gives_up = tuple(GiveUp(module, "imports only where the Java archives are, which this stage removed")
                         for module in settings.strings("dependent_modules")) if chosen else ()
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
