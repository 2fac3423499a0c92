"""The library's front door: what the CLI (and any other caller) uses. I/O happens here and below, never in cli/.

ELF inspection and stripping run in worker processes started fresh (``harden.workers``), so a script that calls
this module must guard its entry point with ``if __name__ == "__main__":``, as Python requires for such workers."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harden.errors import HardenError, UsageError, VerificationFailed
from harden.job.results import HardenResult, PlatformResult
from harden.report.write import default_report_dir

if TYPE_CHECKING:
    from harden.attest.keys import SigningKey
    from harden.image.model import Platform
    from harden.image.space import SizeLimit
    from harden.job.attest_verify import AttestationResult
    from harden.policy import Policy
    from harden.progress import ProgressReporter
    from harden.report.write import WrittenReports
    from harden.verify.result import VerificationReport

log = logging.getLogger(__name__)

__all__ = ["HardenResult", "PlatformResult"]  # the run's results, defined where the run is (harden.job.results)


def load_policy(name: str) -> Policy:
    from harden.policy import load_policy as _load

    return _load(name)


def validate_policy(path: str) -> Policy:
    from harden.policy import validate_policy_file

    return validate_policy_file(Path(path))


def list_policies() -> list[str]:
    from harden.policy import list_policies as _list

    return _list()


def policy_for_image(reference: str, explicit: str | None) -> Policy:
    """The explicit policy, else the shipped policy named like the image repository, else ``default``."""
    if explicit:
        return load_policy(explicit)
    from harden.image.transports import parse_reference

    name = parse_reference(reference).short_name
    return load_policy(name if name in list_policies() else "default")


def harden_image(
    source: str,
    *,
    policy: str | None = None,
    tag: str | None = None,
    outputs: Sequence[str] = (),
    report_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
    dry_run: bool = False,
    sanitize: bool = False,
    runner: str = "auto",
    jobs: int = 0,
    fail_on: str = "error",
    progress: ProgressReporter | None = None,
    max_image_bytes: int | None = None,
    platforms: Sequence[str] = (),
    compression: str | None = None,
    tls_verify: bool | None = None,
    sign_key: str | os.PathLike[str] | None = None,
) -> HardenResult:
    """``max_image_bytes``: the most uncompressed bytes the image's layers may expand to (see image_size_limit);
    ``platforms``: ``os/arch[/variant]`` of an index to harden (default: every platform); ``compression``:
    ``gzip[:LEVEL]`` or ``zstd[:LEVEL]`` for the outputs that compress; ``tls_verify``: None verifies registries'
    TLS (plain HTTP for loopback ones only), False does not (skopeo's ``--tls-verify=false``); ``sign_key``: a
    PEM private key (ECDSA P-256 or Ed25519) the run's in-toto statements are signed with, read first, before
    any other work (a bad one is a UsageError naming the file, never its content); without it the statements
    are written unsigned."""
    from harden.job.harden import HardenJob

    keys = signing_keys(sign_key)
    job = HardenJob(
        source=source,
        policy=policy_for_image(source, policy),
        tag=tag,
        outputs=tuple(outputs),
        report_dir=_path(report_dir),
        verify=verify,
        dry_run=dry_run,
        sanitize=sanitize,
        runner=runner,
        jobs=jobs or os.cpu_count() or 1,
        progress=progress,
        size_limit=image_size_limit(max_image_bytes),
        platforms=tuple(platforms),
        compression=compression,
        tls_verify=tls_verify,
        signing_keys=keys,
    )
    from harden.report.findings import failing

    failing((), fail_on)  # a bad threshold is a usage error before any work
    return job.execute()


def signing_keys(path: str | os.PathLike[str] | None) -> tuple[SigningKey, ...]:
    """The signing key in the PEM file ``path`` (none without one); UsageError (exit 2, one line naming the file
    and why) for a missing, unreadable, encrypted-without-passphrase or unsupported key."""
    if path is None:
        return ()
    from harden.attest.keys import read_signing_key

    return (read_signing_key(Path(path)),)


def verify_attestations(image: str, keys: Sequence[str | os.PathLike[str]], *,
                        attestations: str | os.PathLike[str] | None = None,
                        tls_verify: bool | None = None) -> AttestationResult:
    """``harden attest verify``: the attestations of ``image`` (an ``oci:``/``oci-archive:`` layout, a
    ``docker://`` reference, or a ``sha256:`` manifest digest with ``attestations``) checked with the public keys
    in the PEM files ``keys``. Problems are in the result; ``raise_for_attestations`` turns them into exit 1."""
    from harden.attest.keys import read_verify_key
    from harden.image.transports import RegistryOptions
    from harden.job.attest_verify import verify_image_attestations

    if not keys:
        raise UsageError("--key: at least one public key (PEM) is needed")
    loaded = [read_verify_key(Path(path)) for path in keys]
    return verify_image_attestations(image, loaded, attestations=_path(attestations),
                                     registry=RegistryOptions(tls_verify=tls_verify))


def raise_for_attestations(result: AttestationResult) -> None:
    """AttestationFailed (exit 1) when any attestation of the result did not verify."""
    result.raise_for_problems()


def enforce_fail_on(result: HardenResult, fail_on: str) -> None:
    """Exit 1 (FindingsError) when the hardened image still has findings at or above ``fail_on``."""
    if result.written:
        for reports in result.platform_reports:
            reports.enforce(fail_on)


def verify_images(
    original: str,
    hardened: str,
    *,
    policy: str | None = None,
    report_dir: str | os.PathLike[str] | None = None,
    runner: str = "auto",
    jobs: int = 0,
    progress: ProgressReporter | None = None,
    max_image_bytes: int | None = None,
    platform: str | None = None,
    tls_verify: bool | None = None,
) -> VerificationReport:
    """``max_image_bytes`` applies to each of the two images (see image_size_limit); ``platform`` chooses the
    image of an index (default: this machine's)."""
    from harden.image.transports import RegistryOptions
    from harden.job.verify import verify_references

    return verify_references(
        original,
        hardened,
        policy=policy_for_image(original, policy),
        report_dir=_path(report_dir),
        runner=runner,
        jobs=jobs or os.cpu_count() or 1,
        progress=progress,
        size_limit=image_size_limit(max_image_bytes),
        platform=parse_platform(platform) if platform else None,
        registry=RegistryOptions(tls_verify=tls_verify),
    )


def parse_platform(text: str) -> Platform:
    """``os/arch[/variant]``; UsageError for anything else."""
    from harden.image.model import Platform

    try:
        return Platform.parse(text)
    except ValueError as exc:
        raise UsageError(f"--platform: {exc}") from None


def transports_help() -> str:
    """The transports table, one line each (generated from ``harden.image.transports.TRANSPORTS``)."""
    from harden.image.transports import help_text

    return help_text()


def raise_if_failed(report: VerificationReport) -> None:
    if not report.ok:
        raise VerificationFailed("verification failed", details=report.failures())



def review_image(
    reference: str,
    *,
    policy: str | None = None,
    report_dir: str | os.PathLike[str] | None = None,
    sanitize: bool = False,
    progress: ProgressReporter | None = None,
    max_image_bytes: int | None = None,
    platform: str | None = None,
) -> WrittenReports:
    """``harden report``: the security review of any image; runs no stage and changes nothing."""
    from harden.job.review import review_reference

    return review_reference(
        reference,
        policy=load_policy(policy) if policy else None,
        report_dir=_path(report_dir) or default_report_dir(reference),
        progress=progress,
        sanitize=sanitize,
        size_limit=image_size_limit(max_image_bytes),
        platform=parse_platform(platform) if platform else None,
    )


def _path(value: str | os.PathLike[str] | None) -> Path | None:
    """A folder or file the caller named as text or a path (``None`` stays ``None``)."""
    return None if value is None else Path(value)


def image_size_limit(max_image_bytes: int | None) -> SizeLimit | None:
    """The limit on an image's uncompressed size: ``max_image_bytes`` when given, else
    ``$HARDEN_MAX_IMAGE_BYTES`` (the one place it is read; a bad value is a UsageError before any work), else
    None: the default, derived from the workspace's free space once it exists (``harden.image.space``)."""
    from harden.image.space import requested_limit

    return requested_limit(max_image_bytes)


def parse_size(text: str) -> int:
    """``500M``, ``20G`` or a number of bytes (binary units); ValueError for anything else."""
    from harden.image.space import parse_size as _parse

    return _parse(text)


def no_space_error(exc: OSError, step: str | None = None) -> HardenError | None:
    """A full disk or quota (ENOSPC, EDQUOT) as one clear error naming the filesystem, else None."""
    from harden.image.space import is_no_space
    from harden.image.space import no_space_error as _no_space

    return _no_space(exc, step) if is_no_space(exc) else None
