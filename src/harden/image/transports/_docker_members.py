"""The members a docker-archive writer adds around its layers: the config, named by its digest, and
``manifest.json``, last. Shared by the docker-archive transport and the engine load streamed as its layer is
written (``daemon_stream``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from harden.image.model import ImageConfig
from harden.image.reference import normalize_tag
from harden.image.transports._tarball import DeterministicTar


def add_config(tar: DeterministicTar, config: ImageConfig) -> str:
    """A docker-archive's config member, named by its digest; its name."""
    config_bytes = config.to_bytes()
    name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    tar.add_bytes(name, config_bytes)
    return name


def add_manifest(tar: DeterministicTar, config_name: str, layer_names: Sequence[str],
                 repo_tags: Sequence[str] = ()) -> None:
    """A docker-archive's ``manifest.json`` (one image), written last: a reader of the stream has every member
    it names by then."""
    tags = [normalize_tag(tag) for tag in repo_tags]
    manifest = [{"Config": config_name, "RepoTags": tags or None, "Layers": list(layer_names)}]
    tar.add_bytes("manifest.json", json.dumps(manifest, separators=(",", ":")).encode())
