"""What one ``harden image`` run produced, per platform and in all: the in-progress record of a platform
(PlatformRun), the results the library returns, and the platforms summary the reports write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harden.image.model import ImageConfig, ImageSet, Platform
from harden.job.load import Loaded
from harden.pipeline import PipelineResult, StageRecord, file_count

if TYPE_CHECKING:
    from harden.image.model import Image
    from harden.report.analysis import ElfScanAhead
    from harden.report.write import WrittenReports
    from harden.verify.result import VerificationReport


@dataclass
class PlatformRun:
    """One platform of the run: its image merged, the pipeline's result, what was written and verified."""

    loaded: Loaded
    result: PipelineResult | None = None
    config: ImageConfig | None = None
    output: Image | None = None
    verification: VerificationReport | None = None
    verified_by: str = "not verified"
    """"engine" or "sandbox" (the images ran), "linkage" (only the static check: the platform cannot run
    here), "not verified" (--no-verify, verification disabled by the policy, --dry-run)."""
    how: str = ""
    harden_seconds: float = 0.0
    output_digest: str | None = None
    folder: str = ""
    """The folder of its reports (and of its files in the workspace): the platform's name, made unique."""
    elf_ahead: ElfScanAhead | None = None
    """The original's ELF files, inspected in the background while the stages plan."""
    write_notes: tuple[str, ...] = ()
    """What the report says of how the layer was written (``LayerPlan.notes``)."""

    @property
    def platform(self) -> Platform | None:
        return self.loaded.image.runs_on

    @property
    def label(self) -> str:
        return str(self.platform) if self.platform is not None else "unknown platform"


@dataclass(frozen=True, slots=True)
class PlatformResult:
    """One platform of a run: sizes, what each stage did, and how it was verified (``verified_by``: "engine",
    "sandbox", "linkage" — a platform this machine cannot run, only the static check —, or "not verified";
    ``how``: native, through binfmt_misc, or why it could not run)."""

    platform: str
    bytes_before: int
    bytes_after: int
    files_before: int
    files_after: int
    records: tuple[StageRecord, ...]
    verification: VerificationReport | None
    verified_by: str = "not verified"
    how: str = ""
    output_digest: str | None = None


@dataclass(frozen=True, slots=True)
class HardenResult:
    source: str
    policy_name: str
    policy_digest: str
    platforms: tuple[PlatformResult, ...]
    written: tuple[str, ...]
    report_dir: Path | None
    image_id: str | None
    is_index: bool = False
    reports: WrittenReports | None = None
    """The report set of a one-platform run (a run of several has one per platform, ``platform_reports``)."""
    platform_reports: tuple[WrittenReports, ...] = ()
    skipped: tuple[str, ...] = ()
    """Entries of the source index that are not images (attestations, artifacts), left out."""
    attestations: tuple[Path, ...] = ()
    """The statement files written beside the reports (``*.dsse.json`` signed, ``*.intoto.json`` unsigned)."""

    @property
    def bytes_before(self) -> int:
        return sum(p.bytes_before for p in self.platforms)

    @property
    def bytes_after(self) -> int:
        return sum(p.bytes_after for p in self.platforms)

    @property
    def files_before(self) -> int:
        return sum(p.files_before for p in self.platforms)

    @property
    def files_after(self) -> int:
        return sum(p.files_after for p in self.platforms)

    @property
    def records(self) -> tuple[StageRecord, ...]:
        """The stage records of a one-platform run (of the first platform otherwise)."""
        return self.platforms[0].records if self.platforms else ()

    @property
    def verification(self) -> VerificationReport | None:
        """The verification of a one-platform run (of the first platform otherwise)."""
        return self.platforms[0].verification if self.platforms else None


def platform_result(run: PlatformRun) -> PlatformResult:

    assert run.result is not None
    return PlatformResult(
        platform=run.label,
        bytes_before=run.loaded.rootfs.content_bytes(),
        bytes_after=run.result.rootfs.content_bytes(),
        files_before=file_count(run.loaded.rootfs),
        files_after=file_count(run.result.rootfs),
        records=run.result.records,
        verification=run.verification,
        verified_by=run.verified_by,
        how=run.how,
        output_digest=run.output_digest,
    )


def platform_summary(source: str, runs: Sequence[PlatformRun], images: ImageSet, written: Sequence[str],
             dropped_annotations: Sequence[str], reports: Sequence[WrittenReports], report_dir: Path,
             dry_run: bool) -> dict[str, Any]:
    rows = []
    for run, report in zip(runs, reports, strict=True):
        verification = run.verification
        verdict = ("not verified" if verification is None else "skipped" if verification.skipped
                   else "passed" if verification.ok else "failed")
        assert run.result is not None
        rows.append({
            "platform": run.label,
            "verification": run.verified_by,
            "how": run.how,
            "verdict": verdict,
            "failures": verification.failures() if verification is not None else [],
            "source_config_digest": run.loaded.image.config_digest or None,
            "output_config_digest": run.output_digest,
            "bytes_before": run.loaded.rootfs.content_bytes(),
            "bytes_after": run.result.rootfs.content_bytes(),
            "findings": len(report.findings),
            "reports": str(report.report_dir.relative_to(report_dir)),
        })
    return {
        "schema": "harden-platforms/1",
        "source": source,
        "index": images.is_index,
        "dry_run": dry_run,
        "platforms": rows,
        "left_out": list(images.skipped),
        "annotations_dropped": list(dropped_annotations),
        "written": list(written),
    }


def per_platform(runs: Sequence[PlatformRun], images: ImageSet) -> bool:
    """Whether the reports go in a folder per platform, with a summary: an index, or several images."""
    return len(runs) > 1 or images.is_index

