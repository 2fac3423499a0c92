"""The attestations of a ``harden image`` run, from what the run knows: which outputs they name as subjects
(those that store the hardened image's manifest by its digest), the plan the report lists, the statements
(signed with the ``--sign-key`` keys, or unsigned) and the referrers the outputs store with the image.

Order matters and is fixed by the job: ``coverage`` and ``refuse_pointless_key`` before any work; per platform,
``plan`` (before the report is built: the report lists it), then ``attest`` (after: the provenance names the
report's digest), then the outputs are published with the referrers, then ``write`` puts the statement files
beside the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harden import __version__
from harden.attest.facts import CheckCount, Checks, RunFacts, Verdict
from harden.attest.keys import SigningKey
from harden.attest.referrers import Descriptor, output_referrers
from harden.attest.run import (
    SIGNED_SUFFIX,
    UNSIGNED_SUFFIX,
    Attestation,
    AttestationPlan,
    attest_run,
    check_plan,
    layout_artifacts,
    plan_attestations,
    write_attestations,
)
from harden.attest.statements import STATEMENTS
from harden.attest.uris import oci_purl
from harden.errors import UsageError
from harden.image.reference import ImageRef
from harden.image.transports import Document, Referrer, stores_manifest
from harden.image.transports.oci_layout import CONFIG_TYPE

if TYPE_CHECKING:
    from harden.report.write import RunReports
    from harden.verify.result import VerificationReport

NO_MANIFEST = "keeps no manifest digest a registry or layout serves (docker-archive: and engine tags store the " \
              "image config and layers only)"


@dataclass(frozen=True, slots=True)
class Coverage:
    """The outputs a run's statements name as subjects, and those they cannot (each with why)."""

    subjects: tuple[ImageRef, ...]
    not_covered: tuple[str, ...]


def coverage(targets: Sequence[ImageRef]) -> Coverage:
    covered = tuple(ref for ref in targets if stores_manifest(ref))
    return Coverage(covered, tuple(f"{ref.text}: {NO_MANIFEST}" for ref in targets if not stores_manifest(ref)))


def refuse_pointless_key(keys: Sequence[SigningKey], covered: Coverage, targets: Sequence[ImageRef]) -> None:
    """UsageError (before any work) for ``--sign-key`` when no output stores a manifest to attest."""
    if keys and not covered.subjects:
        outputs = ", ".join(ref.text for ref in targets) or "none"
        raise UsageError(f"--sign-key: no output stores a manifest digest to attest (outputs: {outputs}); add "
                         "--output oci:DIR:REF, oci-archive:PATH:REF or docker://HOST/REPO:TAG")


def verdict_of(verification: VerificationReport | None) -> tuple[Verdict | None, Checks | None]:
    """PASSED and what was checked; (None, None) when the run was not verified (nothing to summarize). A run
    whose verification failed publishes nothing, so it is never attested."""
    if verification is None or verification.skipped:
        return None, None
    failures = len(verification.failures())
    modules = sum(diff.ok_before for diff in verification.imports)
    lost = sum(len(diff.regressions) for diff in verification.imports)
    distributions = sum(meta.distributions_before for meta in verification.metadata)
    metadata_failures = sum(len(meta.failures()) for meta in verification.metadata)
    smoke_failed = sum(1 for smoke in verification.smoke if not smoke.passed)
    assertions_failed = sum(1 for assertion in verification.assertions if not assertion.passed)
    linkage = verification.linkage
    checks = Checks(
        modules=CheckCount(max(modules, lost), lost),
        metadata=CheckCount(max(distributions, metadata_failures), metadata_failures),
        smoke_tests=CheckCount(len(verification.smoke), smoke_failed),
        assertions=CheckCount(len(verification.assertions), assertions_failed),
        runner=verification.runner,
        linkage=None if linkage is None else CheckCount(max(linkage.objects, len(linkage.broken)),
                                                        len(linkage.broken)),
    )
    return (Verdict.PASSED if failures == 0 else Verdict.FAILED), checks


def plan(covered: Coverage, manifest: Document | None, keys: Sequence[SigningKey],
         verification: VerificationReport | None, *, not_verified_why: str, sbom_file: str) -> AttestationPlan:
    """What this platform's statements will be (``manifest``: its image manifest as the outputs store it)."""
    verdict, _ = verdict_of(verification)
    subjects = tuple(ref.text for ref in covered.subjects)
    return plan_attestations(subjects, manifest.digest if manifest is not None else None, keys,
                             verified=verdict is not None, not_covered=covered.not_covered, attached_to=subjects,
                             sbom_file=sbom_file, not_verified_why=not_verified_why)


@dataclass(frozen=True, slots=True)
class RunIdentity:
    """What every platform's provenance shares: the source, the policy, when the run started and ended."""

    source: str
    policy_name: str
    policy_digest: str
    started_on: datetime
    finished_on: datetime


def attest(the_plan: AttestationPlan, covered: Coverage, manifest: Document, run: RunIdentity,
           source_config_digest: str, verification: VerificationReport | None, reports: RunReports,
           keys: Sequence[SigningKey]) -> tuple[tuple[Attestation, ...], tuple[Referrer, ...]]:
    """The statements of one platform (held to ``the_plan``), and the referrers the outputs store: the SBOM
    file itself, then each statement."""
    from harden.report.write import REPORT_JSON

    sbom_file = the_plan.sbom_file
    verdict, checks = verdict_of(verification)
    facts = RunFacts(
        source=run.source,
        source_digest=source_config_digest,
        source_media_type=CONFIG_TYPE,
        output_names=the_plan.subjects,
        output_digest=manifest.digest,
        resource_uri=oci_purl(covered.subjects[0].short_name, manifest.digest),
        policy_name=run.policy_name,
        policy_digest=run.policy_digest,
        harden_version=__version__,
        report_digest=reports.digest(REPORT_JSON),
        report_name=REPORT_JSON,
        verdict=verdict,
        checks=checks,
        started_on=run.started_on,
        finished_on=run.finished_on,
    )
    bom: dict[str, Any] = reports.documents[sbom_file]
    attestations = attest_run(facts, bom, keys)
    check_plan(the_plan, attestations)
    subject = Descriptor(manifest.media_type, manifest.digest, len(manifest.data))
    artifacts = layout_artifacts(attestations, reports.file_bytes(sbom_file), sbom_file)
    return attestations, output_referrers(subject, artifacts)


def write(folder: Path, attestations: Sequence[Attestation]) -> tuple[Path, ...]:
    """The statement files beside the report; those of an earlier run in the same folder (another suffix, a
    statement this run did not make) are removed, so the folder holds this run's only."""
    written = write_attestations(folder, attestations)
    for name, _ in STATEMENTS:
        for suffix in (SIGNED_SUFFIX, UNSIGNED_SUFFIX):
            path = folder / f"{name}{suffix}"
            if path not in written:
                path.unlink(missing_ok=True)
    return written
