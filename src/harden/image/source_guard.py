"""The source image is never changed: outputs and report directories that would write into it (or replace
it) are refused before any work, as are two outputs to the same path (the second would silently win) or one
inside the other. References without a path (a registry tag, an engine tag) overlap when they name the same
thing (the transport says what that is)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from harden.errors import UsageError
from harden.image.reference import ImageRef
from harden.image.transports import identity_of, path_of


def _real(path: Path) -> Path:
    return path.expanduser().resolve()


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _overlaps(target: Path, source: Path) -> bool:
    """Writing ``target`` would change ``source``: the same path, a path inside it, or a directory above it."""
    return _same(target, source) or source in target.parents or target in source.parents


def refuse_writes_into_sources(
    sources: Sequence[ImageRef], outputs: Sequence[ImageRef] = (), report_dir: Path | None = None
) -> None:
    """UsageError naming every ``--output`` that would overwrite (or write into, or replace a directory
    holding) one of ``sources``, every ``--report-dir`` inside one, and outputs sharing a path (or nested)."""
    problems: list[str] = []
    conflicts: list[str] = []
    seen: dict[Path, str] = {}
    named: dict[str, str] = {}
    for ref in outputs:
        identity = identity_of(ref)
        if identity is not None:
            if identity in named:
                conflicts.append(f"--output {ref.text} writes the same image as --output {named[identity]}")
            named.setdefault(identity, ref.text)
        path = path_of(ref)
        if path is None:
            continue
        real = _real(path)
        for other, text in seen.items():
            if real == other:
                conflicts.append(f"--output {ref.text} writes the same path as --output {text}")
            elif other in real.parents or real in other.parents:
                conflicts.append(f"--output {ref.text} and --output {text} are inside one another")
        seen.setdefault(real, ref.text)
    for source in sources:
        identity = identity_of(source)
        if identity is not None and identity in named:
            problems.append(f"--output {named[identity]} would overwrite the source {source.text}")
        source_path = path_of(source)
        if source_path is None:
            continue
        src = _real(source_path)
        problems += [f"--output {ref.text} would overwrite the source {source.text}"
                     for ref in outputs if (out := path_of(ref)) is not None and _overlaps(_real(out), src)]
        if report_dir is not None:
            reports = _real(report_dir)
            if _same(reports, src) or src in reports.parents:
                problems.append(f"--report-dir {report_dir} is inside the source {source.text}")
    problems += conflicts  # after the source's: the first details shown are the most serious
    if problems:
        raise UsageError("refusing to write into the source image, which harden never changes"
                         if any("source" in p for p in problems) else "conflicting outputs", details=problems)
