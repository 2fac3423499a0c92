"""Writing to a registry: blobs (skipped when present, mounted across repositories when asked, else uploaded
in one streamed PUT or in streamed PATCH chunks), then manifests and indexes by tag or by digest.

A blob is read from its file (or a stream factory) as it is sent, one chunk at a time, never whole in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from harden.errors import InputError, UsageError

from .client import BodyStream, RegistryClient, pull_scope, push_scope
from .digests import CHUNK, digest_file, digest_stream
from .media import Manifest
from .reference import check_digest, check_tag

BlobSource = Path | Callable[[], IO[bytes]]
"""A blob's bytes: a file, or a factory of fresh readers from its start (called once per attempt)."""


@dataclass(frozen=True, slots=True)
class PushedBlob:
    digest: str
    size: int
    action: Literal["exists", "mounted", "uploaded"]


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str
    subject: str | None
    """The registry's ``OCI-Subject`` answer: set when it indexed the manifest's subject for the referrers API."""


def blob_exists(client: RegistryClient, repository: str, digest: str) -> bool:
    check_digest(digest)
    response = client.request(
        "HEAD",
        repository,
        f"/blobs/{digest}",
        what=f"blob {digest}",
        scopes=[pull_scope(repository)],
        missing_ok=True,
    )
    if response is None:
        return False
    response.close()
    return True


def push_blob(
    client: RegistryClient,
    repository: str,
    source: BlobSource,
    *,
    digest: str | None = None,
    size: int | None = None,
    mount_from: str | None = None,
    chunk_size: int | None = None,
) -> PushedBlob:
    """Make the blob available in ``repository``; ``digest``/``size`` are computed from ``source`` when not given.
    ``chunk_size`` selects a chunked upload (PATCH per chunk); the default is one streamed PUT."""
    if chunk_size is not None and chunk_size <= 0:
        raise UsageError(f"chunk size must be positive, not {chunk_size}")
    opener = _opener(source)
    if digest is None or size is None:
        digest, size = digest_stream(opener) if not isinstance(source, Path) else digest_file(source)
    check_digest(digest)
    if blob_exists(client, repository, digest):
        return PushedBlob(digest, size, "exists")
    location = _start_upload(client, repository, digest, mount_from)
    if location is None:
        return PushedBlob(digest, size, "mounted")
    if chunk_size is not None:
        location = _patch_chunks(client, repository, digest, size, opener, location, chunk_size)
        body: Callable[[], BodyStream] | bytes = b""
        length = 0
    else:
        body, length = (lambda: _Body(opener(), 0, size)), size
    response = client.request(
        "PUT",
        repository,
        _with_params(client.absolute(location), {"digest": digest}),
        what=f"upload of blob {digest}",
        scopes=[push_scope(repository)],
        ok=(201,),
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(length)},
        body=body,
    )
    assert response is not None
    with response:
        stored = response.headers.get("Docker-Content-Digest")
    if stored is not None and stored != digest:
        raise InputError(f"registry {client.host}, repository {repository}: blob {digest} was stored as {stored}")
    return PushedBlob(digest, size, "uploaded")


def put_manifest(
    client: RegistryClient, repository: str, manifest: Manifest, *, tag: str | None = None
) -> PushedManifest:
    """PUT a manifest or index under ``tag`` (or its digest); the registry must answer with the same digest."""
    if tag is not None:
        check_tag(tag)
    reference = tag or manifest.digest
    response = client.request(
        "PUT",
        repository,
        f"/manifests/{reference}",
        what=f"manifest {reference}",
        scopes=[push_scope(repository)],
        ok=(201,),
        headers={"Content-Type": manifest.media_type},
        body=manifest.data,
    )
    assert response is not None
    with response:
        stored = response.headers.get("Docker-Content-Digest")
        subject = response.headers.get("OCI-Subject")
    if stored is not None and stored != manifest.digest:
        raise InputError(
            f"registry {client.host}, repository {repository}: manifest {manifest.digest} was stored as {stored}"
        )
    return PushedManifest(manifest.digest, subject)


def push_manifest(client: RegistryClient, repository: str, manifest: Manifest, *, tag: str | None = None) -> str:
    """PUT a manifest or index (its blobs or child manifests must be there already); return its digest."""
    return put_manifest(client, repository, manifest, tag=tag).digest


def _start_upload(client: RegistryClient, repository: str, digest: str, mount_from: str | None) -> str | None:
    """The upload session's Location, or None when the registry mounted the blob from ``mount_from``."""
    scopes = [push_scope(repository)]
    params: dict[str, str] = {}
    if mount_from is not None and mount_from != repository:
        params = {"mount": digest, "from": mount_from}
        scopes.append(pull_scope(mount_from))
    response = client.request(
        "POST",
        repository,
        "/blobs/uploads/",
        what=f"upload of blob {digest}",
        scopes=scopes,
        ok=(201, 202),
        params=params,
    )
    assert response is not None
    with response:
        if response.status_code == 201:
            return None
        location = response.headers.get("Location")
    if not location:
        raise InputError(f"registry {client.host}, repository {repository}: upload of blob {digest}: no Location")
    return location


def _patch_chunks(
    client: RegistryClient,
    repository: str,
    digest: str,
    size: int,
    opener: Callable[[], IO[bytes]],
    location: str,
    chunk_size: int,
) -> str:
    for start in range(0, size, chunk_size):
        length = min(chunk_size, size - start)

        def body(start: int = start, length: int = length) -> BodyStream:
            return _Body(opener(), start, length)

        response = client.request(
            "PATCH",
            repository,
            client.absolute(location),
            what=f"upload of blob {digest} (bytes {start}-{start + length - 1})",
            scopes=[push_scope(repository)],
            ok=(202,),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(length),
                "Content-Range": f"{start}-{start + length - 1}",
            },
            body=body,
        )
        assert response is not None
        with response:
            location = response.headers.get("Location") or location
            accepted = response.headers.get("Range")
        if accepted is not None and accepted != f"0-{start + length - 1}":
            raise InputError(
                f"registry {client.host}, repository {repository}: upload of blob {digest}: "
                f"the registry holds bytes {accepted}, expected 0-{start + length - 1}"
            )
    return location


class _Body:
    """``length`` bytes of ``stream`` from ``offset``, read by the HTTP client in chunks (``len`` tells it the
    Content-Length); a source shorter than promised is an error, never a short upload."""

    def __init__(self, stream: IO[bytes], offset: int, length: int) -> None:
        self._stream = stream
        self.len = length
        self._left = length
        if offset:
            if stream.seekable():
                stream.seek(offset)
            else:
                _skip(stream, offset)

    def read(self, size: int = -1) -> bytes:
        want = self._left if size is None or size < 0 else min(size, self._left)
        if want <= 0:
            return b""
        data = self._stream.read(min(want, CHUNK))
        if not data:
            raise InputError(f"blob source ended {self._left} bytes early (did the file change?)")
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._stream.close()


def _skip(stream: IO[bytes], count: int) -> None:
    while count > 0:
        data = stream.read(min(CHUNK, count))
        if not data:
            raise InputError("blob source ended before the chunk to upload")
        count -= len(data)


def _opener(source: BlobSource) -> Callable[[], IO[bytes]]:
    if isinstance(source, Path):
        path = source
        return lambda: path.open("rb")
    return source


def _with_params(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))
