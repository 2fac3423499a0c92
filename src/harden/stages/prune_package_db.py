"""prune-package-db: dpkg's database forgets the Debian packages whose files the earlier stages removed.

Scanners (Trivy, Grype, Syft) and harden's own SBOM list OS packages from ``var/lib/dpkg/status`` and the
distroless ``var/lib/dpkg/status.d/<name>`` files, not from the files themselves. Once remove-installers
has taken python3-pip's files and drop-shells dash's, their records would still be reported, with their CVEs.

A package is gone when it owns at least one file that counts and none of those is left in the rootfs as the
earlier stages left it. Ownership comes from ``var/lib/dpkg/info/<package>[:<arch>].list`` (else, for a
status.d record, ``status.d/<name>.md5sums``) plus the record's ``Conffiles``. What does not count:
directories (a listed path with listed children, or a directory in the rootfs) and files matching
``doc_globs`` (documentation does not keep a package). Listed paths are looked up the way the rest of the
code resolves them: the parent's symlinks are followed (``/bin/dash`` is ``usr/bin/dash`` on merged-usr
images), the path itself is not (a symlink counts as present); a path another package diverted (dpkg-divert)
is looked up where the diversion put it.

A gone package loses its record (every other record is kept byte for byte: field order, continuation lines,
blank lines, the file's ending), its ``info/<package>.*`` files and, on distroless, its status.d file and
``.md5sums``. A package with some files left is kept, with a Skip naming what remains; one without a file
list is never touched, nor is a record that is not installed (removed with its conffiles kept, half
installed): scanners do not report those, and dpkg still needs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import ClassVar

from harden.dpkg.owned import Diversion, FileList, InfoDir, file_list, read_diversions, where_installed
from harden.dpkg.rootfs import PathLookup
from harden.dpkg.status import Record, StatusFile, read_status, shown, status_sources
from harden.image.model import EntryType
from harden.plan import Change, Plan, Remove, Replace, Skip
from harden.stages._globs import GlobSet
from harden.stages._stage_settings import StageSettings
from harden.stages.base import StageContext

CATEGORY = "package-db"
SHOWN = 3
"""Remaining files named in the Skip of a partly removed package."""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass(frozen=True, slots=True)
class _Verdict:
    files: int
    """Owned paths that count: not directories, not documentation."""
    remaining: tuple[str, ...]
    """Those still present."""
    docs_left: int

    @property
    def gone(self) -> bool:
        return self.files > 0 and not self.remaining


def _verdict(
    owned: Iterable[str], package: str, lookup: PathLookup, docs: GlobSet, diversions: Mapping[str, Diversion]
) -> _Verdict:
    paths = list(dict.fromkeys(owned))
    parents = {p.rpartition("/")[0] for p in paths}
    files = docs_left = 0
    remaining: list[str] = []
    for path in paths:
        if path in parents:
            continue
        entry = lookup.entry(where_installed(path, package, diversions))
        if entry is not None and lookup.is_dir(entry):
            continue
        if docs.matches(path):
            docs_left += entry is not None
            continue
        files += 1
        if entry is not None:
            remaining.append(path)
    return _Verdict(files, tuple(sorted(remaining)), docs_left)


@dataclass(slots=True)
class _Tally:
    checked: int = 0
    pruned: int = 0
    partly: int = 0
    unlisted: int = 0
    not_installed: int = 0

    def note(self) -> str:
        note = (
            f"dpkg database: {_plural(self.checked, 'package')} checked; {self.pruned} pruned (no file left), "
            f"{self.partly} kept with files left, {self.unlisted} kept without a file list (ownership unknown)"
        )
        if self.not_installed:
            note += f"; {_plural(self.not_installed, 'record')} not installed, left alone"
        return note


@dataclass(slots=True)
class _Judge:
    """Decides record by record; collects the info files to remove (with reasons) and the Skips."""

    ctx: StageContext
    lookup: PathLookup
    docs: GlobSet
    diversions: Mapping[str, Diversion]
    info: InfoDir
    removals: dict[PurePosixPath, str] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)
    tally: _Tally = field(default_factory=_Tally)

    def records(self, status: StatusFile, md5sums: PurePosixPath | None) -> dict[int, str]:
        """The records of ``status`` whose package is gone, with the reason; ``md5sums`` is the file list of a
        status.d record, used when dpkg's info directory has no ``.list`` for it."""
        gone: dict[int, str] = {}
        for index, record in enumerate(status.records):
            if not record.package:
                continue
            if not record.installed:
                self.tally.not_installed += 1
                continue
            self.tally.checked += 1
            listed = file_list(self.ctx.rootfs, self.ctx.blobs, self.info, record, md5sums)
            if listed is None:
                self.tally.unlisted += 1
                continue
            reason = self._judge(record, listed)
            if reason is not None:
                gone[index] = reason
        return gone

    def _judge(self, record: Record, listed: FileList) -> str | None:
        owned = [*listed.paths, *record.conffiles()]
        verdict = _verdict(owned, record.package, self.lookup, self.docs, self.diversions)
        if verdict.remaining and len(verdict.remaining) < verdict.files:
            self.tally.partly += 1
            names = ", ".join(shown(p) for p in verdict.remaining[:SHOWN])
            more = ", ..." if len(verdict.remaining) > SHOWN else ""
            self.skipped.append(Skip(listed.source, (
                f"kept {record.label}: {len(verdict.remaining)} of {verdict.files} files remain ({names}{more})"
            )))
        if not verdict.gone:
            return None
        self.tally.pruned += 1
        every = "the only file" if verdict.files == 1 else f"all {verdict.files} files"
        reason = (
            f"{every} of {record.label} {'is' if verdict.files == 1 else 'are'} gone from the image "
            f"(per /{shown(str(listed.source))}, not counting directories and documentation (doc_globs))"
        )
        if verdict.docs_left:
            reason += f"; {_plural(verdict.docs_left, 'file')} matching doc_globs left"
        if record.essential:
            reason += "; Essential: yes, pruned all the same since none of its files is left"
        for path in listed.info_files:
            self.removals.setdefault(path, reason)
        return reason


class PrunePackageDb:
    name: ClassVar[str] = "prune-package-db"

    def plan(self, ctx: StageContext) -> Plan:
        settings = StageSettings.resolve(self.name, ctx.settings)
        if not settings.enabled:
            return Plan(self.name, notes=("disabled by policy",))
        rootfs = ctx.rootfs
        read = ((source, read_status(rootfs, ctx.blobs, source)) for source in status_sources(rootfs))
        found = [(source, status) for source, status in read if status is not None]
        if not found:
            return Plan(self.name, notes=("no dpkg database (var/lib/dpkg/status or status.d): nothing to prune",))
        diversions = read_diversions(rootfs, ctx.blobs)
        judge = _Judge(ctx, PathLookup(rootfs), settings.globs("doc_globs"), diversions, InfoDir(rootfs))
        changes: list[Change] = []
        for source, status in found:
            gone = judge.records(status, source.md5sums)
            if gone and (not source.in_status_d or len(gone) < len(status.records)):
                changes.append(self._replace(ctx, source.path, status, gone))
            elif gone:  # a status.d file whose every record is gone goes, with its file list
                reason = "; ".join(gone.values())
                for path in (source.path, source.md5sums):
                    if path is not None:
                        judge.removals[path] = reason
        changes.extend(Remove(path, judge.removals[path], CATEGORY) for path in sorted(judge.removals))
        return Plan(self.name, tuple(changes), tuple(judge.skipped), (judge.tally.note(),))

    @staticmethod
    def _replace(ctx: StageContext, path: PurePosixPath, status: StatusFile, gone: Mapping[int, str]) -> Change:
        """``path`` (a status file) without the records ``gone``; owner, mode and mtime as they were."""
        real = ctx.rootfs.resolve(path) or path
        entry = ctx.rootfs.get(real)
        assert entry is not None  # it was just read
        digest, size = ctx.blobs.put_bytes(status.without(set(gone)))
        new = entry.evolve(type=EntryType.FILE, digest=digest, size=size, linkname=None)
        labels = ", ".join(status.records[i].label for i in sorted(gone))
        reason = (
            f"dropped the records of {_plural(len(gone), 'package')} with no file left ({labels}); "
            "every other record kept byte for byte"
        )
        return Replace(new, reason, CATEGORY)
