"""DSSE: the PAE byte for byte (the spec's test vector), the envelope JSON, signing, verifying, tampering."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from harden.attest import dsse
from harden.attest.keys import KeyAlgorithm, SigningKey, VerifyKey, key_id
from harden.errors import AttestationFailed

# secure-systems-lab/dsse protocol.md, "Test Vectors": ECDSA P-256/SHA-256 with RFC 6979 nonces, raw r||s.
VECTOR_TYPE = "http://example.com/HelloWorld"
VECTOR_BODY = b"hello world"
VECTOR_PAE = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
VECTOR_D = 97358161215184420915383655311931858321456579547487070936769975997791359926199
VECTOR_X = 46950820868899156662930047687818585632848591499744589407958293238635476079160
VECTOR_Y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
VECTOR_ENVELOPE = {
    "payload": "aGVsbG8gd29ybGQ=",
    "payloadType": "http://example.com/HelloWorld",
    "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}],
}


def vector_public_key() -> VerifyKey:
    public = ec.EllipticCurvePublicNumbers(VECTOR_X, VECTOR_Y, ec.SECP256R1()).public_key()
    return VerifyKey(KeyAlgorithm.ECDSA_P256_SHA256, key_id(public), public)


def raw_to_der(raw: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def test_pae_matches_the_spec_vector() -> None:
    assert dsse.pae(VECTOR_TYPE, VECTOR_BODY) == VECTOR_PAE


def test_pae_counts_bytes_not_characters() -> None:
    assert dsse.pae("t/é", "ü".encode()) == "DSSEv1 4 t/é 2 ü".encode()
    assert dsse.pae("", b"") == b"DSSEv1 0  0 "


@given(st.text(max_size=40), st.binary(max_size=200))
def test_pae_is_unambiguous(payload_type: str, body: bytes) -> None:
    """The lengths make PAE injective: the type and body can be read back from it."""
    encoded = dsse.pae(payload_type, body)
    head, type_len, rest = encoded.split(b" ", 2)
    assert head == b"DSSEv1"
    kind, rest = rest[: int(type_len)], rest[int(type_len) + 1:]
    body_len, tail = rest.split(b" ", 1)
    assert kind.decode() == payload_type and tail == body and int(body_len) == len(body)


def test_the_spec_vector_signature_verifies_over_our_pae() -> None:
    """The reference implementation signed PAE(type, body); our PAE and verifier accept its signature."""
    raw = base64.b64decode(VECTOR_ENVELOPE["signatures"][0]["sig"])  # type: ignore[index]
    envelope = dsse.parse_envelope(json.dumps(VECTOR_ENVELOPE).encode(), "vector")
    assert envelope.payload == VECTOR_BODY and envelope.pae == VECTOR_PAE
    der_envelope = dsse.Envelope(envelope.payload, envelope.payload_type, (dsse.Signature("", raw_to_der(raw)),))
    key = vector_public_key()
    assert dsse.verified_by(der_envelope, [key]) == (key.keyid,)


def test_signing_the_vector_deterministically_reproduces_its_signature() -> None:
    private = ec.derive_private_key(VECTOR_D, ec.SECP256R1())
    der = private.sign(dsse.pae(VECTOR_TYPE, VECTOR_BODY), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert base64.b64encode(raw).decode() == VECTOR_ENVELOPE["signatures"][0]["sig"]  # type: ignore[index]


def test_round_trip_through_json(signing_key: SigningKey) -> None:
    envelope = dsse.sign(b'{"_type":"x"}', [signing_key])
    doc = json.loads(envelope.to_bytes())
    assert set(doc) == {"payload", "payloadType", "signatures"}
    assert doc["payloadType"] == "application/vnd.in-toto+json"
    assert doc["signatures"][0]["keyid"] == signing_key.keyid
    assert base64.b64decode(doc["payload"]) == b'{"_type":"x"}'
    parsed = dsse.parse_envelope(envelope.to_bytes(), "e.json")
    assert parsed == envelope
    assert dsse.verified_by(parsed, [signing_key.public]) == (signing_key.keyid,)


def test_ecdsa_signatures_are_der_and_ed25519_raw(signing_key: SigningKey) -> None:
    sig = dsse.sign(b"payload", [signing_key]).signatures[0].sig
    if signing_key.algorithm is KeyAlgorithm.ED25519:
        assert len(sig) == 64
    else:
        assert sig[0] == 0x30  # ASN.1 SEQUENCE of (r, s)
        decode_dss_signature(sig)


def test_one_flipped_payload_byte_fails(signing_key: SigningKey) -> None:
    envelope = dsse.sign(b'{"verdict":"PASSED"}', [signing_key])
    for i in range(len(envelope.payload)):
        tampered = bytearray(envelope.payload)
        tampered[i] ^= 0x01
        assert dsse.verified_by(dsse.Envelope(bytes(tampered), envelope.payload_type, envelope.signatures),
                                [signing_key.public]) == ()


def test_the_payload_type_is_signed_too(signing_key: SigningKey) -> None:
    envelope = dsse.sign(b"{}", [signing_key])
    retyped = dsse.Envelope(envelope.payload, "application/json", envelope.signatures)
    assert dsse.verified_by(retyped, [signing_key.public]) == ()


def test_another_key_fails_whatever_the_keyid_says(signing_key: SigningKey, other_key: SigningKey) -> None:
    envelope = dsse.sign(b"{}", [other_key])
    assert dsse.verified_by(envelope, [signing_key.public]) == ()
    forged = dsse.Envelope(envelope.payload, envelope.payload_type,
                           (dsse.Signature(signing_key.keyid, envelope.signatures[0].sig),))
    assert dsse.verified_by(forged, [signing_key.public]) == ()


def test_the_keyid_is_only_a_hint(signing_key: SigningKey) -> None:
    envelope = dsse.sign(b"{}", [signing_key])
    unlabelled = (dsse.Signature("", envelope.signatures[0].sig),)
    relabelled = dsse.Envelope(envelope.payload, envelope.payload_type, unlabelled)
    assert dsse.verified_by(relabelled, [signing_key.public]) == (signing_key.keyid,)


def test_several_keys_and_signatures(signing_key: SigningKey, other_key: SigningKey) -> None:
    envelope = dsse.sign(b"{}", [signing_key, other_key])
    assert len(envelope.signatures) == 2
    assert set(dsse.verified_by(envelope, [signing_key.public, other_key.public])) == {signing_key.keyid,
                                                                                        other_key.keyid}
    assert dsse.verified_by(envelope, [other_key.public]) == (other_key.keyid,)


def test_unsigned_envelopes_verify_with_no_key(signing_key: SigningKey) -> None:
    envelope = dsse.sign(b"{}", [])
    assert envelope.signatures == () and json.loads(envelope.to_bytes())["signatures"] == []
    assert dsse.verified_by(envelope, [signing_key.public]) == ()


def test_url_safe_and_unpadded_base64_are_accepted(signing_key: SigningKey) -> None:
    payload = bytes(range(250, 256)) * 10  # encodes with + and / in standard base64
    envelope = dsse.sign(payload, [signing_key])
    doc = envelope.to_json()
    doc["payload"] = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    doc["signatures"][0]["sig"] = base64.urlsafe_b64encode(envelope.signatures[0].sig).decode().rstrip("=")
    assert "-" in doc["payload"] or "_" in doc["payload"]
    parsed = dsse.parse_envelope(json.dumps(doc).encode(), "e")
    assert parsed.payload == payload
    assert dsse.verified_by(parsed, [signing_key.public]) == (signing_key.keyid,)


@pytest.mark.parametrize(("data", "message"), [
    (b"not json", "invalid JSON"),
    (b"[]", "not a JSON object"),
    (b'{"payload": "e30="}', "no payloadType"),
    (b'{"payloadType": "t", "payload": "!!!"}', "payload is not base64"),
    (b'{"payloadType": "t", "payload": "e30=", "signatures": {}}', "signatures is not a list"),
    (b'{"payloadType": "t", "payload": "e30=", "signatures": [{"sig": "%%"}]}', r"signatures\[0\].sig is not base64"),
    (b'{"payloadType": "t", "payload": "e30=", "signatures": [{"keyid": 1, "sig": ""}]}', "keyid is not a string"),
])
def test_malformed_envelopes_are_one_line_failures(data: bytes, message: str) -> None:
    with pytest.raises(AttestationFailed, match=message) as caught:
        dsse.parse_envelope(data, "x.dsse.json")
    assert caught.value.one_line().startswith("x.dsse.json: not a DSSE envelope")
    assert caught.value.exit_code == 1
