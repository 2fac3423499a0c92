"""The URIs harden's attestations name it by: build type, builder, verifier, policies, the VSA extension field.

harden has no public home yet, so they live under the reserved ``.invalid`` domain (RFC 2606): they identify
harden without pointing anywhere. Verifiers match ``builder.id`` and ``verifier.id`` exactly, so a change here is
a change of identity: make it once, before attestations are relied on, and only here.
"""

from __future__ import annotations

from urllib.parse import quote

HOME = "https://harden.invalid"
BUILD_TYPE = f"{HOME}/attestations/build-type/image/v1"
"""SLSA ``buildType``: a source image + a policy in, a hardened image out (externalParameters: source, policy)."""
BUILDER_ID = f"{HOME}/attestations/builder/v1"
"""Default SLSA ``builder.id``: harden run by whoever holds the key. A CI platform may pass its own identity."""
VERIFIER_ID = f"{HOME}/attestations/verifier/v1"
"""Default VSA ``verifier.id``: harden's diff-verification of the hardened image against the original."""
CHECKS_FIELD = f"{HOME}/attestations/vsa/checks/v1"
"""VSA extension field (VSA v1: "Producers MAY add extension fields using field names that are URIs")."""
VERIFIED_LEVEL = "HARDEN_VERIFIED"
"""The VSA ``verifiedLevels`` entry of a passed run: a custom SlsaResult (the spec reserves ``SLSA_``)."""


def policy_uri(name: str) -> str:
    """The VSA ``policy.uri`` of the policy called ``name``."""
    return f"{HOME}/policies/{quote(name, safe='')}"


def oci_purl(name: str, digest: str, *, tag: str | None = None) -> str:
    """A package URL for an OCI image (purl type ``oci``): ``pkg:oci/NAME@sha256%3AHEX[?tag=TAG]``.

    ``name`` is the last component of the image's repository (lowercased, as the purl spec requires).
    """
    last = name.rstrip("/").rsplit("/", 1)[-1].lower()
    purl = f"pkg:oci/{quote(last, safe='')}@{quote(digest, safe='')}"
    return f"{purl}?tag={quote(tag, safe='')}" if tag else purl
