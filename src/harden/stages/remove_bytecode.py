"""remove-bytecode: ``__pycache__`` directories and ``*.pyc``/``*.pyo`` files, anywhere in the image.

Python recompiles from source in memory when bytecode is missing, and ``PYTHONDONTWRITEBYTECODE=1`` stops
it from trying to write caches into a read-only, non-root container. A ``.pyc`` *beside* its module with
no ``.py`` (a sourceless distribution) is the module itself: it is kept, with the reason. ``mode = "keep"``
keeps all bytecode (faster start-up, larger image) and plans nothing.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import ClassVar

from harden.plan import Change, Plan, Remove, SetConfig, Skip
from harden.stages._config_env import env_with
from harden.stages._path_index import PathIndex, select_by_globs
from harden.stages._stage_settings import StageSettings
from harden.stages.base import StageContext

CATEGORY = "bytecode"
_BYTECODE_SUFFIXES = (".pyc", ".pyo")
DONT_WRITE = "PYTHONDONTWRITEBYTECODE"


class RemoveBytecode:
    name: ClassVar[str] = "remove-bytecode"

    def plan(self, ctx: StageContext) -> Plan:
        settings = StageSettings.resolve(self.name, ctx.settings)
        if not settings.enabled:
            return Plan(self.name, notes=("disabled by policy",))
        mode = settings.choice("mode", ("remove", "keep"))
        if mode == "keep":
            return Plan(
                self.name,
                notes=("bytecode kept (mode = keep): faster start-up at the cost of image size",),
            )
        rootfs = ctx.rootfs

        def sourceless(path: PurePosixPath) -> str | None:
            if path.suffix not in _BYTECODE_SUFFIXES or path.parent.name == "__pycache__":
                return None
            entry = rootfs.get(path)
            if entry is None or entry.is_dir:
                return None
            source = path.with_suffix(".py")
            if source in rootfs:
                return None
            return f"sourceless module: {path.name} has no {source.name} beside it; it is what `import` loads"

        index = PathIndex(rootfs)
        selection = select_by_globs(index, settings.globs("remove"), settings.globs("keep"), sourceless)
        changes: list[Change] = []
        for path, pattern in selection.removed:
            if "__pycache__" in path.parts:
                reason = "bytecode cache: Python compiles from source when it is missing"
            else:
                reason = f"bytecode (matches {pattern!r}): its source is present"
            changes.append(Remove(path, reason, CATEGORY))
        skipped = [Skip(path, f"kept: {why}") for path, why in selection.kept]
        if settings.flag("set_dont_write_bytecode") and ctx.config.env_value(DONT_WRITE) != "1":
            changes.append(
                SetConfig(
                    "Env",
                    env_with(ctx.config, DONT_WRITE, "1"),
                    f"{DONT_WRITE}=1: do not write bytecode caches into the (read-only, non-root) container",
                )
            )
        return Plan(self.name, tuple(changes), tuple(skipped))
