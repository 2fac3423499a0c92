"""Attestations of a hardened image: in-toto statements in DSSE envelopes, and OCI referrers in the layout.

The flow of a run: ``facts.RunFacts`` (plain values the job fills in) → ``run.attest_run`` builds the SLSA
provenance, the verification summary and the SBOM statement (``statements``) and signs each with the keys of
``keys.read_signing_key`` (``dsse``) → ``run.write_attestations`` writes ``*.dsse.json`` (``*.intoto.json``
unsigned) → ``referrers.attach`` stores the SBOM and each attestation in an OCI layout as artifact manifests
whose subject is the image manifest. ``verify.verify_attestations`` (``harden attest verify``) checks envelopes
from files or from a layout (``verify.layout_envelopes``) against a public key and the image's manifest digest.

Nothing here loads an image or a policy, nor imports the job, the API or the CLI.
"""
