"""The report contract: ``build_report`` turns the analysed sides of a run into one JSON-able dict.

Keys come out in a fixed order and lists are sorted, so the same input gives the same report (only
``identity.generated_at`` and the timings differ). ``schema_version`` is bumped on any incompatible change;
the checked-in JSON Schema (``harden/schemas/report.schema.json``) describes it and tests validate against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harden import __version__
from harden.elf.hardening import summarize
from harden.image.files import image_path
from harden.pipeline import PipelineResult
from harden.report.categories import CATEGORIES, LABELS
from harden.report.findings import count_by_severity, sort_findings, verification_findings
from harden.report.model import (
    Component,
    Efficiency,
    Finding,
    PolicyLike,
    SideAnalysis,
    SizeCount,
    VerificationLike,
)
from harden.report.rules import RULES

SCHEMA_VERSION = 2
TOP_PACKAGES = 20


@dataclass(frozen=True, slots=True)
class Identity:
    """Who and what: ``kind`` is "run" (``harden image``) or "review" (``harden report``, nothing changed)."""

    kind: str
    source: str
    generated_at: str
    source_digest: str | None = None
    output_digest: str | None = None
    platform: str = ""
    policy: PolicyLike | None = None
    dry_run: bool = False
    written: tuple[str, ...] = ()
    harden_seconds: float | None = None
    layers: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "source_digest": self.source_digest,
            "output_digest": self.output_digest,
            "platform": self.platform,
            "harden_version": __version__,
            "policy": (None if self.policy is None
                       else {"name": self.policy.name, "digest": self.policy.digest}),
            "generated_at": self.generated_at,
            "dry_run": self.dry_run,
            "written": list(self.written),
            "harden_seconds": None if self.harden_seconds is None else round(self.harden_seconds, 3),
            "source_layers": self.layers,
        }


@dataclass(frozen=True, slots=True)
class SbomRefs:
    """Names of the SBOM files beside report.json, and the diff summary (None in a review)."""

    original: str
    hardened: str | None = None
    diff: str | None = None
    diff_summary: Mapping[str, int] | None = field(default=None)


def _size(count: SizeCount | None) -> dict[str, int] | None:
    return None if count is None else count.to_dict()


def _stages(result: PipelineResult | None) -> list[dict[str, Any]]:
    if result is None:
        return []
    return [
        {
            "stage": r.stage,
            "seconds": round(r.seconds, 3),
            "bytes_before": r.bytes_before,
            "bytes_after": r.bytes_after,
            "bytes_saved": r.bytes_saved,
            "files_before": r.files_before,
            "files_after": r.files_after,
            "files_removed": r.files_removed,
            "changes": len(r.changes),
            "skipped": len(r.skipped),
        }
        for r in result.records
    ]


def _categories(original: SideAnalysis, hardened: SideAnalysis | None,
                result: PipelineResult | None) -> list[dict[str, Any]]:
    saved: dict[str, list[int]] = {}
    for record in result.records if result is not None else ():
        for change in record.changes:
            totals = saved.setdefault(change.category, [0, 0, 0])
            totals[0] += change.bytes_saved
            totals[1] += change.files_removed
            totals[2] += 1
    names = list(CATEGORIES) + sorted(saved.keys() - set(CATEGORIES))
    rows = []
    for name in names:
        bytes_saved, files_removed, changes = saved.get(name, [0, 0, 0])
        rows.append({
            "category": name,
            "label": LABELS.get(name, name),
            "before": _size(original.categories.get(name)),
            "after": None if hardened is None else _size(hardened.categories.get(name)),
            "saved_bytes": bytes_saved,
            "files_removed": files_removed,
            "changes": changes,
        })
    return rows


def _sizes(original: SideAnalysis, hardened: SideAnalysis | None,
           result: PipelineResult | None) -> dict[str, Any]:
    before = original.total
    after = hardened.total if hardened is not None else None
    saved = None if after is None else before.bytes - after.bytes
    percent = None if saved is None else (round(100 * saved / before.bytes, 2) if before.bytes else 0.0)
    return {
        "before": before.to_dict(),
        "after": _size(after),
        "saved_bytes": saved,
        "saved_percent": percent,
        "stages": _stages(result),
        "categories": _categories(original, hardened, result),
    }


def _changes(result: PipelineResult | None) -> tuple[list[Any], list[Any], list[Any]]:
    changes: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for record in result.records if result is not None else ():
        changes.extend({"stage": record.stage, **_shown_change(change.to_dict())} for change in record.changes)
        skipped.extend({"stage": record.stage, "path": image_path(s.path), "reason": s.reason}
                       for s in record.skipped)
        notes.extend({"stage": record.stage, "note": note} for note in record.notes)
    return changes, skipped, notes


def _shown_change(change: dict[str, Any]) -> dict[str, Any]:
    """A change's path target as users see it ("/usr/bin/su", like skipped[].path); config keys stay as they are."""
    if change["action"] != "set-config":
        change["target"] = image_path(change["target"])
    return change


def _package(component: Component) -> dict[str, Any]:
    return {
        "ecosystem": component.ecosystem,
        "name": component.name,
        "version": component.version,
        "location": image_path(component.location),
        "bytes": component.bytes,
        "files": component.files,
        "size_source": component.size_source,
    }


def _package_counts(components: Iterable[Component]) -> dict[str, int]:
    counts = {"pypi": 0, "deb": 0, "apk": 0}
    for component in components:
        counts[component.ecosystem] = counts.get(component.ecosystem, 0) + 1
    return counts


def _dropped(entry: Any) -> dict[str, str]:
    if isinstance(entry, Mapping):
        return {"entry": str(entry.get("path", entry)), "reason": str(entry.get("reason", ""))}
    path = getattr(entry, "path", None)
    reason = str(getattr(entry, "reason", ""))
    layer = getattr(entry, "layer", None)
    if isinstance(layer, int):
        reason = f"layer {layer}: {reason}"
    return {"entry": str(path if path is not None else entry), "reason": reason}


def _elf(side: SideAnalysis) -> dict[str, Any]:
    return {"summary": summarize(list(side.elf)), "files": [row.to_dict() for row in side.elf]}


def _verification(verification: VerificationLike | None) -> dict[str, Any] | None:
    if verification is None:
        return None
    return {
        "ok": bool(verification.ok),
        "summary": verification.summary(),
        "failures": list(verification.failures()),
        "details": verification.to_dict(),
    }


def build_report(
    identity: Identity,
    *,
    original: SideAnalysis,
    hardened: SideAnalysis | None = None,
    result: PipelineResult | None = None,
    efficiency: Efficiency | None = None,
    verification: VerificationLike | None = None,
    dropped: Sequence[Any] = (),
    extra_findings: Sequence[Finding] = (),
    sbom: SbomRefs | None = None,
    attestations: Mapping[str, Any] | None = None,
    write_notes: Sequence[str] = (),
) -> dict[str, Any]:
    """The report dict. Findings, ELF table and largest files/packages describe the final state (the hardened
    image in a run, the image itself in a review); ``fixed_findings`` lists what hardening removed;
    ``attestations`` what the run attests (``harden.attest.run.AttestationPlan.to_report``), None when it
    writes nothing; ``write_notes`` go into ``notes`` under the stage name "write layer"."""
    final = hardened if hardened is not None else original
    findings = sort_findings([*final.findings, *extra_findings, *verification_findings(verification)])
    final_keys = {f.key for f in findings}
    fixed = None if hardened is None else [f.to_dict() for f in original.findings if f.key not in final_keys]
    changes, skipped, notes = _changes(result)
    notes += [{"stage": "write layer", "note": note} for note in write_notes]
    packages = sorted(final.components, key=lambda c: (-c.bytes, c.ecosystem, c.name.lower(), c.location))
    return {
        "schema_version": SCHEMA_VERSION,
        "identity": identity.to_dict(),
        "os": original.os.to_dict(),
        "sizes": _sizes(original, hardened, result),
        "largest_files": [{"path": path, "bytes": size} for path, size in final.largest_files],
        "largest_packages": [_package(c) for c in packages[:TOP_PACKAGES]],
        "efficiency": None if efficiency is None else efficiency.to_dict(),
        "rules": [RULES[code].to_dict() for code in sorted(RULES)],
        "findings_summary": count_by_severity(findings),
        "findings": [f.to_dict() for f in findings],
        "fixed_findings": fixed,
        "original_findings_summary": None if hardened is None else count_by_severity(original.findings),
        "elf": _elf(final),
        "packages": {
            "before": _package_counts(original.components),
            "after": None if hardened is None else _package_counts(hardened.components),
        },
        "sbom": None if sbom is None else {
            "original": sbom.original,
            "hardened": sbom.hardened,
            "diff": sbom.diff,
            "diff_summary": None if sbom.diff_summary is None else dict(sbom.diff_summary),
        },
        "verification": _verification(verification),
        "changes": changes,
        "skipped": skipped,
        "notes": notes,
        "dropped": [_dropped(entry) for entry in dropped],
        "attestations": None if attestations is None else dict(attestations),
    }
