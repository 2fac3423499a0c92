"""The attestations of one run: plan them, build the statements, sign them (or not), write them, list the referrers.

Signed, each is a DSSE envelope file ``NAME.dsse.json``; without a key, the bare statement ``NAME.intoto.json``
(an unsigned envelope would only look signed). NAME is ``provenance``, ``vsa`` (only when the run was verified)
or ``sbom``. The plan comes first: the report lists it, and the provenance names the report's digest, so what
is attested must be known before any statement is built; ``check_plan`` holds the statements to it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harden.atomic import atomic_file
from harden.attest import dsse
from harden.attest.facts import RunFacts, check_digest
from harden.attest.keys import SigningKey
from harden.attest.referrers import ATTESTATION_TYPES, PREDICATE_TYPE, Artifact, sbom_artifact
from harden.attest.statements import run_statements, statement_names, to_payload
from harden.errors import InternalError

SIGNED_SUFFIX = ".dsse.json"
UNSIGNED_SUFFIX = ".intoto.json"
STATEMENT_MEDIA_TYPE = dsse.IN_TOTO_PAYLOAD_TYPE


@dataclass(frozen=True, slots=True)
class Attestation:
    """One statement of the run and its envelope (no signatures when no key was given)."""

    name: str
    predicate_type: str
    envelope: dsse.Envelope

    @property
    def signed(self) -> bool:
        return bool(self.envelope.signatures)

    @property
    def file_name(self) -> str:
        return statement_file(self.name, self.signed)

    @property
    def statement(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.envelope.payload)
        return document

    def file_bytes(self) -> bytes:
        """The envelope JSON when signed, else the statement itself (indented, final newline)."""
        if self.signed:
            return self.envelope.to_bytes()
        return (json.dumps(self.statement, indent=2, ensure_ascii=False) + "\n").encode()

    def artifact(self) -> Artifact:
        """This attestation as an OCI referrer: the DSSE envelope, or the bare statement when unsigned."""
        annotations = ((PREDICATE_TYPE, self.predicate_type),)
        if self.signed:
            kind = ATTESTATION_TYPES.get(self.predicate_type, dsse.MEDIA_TYPE)
            return Artifact(kind, dsse.MEDIA_TYPE, self.file_bytes(), self.file_name, annotations)
        return Artifact(STATEMENT_MEDIA_TYPE, STATEMENT_MEDIA_TYPE, self.file_bytes(), self.file_name, annotations)


def statement_file(name: str, signed: bool) -> str:
    return name + (SIGNED_SUFFIX if signed else UNSIGNED_SUFFIX)


@dataclass(frozen=True, slots=True)
class AttestationPlan:
    """What one run attests, decided before any statement is built. Holds key ids, never keys.

    ``subjects``: the output references that store the hardened image's manifest ``subject_digest`` (None
    when no output does: then nothing is attested); ``not_covered``: the outputs left out, each with why;
    ``omitted``: statements not made, each with why; ``attached_to``: the outputs that also store the SBOM and
    the statements as referrers of the manifest.
    """

    statements: tuple[tuple[str, str], ...]
    subjects: tuple[str, ...]
    subject_digest: str | None
    keys: tuple[tuple[str, str], ...] = ()
    """(algorithm, key id) of each signing key."""
    not_covered: tuple[str, ...] = ()
    omitted: tuple[str, ...] = ()
    attached_to: tuple[str, ...] = ()
    sbom_file: str = ""

    @property
    def signed(self) -> bool:
        return bool(self.keys)

    def files(self) -> tuple[str, ...]:
        """The statement files the run writes into its report folder, in order."""
        return tuple(statement_file(name, self.signed) for name, _ in self.statements)

    def to_report(self) -> dict[str, Any]:
        """The report's ``attestations`` entry."""
        return {
            "subject_digest": self.subject_digest,
            "subjects": list(self.subjects),
            "not_covered": list(self.not_covered),
            "signed": self.signed,
            "keys": [{"algorithm": algorithm, "keyid": keyid} for algorithm, keyid in self.keys],
            "statements": [{"name": name, "predicate_type": kind, "file": statement_file(name, self.signed),
                            "signed": self.signed} for name, kind in self.statements],
            "omitted": list(self.omitted),
            "referrers": {"outputs": list(self.attached_to),
                          "files": [*([self.sbom_file] if self.sbom_file else []), *self.files()]
                          if self.attached_to else []},
        }


def plan_attestations(subjects: Sequence[str], subject_digest: str | None, keys: Sequence[SigningKey], *,
                      verified: bool, not_covered: Sequence[str] = (), attached_to: Sequence[str] = (),
                      sbom_file: str = "", not_verified_why: str = "the run was not verified") -> AttestationPlan:
    """The plan of a run: every statement about ``subject_digest`` (the VSA only when ``verified``), or none
    when no output stores a manifest."""
    key_ids = tuple((key.algorithm.value, key.keyid) for key in keys)
    if subject_digest is None or not subjects:
        return AttestationPlan((), (), None, key_ids, tuple(not_covered))
    check_digest(subject_digest, "the subject digest")
    omitted = () if verified else (f"vsa: {not_verified_why}; no verification summary is made",)
    return AttestationPlan(statement_names(verified), tuple(subjects), subject_digest, key_ids,
                           tuple(not_covered), omitted, tuple(attached_to), sbom_file)


def check_plan(plan: AttestationPlan, attestations: Sequence[Attestation]) -> None:
    """InternalError unless ``attestations`` are the plan's statements, in order, signed as planned, each about
    the planned subjects (what the report says must be what was written)."""
    made = [(a.name, a.predicate_type, a.file_name) for a in attestations]
    planned = [(name, kind, statement_file(name, plan.signed)) for name, kind in plan.statements]
    if made != planned:
        raise InternalError(f"the attestations made ({made}) are not the ones planned ({planned})")
    for attestation in attestations:
        subjects = [(s.get("name"), s.get("digest")) for s in attestation.statement["subject"]]
        expected = [(name, {"sha256": (plan.subject_digest or "").partition(":")[2]}) for name in plan.subjects]
        if subjects != expected:
            raise InternalError(f"{attestation.name}: subjects {subjects} are not the planned {expected}")


def attest_run(facts: RunFacts, bom: Mapping[str, Any], keys: Sequence[SigningKey]) -> tuple[Attestation, ...]:
    """Provenance, VSA (when the run was verified) and SBOM statements of the run, each signed by every key in
    ``keys`` (none: unsigned)."""
    made = []
    for name, statement in run_statements(facts, bom).items():
        envelope = dsse.sign(to_payload(statement), keys)
        made.append(Attestation(name, statement["predicateType"], envelope))
    return tuple(made)


def write_attestations(directory: Path, attestations: Sequence[Attestation]) -> tuple[Path, ...]:
    """Write each attestation's file into ``directory`` (atomically, mode 0644); the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for attestation in attestations:
        path = directory / attestation.file_name
        with atomic_file(path) as tmp:
            tmp.write_bytes(attestation.file_bytes())
            tmp.chmod(0o644)
        written.append(path)
    return tuple(written)


def layout_artifacts(attestations: Sequence[Attestation], bom: bytes, bom_title: str) -> tuple[Artifact, ...]:
    """What ``referrers.attach`` stores for a run: the SBOM itself, then each attestation."""
    return (sbom_artifact(bom, bom_title), *(a.artifact() for a in attestations))
