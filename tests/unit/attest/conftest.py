"""Fixtures of the attestation tests: real keys of each supported kind, a real OCI layout written by harden's
sink, the facts of a run about it, and its SBOM as harden's report makes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from attest_support import REF, make_facts, make_layout, pkcs8
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from harden.attest.facts import RunFacts
from harden.attest.keys import SigningKey, load_signing_key
from harden.report.sbom import cyclonedx


@pytest.fixture(params=["ecdsa-p256", "ed25519"])
def signing_key(request: pytest.FixtureRequest) -> SigningKey:
    """A fresh key of each supported kind, loaded from PEM as a user's key file would be."""
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey = (
        ec.generate_private_key(ec.SECP256R1()) if request.param == "ecdsa-p256"
        else ed25519.Ed25519PrivateKey.generate()
    )
    return load_signing_key(pkcs8(key), source="test.pem")


@pytest.fixture
def other_key(signing_key: SigningKey) -> SigningKey:
    """Another key of the same kind: its signatures must not pass for ``signing_key``'s."""
    key = (ec.generate_private_key(ec.SECP256R1()) if isinstance(signing_key.key, ec.EllipticCurvePrivateKey)
           else ed25519.Ed25519PrivateKey.generate())
    return load_signing_key(pkcs8(key), source="other.pem")


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "out"
    return root, make_layout(root)


@pytest.fixture
def facts(layout: tuple[Path, str]) -> RunFacts:
    return make_facts(layout[1])


@pytest.fixture
def bom(layout: tuple[Path, str]) -> dict[str, Any]:
    """The hardened image's SBOM as harden's report makes it."""
    return cyclonedx([], subject=f"oci:/out:{REF}", digest=layout[1], side="hardened",
                     generated_at="2025-03-01T12:04:30Z", platform="linux/amd64")
