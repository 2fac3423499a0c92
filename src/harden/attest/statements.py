"""in-toto Statement v1 documents about the hardened image: SLSA Provenance v1, SLSA Verification Summary v1 and
the hardened image's CycloneDX SBOM.

Each names the hardened image's manifest digest as its subject, once per output reference that stores it (an
in-toto subject is a name and a digest; the outputs share the digest). Field names and
shapes follow https://in-toto.io/Statement/v1, https://slsa.dev/provenance/v1 and
https://slsa.dev/verification_summary/v1; the tests parse them with the in-toto attestation protos, which reject
unknown fields. harden's check counts sit in the VSA under a URI-named extension field, as the VSA spec allows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from harden.attest import uris
from harden.attest.facts import RunFacts, Verdict, check_digest, digest_set, timestamp
from harden.errors import AttestationFailed, InternalError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PROVENANCE_TYPE = "https://slsa.dev/provenance/v1"
VSA_TYPE = "https://slsa.dev/verification_summary/v1"
CYCLONEDX_TYPE = "https://cyclonedx.org/bom"
SLSA_VERSION = "1.0"


def statement(subject_names: Sequence[str], subject_digest: str, predicate_type: str,
              predicate: Mapping[str, Any]) -> dict[str, Any]:
    """A Statement v1 whose subjects are ``{name, digest: {sha256}}``, one per name, all of ``subject_digest``."""
    check_digest(subject_digest, "the subject digest")
    if isinstance(subject_names, str):
        raise InternalError(f"subject names are a sequence of names, not the string {subject_names!r}")
    if not subject_names:
        raise InternalError("a statement needs at least one subject")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": digest_set(subject_digest)} for name in subject_names],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }


def provenance_predicate(facts: RunFacts) -> dict[str, Any]:
    """SLSA Provenance v1: the source and policy in, harden as the builder, report.json as a byproduct."""
    metadata: dict[str, Any] = {}
    if facts.invocation_id:
        metadata["invocationId"] = facts.invocation_id
    metadata["startedOn"] = timestamp(facts.started_on)
    metadata["finishedOn"] = timestamp(facts.finished_on)
    return {
        "buildDefinition": {
            "buildType": uris.BUILD_TYPE,
            "externalParameters": {
                "source": facts.source,
                "policy": {"name": facts.policy_name, "digest": digest_set(facts.policy_digest)},
            },
            "resolvedDependencies": [{
                "name": facts.source,
                "digest": digest_set(facts.source_digest),
                "mediaType": facts.source_media_type,
            }],
        },
        "runDetails": {
            "builder": {"id": facts.builder_id, "version": {"harden": facts.harden_version}},
            "metadata": metadata,
            "byproducts": [{
                "name": facts.report_name,
                "digest": digest_set(facts.report_digest),
                "mediaType": "application/json",
            }],
        },
    }


def vsa_predicate(facts: RunFacts) -> dict[str, Any]:
    """SLSA Verification Summary v1: harden's verdict on the hardened image, the policy, what was checked."""
    if facts.verdict is None or facts.checks is None:
        raise InternalError("no verification summary of a run that was not verified")
    passed = facts.verdict is Verdict.PASSED
    return {
        "verifier": {"id": facts.verifier_id},
        "timeVerified": timestamp(facts.finished_on),
        "resourceUri": facts.resource_uri,
        "policy": {"uri": uris.policy_uri(facts.policy_name), "digest": digest_set(facts.policy_digest)},
        "verificationResult": facts.verdict.value,
        "verifiedLevels": [uris.VERIFIED_LEVEL if passed else "FAILED"],
        "slsaVersion": SLSA_VERSION,
        uris.CHECKS_FIELD: {
            "hardenVersion": facts.harden_version,
            "policyName": facts.policy_name,
            **facts.checks.to_dict(),
        },
    }


def provenance_statement(facts: RunFacts) -> dict[str, Any]:
    return statement(facts.output_names, facts.output_digest, PROVENANCE_TYPE, provenance_predicate(facts))


def vsa_statement(facts: RunFacts) -> dict[str, Any]:
    return statement(facts.output_names, facts.output_digest, VSA_TYPE, vsa_predicate(facts))


def sbom_statement(facts: RunFacts, bom: Mapping[str, Any]) -> dict[str, Any]:
    """The hardened image's CycloneDX BOM (a JSON object, as ``report.sbom.cyclonedx`` makes it) as a predicate."""
    if bom.get("bomFormat") != "CycloneDX" or not isinstance(bom.get("specVersion"), str):
        raise InternalError("the SBOM is not a CycloneDX JSON BOM (bomFormat/specVersion)")
    return statement(facts.output_names, facts.output_digest, CYCLONEDX_TYPE, bom)


STATEMENTS = (("provenance", PROVENANCE_TYPE), ("vsa", VSA_TYPE), ("sbom", CYCLONEDX_TYPE))
"""The statements of a run, in order: the short name their files and referrers use, and the predicate type."""


def statement_names(verified: bool) -> tuple[tuple[str, str], ...]:
    """(name, predicate type) of the statements a run makes: all three, or without the VSA when not verified."""
    return tuple((name, kind) for name, kind in STATEMENTS if verified or kind != VSA_TYPE)


def run_statements(facts: RunFacts, bom: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The statements of a run, by the short name their files and referrers use (``statement_names``): the
    provenance, the verification summary when the run was verified, the SBOM."""
    made = {
        "provenance": provenance_statement(facts),
        "vsa": vsa_statement(facts) if facts.verdict is not None else None,
        "sbom": sbom_statement(facts, bom),
    }
    return {name: statement for name, statement in made.items() if statement is not None}


def to_payload(document: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: compact JSON with sorted keys, so the same statement gives the same payload."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_statement(payload: bytes, where: str) -> dict[str, Any]:
    """A Statement v1 from payload bytes; AttestationFailed when it is not one (its subject is checked later)."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AttestationFailed(f"{where}: the payload is not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("_type") != STATEMENT_TYPE:
        raise AttestationFailed(f"{where}: the payload is not an in-toto Statement v1")
    if not isinstance(doc.get("predicateType"), str):
        raise AttestationFailed(f"{where}: the statement has no predicateType")
    if not isinstance(doc.get("subject"), list) or not doc["subject"]:
        raise AttestationFailed(f"{where}: the statement has no subject")
    if not isinstance(doc.get("predicate", {}), dict):
        raise AttestationFailed(f"{where}: the predicate is not an object")
    return doc
