"""The contract between stages and the pipeline.

A stage looks at the current root filesystem and config and returns a ``Plan``; it never mutates anything. It may
put new contents into the blob store (a stripped ELF file, a new /etc/passwd) and reference them from its changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from harden.image.blobs import BlobStore
from harden.image.model import ImageConfig, Rootfs
from harden.plan import Plan

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` by long stages; the CLI draws it (or not, in CI)."""


def no_progress(done: int, total: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class StageContext:
    rootfs: Rootfs
    config: ImageConfig
    blobs: BlobStore
    settings: Mapping[str, Any]
    jobs: int = 1
    progress: Progress = field(default=no_progress, compare=False)


class Stage(Protocol):
    name: ClassVar[str]

    def plan(self, ctx: StageContext) -> Plan: ...
