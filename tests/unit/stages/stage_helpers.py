"""An in-memory image builder for stage tests: real FileEntry values, contents in a real BlobStore."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from harden.image.blobs import BlobStore
from harden.image.model import EntryType, FileEntry, ImageConfig, Rootfs
from harden.plan import Plan, Remove, Replace, SetConfig
from harden.policy.stage_schema import StageSchema, load_stage_schemas
from harden.stages.base import Stage, StageContext, StageSettings

Settings = Mapping[str, Any] | StageSettings | None
"""What a test gives a stage: its typed settings, or keys laid over the defaults of stages/<stage>.toml."""


@cache
def _schemas() -> Mapping[str, StageSchema]:
    return load_stage_schemas()


def settings_of(stage: type[Stage[Any]], settings: Settings = None) -> StageSettings:
    """The typed settings of ``stage``: the defaults of its data file with ``settings`` laid over them (or
    ``settings`` itself when already typed)."""
    if isinstance(settings, StageSettings):
        return settings
    values = {**_schemas()[stage.name].defaults, **(settings or {})}
    return stage.settings_type.from_mapping(stage.name, values)

P = PurePosixPath
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class FakeImage:
    def __init__(self, root: Path) -> None:
        self.blobs = BlobStore(root / "blobs")
        self.entries: dict[PurePosixPath, FileEntry] = {}
        self.config: dict[str, Any] = {"Env": [DEFAULT_PATH]}

    # --- entries -----------------------------------------------------------------------------------------

    def _parents(self, path: PurePosixPath) -> None:
        for parent in reversed(path.parents):
            if parent != P(".") and parent not in self.entries:
                self.entries[parent] = FileEntry(parent, EntryType.DIR, mode=0o755)

    def file(self, path: str, content: bytes | str = b"", mode: int = 0o644, uid: int = 0, gid: int = 0) -> FileEntry:
        data = content.encode() if isinstance(content, str) else content
        digest, size = self.blobs.put_bytes(data)
        entry = FileEntry(P(path), EntryType.FILE, mode=mode, uid=uid, gid=gid, size=size, digest=digest)
        self._parents(entry.path)
        self.entries[entry.path] = entry
        return entry

    def dir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> FileEntry:
        entry = FileEntry(P(path), EntryType.DIR, mode=mode, uid=uid, gid=gid)
        self._parents(entry.path)
        self.entries[entry.path] = entry
        return entry

    def symlink(self, path: str, target: str) -> FileEntry:
        entry = FileEntry(P(path), EntryType.SYMLINK, mode=0o777, linkname=target)
        self._parents(entry.path)
        self.entries[entry.path] = entry
        return entry

    def hardlink(self, path: str, target: str) -> FileEntry:
        original = self.entries[P(target)]
        entry = original.evolve(path=P(path), type=EntryType.HARDLINK, linkname=target)
        self._parents(entry.path)
        self.entries[entry.path] = entry
        return entry

    # --- Python layouts ---------------------------------------------------------------------------------

    def python(self, prefix: str = "usr/local", version: str = "3.11") -> str:
        """A base install: interpreter, stdlib marker, site-packages. Returns the site-packages path."""
        stdlib = f"{prefix}/lib/python{version}"
        self.file(f"{stdlib}/os.py", "import abc\n")
        self.file(f"{prefix}/bin/python{version}", b"\x7fELF fake interpreter", mode=0o755)
        self.symlink(f"{prefix}/bin/python3", f"python{version}")
        self.dir(f"{stdlib}/site-packages")
        return f"{stdlib}/site-packages"

    def dist(
        self,
        site: str,
        name: str,
        version: str = "1.0",
        files: Mapping[str, bytes | str] | None = None,
        *,
        requires: Iterable[str] = (),
        scripts: Iterable[str] = (),
        bin_dir: str | None = None,
        record: bool = True,
    ) -> str:
        """An installed distribution with METADATA, RECORD, entry_points.txt; returns its dist-info path."""
        info = f"{site}/{name.replace('-', '_')}-{version}.dist-info"
        listed: list[str] = []
        for rel, content in (files or {}).items():
            self.file(f"{site}/{rel}", content)
            listed.append(rel)
        metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
        self.file(f"{info}/METADATA", metadata + "\nLong description.\n")
        info_rel = info.removeprefix(site + "/")
        listed += [f"{info_rel}/METADATA", f"{info_rel}/RECORD"]
        scripts = list(scripts)
        if scripts:
            lines = "".join(f"{s} = {name.replace('-', '_')}.cli:main\n" for s in scripts)
            self.file(f"{info}/entry_points.txt", f"[console_scripts]\n{lines}")
            listed.append(f"{info_rel}/entry_points.txt")
            assert bin_dir is not None
            for script in scripts:
                self.file(f"{bin_dir}/{script}", "#!/usr/local/bin/python3.11\nimport sys\n", mode=0o755)
                depth = len(P(site).parts) - len(P(bin_dir).parent.parts)
                listed.append("../" * depth + f"bin/{script}")
        if record:
            self.file(f"{info}/RECORD", "".join(f"{p},sha256=x,1\n" for p in listed))
        return info

    # --- context -----------------------------------------------------------------------------------------

    def rootfs(self) -> Rootfs:
        return Rootfs(self.entries)

    def image_config(self) -> ImageConfig:
        return ImageConfig({"architecture": "amd64", "os": "linux", "config": dict(self.config)})

    def ctx(self, stage: type[Stage[Any]], settings: Settings = None) -> StageContext[Any]:
        return StageContext(self.rootfs(), self.image_config(), self.blobs, settings_of(stage, settings))


def removed(plan: Plan) -> set[str]:
    return {str(c.path) for c in plan.changes if isinstance(c, Remove)}


def replaced(plan: Plan) -> dict[str, FileEntry]:
    return {str(c.entry.path): c.entry for c in plan.changes if isinstance(c, Replace)}


def config_set(plan: Plan) -> dict[str, Any]:
    return {c.key: c.value for c in plan.changes if isinstance(c, SetConfig)}


def skipped(plan: Plan) -> dict[str, str]:
    return {str(s.path): s.reason for s in plan.skipped}


def gone(rootfs: Rootfs, plan: Plan) -> Rootfs:
    """The rootfs after the plan's removals (what the pipeline does with Remove)."""
    return rootfs.with_changes(remove=frozenset(c.path for c in plan.changes if isinstance(c, Remove)))
