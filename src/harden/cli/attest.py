"""``harden attest verify IMAGE --key PUB.pem``: check the signed in-toto statements of a hardened image."""

from __future__ import annotations

from pathlib import Path

import click

from harden import api


@click.group()
def attest() -> None:
    """Signed attestations of hardened images (written by `harden image --sign-key`)."""


@attest.command()
@click.argument("image")
@click.option("--key", "keys", multiple=True, required=True, type=click.Path(path_type=Path), metavar="PUB.pem",
              help="A public key (PEM, ECDSA P-256 or Ed25519) the envelopes must be signed with (repeatable: any "
                   "of them).")
@click.option("--attestations", type=click.Path(path_type=Path), metavar="DIR",
              help="Check the *.dsse.json files of DIR (a report folder) instead of the image's OCI referrers.")
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL",
              help="Registries: verify TLS (default; plain HTTP only for loopback registries), or not (false).")
def verify(image: str, keys: tuple[Path, ...], attestations: Path | None, tls_verify: bool | None) -> None:
    """Verify the attestations of IMAGE: oci:DIR[:REF], oci-archive:PATH[:REF] or docker://HOST/REPO:TAG (the
    envelopes are the referrers of its manifest; an index is checked platform by platform), or a manifest
    digest sha256:HEX with --attestations DIR.

    Each DSSE envelope must verify with one of the keys; its in-toto statement must name the image's manifest
    digest (computed from the manifest's bytes) as every subject; a SLSA provenance of harden's build type, a
    verification summary saying PASSED and a CycloneDX SBOM statement must each be there. Exit 0 when all
    holds, 1 on any mismatch (one line naming it), 2 for a bad key or usage, 3 when the image cannot be read.
    """
    result = api.verify_attestations(image, keys, attestations=attestations, tls_verify=tls_verify)
    for manifest in result.manifests:
        check = manifest.check
        click.echo(f"{manifest.label}: manifest {check.subject_digest} ({manifest.found_in})")
        for envelope in check.envelopes:
            if envelope.ok:
                keyids = ", ".join(k[:16] for k in envelope.keyids)
                click.echo(f"  ok    {envelope.name}: {envelope.predicate_type}, key {keyids}")
        for problem in check.problems:
            click.echo(f"  FAIL  {problem}")
        for name in manifest.unsigned:
            click.echo(f"  skip  {name}: unsigned, nothing to verify")
    if result.ok:
        click.echo(f"verified: every attestation of {result.image}")
    api.raise_for_attestations(result)
