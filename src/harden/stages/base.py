"""The contract between stages and the pipeline.

A stage looks at the current root filesystem and config and returns a ``Plan``; it never mutates anything. It may
put new contents into the blob store (a stripped ELF file, a new /etc/passwd) and reference them from its changes.
Its settings arrive typed (``StageContext[XSettings]``, a ``StageSettings`` subclass the stage declares as
``settings_type``), filled by the policy; a stage only runs when its settings say ``enabled``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Generic, Protocol, TypeVar

from harden.image.blobs import BlobStore
from harden.image.model import ImageConfig, Rootfs
from harden.plan import Plan
from harden.stages._import_evidence import ParsedImports
from harden.stages._settings import InvalidSetting, StageSettings

__all__ = ["InvalidSetting", "Progress", "Stage", "StageContext", "StageSettings", "no_progress"]

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` by long stages; the CLI draws it (or not, in CI)."""

SettingsT_co = TypeVar("SettingsT_co", bound=StageSettings, covariant=True)
SettingsT_contra = TypeVar("SettingsT_contra", bound=StageSettings, contravariant=True)


def no_progress(done: int, total: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class StageContext(Generic[SettingsT_co]):
    rootfs: Rootfs
    config: ImageConfig
    blobs: BlobStore
    settings: SettingsT_co
    jobs: int = 1
    progress: Progress = field(default=no_progress, compare=False)
    parsed: ParsedImports = field(default_factory=ParsedImports, compare=False)
    """Python sources parsed for their imports, shared by the stages of one run (see ``ParsedImports``)."""


class Stage(Protocol[SettingsT_contra]):
    name: ClassVar[str]
    settings_type: ClassVar[type[StageSettings]]
    """The dataclass of this stage's settings: its fields are the keys of ``stages/<name>.toml``."""

    def plan(self, ctx: StageContext[SettingsT_contra]) -> Plan: ...
