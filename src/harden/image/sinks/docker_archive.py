"""``docker-archive:PATH`` — the layout ``docker load`` and ``podman load`` read: ``manifest.json``, the
config as ``<hex>.json`` and each layer as ``<diff-id-hex>/layer.tar`` (uncompressed). Written atomically, or
staged in a caller's ``Publication``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from harden.atomic import Publication, joined
from harden.image.model import ImageConfig
from harden.image.reference import normalize_tag
from harden.image.sinks._layers import LayerBlob, check_layers, spooled
from harden.image.sinks._tarball import DeterministicTar


def write_docker_archive(
    config: ImageConfig,
    layers: Sequence[LayerBlob],
    dest: Path,
    repo_tags: Sequence[str] = (),
    *,
    publication: Publication | None = None,
) -> Path:
    """Write ``config`` and ``layers`` (oldest first) to ``dest``; ``repo_tags`` become its RepoTags.

    With ``publication``, the archive is only staged in it: ``dest`` changes when the publication commits.
    """
    check_layers(config, layers)
    config_bytes = config.to_bytes()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_names = [layer.diff_id.partition(":")[2] + "/layer.tar" for layer in layers]
    tags = [normalize_tag(tag) for tag in repo_tags]
    manifest = [{"Config": config_name, "RepoTags": tags or None, "Layers": layer_names}]
    with joined(publication) as staging:
        tmp = staging.stage_file(dest)
        with DeterministicTar(tmp) as tar:
            tar.add_bytes(config_name, config_bytes)
            written: set[str] = set()
            for layer, name in zip(layers, layer_names, strict=True):
                if name in written:
                    continue
                written.add(name)
                tar.add_dir(name.partition("/")[0])
                with spooled(layer, tmp.parent) as (stream, size):
                    tar.add_stream(name, stream, size)
            tar.add_bytes("manifest.json", json.dumps(manifest, separators=(",", ":")).encode())
    return dest
