"""Stage names → stage classes, in pipeline order.

Classes are imported by name when asked for, so listing the stages never imports them all, and a stage whose
module is missing fails alone, with its name.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from harden._resources import data_dir
from harden.errors import InternalError, UsageError
from harden.stages.base import Stage

_LOCATIONS: dict[str, str] = {
    "remove-installers": "harden.stages.remove_installers:RemoveInstallers",
    "remove-jvm-payload": "harden.stages.remove_jvm_payload:RemoveJvmPayload",
    "remove-bytecode": "harden.stages.remove_bytecode:RemoveBytecode",
    "remove-docs": "harden.stages.remove_docs:RemoveDocs",
    "remove-tests": "harden.stages.remove_tests:RemoveTests",
    "drop-shells": "harden.stages.drop_shells:DropShells",
    "remove-unreachable": "harden.stages.remove_unreachable:RemoveUnreachable",
    "strip-debug": "harden.stages.strip_debug:StripDebug",
    "add-user": "harden.stages.add_user:AddUser",
    "prune-package-db": "harden.stages.prune_package_db:PrunePackageDb",
    "dedupe": "harden.stages.dedupe:Dedupe",
}

STAGE_ORDER: tuple[str, ...] = tuple(_LOCATIONS)
"""Pipeline order: installers first (their files need no further work), remove-unreachable after drop-shells (a
removed shell is no root) and before strip-debug (no stripping of what goes), prune-package-db after every stage that
removes files (it drops dpkg records of packages with no file left), dedupe last (it sees final files)."""


def stage_class(name: str) -> type[Stage]:
    """The class implementing stage ``name``; UsageError for an unknown name."""
    location = _LOCATIONS.get(name)
    if location is None:
        raise UsageError(f"unknown stage {name!r}", details=[f"known stages: {', '.join(STAGE_ORDER)}"])
    module_name, _, class_name = location.partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise InternalError(f"stage {name!r} cannot be loaded from {location}: {exc}") from exc
    if getattr(cls, "name", None) != name:
        raise InternalError(f"stage class {location} calls itself {getattr(cls, 'name', None)!r}, not {name!r}")
    stage: type[Stage] = cls
    return stage


def stage_classes() -> tuple[tuple[str, type[Stage]], ...]:
    """Every stage, in pipeline order, as (name, class)."""
    return tuple((name, stage_class(name)) for name in STAGE_ORDER)


def stage_data_file(name: str) -> Path:
    """The reviewable defaults file ``stages/<name>.toml``."""
    if name not in _LOCATIONS:
        raise UsageError(f"unknown stage {name!r}", details=[f"known stages: {', '.join(STAGE_ORDER)}"])
    return data_dir("stages") / f"{name}.toml"
