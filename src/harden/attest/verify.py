"""Checking harden's attestations of an image: signatures, subject, verdict. One line per problem.

Each envelope must be signed by one of the given public keys (every signature is tried with every key), carry
an in-toto Statement v1 whose every subject is the image's manifest digest, and say what harden says: SLSA
provenance built by harden's build type and an accepted builder, a VSA from an accepted verifier whose result is
PASSED, a CycloneDX BOM. A statement is only read once its signature verified (DSSE: verify, then parse). Each
required predicate type must be present among the envelopes that passed. The CLI maps any problem to exit 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harden.attest import uris
from harden.attest.dsse import IN_TOTO_PAYLOAD_TYPE, MEDIA_TYPE, parse_envelope, verified_by
from harden.attest.facts import check_digest
from harden.attest.keys import VerifyKey
from harden.attest.referrers import TITLE, read_blob, referrers
from harden.attest.statements import CYCLONEDX_TYPE, PROVENANCE_TYPE, VSA_TYPE, parse_statement
from harden.errors import AttestationFailed, InternalError
from harden.image.transports._archive import BlobReader

REQUIRED = (PROVENANCE_TYPE, VSA_TYPE, CYCLONEDX_TYPE)
NAMES = {PROVENANCE_TYPE: "SLSA provenance", VSA_TYPE: "verification summary (VSA)", CYCLONEDX_TYPE: "CycloneDX SBOM"}


@dataclass(frozen=True, slots=True)
class EnvelopeCheck:
    """One envelope: which keys verified it, its predicate type once verified, and its problems."""

    name: str
    keyids: tuple[str, ...]
    predicate_type: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class AttestationCheck:
    """Every envelope checked against one image manifest digest, and the required statements missing."""

    subject_digest: str
    envelopes: tuple[EnvelopeCheck, ...]
    missing: tuple[str, ...]

    @property
    def problems(self) -> tuple[str, ...]:
        found = [problem for envelope in self.envelopes for problem in envelope.problems]
        found += [f"no verified {NAMES.get(t, t)} of {self.subject_digest}" for t in self.missing]
        return tuple(found)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        """AttestationFailed (exit 1) listing the problems, if any."""
        problems = self.problems
        if problems:
            raise AttestationFailed(
                f"attestations of {self.subject_digest} do not verify ({len(problems)} problem"
                f"{'s' if len(problems) != 1 else ''})",
                details=problems,
            )


def _get(doc: Mapping[str, Any], *path: str) -> Any:
    value: Any = doc
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _subject_problems(name: str, statement: Mapping[str, Any], digest: str) -> list[str]:
    expected = digest.partition(":")[2]
    problems = []
    for i, subject in enumerate(statement["subject"]):
        got = _get(subject, "digest", "sha256")
        if got is None:
            problems.append(f"{name}: subject[{i}] has no sha256 digest")
        elif got != expected:
            problems.append(f"{name}: subject sha256:{got} is not the image's manifest digest {digest}")
    return problems


def _predicate_problems(name: str, statement: Mapping[str, Any], builder_ids: Sequence[str],
                        verifier_ids: Sequence[str]) -> list[str]:
    kind = statement["predicateType"]
    predicate = statement.get("predicate") or {}
    problems = []
    if kind == VSA_TYPE:
        result = predicate.get("verificationResult")
        if result != "PASSED":
            problems.append(f"{name}: the verification summary says {result or 'nothing'}, not PASSED")
        verifier = _get(predicate, "verifier", "id")
        if verifier not in verifier_ids:
            problems.append(f"{name}: verifier {verifier!r} is not an accepted verifier")
    elif kind == PROVENANCE_TYPE:
        builder = _get(predicate, "runDetails", "builder", "id")
        if builder not in builder_ids:
            problems.append(f"{name}: builder {builder!r} is not an accepted builder")
        build_type = _get(predicate, "buildDefinition", "buildType")
        if build_type != uris.BUILD_TYPE:
            problems.append(f"{name}: buildType {build_type!r} is not harden's")
    elif kind == CYCLONEDX_TYPE and predicate.get("bomFormat") != "CycloneDX":
        problems.append(f"{name}: the predicate is not a CycloneDX BOM")
    return problems


def check_envelope(name: str, data: bytes, keys: Sequence[VerifyKey], subject_digest: str, *,
                   builder_ids: Sequence[str] = (uris.BUILDER_ID,),
                   verifier_ids: Sequence[str] = (uris.VERIFIER_ID,)) -> EnvelopeCheck:
    """The checks of one envelope's bytes (``name`` says where they came from)."""
    try:
        envelope = parse_envelope(data, name)
    except AttestationFailed as exc:
        return EnvelopeCheck(name, (), "", (exc.message,))
    if not envelope.signatures:
        return EnvelopeCheck(name, (), "", (f"{name}: not signed",))
    keyids = verified_by(envelope, keys)
    if not keyids:
        hints = ", ".join(sorted({s.keyid[:16] for s in envelope.signatures if s.keyid})) or "no key id"
        return EnvelopeCheck(name, (), "", (f"{name}: no signature verifies with the given key ({hints})",))
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        return EnvelopeCheck(name, keyids, "", (f"{name}: payloadType {envelope.payload_type!r} is not "
                                                 f"{IN_TOTO_PAYLOAD_TYPE}",))
    try:
        statement = parse_statement(envelope.payload, name)
    except AttestationFailed as exc:
        return EnvelopeCheck(name, keyids, "", (exc.message,))
    problems = _subject_problems(name, statement, subject_digest)
    problems += _predicate_problems(name, statement, builder_ids, verifier_ids)
    return EnvelopeCheck(name, keyids, statement["predicateType"], tuple(problems))


def verify_attestations(
    envelopes: Sequence[tuple[str, bytes]],
    keys: Sequence[VerifyKey],
    subject_digest: str,
    *,
    required: Sequence[str] = REQUIRED,
    builder_ids: Sequence[str] = (uris.BUILDER_ID,),
    verifier_ids: Sequence[str] = (uris.VERIFIER_ID,),
) -> AttestationCheck:
    """Check ``envelopes`` (name, bytes) against ``keys`` and the image manifest digest ``subject_digest``."""
    if not keys:
        raise InternalError("verifying attestations needs at least one public key")
    check_digest(subject_digest, "the image manifest digest")
    checks = tuple(check_envelope(name, data, keys, subject_digest, builder_ids=builder_ids,
                                  verifier_ids=verifier_ids) for name, data in envelopes)
    verified = {check.predicate_type for check in checks if check.ok}
    return AttestationCheck(subject_digest, checks, tuple(t for t in required if t not in verified))


def layout_envelopes(reader: BlobReader, subject_digest: str) -> list[tuple[str, bytes]]:
    """The DSSE envelopes stored as referrers of ``subject_digest`` in an OCI layout or oci-archive, named by
    their title and artifact manifest."""
    found = []
    for referrer in referrers(reader, subject_digest):
        for layer in referrer.layers:
            if layer.media_type != MEDIA_TYPE:
                continue
            title = dict(layer.annotations).get(TITLE) or layer.digest
            found.append((f"{title} (referrer {referrer.descriptor.digest})", read_blob(reader, layer)))
    return found


def layout_unsigned(reader: BlobReader, subject_digest: str) -> list[str]:
    """The titles of the unsigned in-toto statements stored as referrers of ``subject_digest`` (``harden image``
    without ``--sign-key``): nothing to verify a signature of, so never accepted, only named."""
    found = []
    for referrer in referrers(reader, subject_digest):
        for layer in referrer.layers:
            if layer.media_type == IN_TOTO_PAYLOAD_TYPE:
                found.append(dict(layer.annotations).get(TITLE) or layer.digest)
    return found
