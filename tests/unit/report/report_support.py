"""Small images for the report tests: layer tars from ``imagefactory`` merged by harden's real merger, a real
pipeline run with tiny stand-in stages, and stand-ins for the policy (name, digest) the report records."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from harden.image.blobs import BlobStore
from harden.image.merge import merge_layers
from harden.image.model import Image, ImageConfig, Layer, Rootfs
from harden.pipeline import PipelineResult, run_pipeline
from harden.plan import Plan, Remove, SetConfig
from harden.stages.base import StageContext, StageSettings
from imagefactory import TarEntry, default_config, diff_id, directory, file, make_layer_tar

SCHEMAS = Path(__file__).resolve().parent / "schemas"
GOLDEN = Path(__file__).resolve().parents[2] / "golden"
FIXED_TIME = "2024-01-01T00:00:00Z"


@dataclass(frozen=True)
class StandInPolicy:
    name: str = "test-policy"
    digest: str = "sha256:" + "ab" * 32


def build_image(layers: Sequence[Sequence[TarEntry]], blobs: BlobStore, *, reference: str = "demo:1",
                **container: Any) -> tuple[Image, Rootfs]:
    """An Image whose layers re-open from memory, and its rootfs merged by harden.image.merge."""
    tars = [make_layer_tar(entries) for entries in layers]
    raw = default_config([diff_id(t) for t in tars], **container)
    config_bytes = json.dumps(raw, sort_keys=True).encode()

    def opener(data: bytes) -> Callable[[], io.BytesIO]:
        return lambda: io.BytesIO(data)

    image = Image(
        config=ImageConfig.from_bytes(config_bytes),
        layers=tuple(Layer(diff_id(t), opener(t), len(t)) for t in tars),
        reference=reference,
        config_digest="sha256:" + hashlib.sha256(config_bytes).hexdigest(),
    )
    return image, merge_layers(image.layers, blobs).rootfs


class RemoveMatching:
    """A stand-in stage: removes every path a predicate selects, with one category and reason."""

    name: ClassVar[str] = "remove-matching"
    settings_type: ClassVar[type[StageSettings]] = StageSettings

    def __init__(self, name: str, category: str, predicate: Callable[[PurePosixPath], bool],
                 reason: str, *, removes_modules: bool = False) -> None:
        self.name = name  # type: ignore[misc]
        self.category = category
        self.predicate = predicate
        self.reason = reason
        self.removes_modules = removes_modules

    def plan(self, ctx: StageContext[StageSettings]) -> Plan:
        chosen = [e.path for e in ctx.rootfs if not e.is_dir and self.predicate(e.path)]
        return Plan(self.name, tuple(Remove(p, self.reason, self.category, self.removes_modules) for p in chosen))


class SetUser:
    name: ClassVar[str] = "set-user"
    settings_type: ClassVar[type[StageSettings]] = StageSettings

    def __init__(self, user: str) -> None:
        self.user = user

    def plan(self, ctx: StageContext[StageSettings]) -> Plan:
        return Plan(self.name, (SetConfig("User", self.user, "run as the non-root user", "user"),))


def default_stages() -> list[Any]:
    return [
        RemoveMatching("remove-bytecode", "bytecode", lambda p: p.suffix == ".pyc", "compiled bytecode"),
        RemoveMatching("remove-tests", "tests", lambda p: "tests" in p.parts, "test suite", removes_modules=True),
        RemoveMatching("remove-installers", "installers",
                       lambda p: any(part.startswith("pip") for part in p.parts), "installer", removes_modules=True),
        RemoveMatching("drop-shells", "shells", lambda p: p.name in ("sh", "bash"), "shell"),
        SetUser("65532:65532"),
    ]


def harden(rootfs: Rootfs, config: ImageConfig, blobs: BlobStore,
           stages: Sequence[Any] | None = None) -> PipelineResult:
    """A real pipeline run with stand-in stages; stage times zeroed so output is reproducible."""
    pairs = [(stage, StageSettings(enabled=True)) for stage in (stages or default_stages())]
    result = run_pipeline(rootfs, config, blobs, pairs)
    return replace(result, records=tuple(replace(r, seconds=0.0) for r in result.records))


def dist_info(site: str, name: str, version: str, files: dict[str, bytes]) -> list[TarEntry]:
    """A fake installed distribution: package files, METADATA and a RECORD listing them."""
    info = f"{site}/{name}-{version}.dist-info"
    record = "".join(f"{path},,\n" for path in files) + f"{name}-{version}.dist-info/METADATA,,\n"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: BSD-3-Clause\n\n"
    return [
        *(file(f"{site}/{path}", data) for path, data in files.items()),
        file(f"{info}/METADATA", metadata.encode()),
        file(f"{info}/RECORD", record.encode()),
    ]


SITE = "usr/local/lib/python3.11/site-packages"
PASSWD = b"root:x:0:0:root:/root:/bin/bash\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n"
GROUP = b"root:x:0:\nnonroot:x:65532:\n"
SHADOW = b"root:*:19000:0:99999:7:::\nnonroot:!:19000::::::\n"


def small_image_layers() -> list[list[TarEntry]]:
    """The fixed small image of the golden test: a Python data stack, a shell, pip, tests and bytecode."""
    base = [
        directory("etc"),
        file("etc/passwd", PASSWD),
        file("etc/group", GROUP),
        file("etc/shadow", SHADOW, mode=0o640),
        file("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
        file("bin/sh", b"\x7fELF-not-really-a-shell" + b"s" * 2000, mode=0o755),
        file("var/lib/dpkg/status",
             b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n"
             b"Installed-Size: 12000\n\nPackage: dash\nStatus: install ok installed\nArchitecture: amd64\n"
             b"Version: 0.5.12-2\nInstalled-Size: 100\n\n"),
        file("var/lib/dpkg/info/dash.list", b"/.\n/bin\n/bin/sh\n"),
    ]
    python = [
        *dist_info(SITE, "pandas", "2.2.2", {
            "pandas/__init__.py": b"import numpy\n" * 200,
            "pandas/tests/test_frame.py": b"def test_x(): pass\n" * 300,
            "pandas/__pycache__/__init__.cpython-311.pyc": b"\x00" * 1500,
        }),
        *dist_info(SITE, "numpy", "1.26.4", {
            "numpy/__init__.py": b"# numpy\n" * 400,
            "numpy/testing/__init__.py": b"# kept: runtime testing helpers\n" * 10,
            "numpy/tests/test_core.py": b"def test_y(): pass\n" * 100,
        }),
        *dist_info(SITE, "pyiceberg", "0.7.1", {"pyiceberg/__init__.py": b"# iceberg\n" * 100}),
        *dist_info(SITE, "pip", "24.0", {"pip/__init__.py": b"# pip\n" * 300}),
        file("usr/local/bin/pip", b"#!/usr/local/bin/python3\n", mode=0o755),
    ]
    return [base, python]
