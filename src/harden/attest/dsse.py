"""DSSE v1 envelopes (secure-systems-lab/dsse): the pre-authentication encoding, signing, parsing, verifying.

A signature is over ``PAE(payloadType, payload)``, never over the JSON envelope, so the envelope's formatting is
free. The JSON form is ``{"payload": b64, "payloadType": str, "signatures": [{"keyid": str, "sig": b64}]}``;
standard base64 is written, standard or URL-safe base64 is read (the spec says verifiers MUST accept both).
ECDSA signatures are DER-encoded (what sigstore/cosign and securesystemslib produce and expect); Ed25519
signatures are the raw 64 bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harden.attest.keys import SigningKey, VerifyKey
from harden.errors import AttestationFailed

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
MAX_ENVELOPE_BYTES = 64 * 1024 * 1024


def pae(payload_type: str, payload: bytes) -> bytes:
    """``DSSEv1 SP LEN(type) SP type SP LEN(body) SP body``, lengths in ASCII decimal bytes."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: object) -> bytes:
    """Standard or URL-safe base64, padded or not; ValueError on anything else."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    altchars = b"-_" if ("-" in text or "_" in text) else b"+/"
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=altchars, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Signature:
    keyid: str
    sig: bytes

    def to_json(self) -> dict[str, str]:
        return {"keyid": self.keyid, "sig": b64encode(self.sig)}


@dataclass(frozen=True, slots=True)
class Envelope:
    """A payload, its type and the signatures of its PAE (none: an unsigned envelope)."""

    payload: bytes
    payload_type: str = IN_TOTO_PAYLOAD_TYPE
    signatures: tuple[Signature, ...] = ()

    @property
    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def to_json(self) -> dict[str, Any]:
        return {
            "payload": b64encode(self.payload),
            "payloadType": self.payload_type,
            "signatures": [s.to_json() for s in self.signatures],
        }

    def to_bytes(self) -> bytes:
        """The envelope as indented UTF-8 JSON with a final newline (the ``*.dsse.json`` file)."""
        return (json.dumps(self.to_json(), indent=2) + "\n").encode()


def sign(payload: bytes, keys: Sequence[SigningKey], payload_type: str = IN_TOTO_PAYLOAD_TYPE) -> Envelope:
    """An envelope of ``payload`` signed by each of ``keys`` (none: unsigned)."""
    message = pae(payload_type, payload)
    signatures = tuple(Signature(key.keyid, key.sign(message)) for key in keys)
    return Envelope(payload, payload_type, signatures)


def parse_envelope(data: bytes, where: str) -> Envelope:
    """An envelope from its JSON bytes; AttestationFailed (one line, naming ``where``) when it is not one."""

    def bad(why: str) -> AttestationFailed:
        return AttestationFailed(f"{where}: not a DSSE envelope ({why})")

    if len(data) > MAX_ENVELOPE_BYTES:
        raise bad(f"larger than {MAX_ENVELOPE_BYTES} bytes")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise bad("not a JSON object")
    payload_type = doc.get("payloadType")
    if not isinstance(payload_type, str):
        raise bad("no payloadType string")
    try:
        payload = b64decode(doc.get("payload"))
    except ValueError as exc:
        raise bad(f"payload is not base64: {exc}") from None
    raw = doc.get("signatures", [])
    if not isinstance(raw, list):
        raise bad("signatures is not a list")
    signatures = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise bad(f"signatures[{i}] is not an object")
        keyid = item.get("keyid", "")
        if not isinstance(keyid, str):
            raise bad(f"signatures[{i}].keyid is not a string")
        try:
            sig = b64decode(item.get("sig"))
        except ValueError as exc:
            raise bad(f"signatures[{i}].sig is not base64: {exc}") from None
        signatures.append(Signature(keyid, sig))
    return Envelope(payload, payload_type, tuple(signatures))


def verified_by(envelope: Envelope, keys: Sequence[VerifyKey]) -> tuple[str, ...]:
    """Key ids (sorted, unique) of the ``keys`` that verify at least one of the envelope's signatures.

    Every signature is tried with every key: the keyid in an envelope is an unauthenticated hint (DSSE), so it
    neither selects nor excludes a key.
    """
    message = envelope.pae
    accepted = {key.keyid for key in keys for signature in envelope.signatures if key.verify(signature.sig, message)}
    return tuple(sorted(accepted))
