"""What one ``harden image`` run did, as plain values: the only input the statements are built from.

The caller (the job) fills it in from its own results; nothing here reads an image, a policy or a report.
Digests are ``sha256:<64 hex>``; times are timezone-aware datetimes, written as RFC 3339 UTC ("…Z").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from harden.attest import uris
from harden.errors import InternalError
from harden.image.transports.oci_layout import MANIFEST_TYPE

SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def check_digest(value: str, what: str) -> str:
    """``value`` if it is ``sha256:<64 lowercase hex>``; InternalError (a caller's bug) otherwise."""
    if not isinstance(value, str) or not SHA256_DIGEST.fullmatch(value):
        raise InternalError(f"{what} is not a sha256 digest: {value!r}")
    return value


def digest_set(digest: str) -> dict[str, str]:
    """The in-toto DigestSet of ``sha256:<hex>``: ``{"sha256": "<hex>"}``."""
    algorithm, _, value = digest.partition(":")
    return {algorithm: value}


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a "Z", to the second (in-toto Timestamp)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Verdict(StrEnum):
    PASSED = "PASSED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class CheckCount:
    """How many checks of one kind ran, and how many of them failed."""

    checked: int
    failed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.failed <= self.checked:
            raise InternalError(f"check counts out of range: {self.failed} failed of {self.checked}")

    def to_dict(self) -> dict[str, int]:
        return {"checked": self.checked, "failed": self.failed}


@dataclass(frozen=True, slots=True)
class Checks:
    """What the verification checked: modules imported, distribution metadata, smoke tests, assertions."""

    modules: CheckCount
    metadata: CheckCount
    smoke_tests: CheckCount
    assertions: CheckCount

    def to_dict(self) -> dict[str, Any]:
        return {
            "modules": self.modules.to_dict(),
            "metadata": self.metadata.to_dict(),
            "smokeTests": self.smoke_tests.to_dict(),
            "assertions": self.assertions.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class RunFacts:
    """One run, as its provenance, verification summary and SBOM statement state it.

    ``output_digest`` is the hardened image's *manifest* digest (what a registry or an OCI layout names it by):
    the subject of every statement. ``source_digest`` is the source image's manifest digest where it has one
    (OCI layout, registry); a docker-archive or engine source has only its config digest, which the caller
    passes with ``source_media_type`` set to the config media type so the provenance says which it is.
    """

    source: str
    source_digest: str
    output_name: str
    output_digest: str
    resource_uri: str
    policy_name: str
    policy_digest: str
    harden_version: str
    report_digest: str
    verdict: Verdict
    checks: Checks
    started_on: datetime
    finished_on: datetime
    source_media_type: str = MANIFEST_TYPE
    report_name: str = "report.json"
    invocation_id: str = ""
    builder_id: str = uris.BUILDER_ID
    verifier_id: str = uris.VERIFIER_ID

    def __post_init__(self) -> None:
        check_digest(self.source_digest, "the source digest")
        check_digest(self.output_digest, "the output manifest digest")
        check_digest(self.policy_digest, "the policy digest")
        check_digest(self.report_digest, "the report digest")
        for name in ("started_on", "finished_on"):
            if getattr(self, name).tzinfo is None:
                raise InternalError(f"{name} has no time zone")
        for name in ("source", "output_name", "resource_uri", "policy_name", "harden_version"):
            if not getattr(self, name):
                raise InternalError(f"{name} is empty")
        if not isinstance(self.verdict, Verdict):
            raise InternalError(f"verdict is not a Verdict: {self.verdict!r}")
