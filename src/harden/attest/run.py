"""The attestations of one run: build the three statements, sign them (or not), write them, list the referrers.

Signed, each is a DSSE envelope file ``NAME.dsse.json``; without a key, the bare statement ``NAME.intoto.json``
(an unsigned envelope would only look signed). NAME is ``provenance``, ``vsa`` or ``sbom``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harden.atomic import atomic_file
from harden.attest import dsse
from harden.attest.facts import RunFacts
from harden.attest.keys import SigningKey
from harden.attest.referrers import ATTESTATION_TYPES, PREDICATE_TYPE, Artifact, sbom_artifact
from harden.attest.statements import run_statements, to_payload

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
        return self.name + (SIGNED_SUFFIX if self.signed else UNSIGNED_SUFFIX)

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


def attest_run(facts: RunFacts, bom: Mapping[str, Any], keys: Sequence[SigningKey]) -> tuple[Attestation, ...]:
    """Provenance, VSA and SBOM statements of the run, each signed by every key in ``keys`` (none: unsigned)."""
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
