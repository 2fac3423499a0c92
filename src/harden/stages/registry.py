"""Every stage class, in pipeline order.

Installers first (their files need no further work), remove-unreachable after drop-shells (a removed shell is no
root) and before strip-debug (no stripping of what goes), prune-package-db after every stage that removes files
(it drops the records of packages with no file left), dedupe last (it sees final files).
"""

from __future__ import annotations

from typing import Any

from harden.errors import UsageError
from harden.stages.add_user import AddUser
from harden.stages.base import Stage
from harden.stages.dedupe import Dedupe
from harden.stages.drop_shells import DropShells
from harden.stages.prune_package_db import PrunePackageDb
from harden.stages.remove_bytecode import RemoveBytecode
from harden.stages.remove_docs import RemoveDocs
from harden.stages.remove_installers import RemoveInstallers
from harden.stages.remove_jvm_payload import RemoveJvmPayload
from harden.stages.remove_tests import RemoveTests
from harden.stages.remove_unreachable import RemoveUnreachable
from harden.stages.strip_debug import StripDebug

STAGES: tuple[type[Stage[Any]], ...] = (
    RemoveInstallers,
    RemoveJvmPayload,
    RemoveBytecode,
    RemoveDocs,
    RemoveTests,
    DropShells,
    RemoveUnreachable,
    StripDebug,
    AddUser,
    PrunePackageDb,
    Dedupe,
)

STAGE_ORDER: tuple[str, ...] = tuple(cls.name for cls in STAGES)


def stage_class(name: str) -> type[Stage[Any]]:
    """The class implementing stage ``name``; UsageError for an unknown name."""
    for cls in STAGES:
        if cls.name == name:
            return cls
    raise UsageError(f"unknown stage {name!r}", details=[f"known stages: {', '.join(STAGE_ORDER)}"])
