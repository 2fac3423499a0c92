"""The verification core behind ``harden attest verify``: every problem is one line, any problem fails (exit 1)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from attest_support import make_facts

from harden.attest import uris
from harden.attest.dsse import sign
from harden.attest.facts import CheckCount, Checks, RunFacts, Verdict
from harden.attest.keys import SigningKey
from harden.attest.referrers import attach
from harden.attest.run import attest_run, layout_artifacts
from harden.attest.statements import run_statements, statement, to_payload
from harden.attest.verify import layout_envelopes, verify_attestations
from harden.errors import AttestationFailed, InternalError
from harden.image.transports._archive import DirTree


def envelopes(facts: RunFacts, bom: dict[str, Any], keys: list[SigningKey]) -> list[tuple[str, bytes]]:
    return [(a.file_name, a.envelope.to_bytes()) for a in attest_run(facts, bom, keys)]


def test_a_good_run_verifies(facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey) -> None:
    check = verify_attestations(envelopes(facts, bom, [signing_key]), [signing_key.public], facts.output_digest)
    assert check.ok and check.problems == () and check.missing == ()
    assert [e.keyids for e in check.envelopes] == [(signing_key.keyid,)] * 3
    check.raise_for_problems()


def test_one_changed_payload_byte_fails(facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey) -> None:
    docs = envelopes(facts, bom, [signing_key])
    name, data = docs[1]
    envelope = json.loads(data)
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[payload.index(b"PASSED") + 1] ^= 0x20  # "PASSED" -> "PaSSED"
    envelope["payload"] = base64.b64encode(bytes(payload)).decode()
    check = verify_attestations([*docs[:1], (name, json.dumps(envelope).encode()), *docs[2:]],
                                [signing_key.public], facts.output_digest)
    assert check.problems == (
        f"vsa.dsse.json: no signature verifies with the given key ({signing_key.keyid[:16]})",
        f"no verified verification summary (VSA) of {facts.output_digest}",
    )
    with pytest.raises(AttestationFailed) as caught:
        check.raise_for_problems()
    assert caught.value.exit_code == 1
    assert caught.value.one_line().startswith(f"attestations of {facts.output_digest} do not verify (2 problems): ")


def test_another_key_fails_every_envelope(facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey,
                                          other_key: SigningKey) -> None:
    check = verify_attestations(envelopes(facts, bom, [other_key]), [signing_key.public], facts.output_digest)
    assert not check.ok
    assert all("no signature verifies with the given key" in e.problems[0] for e in check.envelopes)
    assert len(check.missing) == 3


def test_the_subject_must_be_this_images_manifest(facts: RunFacts, bom: dict[str, Any],
                                                  signing_key: SigningKey) -> None:
    other = "sha256:" + "9" * 64
    check = verify_attestations(envelopes(facts, bom, [signing_key]), [signing_key.public], other)
    expected = facts.output_digest
    assert check.problems[:3] == tuple(
        f"{name}: subject {expected} is not the image's manifest digest {other}"
        for name in ("provenance.dsse.json", "vsa.dsse.json", "sbom.dsse.json")
    )


def test_a_failed_verdict_fails(facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey) -> None:
    failed = make_facts(facts.output_digest, verdict=Verdict.FAILED,
                        checks=Checks(CheckCount(5, 1), CheckCount(0), CheckCount(0), CheckCount(0)))
    check = verify_attestations(envelopes(failed, bom, [signing_key]), [signing_key.public], facts.output_digest)
    assert "vsa.dsse.json: the verification summary says FAILED, not PASSED" in check.problems


def test_every_statement_is_required(facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey) -> None:
    docs = envelopes(facts, bom, [signing_key])
    check = verify_attestations([d for d in docs if not d[0].startswith("vsa")], [signing_key.public],
                                facts.output_digest)
    assert check.problems == (f"no verified verification summary (VSA) of {facts.output_digest}",)
    assert verify_attestations([], [signing_key.public], facts.output_digest).missing == (
        "https://slsa.dev/provenance/v1", "https://slsa.dev/verification_summary/v1", "https://cyclonedx.org/bom")


def test_unsigned_and_garbled_envelopes_fail(facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey) -> None:
    unsigned = envelopes(facts, bom, [])
    check = verify_attestations([*unsigned, ("junk.json", b"{oops")], [signing_key.public], facts.output_digest)
    assert check.problems[:3] == ("provenance.intoto.json: not signed", "vsa.intoto.json: not signed",
                                  "sbom.intoto.json: not signed")
    assert check.problems[3].startswith("junk.json: not a DSSE envelope (invalid JSON")


def test_who_signed_and_what_they_claim_to_be(facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey) -> None:
    """A valid signature on a statement from another builder or verifier, or of another type, is not harden's."""
    elsewhere = make_facts(facts.output_digest, builder_id="https://ci.example/builder",
                           verifier_id="https://ci.example/verifier")
    check = verify_attestations(envelopes(elsewhere, bom, [signing_key]), [signing_key.public], facts.output_digest)
    assert "provenance.dsse.json: builder 'https://ci.example/builder' is not an accepted builder" in check.problems
    assert "vsa.dsse.json: verifier 'https://ci.example/verifier' is not an accepted verifier" in check.problems
    accepted = verify_attestations(envelopes(elsewhere, bom, [signing_key]), [signing_key.public],
                                   facts.output_digest, builder_ids=["https://ci.example/builder"],
                                   verifier_ids=["https://ci.example/verifier"])
    assert accepted.ok
    other_type = sign(b'{"hello": "world"}', [signing_key], payload_type="application/json")
    odd = verify_attestations([("odd.json", other_type.to_bytes())], [signing_key.public], facts.output_digest,
                              required=())
    assert odd.problems == ("odd.json: payloadType 'application/json' is not application/vnd.in-toto+json",)


def test_a_subject_without_sha256_is_reported(facts: RunFacts, signing_key: SigningKey) -> None:
    doc = statement(("x",), facts.output_digest, "https://example.com/p/v1", {})
    doc["subject"].append({"name": "y", "digest": {"sha512": "0" * 128}})
    check = verify_attestations([("p.json", sign(to_payload(doc), [signing_key]).to_bytes())],
                                [signing_key.public], facts.output_digest, required=())
    assert check.problems == ("p.json: subject[1] has no sha256 digest",)


def test_statements_of_unknown_types_are_checked_for_subject_only(facts: RunFacts, signing_key: SigningKey) -> None:
    doc = statement(("x",), facts.output_digest, "https://example.com/p/v1", {"anything": True})
    check = verify_attestations([("p.json", sign(to_payload(doc), [signing_key]).to_bytes())],
                                [signing_key.public], facts.output_digest, required=())
    assert check.ok and check.envelopes[0].predicate_type == "https://example.com/p/v1"


def test_a_build_type_that_is_not_hardens_fails(facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey) -> None:
    provenance = run_statements(facts, bom)["provenance"]
    provenance["predicate"]["buildDefinition"]["buildType"] = "https://example.com/other/v1"
    check = verify_attestations([("p.json", sign(to_payload(provenance), [signing_key]).to_bytes())],
                                [signing_key.public], facts.output_digest, required=())
    assert check.problems == ("p.json: buildType 'https://example.com/other/v1' is not harden's",)
    assert uris.BUILD_TYPE != "https://example.com/other/v1"


def test_envelopes_stored_as_referrers_verify(layout: tuple[Path, str], facts: RunFacts, bom: dict[str, Any],
                                              signing_key: SigningKey, other_key: SigningKey) -> None:
    root, digest = layout
    attestations = attest_run(facts, bom, [signing_key])
    attach(root, digest, layout_artifacts(attestations, json.dumps(bom).encode(), "sbom.hardened.cdx.json"))
    found = layout_envelopes(DirTree(root, "layout"), digest)
    assert [name.split(" ")[0] for name, _ in found] == ["provenance.dsse.json", "vsa.dsse.json", "sbom.dsse.json"]
    assert verify_attestations(found, [signing_key.public], digest).ok
    assert not verify_attestations(found, [other_key.public], digest).ok


def test_verification_needs_a_key_and_a_digest(facts: RunFacts, signing_key: SigningKey) -> None:
    with pytest.raises(InternalError, match="at least one public key"):
        verify_attestations([], [], facts.output_digest)
    with pytest.raises(InternalError, match="not a sha256 digest"):
        verify_attestations([], [signing_key.public], "latest")
