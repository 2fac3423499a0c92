"""remove-bytecode: what it removes and keeps is described in ``stages/remove-bytecode.toml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import ClassVar, Literal

from harden.image.path_text import BYTECODE_SUFFIXES
from harden.plan import Change, Plan, Remove, SetConfig, Skip
from harden.stages._config_env import env_with
from harden.stages._globs import GlobSet
from harden.stages._path_index import PathIndex, select_by_globs
from harden.stages.base import StageContext, StageSettings

CATEGORY = "bytecode"
DONT_WRITE = "PYTHONDONTWRITEBYTECODE"


@dataclass(frozen=True, slots=True)
class RemoveBytecodeSettings(StageSettings):
    mode: Literal["remove", "keep"]
    remove: GlobSet
    keep: GlobSet
    set_dont_write_bytecode: bool


class RemoveBytecode:
    name: ClassVar[str] = "remove-bytecode"
    settings_type: ClassVar[type[StageSettings]] = RemoveBytecodeSettings

    def plan(self, ctx: StageContext[RemoveBytecodeSettings]) -> Plan:
        settings = ctx.settings
        if settings.mode == "keep":
            return Plan(
                self.name,
                notes=("bytecode kept (mode = keep): faster start-up at the cost of image size",),
            )
        rootfs = ctx.rootfs

        def sourceless(path: PurePosixPath) -> str | None:
            if path.suffix not in BYTECODE_SUFFIXES or path.parent.name == "__pycache__":
                return None
            entry = rootfs.get(path)
            if entry is None or entry.is_dir:
                return None
            source = path.with_suffix(".py")
            if source in rootfs:
                return None
            return f"sourceless module: {path.name} has no {source.name} beside it; it is what `import` loads"

        index = PathIndex(rootfs)
        selection = select_by_globs(index, settings.remove, settings.keep, sourceless)
        changes: list[Change] = []
        for path, pattern in selection.removed:
            if "__pycache__" in path.parts:
                reason = "bytecode cache: Python compiles from source when it is missing"
            else:
                reason = f"bytecode (matches {pattern!r}): its source is present"
            changes.append(Remove(path, reason, CATEGORY))
        skipped = [Skip(path, f"kept: {why}") for path, why in selection.kept]
        if settings.set_dont_write_bytecode and ctx.config.env_value(DONT_WRITE) != "1":
            changes.append(
                SetConfig(
                    "Env",
                    env_with(ctx.config, DONT_WRITE, "1"),
                    f"{DONT_WRITE}=1: do not write bytecode caches into the (read-only, non-root) container",
                )
            )
        return Plan(self.name, tuple(changes), tuple(skipped))
