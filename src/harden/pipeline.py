"""Runs the enabled stages in order: each plans against the current state, the pipeline applies the plan and
records what it changed, the bytes and files saved and the time spent. ``plan_only`` is ``--dry-run``: stages still
plan against the evolving state (so later stages see earlier removals), nothing is written by the caller."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from harden.errors import InternalError
from harden.image.blobs import BlobStore
from harden.image.model import EntryType, FileEntry, ImageConfig, Rootfs
from harden.plan import Add, GiveUp, Plan, Remove, Replace, SetConfig, Skip
from harden.stages._import_evidence import ParsedImports
from harden.stages.base import Progress, Stage, StageContext, StageSettings, no_progress

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AppliedChange:
    """One applied change as the report shows it. ``bytes_saved`` is negative when a change adds bytes."""

    action: str  # remove | replace | add | set-config
    target: str  # a root-relative path, or the config key
    category: str
    reason: str
    files_removed: int = 0
    bytes_saved: int = 0
    removes_modules: bool = False
    """A removal of importable modules on purpose (see ``plan.Remove``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "target": self.target,
            "category": self.category,
            "reason": self.reason,
            "files_removed": self.files_removed,
            "bytes_saved": self.bytes_saved,
            "removes_modules": self.removes_modules,
        }


@dataclass(frozen=True, slots=True)
class StageRecord:
    stage: str
    seconds: float
    bytes_before: int
    bytes_after: int
    files_before: int
    files_after: int
    changes: tuple[AppliedChange, ...] = ()
    skipped: tuple[Skip, ...] = ()
    notes: tuple[str, ...] = ()
    gives_up: tuple[GiveUp, ...] = ()

    @property
    def bytes_saved(self) -> int:
        return self.bytes_before - self.bytes_after

    @property
    def files_removed(self) -> int:
        return self.files_before - self.files_after


@dataclass(frozen=True, slots=True)
class PipelineResult:
    rootfs: Rootfs
    config: ImageConfig
    records: tuple[StageRecord, ...] = field(default=())


def _stored_bytes(entries: Sequence[FileEntry]) -> int:
    return sum(e.size for e in entries if e.type is EntryType.FILE)


def apply_plan(rootfs: Rootfs, config: ImageConfig, plan: Plan) -> tuple[Rootfs, ImageConfig, list[AppliedChange]]:
    """Apply one stage's plan. Removals apply first, then replacements/additions, then config changes."""
    applied: list[AppliedChange] = []
    removals: set[PurePosixPath] = set()
    puts: dict[PurePosixPath, FileEntry] = {}
    config_changes: dict[str, Any] = {}
    for change in plan.changes:
        if isinstance(change, Remove):
            if change.path not in rootfs or change.path in removals:
                continue
            if any(parent in removals for parent in change.path.parents):
                continue
            gone = list(rootfs.under(change.path))
            removals.add(change.path)
            files = sum(1 for e in gone if not e.is_dir)
            applied.append(AppliedChange("remove", str(change.path), change.category, change.reason, files,
                                         _stored_bytes(gone), change.removes_modules))
        elif isinstance(change, Replace | Add):
            entry = change.entry
            old = rootfs.get(entry.path)
            saved = (old.size if old is not None and old.type is EntryType.FILE else 0) - (
                entry.size if entry.type is EntryType.FILE else 0
            )
            puts[entry.path] = entry
            action = "replace" if isinstance(change, Replace) else "add"
            applied.append(AppliedChange(action, str(entry.path), change.category, change.reason, 0, saved))
        elif isinstance(change, SetConfig):
            config_changes[change.key] = change.value
            applied.append(AppliedChange("set-config", change.key, change.category, change.reason))
    new_rootfs = rootfs.with_changes(remove=frozenset(removals), put=puts) if removals or puts else rootfs
    new_config = config.with_container_config(**config_changes) if config_changes else config
    return new_rootfs, new_config, applied


def run_pipeline(
    rootfs: Rootfs,
    config: ImageConfig,
    blobs: BlobStore,
    stages: Sequence[tuple[Stage[Any], StageSettings]],
    *,
    jobs: int = 1,
    progress: Progress | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> PipelineResult:
    """``stages`` are (stage, its typed settings) pairs in order, already filtered to the enabled ones
    (``Policy.enabled_stages()``)."""
    records: list[StageRecord] = []
    parsed = ParsedImports()  # one run's: freed when the run ends
    for stage, settings in stages:
        if not isinstance(settings, stage.settings_type):
            raise InternalError(f"stage {stage.name} was given {type(settings).__qualname__}, "
                                f"not its {stage.settings_type.__qualname__}")
        if on_stage is not None:
            on_stage(stage.name)
        started = time.perf_counter()
        bytes_before, files_before = rootfs.content_bytes(), file_count(rootfs)
        ctx = StageContext(rootfs, config, blobs, settings, jobs, progress or no_progress, parsed)
        plan = stage.plan(ctx)
        rootfs, config, applied = apply_plan(rootfs, config, plan)
        record = StageRecord(
            stage=stage.name,
            seconds=round(time.perf_counter() - started, 3),
            bytes_before=bytes_before,
            bytes_after=rootfs.content_bytes(),
            files_before=files_before,
            files_after=file_count(rootfs),
            changes=tuple(applied),
            skipped=plan.skipped,
            notes=plan.notes,
            gives_up=plan.gives_up,
        )
        log.info("%s: %d changes, %d bytes saved in %.1fs", stage.name, len(applied), record.bytes_saved,
                 record.seconds)
        records.append(record)
    return PipelineResult(rootfs, config, tuple(records))


def file_count(rootfs: Rootfs) -> int:
    """Entries that are not directories (files, links, devices)."""
    return sum(1 for e in rootfs.entries.values() if not e.is_dir)
