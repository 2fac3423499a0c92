"""Verifiers that are not harden's code accept harden's envelopes, and find the subject equal to the manifest digest.

securesystemslib (the DSSE reference implementation's successor, used by in-toto and TUF) verifies each envelope
with the public key; the openssl command verifies the signature over the PAE it is handed (ECDSA: ``dgst -sha256
-verify``, DER signature; Ed25519: ``pkeyutl -verify -rawin``). The manifest digest they compare with is computed
here with hashlib from the layout's blob, not taken from harden. Tampering, or another key, fails in both.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from attest_support import pkcs8, require_module, require_tool, run_tool

from harden.attest.dsse import IN_TOTO_PAYLOAD_TYPE, sign
from harden.attest.facts import RunFacts
from harden.attest.keys import KeyAlgorithm, SigningKey
from harden.attest.run import attest_run, write_attestations
from harden.attest.statements import run_statements, to_payload
from harden.attest.verify import verify_attestations


def manifest_digest_of(layout: Path, ref_name: str) -> str:
    """The tagged manifest's digest, recomputed from its blob (trusting neither index.json nor harden)."""
    index = json.loads((layout / "index.json").read_text())
    [entry] = [m for m in index["manifests"]
               if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref_name]
    blob = (layout / "blobs" / "sha256" / entry["digest"].removeprefix("sha256:")).read_bytes()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def envelope_files(tmp_path: Path, facts: RunFacts, bom: dict[str, Any], key: SigningKey) -> list[Path]:
    return list(write_attestations(tmp_path / "reports", attest_run(facts, bom, [key])))


def sslib_verify(envelope: dict[str, Any], key: SigningKey, keyid: str | None = None) -> dict[str, Any]:
    """Verify with securesystemslib; the statement it vouches for."""
    dsse = require_module("securesystemslib.dsse")
    signer = require_module("securesystemslib.signer")
    public = signer.SSlibKey.from_crypto(key.public.key, keyid=keyid or key.keyid)
    parsed = dsse.Envelope.from_dict(json.loads(json.dumps(envelope)))  # from_dict rewrites what it is given
    accepted = parsed.verify([public], 1)
    assert list(accepted) == [public.keyid]
    assert parsed.payload_type == IN_TOTO_PAYLOAD_TYPE
    statement: dict[str, Any] = json.loads(parsed.payload)
    return statement


def test_securesystemslib_verifies_harden_envelopes_and_the_subject_is_the_manifest(
    tmp_path: Path, layout: tuple[Path, str], facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey
) -> None:
    expected = manifest_digest_of(layout[0], "hardened")
    files = envelope_files(tmp_path, facts, bom, signing_key)
    assert sorted(p.name for p in files) == ["provenance.dsse.json", "sbom.dsse.json", "vsa.dsse.json"]
    for path in files:
        statement = sslib_verify(json.loads(path.read_text()), signing_key)
        assert [s["digest"]["sha256"] for s in statement["subject"]] == [expected.removeprefix("sha256:")]
        if statement["predicateType"] == "https://slsa.dev/verification_summary/v1":
            assert statement["predicate"]["verificationResult"] == "PASSED"


def test_securesystemslib_rejects_a_flipped_byte_and_another_key(
    tmp_path: Path, facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey, other_key: SigningKey
) -> None:
    exceptions = require_module("securesystemslib.exceptions")
    vsa = next(p for p in envelope_files(tmp_path, facts, bom, signing_key) if p.name == "vsa.dsse.json")
    envelope = json.loads(vsa.read_text())
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[payload.index(b"PASSED")] ^= 0x01
    tampered = dict(envelope, payload=base64.b64encode(bytes(payload)).decode())
    with pytest.raises(exceptions.VerificationError):
        sslib_verify(tampered, signing_key)
    with pytest.raises(exceptions.VerificationError):
        sslib_verify(envelope, other_key, keyid=signing_key.keyid)  # same key id, another key: still no


def test_harden_verifies_what_securesystemslib_signs(
    layout: tuple[Path, str], facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey
) -> None:
    dsse = require_module("securesystemslib.dsse")
    signer = require_module("securesystemslib.signer")
    crypto_signer = signer.CryptoSigner(signing_key.key)
    envelopes = []
    for name, statement in run_statements(facts, bom).items():
        envelope = dsse.Envelope(to_payload(statement), IN_TOTO_PAYLOAD_TYPE, {})
        envelope.sign(crypto_signer)
        envelopes.append((name, json.dumps(envelope.to_dict()).encode()))
    check = verify_attestations(envelopes, [signing_key.public], layout[1])
    assert check.ok, check.problems


def openssl_verify(tmp_path: Path, key: SigningKey, pae: bytes, signature: bytes) -> bool:
    openssl = require_tool("openssl")
    (tmp_path / "pub.pem").write_bytes(key.public.pem())
    (tmp_path / "pae.bin").write_bytes(pae)
    (tmp_path / "sig.bin").write_bytes(signature)
    if key.algorithm is KeyAlgorithm.ECDSA_P256_SHA256:
        argv = [openssl, "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature",
                str(tmp_path / "sig.bin"), str(tmp_path / "pae.bin")]
    else:
        argv = [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin",
                "-in", str(tmp_path / "pae.bin"), "-sigfile", str(tmp_path / "sig.bin")]
    done = run_tool(argv, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


def openssl_pae(envelope: dict[str, Any]) -> bytes:
    """PAE built here from the spec's definition, from the envelope JSON (not with harden's function)."""
    body = base64.b64decode(envelope["payload"])
    kind = envelope["payloadType"].encode()
    return b"DSSEv1 " + str(len(kind)).encode() + b" " + kind + b" " + str(len(body)).encode() + b" " + body


def test_openssl_verifies_the_signature_over_the_pae(
    tmp_path: Path, facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey, other_key: SigningKey
) -> None:
    for path in envelope_files(tmp_path, facts, bom, signing_key):
        envelope = json.loads(path.read_text())
        signature = base64.b64decode(envelope["signatures"][0]["sig"])
        pae = openssl_pae(envelope)
        assert openssl_verify(tmp_path, signing_key, pae, signature), path.name
        flipped = bytearray(pae)
        flipped[-2] ^= 0x01
        assert not openssl_verify(tmp_path, signing_key, bytes(flipped), signature)
        assert not openssl_verify(tmp_path, other_key, pae, signature)


def test_harden_verifies_what_openssl_signs(tmp_path: Path, layout: tuple[Path, str], facts: RunFacts,
                                            bom: dict[str, Any], signing_key: SigningKey) -> None:
    """openssl signs the PAE with the same key file; harden's verification accepts the envelope."""
    openssl = require_tool("openssl")
    (tmp_path / "key.pem").write_bytes(pkcs8(signing_key.key))
    reference = sign(to_payload(run_statements(facts, bom)["vsa"]), [])
    (tmp_path / "pae.bin").write_bytes(reference.pae)
    if signing_key.algorithm is KeyAlgorithm.ECDSA_P256_SHA256:
        argv = [openssl, "dgst", "-sha256", "-sign", str(tmp_path / "key.pem"), "-out", str(tmp_path / "sig.bin"),
                str(tmp_path / "pae.bin")]
    else:
        argv = [openssl, "pkeyutl", "-sign", "-inkey", str(tmp_path / "key.pem"), "-rawin", "-in",
                str(tmp_path / "pae.bin"), "-out", str(tmp_path / "sig.bin")]
    run_tool(argv)
    envelope = {"payload": base64.b64encode(reference.payload).decode(), "payloadType": IN_TOTO_PAYLOAD_TYPE,
                "signatures": [{"sig": base64.b64encode((tmp_path / "sig.bin").read_bytes()).decode()}]}
    check = verify_attestations([("vsa.dsse.json", json.dumps(envelope).encode())], [signing_key.public],
                                layout[1], required=["https://slsa.dev/verification_summary/v1"])
    assert check.ok, check.problems
