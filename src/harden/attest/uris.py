"""The identifiers harden's attestations name it by: build type, builder, verifier, policies, the VSA extension.

harden has no public home (pyproject.toml names no project URL), so they are URNs in a namespace of harden's
own, ``urn:harden:…``: RFC 8141 syntax, but ``harden`` is not a namespace registered with IANA. They identify
harden without pointing anywhere, and no one else can take over a web address they would resolve to. SLSA and
in-toto ask for URIs here (buildType "MAY be unresolvable", builder.id and verifier.id are TypeURIs; VSA
extension fields are "field names that are URIs"); a URN is one.

Verifiers match ``builder.id`` and ``verifier.id`` exactly, so a change here is a change of identity: make it
only here, and say so in the release notes.
"""

from __future__ import annotations

from urllib.parse import quote

HOME = "urn:harden"
BUILD_TYPE = f"{HOME}:build-type:image:v1"
"""SLSA ``buildType``: a source image + a policy in, a hardened image out (externalParameters: source, policy)."""
BUILDER_ID = f"{HOME}:builder:v1"
"""Default SLSA ``builder.id``: harden run by whoever holds the key. A CI platform may pass its own identity."""
VERIFIER_ID = f"{HOME}:verifier:v1"
"""Default VSA ``verifier.id``: harden's diff-verification of the hardened image against the original."""
CHECKS_FIELD = f"{HOME}:vsa:checks:v1"
"""VSA extension field (VSA v1: "Producers MAY add extension fields using field names that are URIs")."""
VERIFIED_LEVEL = "HARDEN_VERIFIED"
"""The VSA ``verifiedLevels`` entry of a passed run: a custom SlsaResult (the spec reserves ``SLSA_``)."""


def policy_uri(name: str) -> str:
    """The VSA ``policy.uri`` of the policy called ``name`` (its digest sits beside it in the VSA)."""
    return f"{HOME}:policy:{quote(name, safe='')}"


def oci_purl(name: str, digest: str, *, tag: str | None = None) -> str:
    """A package URL for an OCI image (purl type ``oci``): ``pkg:oci/NAME@sha256%3AHEX[?tag=TAG]``.

    ``name`` is the last component of the image's repository (lowercased, as the purl spec requires).
    """
    last = name.rstrip("/").rsplit("/", 1)[-1].lower()
    purl = f"pkg:oci/{quote(last, safe='')}@{quote(digest, safe='')}"
    return f"{purl}?tag={quote(tag, safe='')}" if tag else purl
