"""``harden attest verify IMAGE --key PUB.pem``: find the image's manifest digest(s) and the DSSE envelopes about
each, and check them (``harden.attest.verify``: signatures, subject digest, verdicts).

IMAGE is one of
- ``oci:DIR[:REF]`` / ``oci-archive:PATH[:REF]``: the manifest ``REF`` names (without one, the only image the
  layout lists; artifact manifests are not images); the envelopes are its referrers in the layout;
- ``docker://HOST/REPO:TAG|@DIGEST``: the manifest the registry serves; the envelopes are its referrers, read
  through the referrers API or, on a registry without it, from the referrers tag ``sha256-<hex>``;
- ``sha256:<64 hex>``: that manifest digest itself, with ``--attestations DIR``.
An index (a multi-platform image) is verified platform by platform: each platform manifest must have its own
verified provenance, VSA and SBOM statement. With ``--attestations DIR`` the envelopes are the ``*.dsse.json``
files of DIR (a report folder) instead of the referrers, and IMAGE must name one image manifest.

Every manifest digest is computed from the manifest's bytes (a layout's blob, a registry's answer), never taken
from an index's word for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harden.attest.dsse import MAX_ENVELOPE_BYTES
from harden.attest.dsse import MEDIA_TYPE as DSSE_MEDIA_TYPE
from harden.attest.keys import VerifyKey
from harden.attest.referrers import Descriptor, image_manifest, read_blob
from harden.attest.run import SIGNED_SUFFIX, UNSIGNED_SUFFIX
from harden.attest.verify import AttestationCheck, layout_envelopes, layout_unsigned, verify_attestations
from harden.errors import AttestationFailed, BadArchive, InputError, UsageError
from harden.image.reference import ImageRef
from harden.image.registry import OCI_MANIFEST, RegistryClient, get_manifest, list_referrers, parse_registry_reference
from harden.image.registry import read_blob as registry_blob
from harden.image.registry.media import IMAGE_TYPES
from harden.image.transports import RegistryOptions, parse_reference, stores_manifest
from harden.image.transports._archive import BlobReader, DirTree, TarArchive
from harden.image.transports.oci_layout import INDEX_TYPE

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
UNSIGNED_TYPE = "application/vnd.in-toto+json"


@dataclass(frozen=True, slots=True)
class ManifestAttestations:
    """One image manifest: what it is (``label``), where its envelopes came from, their checks, and the
    unsigned statements seen beside them (never accepted)."""

    label: str
    found_in: str
    check: AttestationCheck
    unsigned: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttestationResult:
    image: str
    manifests: tuple[ManifestAttestations, ...]

    @property
    def problems(self) -> tuple[str, ...]:
        several = len(self.manifests) > 1
        return tuple(f"{m.label}: {p}" if several else p for m in self.manifests for p in m.check.problems)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        """AttestationFailed (exit 1) naming the problems, if any."""
        problems = self.problems
        if problems:
            raise AttestationFailed(f"the attestations of {self.image} do not verify ({len(problems)} problem"
                                    f"{'s' if len(problems) != 1 else ''})", details=problems)


def verify_image_attestations(image: str, keys: Sequence[VerifyKey], *, attestations: Path | None = None,
                              registry: RegistryOptions | None = None, workspace: Path | None = None
                              ) -> AttestationResult:
    """Check the attestations of ``image`` with ``keys``; the result says what was found and what failed."""
    image = image.strip()
    if DIGEST.fullmatch(image):
        if attestations is None:
            raise UsageError(f"{image}: a bare manifest digest needs --attestations DIR (the envelopes to check)")
        return AttestationResult(image, (_from_dir(image, image, attestations, keys),))
    ref = parse_reference(image)
    if not stores_manifest(ref):
        raise UsageError(f"{ref.text}: attestations name a manifest digest, which only oci:, oci-archive: and "
                         "docker:// images have (docker-archive: and engine images keep none)")
    if ref.transport == "registry":
        return _from_registry(ref, keys, attestations, registry or RegistryOptions())
    with _layout_reader(ref, workspace) as reader:
        return _from_layout(ref, reader, keys, attestations)


# -- an OCI layout or oci-archive ------------------------------------------------------------------------------
@contextmanager
def _layout_reader(ref: ImageRef, workspace: Path | None) -> Iterator[BlobReader]:
    assert ref.path is not None
    if ref.index is not None:
        raise UsageError(f"{ref.text}: name the image by its ref name (:REF), not by position")
    if ref.transport == "oci":
        if not (ref.path / "index.json").is_file():
            raise InputError(f"{ref.text}: {ref.path} is not an OCI image layout (no index.json)")
        yield DirTree(ref.path, f"oci layout {ref.path}")
        return
    from harden.image.workspace import Workspace

    with Workspace(base=workspace) as ws:
        yield TarArchive.open(ref.path, ws.path, f"oci-archive {ref.path}")


def _from_layout(ref: ImageRef, reader: BlobReader, keys: Sequence[VerifyKey],
                 attestations: Path | None) -> AttestationResult:
    top = image_manifest(reader, ref.name)
    read_blob(reader, top)  # its bytes are its digest
    if top.media_type != INDEX_TYPE:
        targets = [(ref.text, top.digest)]
    else:
        targets = _platform_manifests(reader, top, ref.text)
        if attestations is not None:
            raise UsageError(f"{ref.text} is a multi-platform index; --attestations DIR holds one platform's "
                             "envelopes: verify its manifest digest (sha256:…) with them instead")
    found = []
    for label, digest in targets:
        if attestations is not None:
            found.append(_from_dir(label, digest, attestations, keys))
            continue
        envelopes = layout_envelopes(reader, digest)
        found.append(ManifestAttestations(label, f"referrers in {reader.description}",
                                          verify_attestations(envelopes, keys, digest),
                                          tuple(layout_unsigned(reader, digest))))
    return AttestationResult(ref.text, tuple(found))


def _platform_manifests(reader: BlobReader, index: Descriptor, label: str) -> list[tuple[str, str]]:
    """(label, digest) of each platform image manifest an index lists (artifacts left out)."""
    try:
        document = json.loads(read_blob(reader, index))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadArchive(f"{reader.description}: index {index.digest} is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise BadArchive(f"{reader.description}: index {index.digest} is not an object")
    found = []
    for entry in document.get("manifests") or []:
        if not isinstance(entry, dict) or entry.get("mediaType") != OCI_MANIFEST or entry.get("artifactType"):
            continue
        digest = entry.get("digest")
        if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
            continue
        platform = entry.get("platform") or {}
        name = "/".join(str(platform[k]) for k in ("os", "architecture", "variant") if platform.get(k))
        found.append((f"{label} ({name or digest})", digest))
    if not found:
        raise InputError(f"{label}: the index lists no image manifest")
    return found


# -- a registry ------------------------------------------------------------------------------------------------
def _from_registry(ref: ImageRef, keys: Sequence[VerifyKey], attestations: Path | None,
                   options: RegistryOptions) -> AttestationResult:
    target = parse_registry_reference(ref.text)
    with RegistryClient.for_reference(target, tls_verify=options.tls_verify, auth_file=options.auth_file,
                                      env=options.env) as client:
        top = get_manifest(client, target.repository, target.reference)
        if top.is_index:
            if attestations is not None:
                raise UsageError(f"{ref.text} is a multi-platform index; --attestations DIR holds one platform's "
                                 "envelopes: verify its manifest (docker://HOST/REPO@sha256:…) with them instead")
            targets = []
            for entry in top.manifests:
                if entry.media_type not in IMAGE_TYPES or entry.artifact_type:
                    continue
                platform = entry.platform
                name = str(platform) if platform is not None else entry.digest
                manifest = get_manifest(client, target.repository, entry.digest, accept=IMAGE_TYPES)
                targets.append((f"{ref.text} ({name})", manifest.digest))
        else:
            targets = [(ref.text, top.digest)]
        found = []
        for label, digest in targets:
            if attestations is not None:
                found.append(_from_dir(label, digest, attestations, keys))
            else:
                found.append(_registry_referrers(client, target.repository, label, digest, keys))
    return AttestationResult(ref.text, tuple(found))


def _registry_referrers(client: RegistryClient, repository: str, label: str, digest: str,
                        keys: Sequence[VerifyKey]) -> ManifestAttestations:
    listed = list_referrers(client, repository, digest)
    envelopes: list[tuple[str, bytes]] = []
    unsigned: list[str] = []
    for descriptor in listed.manifests:
        artifact = get_manifest(client, repository, descriptor.digest, accept=(OCI_MANIFEST,))
        subject = artifact.subject
        if subject is None or subject.digest != digest:
            continue  # a fallback index can list anything: only what names this manifest counts
        for layer in artifact.layers:
            title = dict(layer.annotations).get("org.opencontainers.image.title") or layer.digest
            if layer.media_type == DSSE_MEDIA_TYPE:
                data = registry_blob(client, repository, layer, max_bytes=MAX_ENVELOPE_BYTES)
                envelopes.append((f"{title} (referrer {descriptor.digest})", data))
            elif layer.media_type == UNSIGNED_TYPE:
                unsigned.append(title)
    how = "the referrers API" if listed.source == "api" else "the referrers tag"
    return ManifestAttestations(label, f"referrers in {client.host}/{repository} ({how})",
                                verify_attestations(envelopes, keys, digest), tuple(unsigned))


# -- envelope files --------------------------------------------------------------------------------------------
def _from_dir(label: str, digest: str, folder: Path, keys: Sequence[VerifyKey]) -> ManifestAttestations:
    if not folder.is_dir():
        raise InputError(f"--attestations {folder}: not a folder")
    envelopes = []
    for path in sorted(folder.glob(f"*{SIGNED_SUFFIX}")):
        with path.open("rb") as handle:
            data = handle.read(MAX_ENVELOPE_BYTES + 1)
        envelopes.append((path.name, data))
    unsigned = tuple(path.name for path in sorted(folder.glob(f"*{UNSIGNED_SUFFIX}")))
    return ManifestAttestations(label, str(folder), verify_attestations(envelopes, keys, digest), unsigned)
