"""prune-package-db: what it prunes, and how a package counts as gone, is described in
``stages/prune-package-db.toml``; the databases are read and rewritten by ``harden.ospkg`` (dpkg, apk; rpm is
recognised and never touched), this stage only judges which packages are gone and plans the rewrite.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import ClassVar

from harden.dpkg.rootfs import PathLookup
from harden.dpkg.status import shown
from harden.image.model import EntryType
from harden.ospkg import OsPackage, Owned, PackageDb, Rewrite, detect, detect_all
from harden.plan import Change, Plan, Remove, Replace, Skip
from harden.stages._globs import GlobSet
from harden.stages.base import StageContext, StageSettings

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
    missing: tuple[str, ...]
    """Owned paths (not directories; documentation included) no longer in the rootfs."""

    @property
    def gone(self) -> bool:
        return self.files > 0 and not self.remaining


def _verdict(db: PackageDb, package: OsPackage, owned: Owned, lookup: PathLookup, docs: GlobSet) -> _Verdict:
    paths = list(dict.fromkeys(owned.paths))
    parents = {p.rpartition("/")[0] for p in paths}
    files = docs_left = 0
    remaining: list[str] = []
    missing: list[str] = []
    for path in paths:
        if path in parents or path in owned.folders:
            continue
        entry = lookup.entry(db.where_installed(package, path))
        if entry is not None and lookup.is_dir(entry):
            continue
        if entry is None:
            missing.append(path)
        if docs.matches(path):
            docs_left += entry is not None
            continue
        files += 1
        if entry is not None:
            remaining.append(path)
    return _Verdict(files, tuple(sorted(remaining)), docs_left, tuple(missing))


@dataclass(slots=True)
class _Tally:
    kind: str
    checked: int = 0
    pruned: int = 0
    partly: int = 0
    unlisted: int = 0
    not_installed: int = 0

    def note(self) -> str:
        note = (
            f"{self.kind} database: {_plural(self.checked, 'package')} checked; {self.pruned} pruned (no file "
            f"left), {self.partly} kept with files left, {self.unlisted} kept without a file list (ownership "
            "unknown)"
        )
        if self.not_installed:
            note += f"; {_plural(self.not_installed, 'record')} not installed, left alone"
        return note


@dataclass(slots=True)
class _Judge:
    """Decides package by package for one database; collects the gone packages (with reasons), the files
    kept packages lost, and the Skips."""

    db: PackageDb
    lookup: PathLookup
    docs: GlobSet
    tally: _Tally
    gone: dict[str, str] = field(default_factory=dict)
    lost: dict[str, tuple[str, ...]] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)

    def judge_all(self) -> None:
        for package in self.db.packages():
            if not package.installed:
                self.tally.not_installed += 1
                continue
            self.tally.checked += 1
            owned = self.db.ownership(package)
            if owned is None:
                self.tally.unlisted += 1
                continue
            self._judge(package, owned)

    def _judge(self, package: OsPackage, owned: Owned) -> None:
        verdict = _verdict(self.db, package, owned, self.lookup, self.docs)
        label = shown(package.label)
        if verdict.remaining and len(verdict.remaining) < verdict.files:
            self.tally.partly += 1
            names = ", ".join(shown(p) for p in verdict.remaining[:SHOWN])
            more = ", ..." if len(verdict.remaining) > SHOWN else ""
            self.skipped.append(Skip(owned.source, (
                f"kept {label}: {len(verdict.remaining)} of {verdict.files} files remain ({names}{more})"
            )))
        if not verdict.gone:
            if verdict.missing:
                self.lost[package.key] = verdict.missing
            return
        self.tally.pruned += 1
        every = "the only file" if verdict.files == 1 else f"all {verdict.files} files"
        reason = (
            f"{every} of {label} {'is' if verdict.files == 1 else 'are'} gone from the image "
            f"(per /{shown(str(owned.source))}, not counting directories and documentation (doc_globs))"
        )
        if verdict.docs_left:
            reason += f"; {_plural(verdict.docs_left, 'file')} matching doc_globs left"
        if package.essential:
            reason += "; Essential: yes, pruned all the same since none of its files is left"
        self.gone[package.key] = reason


@dataclass(frozen=True, slots=True)
class PrunePackageDbSettings(StageSettings):
    doc_globs: GlobSet


class PrunePackageDb:
    name: ClassVar[str] = "prune-package-db"
    settings_type: ClassVar[type[StageSettings]] = PrunePackageDbSettings

    def plan(self, ctx: StageContext[PrunePackageDbSettings]) -> Plan:
        databases = detect_all(ctx.rootfs, ctx.blobs) or (detect(ctx.rootfs, ctx.blobs),)
        docs = ctx.settings.doc_globs
        lookup = PathLookup(ctx.rootfs)
        changes: list[Change] = []
        skipped: list[Skip] = []
        notes: list[str] = []
        for db in databases:
            if not db.prunable:
                notes.extend(f"{db.release.label}: {note}" for note in db.without().notes)
                continue
            judge = _Judge(db, lookup, docs, _Tally(db.kind.value))
            judge.judge_all()
            rewrite = db.without(judge.gone, files=judge.lost)
            changes.extend(self._changes(ctx, db, judge, rewrite))
            skipped.extend(judge.skipped)
            notes.append(judge.tally.note())
            notes.extend(rewrite.notes)
        return Plan(self.name, tuple(changes), tuple(skipped), tuple(notes))

    @staticmethod
    def _changes(ctx: StageContext[PrunePackageDbSettings], db: PackageDb, judge: _Judge,
                 rewrite: Rewrite) -> Iterable[Change]:
        """A Replace for each rewritten database file (owner, mode and mtime as they were), then a Remove for
        each database file that goes, with the reasons of the packages it goes for."""
        for path in sorted(rewrite.contents):
            entry = ctx.rootfs.get(path)
            assert entry is not None  # the database read it
            digest, size = ctx.blobs.put_bytes(rewrite.contents[path])
            new = entry.evolve(type=EntryType.FILE, digest=digest, size=size, linkname=None)
            yield Replace(new, _replace_reason(ctx, db, path, judge, rewrite), CATEGORY)
        for path in sorted(rewrite.removals):
            reasons = [judge.gone[key] for key in rewrite.removed_for.get(path, ()) if key in judge.gone]
            yield Remove(path, "; ".join(reasons) or rewrite.removals[path], CATEGORY)


def _replace_reason(ctx: StageContext[PrunePackageDbSettings], db: PackageDb, path: PurePosixPath, judge: _Judge,
                    rewrite: Rewrite) -> str:
    """Why a database file is rewritten: the records it drops and, where the format lists files in the
    record (apk), the lines of files kept packages lost; for another file of the database (apk's triggers),
    the packages whose lines it drops."""
    def here(package: OsPackage) -> bool:
        return (ctx.rootfs.resolve(package.source) or package.source) == path

    gone = [p for p in db.packages() if p.key in judge.gone]
    dropped = [p for p in gone if here(p)]
    trimmed = [p for p in db.packages() if p.key in rewrite.trimmed and here(p)]
    if not dropped and not trimmed:
        labels = ", ".join(shown(p.label) for p in gone)
        return f"dropped every line naming one of the {_plural(len(gone), 'package')} no longer installed ({labels})"
    parts = []
    if dropped:
        labels = ", ".join(shown(p.label) for p in dropped)
        parts.append(f"dropped the records of {_plural(len(dropped), 'package')} with no file left ({labels})")
    if trimmed:
        files = sum(len(judge.lost.get(p.key, ())) for p in trimmed)
        names = ", ".join(shown(p.name) for p in trimmed[:SHOWN]) + (", ..." if len(trimmed) > SHOWN else "")
        parts.append(f"dropped the lines of {_plural(files, 'file')} no longer in the image from "
                     f"{_plural(len(trimmed), 'kept package')} ({names})")
    parts.append("every other record kept byte for byte" if not trimmed else "every other line kept byte for byte")
    return "; ".join(parts)
