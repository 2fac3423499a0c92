"""Tiny real images for the registry tests: gzip'd tar layers, a config and an OCI (or Docker) manifest, as files."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from harden.image.registry import DOCKER_MANIFEST, OCI_MANIFEST, Descriptor, Manifest, Platform

LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"


@dataclass(frozen=True)
class TinyImage:
    manifest: Manifest
    blobs: dict[str, Path]
    """digest → file, config included."""
    platform: Platform

    @property
    def config(self) -> Descriptor:
        config = self.manifest.config
        assert config is not None
        return config


def layer(files: dict[str, bytes], *, mtime: int = 1_700_000_000) -> tuple[bytes, bytes]:
    """(gzip'd tar, uncompressed tar) of regular files with fixed metadata."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue(), raw.getvalue()


def incompressible(seed: str, size: int) -> bytes:
    """``size`` deterministic bytes that gzip cannot shrink (so blob sizes are what the test asks for)."""
    prefix = seed.encode()
    return b"".join(hashlib.sha256(prefix + n.to_bytes(8, "big")).digest() for n in range(size // 32 + 1))[:size]


def write_blob(folder: Path, data: bytes) -> tuple[str, Path]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = folder / digest.replace(":", "_")
    path.write_bytes(data)
    return digest, path


def build_image(
    folder: Path,
    *,
    name: str = "tiny",
    architecture: str = "amd64",
    layers: int = 2,
    layer_bytes: int = 4096,
    docker: bool = False,
) -> TinyImage:
    """An image of ``layers`` real gzip'd tar layers (each with ``layer_bytes`` of random-looking data)."""
    folder.mkdir(parents=True, exist_ok=True)
    blobs: dict[str, Path] = {}
    layer_descriptors = []
    diff_ids = []
    for n in range(layers):
        payload = incompressible(f"{name}-{architecture}-{n}", layer_bytes)
        gz, tar = layer({f"{name}/file-{n}.bin": payload[:layer_bytes], f"{name}/n{n}": b"%d\n" % n})
        digest, path = write_blob(folder, gz)
        blobs[digest] = path
        layer_descriptors.append(
            {"mediaType": DOCKER_LAYER if docker else LAYER_GZIP, "digest": digest, "size": len(gz)}
        )
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
    config = {
        "architecture": architecture,
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"harden test layer {n}"} for n in range(layers)],
    }
    config_data = json.dumps(config, sort_keys=True).encode()
    config_digest, config_path = write_blob(folder, config_data)
    blobs[config_digest] = config_path
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "digest": config_digest,
            "size": len(config_data),
        },
        "layers": layer_descriptors,
    }
    return TinyImage(Manifest.build(document), blobs, Platform("linux", architecture))
