"""``docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`` — a registry (OCI distribution API), skopeo's syntax, through
harden's registry client (``harden.image.registry``: references, credentials from ``~/.docker/config.json`` and
credential helpers, Basic and Bearer auth, verified TLS with plain HTTP only for loopback registries or with
``--tls-verify=false``, streamed and verified pull and push).

Reading: the manifest the reference names; an index (OCI) or manifest list (Docker) gives every platform
image it lists (attestation manifests and artifacts left out, and named). Manifests and configs are read and
checked against their digests; each layer blob is streamed into the workspace (checked against its digest and
size) when it is first read, so platforms not asked for (``--platform``) are never downloaded.

Writing: the OCI documents every OCI output of the run shares (compressed layers, configs, manifests, the index
when the source named one); blobs the registry has are skipped (HEAD), the others streamed from their files;
platform manifests are pushed by digest, and only the last step, when every output of the run is in place, puts
the tag on the index (or the one manifest): a failed or interrupted run never leaves the tag on a partial
image. Blobs pushed by a run that did not publish are unreferenced, for the registry's garbage collection.

The run's referrers (SBOM, attestations) are pushed right after the tag, by digest, through the referrers API
or, on a registry without it (distribution 2.8), into the referrers tag ``sha256-<hex>`` of their subject: they
must not name an image no tag names yet. A failure there gives the image tag back (as any later failure does);
what the registry already holds of the referrers cannot be taken back through the API, and is logged.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
from pathlib import Path
from typing import IO, Any

from harden.atomic import Publication
from harden.errors import BadArchive, HardenError
from harden.image._streams import layer_media_type, open_verified
from harden.image.model import Image, ImageSet, Layer, Platform
from harden.image.reference import ImageRef
from harden.image.registry import (
    MANIFEST_TYPES,
    Descriptor,
    Manifest,
    RegistryClient,
    RegistryRef,
    fetch_blob,
    get_manifest,
    head_manifest,
    parse_registry_reference,
    push_blob,
    push_referrer,
    put_manifest,
    read_blob,
)
from harden.image.registry.client import push_scope
from harden.image.registry.media import IMAGE_TYPES, INDEX_TYPES
from harden.image.transports._common import (
    Entry,
    Selection,
    config_digest,
    parse_config,
    select_entries,
    string_annotations,
    walk_index,
)
from harden.image.transports._oci import BuiltSet, Referrer, check_referrers
from harden.image.transports._transport import Commit, ReadContext, RegistryOptions, Transport, WriteContext

log = logging.getLogger(__name__)


class Registry(Transport):
    name = "registry"
    prefixes = ("docker://",)
    syntax = "docker://HOST[:PORT]/REPO[:TAG|@DIGEST]"
    summary = ("a registry: pulled and pushed streamed, blobs it has skipped; credentials from "
               "~/.docker/config.json and its helpers; verified TLS, plain HTTP only for loopback registries or "
               "--tls-verify=false")
    stores_manifest = True

    def parse(self, rest: str, text: str) -> ImageRef:
        ref = parse_registry_reference(self.prefixes[0] + rest)
        suffix = f"@{ref.digest}" if ref.digest else f":{ref.tag}"
        return ImageRef(self.name, name=f"{ref.host}/{ref.repository}{suffix}", canonical=str(ref))

    def open(self, ref: ImageRef, ctx: ReadContext) -> ImageSet:
        target = registry_ref(ref)
        client = _client(target, ctx.registry)
        where = f"registry {target.host}, repository {target.repository}"
        top = get_manifest(client, target.repository, target.reference)
        if not top.is_index:
            return ImageSet.single(_image(client, target, top, None, ctx, ref.text))

        def load(digest: str) -> Any:
            return get_manifest(client, target.repository, digest, accept=INDEX_TYPES).document

        entries, skipped = walk_index(top.document, load, where, f"index {top.digest}")
        if any(entry.parent is not None for entry in entries):  # indexes in the index: which one is meant?
            chosen = select_entries(entries, top.document, selector=None, index=None, where=where, skipped=skipped,
                                    hint="its digest (docker://HOST/REPO@sha256:…)")
        elif not entries:
            raise BadArchive(f"{where}: index {top.digest} lists no image manifest", details=[s.line for s in skipped])
        else:  # the reference names this index: every platform of it
            chosen = Selection(tuple(entries), True, top.media_type, top.annotations, tuple(s.line for s in skipped))
        images = tuple(_image(client, target, get_manifest(client, target.repository, entry.digest,
                                                            accept=IMAGE_TYPES), entry, ctx, ref.text)
                       for entry in chosen.entries)
        return ImageSet(images, ref.text, chosen.is_index, chosen.media_type, chosen.annotations, chosen.skipped)

    def output_problem(self, ref: ImageRef, ctx: WriteContext) -> str | None:
        target = registry_ref(ref)
        if target.digest is not None:
            return "names a digest; an output needs a tag (docker://HOST/REPO:TAG)"
        with _client(target, ctx.registry) as client:
            _check_push(client, target)  # an unreachable registry or missing rights: exit 3 before any work
        return None

    def stage(self, ref: ImageRef, images: ImageSet, ctx: WriteContext, publication: Publication) -> Commit | None:
        target = registry_ref(ref)
        assert target.tag is not None
        built = ctx.built(images, ctx.compression)
        check_referrers(built, ctx.referrers)
        client = _client(target, ctx.registry)
        push_content(client, target.repository, built)
        push_referrer_blobs(client, target.repository, ctx.referrers)
        top = Manifest.parse(built.top.data, built.top.media_type, f"{ref.text} (to push)")
        previous: list[Manifest | None] = []
        attached: list[str] = []

        def apply() -> None:
            previous.append(_current(client, target))
            put_manifest(client, target.repository, top, tag=target.tag)
            log.info("pushed %s as %s", top.digest, ref.text)
            try:
                push_referrers(client, target.repository, ctx.referrers, ref.text, attached)
            except BaseException:
                undo()
                raise

        def undo() -> None:
            _restore(client, target, previous[0] if previous else None, top)
            if attached:
                log.error("%s: %d referrer(s) of %s stay in the registry (%s): the distribution API cannot delete "
                          "what a referrers tag lists; delete them by hand if unwanted", ref.text, len(attached),
                          top.digest, ", ".join(attached))

        return Commit(f"tag {ref.text}", apply, undo, client.close, order=1)

    def identity(self, ref: ImageRef) -> str | None:
        return str(registry_ref(ref))

    def moving_tag(self, ref: ImageRef) -> bool:
        return registry_ref(ref).tag == "latest"


def registry_ref(ref: ImageRef) -> RegistryRef:
    return parse_registry_reference(ref.text)


def _client(target: RegistryRef, options: RegistryOptions) -> RegistryClient:
    return RegistryClient.for_reference(target, tls_verify=options.tls_verify, auth_file=options.auth_file,
                                        env=options.env)


# -- reading ---------------------------------------------------------------------------------------------------
def _image(client: RegistryClient, target: RegistryRef, manifest: Manifest, entry: Entry | None, ctx: ReadContext,
           reference: str) -> Image:
    where = f"registry {target.host}, repository {target.repository}: manifest {manifest.digest}"
    if manifest.is_index:
        raise BadArchive(f"{where}: an index where an image manifest was expected")
    config_desc = manifest.config
    assert config_desc is not None
    config_bytes = read_blob(client, target.repository, config_desc)
    config = parse_config(config_bytes, f"{where}: config {config_desc.digest}")
    descriptors = manifest.layers
    if len(descriptors) != len(config.diff_ids):
        raise BadArchive(f"{where}: {len(descriptors)} layers but the config lists {len(config.diff_ids)} diff_ids")
    folder = ctx.workspace / "registry-blobs"
    max_bytes = ctx.limit.max_bytes if ctx.limit is not None else None
    layers = []
    for index, (descriptor, diff_id) in enumerate(zip(descriptors, config.diff_ids, strict=True)):
        what = f"{where}: layer {index} ({descriptor.digest})"
        opener = functools.partial(_fetched, client, target.repository, descriptor, folder, max_bytes)
        layers.append(Layer(
            diff_id=diff_id,
            open=functools.partial(open_verified, opener, diff_id, what),
            size=descriptor.size,
            media_type=layer_media_type(_compression_of(descriptor.media_type)),
        ))
    platform = (entry.platform if entry is not None else None) or Platform.of_config(config)
    return Image(
        config=config,
        layers=tuple(layers),
        reference=reference,
        repo_tags=(str(target),),
        config_digest=config_digest(config_bytes),
        platform=platform,
        annotations=string_annotations(entry.descriptor.get("annotations")) if entry is not None else (),
    )


def _compression_of(media_type: str) -> str:
    if media_type.endswith(("gzip", "+gzip")):
        return "gzip"
    if media_type.endswith("zstd"):
        return "zstd"
    return ""


def _fetched(client: RegistryClient, repository: str, descriptor: Descriptor, folder: Path,
             max_bytes: int | None) -> IO[bytes]:
    """The blob's file in the workspace, streamed there (and checked) on first use."""
    path = folder / descriptor.digest.replace(":", "-")
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        fetch_blob(client, repository, descriptor, path, max_bytes=max_bytes)
    return path.open("rb")


# -- writing ---------------------------------------------------------------------------------------------------
def push_content(client: RegistryClient, repository: str, built: BuiltSet) -> None:
    """Every blob and platform manifest of ``built`` (by digest: no tag names them yet)."""
    for image in built.images:
        for blob in image.layers:
            push_blob(client, repository, blob.path, digest=blob.digest, size=blob.size)
        data = image.config.data
        push_blob(client, repository, functools.partial(io.BytesIO, data), digest=image.config.digest,
                  size=len(data))
        if built.index is not None:
            put_manifest(client, repository, Manifest.parse(image.manifest.data, image.manifest.media_type,
                                                            "platform manifest"))


def push_referrer_blobs(client: RegistryClient, repository: str, referrers: tuple[Referrer, ...]) -> None:
    """The blobs of each referrer (its empty config, its payload): nothing names them yet."""
    for referrer in referrers:
        for data in referrer.blobs:
            push_blob(client, repository, functools.partial(io.BytesIO, data), digest=_digest(data), size=len(data))


def push_referrers(client: RegistryClient, repository: str, referrers: tuple[Referrer, ...], where: str,
                   attached: list[str]) -> None:
    """Each referrer's manifest, by digest (its blobs are there); on a registry without the referrers API the
    subject's referrers tag is updated too. ``attached`` collects what the registry now holds."""
    for referrer in referrers:
        manifest = Manifest.parse(referrer.manifest.data, referrer.manifest.media_type, f"{where}: referrer")
        pushed = push_referrer(client, repository, manifest)
        how = f"referrers tag {pushed.fallback_tag}" if pushed.fallback_tag else "referrers API"
        attached.append(f"{pushed.digest} ({how})")
        log.info("%s: attached %s to %s (%s)", where, manifest.artifact_type, referrer.subject, how)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _check_push(client: RegistryClient, target: RegistryRef) -> None:
    """Start a blob upload and cancel it: the registry answers and these credentials may push."""
    response = client.request("POST", target.repository, "/blobs/uploads/", what="a test upload (push rights)",
                              scopes=[push_scope(target.repository)], ok=(202,))
    assert response is not None
    with response:
        location = response.headers.get("Location")
    if location:
        try:
            cancel = client.request("DELETE", target.repository, client.absolute(location),
                                    what="cancelling the test upload", scopes=[push_scope(target.repository)],
                                    ok=(200, 202, 204), missing_ok=True)
            if cancel is not None:
                cancel.close()
        except HardenError as exc:  # an upload left open expires on its own
            log.debug("%s", exc.one_line())


def _current(client: RegistryClient, target: RegistryRef) -> Manifest | None:
    """What the tag names now (to give it back if a later step of the run fails), or None."""
    try:
        if head_manifest(client, target.repository, target.reference) is None:
            return None
        return get_manifest(client, target.repository, target.reference, accept=MANIFEST_TYPES)
    except HardenError as exc:
        log.debug("cannot read what %s names now: %s", target, exc.one_line())
        return None


def _restore(client: RegistryClient, target: RegistryRef, previous: Manifest | None, pushed: Manifest) -> None:
    """Give the tag back to ``previous``; a tag that named nothing cannot be removed by the distribution API."""
    try:
        if previous is not None and previous.digest != pushed.digest:
            put_manifest(client, target.repository, previous, tag=target.tag)
        elif previous is None:
            log.error("%s now names %s: a registry tag cannot be deleted through the API, delete it by hand",
                      target, pushed.digest)
    except HardenError as exc:
        log.error("could not give %s back its previous manifest: %s", target, exc.one_line())
