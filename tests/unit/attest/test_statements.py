"""Statement shapes: in-toto Statement v1, SLSA Provenance v1, VSA v1, CycloneDX.

No official JSON Schemas exist for these (in-toto/attestation and slsa-framework/slsa publish protobuf
definitions and prose); the in-toto-attestation package ships Python bindings of those protos, and
``json_format.ParseDict`` rejects unknown fields and malformed timestamps, so each document is parsed with it.
The SBOM predicate is validated against the CycloneDX 1.5 schema the report tests vendor.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from attest_support import END, REF, make_facts, require_module

from harden.attest import uris
from harden.attest.facts import CheckCount, Checks, RunFacts, Verdict
from harden.attest.statements import (
    CYCLONEDX_TYPE,
    PROVENANCE_TYPE,
    STATEMENT_TYPE,
    VSA_TYPE,
    parse_statement,
    provenance_statement,
    run_statements,
    sbom_statement,
    statement,
    to_payload,
    vsa_statement,
)
from harden.errors import AttestationFailed, InternalError

REPORT_SCHEMAS = Path(__file__).resolve().parents[1] / "report" / "schemas"


def proto_parse(document: dict[str, Any], module: str, message: str) -> Any:
    """Parse ``document`` strictly into the in-toto attestation proto ``module.message``."""
    json_format = require_module("google.protobuf.json_format")
    proto = getattr(require_module(module), message)()
    return json_format.ParseDict(document, proto, ignore_unknown_fields=False)


def test_every_statement_is_a_statement_v1_about_the_output_manifest(facts: RunFacts, bom: dict[str, Any]) -> None:
    statements = run_statements(facts, bom)
    assert list(statements) == ["provenance", "vsa", "sbom"]
    for document in statements.values():
        assert document["_type"] == STATEMENT_TYPE
        assert document["subject"] == [{"name": f"oci:/out:{REF}",
                                         "digest": {"sha256": facts.output_digest.removeprefix("sha256:")}}]
        parsed = proto_parse(document, "in_toto_attestation.v1.statement_pb2", "Statement")
        assert parsed.type == STATEMENT_TYPE
        statement_module = require_module("in_toto_attestation.v1.statement")
        statement_module.Statement.copy_from_pb(parsed).validate()  # the bindings' own checks
    assert [s["predicateType"] for s in statements.values()] == [PROVENANCE_TYPE, VSA_TYPE, CYCLONEDX_TYPE]


def test_provenance_v1(facts: RunFacts) -> None:
    predicate = provenance_statement(facts)["predicate"]
    proto_parse(predicate, "in_toto_attestation.predicates.provenance.v1.provenance_pb2", "Provenance")
    definition, details = predicate["buildDefinition"], predicate["runDetails"]
    assert definition["buildType"] == uris.BUILD_TYPE
    assert definition["externalParameters"] == {
        "source": "docker-archive:/in/python-app.tar",
        "policy": {"name": "spark-k8s-python-deps", "digest": {"sha256": "2" * 64}},
    }
    assert definition["resolvedDependencies"] == [{
        "name": "docker-archive:/in/python-app.tar", "digest": {"sha256": "1" * 64},
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
    }]
    assert details["builder"] == {"id": uris.BUILDER_ID, "version": {"harden": "0.1.0"}}
    assert details["metadata"] == {"invocationId": "run-1", "startedOn": "2025-03-01T12:00:00Z",
                                   "finishedOn": "2025-03-01T12:04:30Z"}
    assert details["byproducts"] == [{"name": "report.json", "digest": {"sha256": "3" * 64},
                                      "mediaType": "application/json"}]


def test_vsa_v1_with_the_check_counts_in_a_uri_named_extension(facts: RunFacts) -> None:
    predicate = vsa_statement(facts)["predicate"]
    extensions = {k: v for k, v in predicate.items() if k.startswith("urn:")}
    assert list(extensions) == [uris.CHECKS_FIELD]
    standard = {k: v for k, v in predicate.items() if k not in extensions}
    # The VSA v1 proto declares verified_levels a single string; the spec (verification_summary.md) says
    # "verifiedLevels: array (SlsaResult), required". The spec rules: that one field is checked here by hand.
    assert isinstance(standard["verifiedLevels"], list) and all(isinstance(v, str) for v in standard["verifiedLevels"])
    proto_parse({k: v for k, v in standard.items() if k != "verifiedLevels"},
                "in_toto_attestation.predicates.vsa.v1.vsa_pb2", "VerificationSummary")
    assert standard == {
        "verifier": {"id": uris.VERIFIER_ID},
        "timeVerified": "2025-03-01T12:04:30Z",
        "resourceUri": facts.resource_uri,
        "policy": {"uri": "urn:harden:policy:spark-k8s-python-deps", "digest": {"sha256": "2" * 64}},
        "verificationResult": "PASSED",
        "verifiedLevels": ["HARDEN_VERIFIED"],
        "slsaVersion": "1.0",
    }
    assert extensions[uris.CHECKS_FIELD] == {
        "hardenVersion": "0.1.0",
        "policyName": "spark-k8s-python-deps",
        "modules": {"checked": 412, "failed": 0},
        "metadata": {"checked": 57, "failed": 0},
        "smokeTests": {"checked": 3, "failed": 0},
        "assertions": {"checked": 9, "failed": 0},
    }


def test_a_failed_run_says_failed(facts: RunFacts) -> None:
    failed = make_facts(facts.output_digest, verdict=Verdict.FAILED,
                        checks=Checks(CheckCount(10, 2), CheckCount(1), CheckCount(0), CheckCount(0)))
    predicate = vsa_statement(failed)["predicate"]
    assert predicate["verificationResult"] == "FAILED" and predicate["verifiedLevels"] == ["FAILED"]
    assert predicate[uris.CHECKS_FIELD]["modules"] == {"checked": 10, "failed": 2}


def test_the_sbom_statement_carries_a_valid_cyclonedx_bom(facts: RunFacts, bom: dict[str, Any]) -> None:
    jsonschema = require_module("jsonschema")
    referencing = require_module("referencing")
    document = sbom_statement(facts, bom)
    assert document["predicate"] == bom
    cdx = "http://cyclonedx.org/schema/"
    registry = referencing.Registry().with_resources([
        (cdx + "spdx.SNAPSHOT.schema.json",
         referencing.Resource.from_contents(json.loads((REPORT_SCHEMAS / "spdx.schema.json").read_text()))),
        (cdx + "jsf-0.82.SNAPSHOT.schema.json",
         referencing.Resource.from_contents(json.loads((REPORT_SCHEMAS / "jsf-0.82.schema.json").read_text()))),
    ])
    schema = json.loads((REPORT_SCHEMAS / "bom-1.5.schema.json").read_text())
    jsonschema.Draft7Validator(schema, registry=registry).validate(document["predicate"])
    with pytest.raises(InternalError, match="not a CycloneDX JSON BOM"):
        sbom_statement(facts, {"spdxVersion": "SPDX-2.3"})


def test_payload_bytes_are_deterministic(facts: RunFacts, bom: dict[str, Any]) -> None:
    first = {k: to_payload(v) for k, v in run_statements(facts, bom).items()}
    again = {k: to_payload(v) for k, v in run_statements(facts, json.loads(json.dumps(bom))).items()}
    assert first == again
    assert parse_statement(first["vsa"], "vsa") == vsa_statement(facts)


@pytest.mark.parametrize(("change", "message"), [
    ({"output_digest": "sha256:abc"}, "output manifest digest"),
    ({"source_digest": "md5:" + "0" * 32}, "source digest"),
    ({"report_digest": "SHA256:" + "0" * 64}, "report digest"),
    ({"finished_on": END.replace(tzinfo=None)}, "finished_on has no time zone"),
    ({"policy_name": ""}, "policy_name is empty"),
    ({"verdict": "PASSED"}, "not a Verdict"),
])
def test_facts_refuse_values_that_would_make_a_wrong_statement(facts: RunFacts, change: dict[str, Any],
                                                               message: str) -> None:
    with pytest.raises(InternalError, match=message):
        make_facts(**{"output_digest": facts.output_digest, **change})


def test_check_counts_stay_in_range() -> None:
    with pytest.raises(InternalError):
        CheckCount(1, 2)


@pytest.mark.parametrize(("payload", "message"), [
    (b"\xff", "not JSON"),
    (b'{"_type": "https://in-toto.io/Statement/v0.1"}', "not an in-toto Statement v1"),
    (b'{"_type": "https://in-toto.io/Statement/v1", "subject": [{}]}', "no predicateType"),
    (b'{"_type": "https://in-toto.io/Statement/v1", "predicateType": "p", "subject": []}', "no subject"),
])
def test_parse_statement_refuses_what_is_not_a_statement_v1(payload: bytes, message: str) -> None:
    with pytest.raises(AttestationFailed, match=message):
        parse_statement(payload, "p")


def test_oci_purl() -> None:
    digest = "sha256:" + "a" * 64
    assert uris.oci_purl("registry.example/Team/App", digest) == f"pkg:oci/app@sha256%3A{'a' * 64}"
    assert uris.oci_purl("app", digest, tag="1.0") == f"pkg:oci/app@sha256%3A{'a' * 64}?tag=1.0"


def test_every_output_that_stores_the_manifest_is_a_subject_of_the_same_digest(bom: dict[str, Any],
                                                                              facts: RunFacts) -> None:
    names = (f"oci:/out:{REF}", "oci-archive:/out.tar:1", "docker://127.0.0.1:5000/app/hard:1")
    several = make_facts(facts.output_digest, output_names=names)
    hexdigest = facts.output_digest.removeprefix("sha256:")
    for document in run_statements(several, bom).values():
        assert document["subject"] == [{"name": name, "digest": {"sha256": hexdigest}} for name in names]


@pytest.mark.parametrize("names", [(), "oci:/out:1", ["oci:/out:1"], ("oci:/out:1", "")])
def test_output_names_must_be_a_tuple_of_names(facts: RunFacts, names: Any) -> None:
    with pytest.raises(InternalError):
        make_facts(facts.output_digest, output_names=names)


def test_a_bare_string_is_not_a_list_of_subject_names(facts: RunFacts) -> None:
    with pytest.raises(InternalError, match="not the string"):
        statement("oci:/out:1", facts.output_digest, PROVENANCE_TYPE, {})


# RFC 8141: "urn:" NID ":" NSS; NID 2-32 of alphanumerics and "-"; NSS of pchar (unreserved, %XX, sub-delims, ":", "@").
URN = re.compile(r"urn:[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9]:(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
                 r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")


@pytest.mark.parametrize("identifier", [uris.BUILD_TYPE, uris.BUILDER_ID, uris.VERIFIER_ID, uris.CHECKS_FIELD,
                                        uris.policy_uri("spark-k8s-python-deps"), uris.policy_uri("my policy/2")])
def test_hardens_identifiers_are_urns_of_its_own_namespace(identifier: str) -> None:
    assert URN.fullmatch(identifier), identifier
    assert identifier.startswith("urn:harden:")


def test_statements_name_harden_by_its_urns(facts: RunFacts, bom: dict[str, Any]) -> None:
    made = run_statements(facts, bom)
    assert made["provenance"]["predicate"]["buildDefinition"]["buildType"] == "urn:harden:build-type:image:v1"
    assert made["provenance"]["predicate"]["runDetails"]["builder"]["id"] == "urn:harden:builder:v1"
    assert made["vsa"]["predicate"]["verifier"]["id"] == "urn:harden:verifier:v1"
    assert "urn:harden:vsa:checks:v1" in made["vsa"]["predicate"]
    assert uris.policy_uri("my policy/2") == "urn:harden:policy:my%20policy%2F2"
