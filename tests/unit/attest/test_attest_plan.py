"""The plan of a run's attestations (what the report lists before any statement is built) and its check against
what was made: the statements, their files, signed or not, their subjects."""

from __future__ import annotations

from typing import Any

import pytest
from attest_support import REF, make_facts

from harden.attest.facts import RunFacts
from harden.attest.keys import SigningKey
from harden.attest.run import attest_run, check_plan, plan_attestations
from harden.errors import InternalError

OUTPUTS = (f"oci:/out:{REF}", "docker://127.0.0.1:5000/app/hard:1")


def test_a_verified_signed_run_plans_three_signed_statements(facts: RunFacts, signing_key: SigningKey) -> None:
    plan = plan_attestations(OUTPUTS, facts.output_digest, [signing_key], verified=True, attached_to=OUTPUTS,
                             sbom_file="sbom.hardened.cdx.json", not_covered=("docker-archive:/x.tar: why",))
    assert plan.signed and plan.files() == ("provenance.dsse.json", "vsa.dsse.json", "sbom.dsse.json")
    report = plan.to_report()
    assert report["subject_digest"] == facts.output_digest and report["subjects"] == list(OUTPUTS)
    assert report["keys"] == [{"algorithm": signing_key.algorithm.value, "keyid": signing_key.keyid}]
    assert [s["name"] for s in report["statements"]] == ["provenance", "vsa", "sbom"]
    assert report["omitted"] == [] and report["not_covered"] == ["docker-archive:/x.tar: why"]
    assert report["referrers"] == {"outputs": list(OUTPUTS), "files": ["sbom.hardened.cdx.json",
                                                                      *plan.files()]}


def test_an_unverified_unsigned_run_plans_no_vsa(facts: RunFacts) -> None:
    plan = plan_attestations(OUTPUTS[:1], facts.output_digest, [], verified=False, not_verified_why="--no-verify")
    assert not plan.signed and plan.files() == ("provenance.intoto.json", "sbom.intoto.json")
    assert plan.omitted == ("vsa: --no-verify; no verification summary is made",)
    assert plan.to_report()["referrers"] == {"outputs": [], "files": []}


def test_no_manifest_no_statements(signing_key: SigningKey) -> None:
    plan = plan_attestations((), None, [signing_key], verified=True, not_covered=("docker-archive:/x.tar: why",))
    assert plan.statements == () and plan.files() == () and plan.subject_digest is None
    assert plan.to_report()["not_covered"] == ["docker-archive:/x.tar: why"]


def test_what_was_made_is_held_to_the_plan(facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey) -> None:
    several = make_facts(facts.output_digest, output_names=OUTPUTS)
    signed = attest_run(several, bom, [signing_key])
    check_plan(plan_attestations(OUTPUTS, facts.output_digest, [signing_key], verified=True), signed)
    with pytest.raises(InternalError, match="not the ones planned"):  # planned unsigned, made signed
        check_plan(plan_attestations(OUTPUTS, facts.output_digest, [], verified=True), signed)
    with pytest.raises(InternalError, match="not the ones planned"):  # planned without the VSA
        check_plan(plan_attestations(OUTPUTS, facts.output_digest, [signing_key], verified=False), signed)
    with pytest.raises(InternalError, match="not the planned"):  # another output named
        check_plan(plan_attestations(OUTPUTS[:1], facts.output_digest, [signing_key], verified=True), signed)
    other = "sha256:" + "9" * 64
    with pytest.raises(InternalError, match="not the planned"):  # another digest
        check_plan(plan_attestations(OUTPUTS, other, [signing_key], verified=True), signed)
