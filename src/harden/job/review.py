"""``harden report IMAGE``: the security review of any image, loaded in a workspace; nothing changes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harden.image.blobs import BlobStore
from harden.image.model import Platform
from harden.image.source_guard import refuse_writes_into_sources
from harden.job.load import load_and_merge
from harden.progress import ProgressReporter, SilentProgress

if TYPE_CHECKING:
    from harden.image.space import SizeLimit
    from harden.policy import Policy
    from harden.report.write import WrittenReports


def review_reference(reference: str, *, policy: Policy | None = None, report_dir: Path,
                     progress: ProgressReporter | None = None, sanitize: bool = False,
                     size_limit: SizeLimit | None = None, platform: Platform | None = None) -> WrittenReports:
    """``harden report``: load and merge ``reference`` in a workspace and write its security review; changes
    nothing. ``sanitize`` drops unsafe layer entries (listed in the report) instead of refusing the image."""
    from harden.image.transports import parse_reference
    from harden.image.workspace import Workspace
    from harden.report.write import write_review_reports
    from harden.workers import worker_server

    progress = progress or SilentProgress()
    refuse_writes_into_sources([parse_reference(reference)], report_dir=report_dir)
    with Workspace() as ws, worker_server():
        blobs = BlobStore(ws.path / "blobs")
        loaded = load_and_merge(reference, ws.path, blobs, progress, sanitize=sanitize, size_limit=size_limit,
                                platform=platform)
        progress.phase("review")
        reports = write_review_reports(report_dir, source=reference, source_image=loaded.image,
                                       rootfs=loaded.rootfs, blobs=blobs, policy=policy, dropped=loaded.dropped,
                                       efficiency=loaded.efficiency)
    progress.close()
    return reports

