"""Reading from a registry: manifests by tag or digest, and blobs streamed to a file or a writer.

Every byte is checked: a manifest against the digest asked for (or the registry's ``Docker-Content-Digest``),
a blob against its digest and size while it streams. Size limits are checked before the first byte is read
where the descriptor or ``Content-Length`` tells, and again while reading.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import requests
import urllib3

from harden.errors import BadArchive, ImageTooLarge, InputError

from .client import RegistryClient, pull_scope
from .digests import CHUNK, DigestSink, Writer
from .media import MANIFEST_TYPES, Descriptor, Manifest
from .reference import check_digest

MAX_MANIFEST_BYTES = 4 << 20
"""The OCI distribution spec lets registries refuse manifests over 4 MiB; larger ones are refused here too."""
MAX_CONFIG_BYTES = 16 << 20


def get_manifest(
    client: RegistryClient,
    repository: str,
    reference: str,
    *,
    accept: Iterable[str] = MANIFEST_TYPES,
    max_bytes: int = MAX_MANIFEST_BYTES,
) -> Manifest:
    """The manifest or index at ``reference`` (a tag or a digest), its bytes checked against the digest."""
    is_digest = reference.startswith(("sha256:", "sha512:"))
    if is_digest:
        check_digest(reference)
    what = f"manifest {reference}"
    accepted = tuple(accept)
    response = client.request(
        "GET",
        repository,
        f"/manifests/{reference}",
        what=what,
        scopes=[pull_scope(repository)],
        headers={"Accept": ", ".join(accepted)},
    )
    assert response is not None
    with response:
        _check_length(response, max_bytes, f"{client.host}/{repository} {what}")
        data = _read_all(response, max_bytes, f"{client.host}/{repository} {what}")
        served = response.headers.get("Docker-Content-Digest")
        content_type = response.headers.get("Content-Type")
    label = f"registry {client.host}, repository {repository}: {what}"
    expected = reference if is_digest else served
    if expected is not None:
        _check_digest(data, expected, label)
    manifest = Manifest.parse(data, content_type, label)
    if manifest.media_type not in accepted:
        raise InputError(f"{label}: the registry sent {manifest.media_type}, which was not asked for")
    if is_digest and manifest.digest != reference:
        manifest = dataclasses.replace(manifest, digest=reference)
    return manifest


def head_manifest(
    client: RegistryClient, repository: str, reference: str, *, accept: Iterable[str] = MANIFEST_TYPES
) -> Descriptor | None:
    """Media type, digest and size of the manifest at ``reference`` without reading it; None when absent.

    The digest is the registry's ``Docker-Content-Digest`` (not verified: nothing was read)."""
    response = client.request(
        "HEAD",
        repository,
        f"/manifests/{reference}",
        what=f"manifest {reference}",
        scopes=[pull_scope(repository)],
        headers={"Accept": ", ".join(accept)},
        missing_ok=True,
    )
    if response is None:
        return None
    with response:
        digest = response.headers.get("Docker-Content-Digest") or (reference if reference.startswith("sha256:") else "")
        media_type = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip()
        size = int(response.headers.get("Content-Length") or 0)
    if not digest:
        raise InputError(f"registry {client.host}, repository {repository}: manifest {reference}: no digest given")
    return Descriptor(media_type, digest, size)


def fetch_blob(
    client: RegistryClient,
    repository: str,
    blob: Descriptor | str,
    out: Path | Writer,
    *,
    max_bytes: int | None = None,
) -> int:
    """Stream a blob to a file (written next to it and renamed only once verified) or to a writer (which has
    then seen the bytes before a mismatch is raised); return its size. Digest and size are checked on the way."""
    digest, size = (blob.digest, blob.size) if isinstance(blob, Descriptor) else (blob, None)
    check_digest(digest)
    label = f"registry {client.host}, repository {repository}: blob {digest}"
    if size is not None and max_bytes is not None and size > max_bytes:
        raise ImageTooLarge(f"{label}: {size} bytes, more than the limit of {max_bytes}")
    if isinstance(out, Path):
        return _fetch_to_path(client, repository, digest, size, out, max_bytes, label)
    return _fetch(client, repository, digest, size, out, max_bytes, label)


def read_blob(
    client: RegistryClient, repository: str, blob: Descriptor | str, *, max_bytes: int = MAX_CONFIG_BYTES
) -> bytes:
    """A small blob (a config, an artifact) in memory, verified."""
    parts: list[bytes] = []

    class _Collect:
        def write(self, data: bytes) -> None:
            parts.append(data)

    fetch_blob(client, repository, blob, _Collect(), max_bytes=max_bytes)
    return b"".join(parts)


def _fetch_to_path(
    client: RegistryClient,
    repository: str,
    digest: str,
    size: int | None,
    out: Path,
    max_bytes: int | None,
    label: str,
) -> int:
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as stream:
            written = _fetch(client, repository, digest, size, stream, max_bytes, label)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return written


def _fetch(
    client: RegistryClient,
    repository: str,
    digest: str,
    size: int | None,
    out: Writer,
    max_bytes: int | None,
    label: str,
) -> int:
    response = client.request(
        "GET",
        repository,
        f"/blobs/{digest}",
        what=f"blob {digest}",
        scopes=[pull_scope(repository)],
        headers={"Accept-Encoding": "identity"},
    )
    assert response is not None
    with response:
        length = _check_length(response, max_bytes, label)
        if size is not None and length is not None and length != size:
            raise BadArchive(f"{label}: the registry sends {length} bytes, its descriptor says {size}")
        sink = DigestSink(out, digest, label, size=size, max_bytes=max_bytes)
        for chunk in _chunks(response, label):
            sink.write(chunk)
        sink.finish()
    return sink.written


def _check_length(response: requests.Response, max_bytes: int | None, label: str) -> int | None:
    text = response.headers.get("Content-Length")
    if text is None or not text.isdigit() or response.headers.get("Content-Encoding", "identity") != "identity":
        return None
    length = int(text)
    if max_bytes is not None and length > max_bytes:
        raise ImageTooLarge(f"{label}: {length} bytes, more than the limit of {max_bytes}")
    return length


def _read_all(response: requests.Response, max_bytes: int, label: str) -> bytes:
    parts: list[bytes] = []
    total = 0
    for chunk in _chunks(response, label):
        total += len(chunk)
        if total > max_bytes:
            raise ImageTooLarge(f"{label}: more than the limit of {max_bytes} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _chunks(response: requests.Response, label: str) -> Iterable[bytes]:
    try:
        while chunk := response.raw.read(CHUNK, decode_content=True):
            yield chunk
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
        raise InputError(f"{label}: the connection broke while reading ({type(exc).__name__})") from None


def _check_digest(data: bytes, expected: str, label: str) -> None:
    algorithm, _, hexpart = expected.partition(":")
    if algorithm not in ("sha256", "sha512"):
        raise BadArchive(f"{label}: unsupported digest {expected[:80]!r}")
    actual = hashlib.new(algorithm, data).hexdigest()
    if actual != hexpart:
        raise BadArchive(f"{label}: content does not match its digest {expected} (got {algorithm}:{actual})")
