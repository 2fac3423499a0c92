"""strip-debug: what it strips, and what it leaves alone, is described in ``stages/strip-debug.toml``.

Each distinct content (digest) is stripped once, in parallel over ``ctx.jobs`` processes, with the
segment-preserving stripper of ``harden.elf``; every path sharing that content gets the new digest.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_all
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import ClassVar

from harden.elf import Backend, StripResult, is_elf, strip_file, stripper_for
from harden.errors import InternalError
from harden.image.model import FileEntry
from harden.plan import Change, Plan, Replace, Skip
from harden.stages._globs import GlobSet
from harden.stages.base import StageContext, StageSettings
from harden.workers import process_pool

log = logging.getLogger(__name__)

CATEGORY = "debug-symbols"
_SHOWN_SECTIONS = 3


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A worker's answer for one content digest: the result and, if changed, the stripped temp file."""

    result: StripResult
    output: str | None


def _strip_blob(src: str, work_dir: str, sections: tuple[str, ...]) -> _Outcome:
    """Run in a worker process: strip one blob into a temp file next to the blob store."""
    fd, tmp = tempfile.mkstemp(dir=work_dir, prefix=".strip-")
    os.close(fd)
    try:
        result = strip_file(Path(src), Path(tmp), sections=sections)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if not result.changed:
        Path(tmp).unlink(missing_ok=True)
        return _Outcome(result, None)
    return _Outcome(result, tmp)


@dataclass(frozen=True, slots=True)
class StripDebugSettings(StageSettings):
    include: tuple[str, ...]
    """fnmatch globs on file names (not a GlobSet: they match a name, not a root-relative path)."""
    elf_executables: bool
    exclude: GlobSet
    sections: tuple[str, ...]
    """fnmatch globs on section names."""
    backend: Backend


class StripDebug:
    name: ClassVar[str] = "strip-debug"
    settings_type: ClassVar[type[StageSettings]] = StripDebugSettings

    def plan(self, ctx: StageContext[StripDebugSettings]) -> Plan:
        backend = ctx.settings.backend
        include = ctx.settings.include
        exclude = ctx.settings.exclude
        sections = ctx.settings.sections
        executables = ctx.settings.elf_executables
        if stripper_for(backend) is None:
            return Plan(self.name, notes=(f"backend {backend!r}: nothing stripped",))

        groups, skipped = _candidates(ctx, include, exclude, executables)
        outcomes = _run(ctx, groups, sections)
        replaces: list[Replace] = []
        saved = stripped_paths = 0
        for digest, entries in groups.items():
            outcome = outcomes[digest]
            result = outcome.result
            if outcome.output is None:
                reason = result.skipped_reason or "unchanged"
                skipped.extend(Skip(entry.path, reason) for entry in entries)
                continue
            new_digest, new_size = ctx.blobs.put_file(Path(outcome.output))
            Path(outcome.output).unlink(missing_ok=True)
            reason = _reason(result)
            for entry in entries:
                replaces.append(Replace(entry.evolve(digest=new_digest, size=new_size), reason, CATEGORY))
            saved += result.saved
            stripped_paths += len(entries)
        replaces.sort(key=lambda change: change.entry.path)
        skipped.sort(key=lambda skip: skip.path)
        stripped_files = sum(1 for o in outcomes.values() if o.output is not None)
        note = (
            f"{stripped_files} ELF files stripped ({stripped_paths} paths), {saved} bytes saved; "
            f"{len(groups) - stripped_files} left alone"
        )
        log.info("strip-debug: %s", note)
        changes: tuple[Change, ...] = tuple(replaces)
        return Plan(self.name, changes, tuple(skipped), notes=(note,))


def _candidates(
    ctx: StageContext[StripDebugSettings], include: Sequence[str], exclude: GlobSet, executables: bool
) -> tuple[dict[str, list[FileEntry]], list[Skip]]:
    """Entries to strip grouped by content digest (hardlinks and copies once), and the excluded ones."""
    groups: dict[str, list[FileEntry]] = defaultdict(list)
    skipped: list[Skip] = []
    elf_heads: dict[str, bool] = {}
    for entry in ctx.rootfs:
        if not entry.has_content or entry.digest is None:
            continue
        if not any(fnmatchcase(entry.path.name, pattern) for pattern in include) and not (
            executables and entry.mode & 0o111 and _starts_like_elf(ctx, entry.digest, elf_heads)
        ):
            continue
        pattern = exclude.first_match(entry.path)
        if pattern is not None:
            skipped.append(Skip(entry.path, f"excluded by policy glob {pattern!r}"))
        elif entry.digest not in ctx.blobs:
            raise InternalError("file content missing from the blob store", details=[str(entry.path)])
        else:
            groups[entry.digest].append(entry)
    return dict(groups), skipped


def _starts_like_elf(ctx: StageContext[StripDebugSettings], digest: str, cache: dict[str, bool]) -> bool:
    if digest not in cache:
        if digest not in ctx.blobs:
            cache[digest] = False
        else:
            with ctx.blobs.open(digest) as stream:
                cache[digest] = is_elf(stream.read(4))
    return cache[digest]


def _run(
    ctx: StageContext[StripDebugSettings], groups: dict[str, list[FileEntry]], sections: tuple[str, ...]
) -> dict[str, _Outcome]:
    total = len(groups)
    ctx.progress(0, total)
    work_dir = str(ctx.blobs.root)
    outcomes: dict[str, _Outcome] = {}
    failures: list[str] = []
    if ctx.jobs <= 1 or total <= 1:
        for done, digest in enumerate(groups, start=1):
            try:
                outcomes[digest] = _strip_blob(str(ctx.blobs.path(digest)), work_dir, sections)
            except Exception as exc:  # reported like a worker's failure
                failures.append(f"{groups[digest][0].path}: {type(exc).__name__}: {exc}")
            ctx.progress(done, total)
        _raise_failures(failures, outcomes)
        return outcomes
    with process_pool(min(ctx.jobs, total)) as pool:
        futures: dict[Future[_Outcome], str] = {
            pool.submit(_strip_blob, str(ctx.blobs.path(digest)), work_dir, sections): digest
            for digest in groups
        }
        done_count = 0
        pending = set(futures)
        while pending:
            finished, pending = wait_all(pending, return_when="FIRST_COMPLETED")
            for future in finished:
                digest = futures[future]
                error = future.exception()
                if error is not None:
                    failures.append(f"{groups[digest][0].path}: {type(error).__name__}: {error}")
                else:
                    outcomes[digest] = future.result()
                done_count += 1
                ctx.progress(done_count, total)
    _raise_failures(failures, outcomes)
    return outcomes


def _raise_failures(failures: list[str], outcomes: dict[str, _Outcome]) -> None:
    """A stripper that raised is a bug (bad input is a skip, not an error): clean up and stop."""
    if not failures:
        return
    for outcome in outcomes.values():
        if outcome.output is not None:
            Path(outcome.output).unlink(missing_ok=True)
    raise InternalError("stripping ELF files failed", details=failures)


def _reason(result: StripResult) -> str:
    removed = result.removed_sections
    shown = ", ".join(removed[:_SHOWN_SECTIONS])
    if len(removed) > _SHOWN_SECTIONS:
        shown += f", … ({len(removed)} sections)"
    return f"stripped {shown} (-{result.saved} bytes)"
