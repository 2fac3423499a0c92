"""Build tiny container images from Python for tests: layer tars, docker-archives, OCI layouts and archives.

Independent of harden's own writers on purpose (a test oracle must not share the code it checks)::

    from imagefactory import directory, file, whiteout, make_layer_tar, write_docker_archive

    base = make_layer_tar([directory("etc"), file("etc/os-release", b"ID=debian\\n")])
    top = make_layer_tar([whiteout("etc/os-release")])
    archive = write_docker_archive(tmp_path / "img.tar", [base, top], repo_tags=["demo:1"])

Layers are given as bytes (an uncompressed tar) or as a Path to one (for big, streamed content). Entry
helpers take the usual tar metadata as keywords (mode, uid, gid, uname, gname, mtime, xattrs); names are
written exactly as given, so hostile names (``../x``, ``/abs``) can be built too.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harden.image.blobs import BlobStore
    from harden.image.model import Layer, Rootfs

LayerInput = bytes | Path

_KINDS = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


@dataclass(frozen=True)
class TarEntry:
    name: str
    kind: str = "file"
    data: bytes = b""
    size: int | None = None
    """With ``size`` set, the content is ``size`` bytes of ``fill``, streamed (never built in memory)."""
    fill: bytes = b"x"
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    mtime: int = 1_700_000_000
    xattrs: Mapping[str, str] = field(default_factory=dict)

    def tarinfo(self) -> tarfile.TarInfo:
        info = tarfile.TarInfo(self.name)
        info.type = _KINDS[self.kind]
        default_mode = 0o755 if self.kind == "dir" else 0o777 if self.kind == "symlink" else 0o644
        info.mode = default_mode if self.mode is None else self.mode
        info.uid, info.gid, info.uname, info.gname = self.uid, self.gid, self.uname, self.gname
        info.mtime = self.mtime
        info.linkname = self.linkname
        info.devmajor, info.devminor = self.devmajor, self.devminor
        info.size = self.content_size if self.kind == "file" else 0
        info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in sorted(self.xattrs.items())}
        return info

    @property
    def content_size(self) -> int:
        return self.size if self.size is not None else len(self.data)

    def content(self) -> IO[bytes]:
        if self.size is None:
            return io.BytesIO(self.data)
        return io.BufferedReader(_Filler(self.size, self.fill))


class _Filler(io.RawIOBase):
    def __init__(self, size: int, fill: bytes) -> None:
        self._left = size
        self._block = (fill * (65536 // len(fill) + 1))[:65536]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left, len(self._block))
        buffer[:n] = self._block[:n]
        self._left -= n
        return n


# -- entry helpers -----------------------------------------------------------------------------------------
def file(name: str, data: bytes = b"", **kw: Any) -> TarEntry:
    return TarEntry(name, "file", data=data, **kw)


def big_file(name: str, size: int, fill: bytes = b"x", **kw: Any) -> TarEntry:
    return TarEntry(name, "file", size=size, fill=fill, **kw)


def directory(name: str, **kw: Any) -> TarEntry:
    return TarEntry(name, "dir", **kw)


def symlink(name: str, target: str, **kw: Any) -> TarEntry:
    return TarEntry(name, "symlink", linkname=target, **kw)


def hardlink(name: str, target: str, **kw: Any) -> TarEntry:
    return TarEntry(name, "hardlink", linkname=target, **kw)


def char_device(name: str, major: int, minor: int, **kw: Any) -> TarEntry:
    return TarEntry(name, "char", devmajor=major, devminor=minor, **kw)


def block_device(name: str, major: int, minor: int, **kw: Any) -> TarEntry:
    return TarEntry(name, "block", devmajor=major, devminor=minor, **kw)


def fifo(name: str, **kw: Any) -> TarEntry:
    return TarEntry(name, "fifo", **kw)


def whiteout(path: str) -> TarEntry:
    """The marker that hides ``path`` (and everything below it) in lower layers."""
    p = PurePosixPath(path)
    return TarEntry(str(p.parent / f".wh.{p.name}") if str(p.parent) != "." else f".wh.{p.name}", "file")


def opaque(directory_path: str) -> TarEntry:
    """The marker that hides every lower-layer child of ``directory_path``."""
    return TarEntry(f"{directory_path.rstrip('/')}/.wh..wh..opq", "file")


# -- layers ------------------------------------------------------------------------------------------------
def _write_entries(out: IO[bytes], entries: Iterable[TarEntry], fmt: int) -> None:
    with tarfile.open(fileobj=out, mode="w", format=fmt, encoding="utf-8") as tar:
        for entry in entries:
            info = entry.tarinfo()
            if entry.kind == "file":
                tar.addfile(info, entry.content())
            else:
                tar.addfile(info)


def make_layer_tar(entries: Iterable[TarEntry], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """An uncompressed layer tar with ``entries`` in the given order."""
    buffer = io.BytesIO()
    _write_entries(buffer, entries, fmt)
    return buffer.getvalue()


def write_layer_tar(path: Path, entries: Iterable[TarEntry], *, fmt: int = tarfile.PAX_FORMAT) -> Path:
    """Like make_layer_tar, streamed to ``path`` (for big contents)."""
    with path.open("wb") as out:
        _write_entries(out, entries, fmt)
    return path


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer_bytes_and_digest(layer: LayerInput) -> tuple[bytes | Path, str]:
    if isinstance(layer, Path):
        h = hashlib.sha256()
        with layer.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return layer, "sha256:" + h.hexdigest()
    return layer, sha256_digest(layer)


def diff_id(layer: LayerInput) -> str:
    return _layer_bytes_and_digest(layer)[1]


def default_config(diff_ids: Sequence[str], **container: Any) -> dict[str, Any]:
    """A minimal but realistic image config for ``diff_ids``; ``container`` keys go into ``config``."""
    cfg: dict[str, Any] = {
        "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
        "Cmd": ["python3"],
        "WorkingDir": "/",
    }
    cfg.update(container)
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(diff_ids))
        ],
    }


def _config_for(layers: Sequence[LayerInput], config: Mapping[str, Any] | None) -> dict[str, Any]:
    ids = [diff_id(layer) for layer in layers]
    if config is None:
        return default_config(ids)
    result: dict[str, Any] = json.loads(json.dumps(config))
    result.setdefault("rootfs", {"type": "layers", "diff_ids": ids})
    return result


class _OuterTar:
    """A plain outer tar (the archive) written member by member."""

    def __init__(self, path: Path) -> None:
        self.tar = tarfile.TarFile(path, "w", format=tarfile.PAX_FORMAT)

    def add_bytes(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))

    def add_layer(self, name: str, layer: bytes | Path) -> None:
        if isinstance(layer, Path):
            info = tarfile.TarInfo(name)
            info.size = layer.stat().st_size
            with layer.open("rb") as f:
                self.tar.addfile(info, f)
            return
        self.add_bytes(name, layer)

    def add_symlink(self, name: str, target: str) -> None:
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE
        info.linkname = target
        self.tar.addfile(info)

    def add_dir(self, name: str) -> None:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        self.tar.addfile(info)

    def close(self) -> None:
        self.tar.close()


def write_docker_archive(
    path: Path,
    layers: Sequence[LayerInput],
    config: Mapping[str, Any] | None = None,
    *,
    repo_tags: Sequence[str] | None = ("test/image:latest",),
    layout: str = "legacy",
    compress: bool = False,
    extra_images: Sequence[tuple[Sequence[LayerInput], Sequence[str]]] = (),
    dedupe_with_symlinks: bool = False,
) -> Path:
    """A docker-archive at ``path``.

    ``layout``: "legacy" (``<id>/layer.tar`` + ``<hex>.json``), "podman" (``<hex>.tar``) or "blobs"
    (Docker ≥ 25: ``blobs/sha256/<hex>``, layers gzip-compressed when ``compress``). ``extra_images`` adds
    more images (layers, repo tags) to the manifest. ``dedupe_with_symlinks`` writes identical layers once and
    symlinks the rest, as ``docker save`` does. A ``config`` whose rootfs is set is written as given (to
    craft mismatches).
    """
    out = _OuterTar(path)
    manifest = []
    written: dict[str, str] = {}
    images = [(layers, repo_tags, config), *((lay, tags, None) for lay, tags in extra_images)]
    for image_layers, tags, image_config in images:
        cfg = _config_for(image_layers, image_config)
        cfg_bytes = json.dumps(cfg).encode()
        cfg_hex = hashlib.sha256(cfg_bytes).hexdigest()
        cfg_name = f"blobs/sha256/{cfg_hex}" if layout == "blobs" else f"{cfg_hex}.json"
        out.add_bytes(cfg_name, cfg_bytes)
        names = []
        for index, layer in enumerate(image_layers):
            data, digest = _layer_bytes_and_digest(layer)
            hexd = digest.partition(":")[2]
            payload: bytes | Path = data
            payload_hex = hexd
            if compress and isinstance(data, bytes):
                payload = gzip_bytes(data)
                payload_hex = hashlib.sha256(payload).hexdigest()
            if layout == "blobs":
                name = f"blobs/sha256/{payload_hex}"
            elif layout == "podman":
                name = f"{hexd}.tar"
            else:
                name = f"{hexd}{index}/layer.tar" if dedupe_with_symlinks else f"{hexd}/layer.tar"
            if digest in written and dedupe_with_symlinks:
                target = written[digest]
                out.add_dir(name.rsplit("/", 1)[0])
                out.add_symlink(name, "../" + target)
            elif name not in written.values():
                if "/" in name and layout != "blobs":
                    out.add_dir(name.rsplit("/", 1)[0])
                out.add_layer(name, payload)
                written[digest] = name
            names.append(name)
        manifest.append({"Config": cfg_name, "RepoTags": list(tags) if tags else None, "Layers": names})
    out.add_bytes("manifest.json", json.dumps(manifest).encode())
    out.close()
    return path


def _blob(root: Path, data: bytes) -> dict[str, Any]:
    digest = sha256_digest(data)
    blob = root / "blobs" / "sha256" / digest.partition(":")[2]
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def write_oci_layout(
    directory_path: Path,
    layers: Sequence[bytes],
    config: Mapping[str, Any] | None = None,
    *,
    ref_name: str | None = "latest",
    compress: bool = True,
    nested_index: bool = False,
    platforms: Sequence[str] = ("linux/amd64",),
) -> Path:
    """An OCI layout in ``directory_path``; ``nested_index`` puts a manifest per platform behind an index."""
    directory_path.mkdir(parents=True, exist_ok=True)
    cfg = _config_for(list(layers), config)
    layer_media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else "")
    manifests = []
    for plat in platforms if nested_index else platforms[:1]:
        os_name, arch = plat.split("/")
        plat_cfg = dict(cfg, os=os_name, architecture=arch)
        config_desc = {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **_blob(directory_path, json.dumps(plat_cfg).encode()),
        }
        layer_descs = [
            {"mediaType": layer_media, **_blob(directory_path, gzip_bytes(layer) if compress else layer)}
            for layer in layers
        ]
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_desc,
            "layers": layer_descs,
        }
        desc = {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            **_blob(directory_path, json.dumps(manifest).encode()),
        }
        desc["platform"] = {"os": os_name, "architecture": arch}
        manifests.append(desc)
    annotations = {"org.opencontainers.image.ref.name": ref_name} if ref_name else None
    if nested_index:
        nested = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }
        top_desc: dict[str, Any] = {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            **_blob(directory_path, json.dumps(nested).encode()),
        }
        top = [top_desc]
    else:
        top = manifests
    if annotations:
        top[0]["annotations"] = annotations
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": top}
    (directory_path / "index.json").write_text(json.dumps(index))
    (directory_path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return directory_path


def write_oci_archive(
    path: Path, layers: Sequence[bytes], config: Mapping[str, Any] | None = None, **kw: Any
) -> Path:
    """An OCI layout packed in a tar at ``path`` (same keywords as write_oci_layout)."""
    staging = path.with_name(path.name + ".layout")
    write_oci_layout(staging, layers, config, **kw)
    with tarfile.open(path, "w") as tar:
        for item in sorted(staging.rglob("*")):
            tar.add(item, arcname=item.relative_to(staging).as_posix(), recursive=False)
    for item in sorted(staging.rglob("*"), reverse=True):
        item.rmdir() if item.is_dir() else item.unlink()
    staging.rmdir()
    return path


def read_tar_names(data_or_path: bytes | Path) -> list[str]:
    """Member names of a tar, in order (for assertions on written layers and archives)."""
    if isinstance(data_or_path, Path):
        with tarfile.open(data_or_path) as tar:
            return tar.getnames()
    with tarfile.open(fileobj=io.BytesIO(data_or_path)) as tar:
        return tar.getnames()


def file_count(root: Path) -> int:
    return sum(len(files) + len(dirs) for _, dirs, files in os.walk(root))


# -- harden objects (for tests of stages, reports, verify) ---------------------------------------------------
def _opener(data: bytes) -> Callable[[], IO[bytes]]:
    return lambda: io.BytesIO(data)


def memory_layers(layers: Sequence[bytes]) -> tuple[Layer, ...]:
    """``harden.image.model.Layer`` objects over in-memory layer tars (diff_ids computed)."""
    from harden.image.model import Layer

    return tuple(Layer(diff_id=sha256_digest(data), open=_opener(data)) for data in layers)


def merged_rootfs(layers: Sequence[bytes], blobs: BlobStore, *, sanitize: bool = False) -> Rootfs:
    """The ``Rootfs`` harden's merge makes of ``layers`` (oldest first), contents put in ``blobs``."""
    from harden.image.merge import merge_layers

    return merge_layers(memory_layers(layers), blobs, sanitize=sanitize).rootfs


def load_archive(archive: Path, client: Any) -> str:
    """Load a docker-archive into the engine with the docker SDK alone (not harden's loader); the id of the
    image, found by its config's digest."""
    with tarfile.open(archive) as tar:
        manifest = tar.extractfile("manifest.json")
        assert manifest is not None
        config_name = json.load(manifest)[0]["Config"]
        config = tar.extractfile(config_name)
        assert config is not None
        digest = "sha256:" + hashlib.sha256(config.read()).hexdigest()
    with archive.open("rb") as stream:
        for chunk in client.api.load_image(stream):
            if isinstance(chunk, dict) and ("error" in chunk or "errorDetail" in chunk):
                raise RuntimeError(f"the engine could not load {archive}: {chunk}")
    return str(client.images.get(digest).id)
