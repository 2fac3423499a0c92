"""``harden verify ORIGINAL HARDENED``: both images read and merged in one workspace, the policy planned on
the original (what it removes on purpose), then verification."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harden.image.blobs import BlobStore
from harden.image.model import Platform
from harden.image.source_guard import refuse_writes_into_sources
from harden.job.load import load_and_merge
from harden.job.policy_facts import deliberate_removals, ledger_of, shell_names
from harden.pipeline import run_pipeline
from harden.progress import ProgressReporter, SilentProgress

if TYPE_CHECKING:
    from harden.image.space import SizeLimit
    from harden.image.transports import RegistryOptions
    from harden.policy import Policy
    from harden.verify.result import VerificationReport


def verify_references(original: str, hardened: str, *, policy: Policy, report_dir: Path | None, runner: str,
                      jobs: int, progress: ProgressReporter | None, size_limit: SizeLimit | None = None,
                      platform: Platform | None = None, registry: RegistryOptions | None = None) -> VerificationReport:
    from harden.heap import release_for_probes
    from harden.image.transports import engine_image, parse_reference
    from harden.image.workspace import Workspace
    from harden.verify.api import VerifyTarget, verify
    from harden.verify.linkage import read_for_linkage
    from harden.workers import worker_server

    refuse_writes_into_sources([parse_reference(original), parse_reference(hardened)], report_dir=report_dir)
    progress = progress or SilentProgress()
    with Workspace() as ws, worker_server():
        blobs = BlobStore(ws.path / "blobs")
        before = load_and_merge(original, ws.path / "original", blobs, progress, size_limit=size_limit,
                                platform=platform, registry=registry, measure_efficiency=False)
        after = load_and_merge(hardened, ws.path / "hardened", blobs, progress, size_limit=size_limit,
                               platform=platform, registry=registry, measure_efficiency=False)
        progress.phase(f"plan {policy.name} on the original (what it removes on purpose)")
        planned = run_pipeline(before.rootfs, before.image.config, blobs, policy.enabled_stages(), jobs=jobs)
        progress.phase("verify")
        dynamic = read_for_linkage(before.rootfs, after.rootfs, blobs)
        release_for_probes()  # the probes peak now; no pool needs the fork server any more
        report = verify(
            VerifyTarget("original", before.image.config, before.rootfs, blobs, engine_image(before.ref, before.image)),
            VerifyTarget("hardened", after.image.config, after.rootfs, blobs, engine_image(after.ref, after.image)),
            policy.verify,
            allowed_removals=deliberate_removals(policy),
            ledger=ledger_of(planned.records),
            shells=shell_names(policy),
            runner=runner,
            workdir=ws.path / "verify",
            jobs=jobs,
            progress=progress.tick,
            dynamic=dynamic,
        )
    if report_dir is not None:
        from harden.report.write import write_json

        write_json(report_dir / "verify.json", report.to_dict())
    return report

