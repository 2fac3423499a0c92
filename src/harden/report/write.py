"""Writing the report set: report.json, report.md, report.html, report.sarif and the CycloneDX SBOMs.

``build_run_reports`` then ``write_reports`` is what ``harden image`` does (job.harden): the report is built,
its exact bytes known (their digest goes into the run's provenance), before it is written; ``write_run_reports``
does both at once. ``write_review_reports`` is ``harden report``'s (job.review_reference loads and merges the
image): no stage ran, the same set with the "after" side absent. Every file is written atomically (a temp file
in the same directory, then ``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harden.atomic import atomic_file
from harden.image.blobs import BlobStore
from harden.image.model import Image, Rootfs
from harden.pipeline import PipelineResult
from harden.report.analysis import ElfCache, analyze_side
from harden.report.build import Identity, SbomRefs, build_report
from harden.report.efficiency import efficiency_of
from harden.report.findings import enforce_fail_on, exit_code_for, metadata_findings, sort_findings
from harden.report.html import render_html
from harden.report.markdown import render_markdown
from harden.report.model import Efficiency, Finding, PolicyLike, Severity, VerificationLike
from harden.report.sarif import render_sarif
from harden.report.sbom import cyclonedx, sbom_diff

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
REPORT_SARIF = "report.sarif"
SBOM_ORIGINAL = "sbom.original.cdx.json"
SBOM_HARDENED = "sbom.hardened.cdx.json"
SBOM_DIFF = "sbom.diff.json"


@dataclass(frozen=True, slots=True)
class WrittenReports:
    """What was written, and the findings ``--fail-on`` judges (those of the final image)."""

    report_dir: Path
    files: tuple[Path, ...]
    findings: tuple[Finding, ...]
    report: Mapping[str, Any]

    def exit_code(self, fail_on: str) -> int:
        return exit_code_for(self.findings, fail_on)

    def enforce(self, fail_on: str) -> None:
        """Raise FindingsError (exit 1) if findings at or above ``fail_on`` exist."""
        enforce_fail_on(self.findings, fail_on, report=str(self.report_dir / REPORT_MD))

    def counts(self) -> dict[str, int]:
        return {s.value: sum(1 for f in self.findings if f.severity is s) for s in Severity}


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
        tmp.chmod(0o644)


def json_bytes(data: Any) -> bytes:
    """``data`` as the report files hold it: indented UTF-8 JSON and a final newline, key order the caller's."""
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically. Key order is the caller's (deterministic)."""
    _atomic_write(Path(path), json_bytes(data))


def write_text(path: Path, text: str) -> None:
    _atomic_write(Path(path), text.encode())


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_set(report_dir: Path, report: dict[str, Any], sboms: Mapping[str, Any]) -> list[Path]:
    written = []
    for name, data in sboms.items():
        write_json(report_dir / name, data)
        written.append(report_dir / name)
    markdown = render_markdown(report)
    write_json(report_dir / REPORT_JSON, report)
    write_text(report_dir / REPORT_MD, markdown)
    write_text(report_dir / REPORT_HTML, render_html(report, markdown))
    write_json(report_dir / REPORT_SARIF, render_sarif(report))
    written += [report_dir / n for n in (REPORT_JSON, REPORT_MD, REPORT_HTML, REPORT_SARIF)]
    log.info("reports written to %s", report_dir)
    return written


@dataclass(frozen=True, slots=True)
class RunReports:
    """A run's report set, built and not yet written: report.json's dict, the SBOMs and diff by file name, and
    the findings ``--fail-on`` judges. The bytes of each JSON file are ``json_bytes`` of its document."""

    report: dict[str, Any]
    documents: Mapping[str, Any]
    findings: tuple[Finding, ...]

    def file_bytes(self, name: str) -> bytes:
        """The exact bytes ``write_reports`` writes as ``name`` (report.json or one of ``documents``)."""
        return json_bytes(self.report if name == REPORT_JSON else self.documents[name])

    def digest(self, name: str = REPORT_JSON) -> str:
        return "sha256:" + hashlib.sha256(self.file_bytes(name)).hexdigest()


def write_reports(report_dir: Path, built: RunReports) -> WrittenReports:
    """Write a built report set into ``report_dir``."""
    files = _write_set(Path(report_dir), built.report, built.documents)
    return WrittenReports(Path(report_dir), tuple(files), built.findings, built.report)


def write_run_reports(report_dir: Path, **facts: Any) -> WrittenReports:
    """``build_run_reports(**facts)`` written into ``report_dir``."""
    return write_reports(report_dir, build_run_reports(**facts))


def build_run_reports(
    *,
    source: str,
    source_image: Image,
    original: Rootfs,
    result: PipelineResult,
    policy: PolicyLike | None,
    verification: VerificationLike | None,
    dropped: Sequence[Any],
    written: Iterable[str],
    harden_seconds: float,
    dry_run: bool,
    blobs: BlobStore,
    output_digest: str | None = None,
    generated_at: str | None = None,
    removed_on_purpose: Sequence[str] = (),
    efficiency: Efficiency | None = None,
    attestations: Mapping[str, Any] | None = None,
    elf_cache: ElfCache | None = None,
    write_notes: Sequence[str] = (),
) -> RunReports:
    """The report set of one ``harden image`` run: findings on the hardened image, the original's for
    comparison ("fixed by harden"), SBOMs of both and their diff. ``removed_on_purpose``: the distributions the
    policy removes (remove-installers), which HDN-0009 must not flag as lost metadata. ``efficiency``: the
    layers' figure, computed as the merge read them (``harden.job.load.Loaded``); None: computed here, reading the
    source's layers again.
    ``attestations``: the report's entry for what the run attests (None: nothing). ``elf_cache``: ELF files
    already inspected (``ElfScanAhead``). ``write_notes``: how the layer was written (``LayerPlan.notes``)."""
    generated_at = generated_at or now_utc()
    cache: ElfCache = dict(elf_cache or {})
    before = analyze_side(original, source_image.config, blobs, elf_cache=cache)
    after = analyze_side(result.rootfs, result.config, blobs, elf_cache=cache)
    extra = metadata_findings(before.components, after.components, allowed=tuple(removed_on_purpose))
    sbom_before = cyclonedx(before.components, subject=source, digest=source_image.config_digest or None,
                            side="original", generated_at=generated_at, platform=source_image.config.platform,
                            os=before.os)
    sbom_after = cyclonedx(after.components, subject=source, digest=output_digest, side="hardened",
                           generated_at=generated_at, platform=source_image.config.platform, os=after.os)
    diff = sbom_diff(before.components, after.components, before_file=SBOM_ORIGINAL, after_file=SBOM_HARDENED)
    identity = Identity(
        kind="run",
        source=source,
        generated_at=generated_at,
        source_digest=source_image.config_digest or None,
        output_digest=output_digest,
        platform=source_image.config.platform,
        policy=policy,
        dry_run=dry_run,
        written=tuple(written),
        harden_seconds=harden_seconds,
        layers=len(source_image.layers),
    )
    report = build_report(
        identity,
        original=before,
        hardened=after,
        result=result,
        efficiency=_measured(efficiency, source_image),
        verification=verification,
        dropped=dropped,
        extra_findings=extra,
        sbom=SbomRefs(SBOM_ORIGINAL, SBOM_HARDENED, SBOM_DIFF, diff["summary"]),
        attestations=attestations,
        write_notes=write_notes,
    )
    findings = tuple(sort_findings([*after.findings, *extra]))
    return RunReports(report, {SBOM_ORIGINAL: sbom_before, SBOM_HARDENED: sbom_after, SBOM_DIFF: diff}, findings)


def write_review_reports(
    report_dir: Path,
    *,
    source: str,
    source_image: Image,
    rootfs: Rootfs,
    blobs: BlobStore,
    policy: PolicyLike | None = None,
    dropped: Sequence[Any] = (),
    generated_at: str | None = None,
    efficiency: Efficiency | None = None,
) -> WrittenReports:
    """The report set of ``harden report``: one side, nothing changed. ``efficiency``: as in
    ``build_run_reports``."""
    report_dir = Path(report_dir)
    generated_at = generated_at or now_utc()
    side = analyze_side(rootfs, source_image.config, blobs, reference=source)
    digest = source_image.config_digest or None
    sbom = cyclonedx(side.components, subject=source, digest=digest, side="original",
                     generated_at=generated_at, platform=source_image.config.platform, os=side.os)
    identity = Identity(kind="review", source=source, generated_at=generated_at, source_digest=digest,
                        platform=source_image.config.platform, policy=policy, layers=len(source_image.layers))
    report = build_report(identity, original=side, efficiency=_measured(efficiency, source_image), dropped=dropped,
                          sbom=SbomRefs(SBOM_ORIGINAL))
    files = _write_set(report_dir, report, {SBOM_ORIGINAL: sbom})
    return WrittenReports(report_dir, tuple(files), side.findings, report)


def _measured(efficiency: Efficiency | None, source_image: Image) -> Efficiency | None:
    """The layer efficiency the caller measured, or (none given) measured now from the source layers."""
    return efficiency if efficiency is not None else efficiency_of(source_image)


def default_report_dir(reference: str) -> Path:
    from harden.image.transports import parse_reference

    return Path("reports") / parse_reference(reference).short_name
