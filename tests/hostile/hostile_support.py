"""Helpers for the hostile-input tests: running ``harden image`` on a scene, and reading what it wrote back
with tarfile alone (not harden's readers: the oracle must not share the code it checks)."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostile.hostile_scene import Run, Scene
from imagefactory import default_config, diff_id, directory, file, make_layer_tar

PASSWD = b"root:x:0:0:root:/root:/bin/sh\n"
GROUP = b"root:x:0:\n"


def base_layer() -> bytes:
    """A harmless lower layer: /etc with passwd and group, an /app directory."""
    return make_layer_tar([directory("etc"), file("etc/passwd", PASSWD), file("etc/group", GROUP),
                           directory("app"), file("app/main.py", b"print('hello')\n")])


def harden_to_archive(scene: Scene, archive: Path, *extra: str, output: str = "out.tar") -> Run:
    """``harden image docker-archive:ARCHIVE --no-verify --output docker-archive:out/OUTPUT`` plus ``extra``."""
    return scene.run("image", f"docker-archive:{archive}", "--no-verify", "--jobs", "1",
                     "--output", f"docker-archive:{scene.out / output}", "--report-dir", str(scene.reports / "r"),
                     *extra)


def config_for(layers: list[bytes], **container: Any) -> dict[str, Any]:
    return default_config([diff_id(layer) for layer in layers], **container)


@dataclass(frozen=True)
class Written:
    """One entry of a written layer: its tar header and content."""

    info: tarfile.TarInfo
    data: bytes


def read_docker_archive(path: Path) -> tuple[dict[str, Any], dict[str, Written]]:
    """The config and the merged entries (one layer expected: harden squashes) of a docker-archive."""
    with tarfile.open(path) as outer:
        manifest = json.loads(_member(outer, "manifest.json"))
        assert len(manifest) == 1, manifest
        config = json.loads(_member(outer, manifest[0]["Config"]))
        layers = manifest[0]["Layers"]
        assert len(layers) == 1, f"expected one squashed layer, got {layers}"
        layer = _member(outer, layers[0])
    entries: dict[str, Written] = {}
    with tarfile.open(fileobj=io.BytesIO(layer)) as inner:
        for info in inner.getmembers():
            stream = inner.extractfile(info) if info.isreg() else None
            entries[info.name.rstrip("/")] = Written(info, stream.read() if stream else b"")
    return config, entries


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    stream = tar.extractfile(name)
    assert stream is not None, name
    return stream.read()


def report_json(scene: Scene, name: str = "r") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((scene.reports / name / "report.json").read_text())
    return data
