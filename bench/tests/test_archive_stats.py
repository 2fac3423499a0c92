"""archive_stats on docker-archives built in memory: whiteouts, opaque directories, sizes."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

from imagebench.archive_stats import measure_archive


def _layer(entries: list[tuple[str, bytes | None]]) -> bytes:
    """A layer tar; content None makes a directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _archive(path: Path, layers: list[bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        names = []
        for index, data in enumerate(layers):
            name = f"{index}/layer.tar"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            names.append(name)
        manifest = json.dumps([{"Config": "c.json", "RepoTags": [], "Layers": names}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    return path


def test_merges_layers_with_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    lower = _layer([("usr", None), ("usr/a", b"a" * 10), ("usr/b", b"b" * 20), ("opt", None),
                    ("opt/venv", None), ("opt/venv/x.py", b"x" * 30), ("opt/venv/sub", None),
                    ("opt/venv/sub/y.py", b"y" * 40), ("./etc/passwd", b"root\n")])
    upper = _layer([("usr/.wh.a", b""), ("opt/venv/.wh..wh..opq", b""), ("opt/venv/new.py", b"n" * 7),
                    ("usr/b", b"B" * 3)])
    archive = _archive(tmp_path / "image.tar", [lower, upper])

    size = measure_archive(archive, label="t", reference="t:latest")

    assert size.layers == 2
    assert size.files == 3  # usr/b (replaced), opt/venv/new.py, etc/passwd
    assert size.content_bytes == 3 + 7 + 5
    assert size.uncompressed_bytes == len(lower) + len(upper)
    expected_gzip = sum(len(gzip.compress(layer, compresslevel=6)) for layer in (lower, upper))
    assert size.gzip_bytes is not None and abs(size.gzip_bytes - expected_gzip) <= 64  # header fields differ


def test_a_whiteout_removes_a_whole_directory_and_gzip_can_be_skipped(tmp_path: Path) -> None:
    lower = _layer([("d", None), ("d/one", b"1"), ("d/two/three", b"33"), ("keep", b"k")])
    upper = _layer([(".wh.d", b"")])
    archive = _archive(tmp_path / "image.tar", [lower, upper])

    size = measure_archive(archive, label="t", reference="t", gzip=False)

    assert (size.files, size.content_bytes, size.gzip_bytes) == (1, 1, None)
