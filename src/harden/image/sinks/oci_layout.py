"""``oci:DIR[:REF]`` — an OCI image layout (image-spec v1.1): ``oci-layout``, ``index.json``, ``blobs/``.

Layers are gzip-compressed deterministically (no file name, mtime 0, fixed level) unless ``compress=False``;
the manifest and index are canonical JSON, so the same image gives the same digests. ``REF`` becomes the
``org.opencontainers.image.ref.name`` annotation. Written into a temp dir and moved into place at the end (or
staged in a caller's ``Publication``, moved into place when it commits).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, cast

from harden.atomic import Publication, joined
from harden.image._streams import CHUNK, HashingWriter
from harden.image.model import ImageConfig
from harden.image.sinks._layers import LayerBlob, check_layers

LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP_TYPE = LAYER_TYPE + "+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
GZIP_LEVEL = 6


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _put_blob(blobs_dir: Path, data: bytes) -> dict[str, Any]:
    fd, tmp = tempfile.mkstemp(dir=blobs_dir, prefix=".incoming-")
    with os.fdopen(fd, "wb") as raw:
        out = HashingWriter(raw)
        out.write(data)
    return _commit(blobs_dir, Path(tmp), out)


def _commit(blobs_dir: Path, tmp: Path, out: HashingWriter) -> dict[str, Any]:
    final = blobs_dir / out.digest.partition(":")[2]
    if final.exists():
        tmp.unlink()
    else:
        os.replace(tmp, final)
    return {"digest": out.digest, "size": out.size}


def _put_layer(blobs_dir: Path, layer: LayerBlob, compress: bool) -> dict[str, Any]:
    fd, tmp = tempfile.mkstemp(dir=blobs_dir, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as raw, layer.open() as source:
            out = HashingWriter(raw)
            if compress:
                sink = cast(IO[bytes], out)
                with gzip.GzipFile(
                    filename="", mode="wb", fileobj=sink, mtime=0, compresslevel=GZIP_LEVEL
                ) as gz:
                    shutil.copyfileobj(source, gz, CHUNK)
            else:
                shutil.copyfileobj(source, out, CHUNK)
        descriptor = _commit(blobs_dir, Path(tmp), out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"mediaType": LAYER_GZIP_TYPE if compress else LAYER_TYPE, **descriptor}


def build_layout(
    config: ImageConfig,
    layers: Sequence[LayerBlob],
    root: Path,
    *,
    ref_name: str | None = None,
    compress: bool = True,
) -> str:
    """Write the layout files into the (empty) directory ``root``; return the manifest digest."""
    check_layers(config, layers)
    blobs_dir = root / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True)
    layer_descs = [_put_layer(blobs_dir, layer, compress) for layer in layers]
    config_desc = {"mediaType": CONFIG_TYPE, **_put_blob(blobs_dir, config.to_bytes())}
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config_desc,
        "layers": layer_descs,
    }
    manifest_desc: dict[str, Any] = {
        "mediaType": MANIFEST_TYPE,
        **_put_blob(blobs_dir, canonical_json(manifest)),
    }
    if config.architecture and config.os:
        manifest_desc["platform"] = {"architecture": config.architecture, "os": config.os}
        if config.raw.get("variant"):
            manifest_desc["platform"]["variant"] = config.raw["variant"]
    if ref_name:
        manifest_desc["annotations"] = {REF_NAME: ref_name}
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [manifest_desc]}
    (root / "index.json").write_bytes(canonical_json(index))
    (root / "oci-layout").write_bytes(canonical_json(LAYOUT_VERSION))
    return str(manifest_desc["digest"])


def write_oci_layout(
    config: ImageConfig,
    layers: Sequence[LayerBlob],
    dest: Path,
    *,
    ref_name: str | None = None,
    compress: bool = True,
    publication: Publication | None = None,
) -> Path:
    """Write an OCI layout at ``dest`` (replacing an earlier layout there, never anything else); with
    ``publication``, only staged in it."""
    with joined(publication) as staging:
        build_layout(config, layers, staging.stage_dir(dest), ref_name=ref_name, compress=compress)
    return dest
