"""A run's attestation files and referrers: names, contents, and no key material anywhere in what is written."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import harden.attest
from harden.attest.facts import RunFacts
from harden.attest.keys import SigningKey
from harden.attest.referrers import attach
from harden.attest.run import attest_run, layout_artifacts, write_attestations
from harden.attest.statements import run_statements


def test_signed_files_are_dsse_envelopes(tmp_path: Path, facts: RunFacts, bom: dict[str, Any],
                                         signing_key: SigningKey) -> None:
    written = write_attestations(tmp_path / "r", attest_run(facts, bom, [signing_key]))
    assert [p.name for p in written] == ["provenance.dsse.json", "vsa.dsse.json", "sbom.dsse.json"]
    for path in written:
        doc = json.loads(path.read_text())
        assert doc["payloadType"] == "application/vnd.in-toto+json"
        assert [s["keyid"] for s in doc["signatures"]] == [signing_key.keyid]
        assert path.stat().st_mode & 0o777 == 0o644


def test_without_a_key_the_statements_are_written_unsigned(tmp_path: Path, facts: RunFacts,
                                                           bom: dict[str, Any]) -> None:
    attestations = attest_run(facts, bom, [])
    written = write_attestations(tmp_path / "r", attestations)
    assert [p.name for p in written] == ["provenance.intoto.json", "vsa.intoto.json", "sbom.intoto.json"]
    statements = run_statements(facts, bom)
    for path, name in zip(written, ("provenance", "vsa", "sbom"), strict=True):
        assert json.loads(path.read_text()) == statements[name]
    assert not any(a.signed for a in attestations)


def _secret_forms(key: SigningKey) -> list[bytes]:
    """The private key as bytes in the forms it could leak in: DER, PEM body, the raw scalar / seed."""
    der = key.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    if isinstance(key.key, ec.EllipticCurvePrivateKey):
        raw = key.key.private_numbers().private_value.to_bytes(32, "big")
    else:
        raw = key.key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
    pem = key.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
    return [der, raw, raw.hex().encode(), body[:24]]


def test_no_output_holds_the_private_key(tmp_path: Path, layout: tuple[Path, str], facts: RunFacts,
                                         bom: dict[str, Any], signing_key: SigningKey) -> None:
    root, digest = layout
    attestations = attest_run(facts, bom, [signing_key])
    write_attestations(tmp_path / "reports", attestations)
    attach(root, digest, layout_artifacts(attestations, json.dumps(bom).encode(), "sbom.hardened.cdx.json"))
    outputs = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    assert len(outputs) > 10
    for secret in _secret_forms(signing_key):
        assert not any(secret in data for data in outputs)
    assert b"PRIVATE KEY" not in b"".join(outputs)


def test_attest_imports_only_low_level_harden_modules() -> None:
    """attest sits beside report and verify: it reads values, never the job, the API, the CLI or the pipeline
    (deferred imports included)."""
    allowed = ("harden.attest", "harden.errors", "harden.atomic", "harden.image")
    package = Path(harden.attest.__file__).parent
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                if name == "harden" or name.startswith("harden."):
                    assert name.startswith(allowed), f"{module.name} imports {name}"
