"""Helpers for the hostile-input tests: running ``harden image`` on a scene, and reading what it wrote back
with tarfile alone (not harden's readers: the oracle must not share the code it checks)."""

from __future__ import annotations

import functools
import gzip
import hashlib
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


def harden_to_archive(scene: Scene, archive: Path, *extra: str, output: str = "out.tar",
                      env: dict[str, str] | None = None) -> Run:
    """``harden image docker-archive:ARCHIVE --no-verify --output docker-archive:out/OUTPUT`` plus ``extra``."""
    return scene.run("image", f"docker-archive:{archive}", "--no-verify", "--jobs", "1",
                     "--output", f"docker-archive:{scene.out / output}", "--report-dir", str(scene.reports / "r"),
                     *extra, env=env)


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


# -- big layers made small -----------------------------------------------------------------------------------
MIB = 1 << 20
_ZERO_MIB_GZ = gzip.compress(bytes(MIB), mtime=0)


@functools.lru_cache(maxsize=8)
def zeros_layer_gz(files: int, each: int, *, trailing: int = 0, name: str = "zeros") -> tuple[bytes, str]:
    """A gzip layer of ``files`` files of ``each`` zero bytes (``NAME/N.bin``), followed by ``trailing`` zero
    bytes after the tar's end (sizes in whole MiB), and the diff_id of its uncompressed stream.

    Built from one gzip member of 1 MiB of zeros, repeated (a multi-member gzip stream, as gzip reads it):
    1 GiB takes about 1 MB and no time to build. A decompression bomb, though a valid layer."""
    assert each % MIB == 0 and trailing % MIB == 0
    digest = hashlib.sha256()
    parts: list[bytes] = []

    def add(data: bytes) -> None:
        digest.update(data)
        parts.append(gzip.compress(data, mtime=0))

    def add_zeros(count: int) -> None:
        for _ in range(count // MIB):
            digest.update(bytes(MIB))
            parts.append(_ZERO_MIB_GZ)

    for index in range(files):
        info = tarfile.TarInfo(f"{name}/{index}.bin")
        info.size, info.mode, info.mtime = each, 0o644, 1_700_000_000
        add(info.tobuf(tarfile.PAX_FORMAT))
        add_zeros(each)
    add(bytes(2 * tarfile.BLOCKSIZE))  # the end-of-archive marker
    add_zeros(trailing)
    return b"".join(parts), "sha256:" + digest.hexdigest()


def archive_with_layer_gz(scene: Scene, layer: tuple[bytes, str], name: str = "image.tar") -> Path:
    """A docker-archive (Docker ≥ 25 layout) of ``base_layer()`` and the compressed ``layer`` (data, diff_id)."""
    base = base_layer()
    config = default_config([diff_id(base), layer[1]])
    return scene.archive([base, layer[0]], config, name=name, layout="blobs")


def gnu_sparse_entry(name: str, real_size: int, data: bytes = b"x" * tarfile.BLOCKSIZE) -> bytes:
    """A GNU sparse tar entry (type ``S``, header and data blocks): ``data`` at offset 0, then a hole up to
    ``real_size`` bytes. Python's tarfile reads these but cannot write them, so the header is patched here."""
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode, info.mtime = tarfile.GNUTYPE_SPARSE, len(data), 0o644, 1_700_000_000
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    header[386:398] = b"%011o\0" % 0  # the one sparse map entry: offset …
    header[398:410] = b"%011o\0" % len(data)  # … and size of the data stored
    header[482] = 0  # no extended sparse headers
    header[483:495] = b"%011o\0" % real_size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    padding = bytes(-len(data) % tarfile.BLOCKSIZE)
    return bytes(header) + data + padding
