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
    """What the verification checked: modules imported, distribution metadata, smoke tests, assertions; where
    it ran (``runner``: "sandbox", "engine", or "linkage" when nothing ran and only the static ELF linkage
    check stood in, whose ELF files are ``linkage``)."""

    modules: CheckCount
    metadata: CheckCount
    smoke_tests: CheckCount
    assertions: CheckCount
    runner: str = ""
    linkage: CheckCount | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.runner:
            out["runner"] = self.runner
        out.update({
            "modules": self.modules.to_dict(),
            "metadata": self.metadata.to_dict(),
            "smokeTests": self.smoke_tests.to_dict(),
            "assertions": self.assertions.to_dict(),
        })
        if self.linkage is not None:
            out["linkage"] = self.linkage.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class RunFacts:
    """One run, as its provenance, verification summary and SBOM statement state it.

    ``output_digest`` is the hardened image's *manifest* digest (what a registry or an OCI layout names it by):
    the subject of every statement, once per output that stores it (``output_names``: the outputs' references;
    every OCI output of a run stores the same manifest bytes). ``verdict`` None: the run was not verified
    (``--no-verify``, or the policy turns verification off), and no verification summary is made.
    ``source_digest`` is a digest of the source image and ``source_media_type`` says of what: the job passes
    the source's config digest with the config media type (the one digest every source has, a docker-archive
    and an engine image included), so the provenance says which it is.
    """

    source: str
    source_digest: str
    output_names: tuple[str, ...]
    output_digest: str
    resource_uri: str
    policy_name: str
    policy_digest: str
    harden_version: str
    report_digest: str
    verdict: Verdict | None
    checks: Checks | None
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
        for name in ("source", "output_names", "resource_uri", "policy_name", "harden_version"):
            if not getattr(self, name):
                raise InternalError(f"{name} is empty")
        if not isinstance(self.output_names, tuple) or not all(n and isinstance(n, str) for n in self.output_names):
            raise InternalError(f"output_names is not a tuple of names: {self.output_names!r}")
        if self.verdict is not None and not isinstance(self.verdict, Verdict):
            raise InternalError(f"verdict is not a Verdict: {self.verdict!r}")
        if (self.verdict is None) != (self.checks is None):
            raise InternalError("a verdict needs its checks, and checks their verdict")
