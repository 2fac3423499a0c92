"""A registry transport (OCI distribution API): references, credentials, pull, push and referrers.

    ref = parse_registry_reference("docker://127.0.0.1:5000/team/app:1.0")
    with RegistryClient.for_reference(ref) as client:
        manifest = get_manifest(client, ref.repository, ref.reference)
        for layer in manifest.layers:
            fetch_blob(client, ref.repository, layer, Path("blobs") / layer.digest, max_bytes=LIMIT)

Every failure is a ``harden.errors`` error with one line naming the registry, the repository and the action.
"""

from __future__ import annotations

from .client import RegistryClient
from .credentials import Credentials, find_credentials
from .http_errors import Unauthorized
from .media import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    EMPTY_DESCRIPTOR,
    EMPTY_JSON,
    MANIFEST_TYPES,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    Platform,
    select_platform,
)
from .pull import MAX_MANIFEST_BYTES, fetch_blob, get_manifest, head_manifest, read_blob
from .push import PushedBlob, PushedManifest, blob_exists, push_blob, push_manifest, put_manifest
from .reference import RegistryRef, is_loopback, parse_registry_reference
from .referrers import PushedReferrer, Referrers, list_referrers, push_referrer, referrers_tag

__all__ = [
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "EMPTY_DESCRIPTOR",
    "EMPTY_JSON",
    "MANIFEST_TYPES",
    "MAX_MANIFEST_BYTES",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Credentials",
    "Descriptor",
    "Manifest",
    "Platform",
    "PushedBlob",
    "PushedManifest",
    "PushedReferrer",
    "Referrers",
    "RegistryClient",
    "RegistryRef",
    "Unauthorized",
    "blob_exists",
    "fetch_blob",
    "find_credentials",
    "get_manifest",
    "head_manifest",
    "is_loopback",
    "list_referrers",
    "parse_registry_reference",
    "push_blob",
    "push_manifest",
    "push_referrer",
    "put_manifest",
    "read_blob",
    "referrers_tag",
    "select_platform",
]
