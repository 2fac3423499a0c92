"""``harden image --sign-key`` and ``harden attest verify``, engine-free: a tiny real Python image (the host's
interpreter, verified in the bwrap sandbox) as an OCI layout in, an OCI layout and an oci-archive out.

What harden wrote is checked without harden's code (``attest_checks``): openssl verifies every envelope, in the
report folder and in the layout, over a PAE built from the spec; each statement's subject is the digest of the
manifest index.json names (recomputed with hashlib); the layout lists every referrer with that subject. Then
harden's own verifier: 0 for what was written, 1 for a changed payload byte (rewritten consistently into the
layout, or in a copy of the report folder) and for another key. The private key is in no file written."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from cli.attest_checks import (
    KINDS,
    assert_no_secret,
    dsse_referrers,
    flip_payload_byte,
    key_secrets,
    make_key,
    openssl,
    openssl_verifies,
    replace_referrer_envelope,
    sha256,
    tagged_manifest_digest,
    verified_statement,
)
from cli.cli_support import layout_referrers, oci_archive_files, oci_dir_files, read_oci, validate_report
from hostile import host_python
from hostile.hostile_scene import Scene
from imagefactory import write_oci_layout

PROVENANCE = "https://slsa.dev/provenance/v1"
VSA = "https://slsa.dev/verification_summary/v1"
CYCLONEDX = "https://cyclonedx.org/bom"
ENVELOPES = ["provenance.dsse.json", "sbom.dsse.json", "vsa.dsse.json"]
REFERRER_TYPES = {"application/vnd.cyclonedx+json", "application/vnd.in-toto.provenance+dsse",
                  "application/vnd.in-toto.vsa+dsse", "application/vnd.in-toto.cyclonedx+dsse"}

needs_python = pytest.mark.skipif(host_python.unavailable() is not None, reason=str(host_python.unavailable()))


def python_layout(scene: Scene) -> Path:
    """The tiny Python image as an OCI layout tagged ``1`` (imagefactory's writer, not harden's)."""
    layer = host_python.python_layer()
    return write_oci_layout(scene.inputs / "py", [layer], host_python.python_config([layer]), ref_name="1")


def fast_policy(scene: Scene) -> Path:
    path = scene.inputs / "fast.toml"
    path.write_text(host_python.FAST_POLICY)
    return path


@needs_python
@pytest.mark.parametrize("kind", KINDS)
def test_signed_attestations_verify_with_openssl_and_harden(sandbox_scene: Scene, kind: str) -> None:
    scene = sandbox_scene
    source, policy = python_layout(scene), fast_policy(scene)
    private, public = make_key(scene.inputs / "keys", kind)
    _, other_public = make_key(scene.inputs / "keys", kind, name="other")
    layout, archive, reports = scene.out / "layout", scene.out / "hard.tar", scene.reports / "r"
    outputs = [f"oci:{layout}:hard", f"oci-archive:{archive}:hard"]
    run = scene.run("image", f"oci:{source}:1", "--policy", str(policy), "--runner", "sandbox", "--jobs", "1",
                    "--output", outputs[0], "--output", outputs[1], "--sign-key", str(private),
                    "--report-dir", str(reports))
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "attested: provenance.dsse.json, vsa.dsse.json, sbom.dsse.json" in run.stdout

    # the layout: one image, the referrers beside it, every blob right (plain json/hashlib)
    digest = tagged_manifest_digest(layout, "hard")
    files = oci_dir_files(layout)
    read_oci(files)
    referrers = layout_referrers(files)
    assert {r["artifactType"] for r in referrers} == REFERRER_TYPES
    assert {r["subject"]["digest"] for r in referrers} == {digest}
    archived = oci_archive_files(archive)
    read_oci(archived)
    assert {r["artifactType"] for r in layout_referrers(archived)} == REFERRER_TYPES

    # openssl verifies each envelope of the report folder; each statement is about the manifest, of each output
    report_json = (reports / "report.json").read_bytes()
    validate_report(reports / "report.json")
    statements = {}
    for name in ENVELOPES:
        envelope = json.loads((reports / name).read_text())
        statement = verified_statement(envelope, public, kind, scene.root / "openssl")
        assert statement["subject"] == [{"name": output, "digest": {"sha256": digest.removeprefix("sha256:")}}
                                        for output in outputs]
        assert not openssl_verifies(envelope, other_public, kind, scene.root / "openssl")
        statements[statement["predicateType"]] = statement["predicate"]
    assert set(statements) == {PROVENANCE, VSA, CYCLONEDX}
    build = statements[PROVENANCE]["buildDefinition"]
    assert build["externalParameters"]["source"] == f"oci:{source}:1"
    assert build["externalParameters"]["policy"]["name"] == "host-python-fast"
    assert build["externalParameters"]["policy"]["digest"]["sha256"]
    byproducts = statements[PROVENANCE]["runDetails"]["byproducts"]
    assert byproducts == [{"name": "report.json", "digest": {"sha256": sha256(report_json).removeprefix("sha256:")},
                           "mediaType": "application/json"}]
    assert statements[VSA]["verificationResult"] == "PASSED"
    assert statements[CYCLONEDX]["bomFormat"] == "CycloneDX"

    # the same envelopes are the layout's referrers, and openssl verifies those too
    stored = dsse_referrers(layout)
    assert sorted(stored) == ENVELOPES
    for name, envelope in stored.items():
        assert envelope == json.loads((reports / name).read_text())
        verified_statement(envelope, public, kind, scene.root / "openssl")

    # harden's verifier: 0 for what was written (layout, archive, report folder), 1 for another key
    for image in outputs:
        ok = scene.run("attest", "verify", image, "--key", str(public))
        assert ok.exit_code == 0, ok.stdout + ok.stderr
        assert f"verified: every attestation of {image}" in ok.stdout
    by_files = scene.run("attest", "verify", digest, "--attestations", str(reports), "--key", str(public))
    assert by_files.exit_code == 0, by_files.stdout + by_files.stderr
    other = scene.run("attest", "verify", outputs[0], "--key", str(other_public))
    assert other.exit_code == 1
    assert "no signature verifies with the given key" in other.error_line

    # one changed payload byte: in a copy of the report folder, and rewritten consistently into a layout copy
    tampered_reports = scene.out / "tampered-reports"
    shutil.copytree(reports, tampered_reports)
    vsa = json.loads((reports / "vsa.dsse.json").read_text())
    flipped = flip_payload_byte(vsa, b"PASSED")
    assert base64.b64decode(flipped["payload"]) != base64.b64decode(vsa["payload"])
    (tampered_reports / "vsa.dsse.json").write_text(json.dumps(flipped))
    assert not openssl_verifies(flipped, public, kind, scene.root / "openssl")
    bad_files = scene.run("attest", "verify", digest, "--attestations", str(tampered_reports), "--key", str(public))
    assert bad_files.exit_code == 1
    assert "vsa.dsse.json: no signature verifies" in bad_files.error_line
    tampered_layout = scene.out / "tampered-layout"
    shutil.copytree(layout, tampered_layout)
    replace_referrer_envelope(tampered_layout, "vsa.dsse.json", flipped)
    read_oci(oci_dir_files(tampered_layout))  # still a consistent layout: every digest matches
    bad_layout = scene.run("attest", "verify", f"oci:{tampered_layout}:hard", "--key", str(public))
    assert bad_layout.exit_code == 1
    assert "no signature verifies" in bad_layout.error_line

    # the private key is in no file written, nor in any output
    outs = [run.stdout, run.stderr, ok.stdout, other.stdout, other.stderr]
    assert assert_no_secret(key_secrets(private), scene.out, scene.reports, scene.cwd, texts=outs) > 20


@pytest.mark.parametrize("kind", KINDS)
def test_unsigned_and_unverified_statements_do_not_pass(scene: Scene, tiny: Path, kind: str) -> None:
    """Without --sign-key the statements are written unsigned (``*.intoto.json``) and stored as referrers;
    a run that was not verified has no verification summary. ``harden attest verify`` accepts neither."""
    _, public = make_key(scene.inputs / "keys", kind)
    private, _ = make_key(scene.inputs / "keys", kind, name="signer")
    unsigned, signed = scene.out / "unsigned", scene.out / "signed"
    run = scene.run("image", f"docker-archive:{tiny}", "--no-verify", "--output", f"oci:{unsigned}:1",
                    "--report-dir", str(scene.reports / "u"))
    assert run.exit_code == 0, run.stderr
    assert "attested: provenance.intoto.json, sbom.intoto.json (unsigned: no --sign-key)" in run.stdout
    statement = json.loads((scene.reports / "u" / "provenance.intoto.json").read_text())
    assert statement["subject"][0]["digest"]["sha256"] == tagged_manifest_digest(unsigned, "1").removeprefix("sha256:")
    assert sorted(p.name for p in (scene.reports / "u").glob("*.json") if ".intoto." in p.name or ".dsse." in p.name) \
        == ["provenance.intoto.json", "sbom.intoto.json"]
    assert {r["artifactType"] for r in layout_referrers(oci_dir_files(unsigned))} == {
        "application/vnd.cyclonedx+json", "application/vnd.in-toto+json"}
    refused = scene.run("attest", "verify", f"oci:{unsigned}:1", "--key", str(public))
    assert refused.exit_code == 1 and "no verified SLSA provenance" in refused.error_line
    assert "skip  provenance.intoto.json: unsigned" in refused.stdout

    # signed, but --no-verify: provenance and SBOM verify, the missing verification summary fails the check
    run = scene.run("image", f"docker-archive:{tiny}", "--no-verify", "--output", f"oci:{signed}:1",
                    "--sign-key", str(private), "--report-dir", str(scene.reports / "s"))
    assert run.exit_code == 0, run.stderr
    no_vsa = scene.run("attest", "verify", f"oci:{signed}:1", "--key", str(private.with_suffix(".pub.pem")))
    assert no_vsa.exit_code == 1
    assert "no verified verification summary (VSA)" in no_vsa.error_line
    assert no_vsa.stdout.count("  ok    ") == 2


def encrypt(private: Path, passphrase: str) -> bytes:
    """The key as encrypted PKCS#8 PEM (openssl's default cipher)."""
    return openssl("pkcs8", "-topk8", "-in", str(private), "-passout", f"pass:{passphrase}").stdout


def _key_file(folder: Path, kind: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}.pem"
    if kind == "rsa":
        path.write_bytes(openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048").stdout)
    elif kind == "p384":
        path.write_bytes(openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384").stdout)
    elif kind == "encrypted":
        private, _ = make_key(folder, "ed25519", name="plain")
        path.write_bytes(encrypt(private, "attest-secret-word"))
        private.unlink()
    elif kind == "public":
        _, public = make_key(folder, "ed25519", name="pub-only")
        path = public
    elif kind == "garbage":
        path.write_bytes(b"attest-secret-word\n")
    elif kind == "directory":
        path.mkdir()
    return path


@pytest.mark.parametrize(("kind", "message"), [
    ("rsa", "an RSA key; harden signs with ECDSA P-256 (prime256v1) or Ed25519 keys"),
    ("p384", "an ECDSA key on secp384r1"),
    ("encrypted", "the private key is encrypted; set HARDEN_SIGN_KEY_PASSWORD to its passphrase"),
    ("public", "a public key; signing needs the private key"),
    ("garbage", "not a PEM private key"),
    ("directory", "a directory, not a private key"),
    ("missing", "cannot read the private key"),
])
def test_a_bad_signing_key_is_one_line_and_exit_2_before_any_work(scene: Scene, tiny: Path, kind: str,
                                                                   message: str) -> None:
    key = _key_file(scene.inputs / "keys", kind)
    run = scene.run("image", f"docker-archive:{tiny}", "--no-verify", "--output", f"oci:{scene.out / 'x'}:1",
                    "--sign-key", str(key), "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 2, run.stdout + run.stderr
    line = run.error_line
    assert str(key) in line and message in line
    assert "attest-secret-word" not in run.stdout + run.stderr
    assert run.created == set()


def test_the_key_may_come_from_harden_sign_key_and_its_passphrase_from_the_environment(scene: Scene,
                                                                                         tiny: Path) -> None:
    private, public = make_key(scene.inputs / "keys", "ecdsa-p256")
    encrypted = scene.inputs / "keys" / "encrypted.pem"
    encrypted.write_bytes(encrypt(private, "attest-secret-word"))
    out = scene.out / "env"
    run = scene.run("image", f"docker-archive:{tiny}", "--no-verify", "--output", f"oci:{out}:1",
                    "--report-dir", str(scene.reports / "r"),
                    env={"HARDEN_SIGN_KEY": str(encrypted), "HARDEN_SIGN_KEY_PASSWORD": "attest-secret-word"})
    assert run.exit_code == 0, run.stderr
    envelope = json.loads((scene.reports / "r" / "provenance.dsse.json").read_text())
    verified_statement(envelope, public, "ecdsa-p256", scene.root / "openssl")
    wrong = scene.run("image", f"docker-archive:{tiny}", "--no-verify", "--output", f"oci:{scene.out / 'w'}:1",
                      "--report-dir", str(scene.reports / "w"),
                      env={"HARDEN_SIGN_KEY": str(encrypted), "HARDEN_SIGN_KEY_PASSWORD": "not-it"})
    assert wrong.exit_code == 2 and "not its passphrase" in wrong.error_line
    assert_no_secret([*key_secrets(private), b"attest-secret-word"], scene.out, scene.reports,
                     texts=[run.stdout, run.stderr, wrong.stderr])


def test_sign_key_without_an_output_that_stores_a_manifest_is_refused(scene: Scene, tiny: Path) -> None:
    private, _ = make_key(scene.inputs / "keys", "ed25519")
    run = scene.run("image", f"docker-archive:{tiny}", "--no-verify", "--output",
                    f"docker-archive:{scene.out / 'x.tar'}", "--sign-key", str(private))
    assert run.exit_code == 2
    assert "--sign-key: no output stores a manifest digest to attest" in run.error_line
    assert run.created == set()
