"""Tiny real Python images for two platforms, made of Debian's own packages: ``python3.11-minimal``, its
standard library, ``libc6``, ``zlib1g`` and ``libexpat1`` for amd64 and arm64 (the .debs that
``scripts/test-prereqs.sh`` downloads into ``$HARDEN_TEST_CACHE/debs/ARCH``), one layer per package (its
``dpkg-deb --fsys-tarfile`` stream as is) plus a layer with ``python3``, the accounts and a distribution
``hello``. ~10 MB per platform; each platform really runs its own interpreter (arm64 through qemu-user where
binfmt_misc has it).

``two_platform_layout`` writes them as one OCI layout: ``index.json`` names (``REF``) a nested index of both
platforms, which also lists an attestation manifest (as BuildKit writes them) and carries annotations — what a
multi-platform build pushes.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from imagefactory import directory, file, make_layer_tar, symlink

PACKAGES = ("python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libc6", "zlib1g", "libexpat1")
ARCHES = ("amd64", "arm64")
SITE = "usr/local/lib/python3.11/dist-packages"
PASSWD = b"root:x:0:0:root:/root:/sbin/nologin\napp:x:1000:1000:app:/home/app:/sbin/nologin\n"
GROUP = b"root:x:0:\napp:x:1000:\n"
INDEX_ANNOTATIONS = {
    "org.opencontainers.image.source": "https://example.invalid/harden-test",
    "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
    "org.opencontainers.image.base.name": "debian:bookworm",
}
FAST_POLICY = """\
schema_version = 1
name = "deb-python-fast"
extends = "default"

[verify]
discover = false
imports = ["json", "email.message", "argparse", "hello"]
"""
"""Verification without discovery (walking the whole stdlib under qemu takes minutes): a few named imports."""


def cache() -> Path:
    return Path(os.environ.get("HARDEN_TEST_CACHE") or Path.home() / ".cache" / "harden-tests")


def debs(arch: str) -> list[Path] | None:
    """The .debs of ``arch``, one per package, or None when one is missing."""
    found = []
    for package in PACKAGES:
        matches = sorted((cache() / "debs" / arch).glob(f"{package}_*_{arch}.deb"))
        if not matches:
            return None
        found.append(matches[-1])
    return found


def unavailable() -> str | None:
    missing = [arch for arch in ARCHES if debs(arch) is None]
    if missing:
        return f"the Python .debs for {', '.join(missing)} are not in {cache() / 'debs'} (scripts/test-prereqs.sh)"
    if subprocess.run(["dpkg-deb", "--version"], capture_output=True, check=False).returncode != 0:
        return "dpkg-deb is needed to read the .debs"
    return None


@functools.cache
def layers(arch: str) -> tuple[bytes, ...]:
    """The uncompressed layers of ``arch``'s image: one per package, then the image's own files."""
    packages = debs(arch)
    assert packages is not None
    out = [subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
           for deb in packages]
    out.append(make_layer_tar([
        directory("usr/bin"),
        symlink("usr/bin/python3", "python3.11"),
        directory("etc"),
        file("etc/passwd", PASSWD),
        file("etc/group", GROUP),
        directory("home"),
        directory("home/app", uid=1000, gid=1000, mode=0o750),
        directory("tmp", mode=0o1777),
        directory("usr/local/lib/python3.11"),
        directory(SITE),
        directory(f"{SITE}/hello"),
        file(f"{SITE}/hello/__init__.py", f"GREETING = 'hello from {arch}'\n".encode()),
        directory(f"{SITE}/hello-1.0.dist-info"),
        file(f"{SITE}/hello-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: hello\nVersion: 1.0\n"),
        file(f"{SITE}/hello-1.0.dist-info/RECORD", b"hello/__init__.py,,\n"),
    ]))
    return tuple(out)


def platform_of(arch: str) -> dict[str, str]:
    return {"os": "linux", "architecture": arch, **({"variant": "v8"} if arch == "arm64" else {})}


def config(arch: str) -> dict[str, Any]:
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers(arch)]
    return {
        **platform_of(arch),
        "created": "2024-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
            "Cmd": ["python3", "-c", "import hello; print(hello.GREETING)"],
            "User": "0",
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {n}"} for n in range(len(diff_ids))],
    }


def _blob(root: Path, data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = root / "blobs" / "sha256" / digest.partition(":")[2]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}


def _image(root: Path, arch: str) -> dict[str, Any]:
    config_desc = _blob(root, json.dumps(config(arch), sort_keys=True).encode(),
                        "application/vnd.oci.image.config.v1+json")
    layer_descs = [_blob(root, gzip.compress(layer, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
                   for layer in layers(arch)]
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": layer_descs}
    return _blob(root, json.dumps(manifest).encode(), manifest["mediaType"], platform=platform_of(arch))


def _attestation(root: Path, subject: dict[str, Any]) -> dict[str, Any]:
    """An attestation manifest as BuildKit lists it in an index (platform unknown/unknown)."""
    empty = _blob(root, b"{}", "application/vnd.oci.image.config.v1+json")
    payload = _blob(root, b'{"_type": "https://in-toto.io/Statement/v0.1"}', "application/vnd.in-toto+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": empty, "layers": [payload]}
    return _blob(root, json.dumps(manifest).encode(), manifest["mediaType"],
                 platform={"os": "unknown", "architecture": "unknown"},
                 annotations={"vnd.docker.reference.digest": subject["digest"],
                              "vnd.docker.reference.type": "attestation-manifest"})


def two_platform_layout(root: Path, ref: str = "1") -> Path:
    """An OCI layout whose ``index.json`` names ``ref`` an index of linux/amd64 and linux/arm64/v8."""
    entries = [_image(root, arch) for arch in ARCHES]
    entries.append(_attestation(root, entries[0]))
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries,
             "annotations": INDEX_ANNOTATIONS}
    top = _blob(root, json.dumps(index).encode(), index["mediaType"],
                annotations={"org.opencontainers.image.ref.name": ref})
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top],
                                                 "mediaType": "application/vnd.oci.image.index.v1+json"}))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return root


def single_platform_layout(root: Path, arch: str = "amd64", ref: str = "1") -> Path:
    """One platform's image alone, as an OCI layout named ``ref``."""
    entry = _image(root, arch)
    entry["annotations"] = {"org.opencontainers.image.ref.name": ref}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry],
                                                 "mediaType": "application/vnd.oci.image.index.v1+json"}))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return root
