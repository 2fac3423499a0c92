"""End to end on the project's own image: `harden image spark-k8s-python-deps` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.engine, pytest.mark.slow]

HARDENED_TAG = "spark-k8s-python-deps:e2e-hardened"
MUST_IMPORT = [
    "pandas", "numpy", "pyarrow", "pyarrow.parquet", "pyspark", "pyiceberg", "pyiceberg.catalog",
    "pyiceberg.io.pyarrow", "scipy", "sklearn", "sqlalchemy", "psycopg2", "requests", "fsspec",
]


@pytest.fixture(scope="module")
def hardened(deps_image: str, docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``harden image`` run; a tag left by an earlier run is removed first, so every test below reads
    what this run wrote, and a failed run fails here, naming its output."""
    import docker.errors

    out = tmp_path_factory.mktemp("e2e")
    source_id = docker_client.images.get(deps_image).id
    try:
        docker_client.images.remove(HARDENED_TAG)
    except docker.errors.NotFound:  # podman answers a missing tag's removal with NotFound
        pass
    except docker.errors.APIError as exc:
        if exc.status_code != 409:
            raise
        # a container still uses it: say which, do not remove it
        image_id = docker_client.images.get(HARDENED_TAG).id
        users = [f"{c.name} ({c.status})" for c in docker_client.containers.list(all=True)
                 if c.attrs.get("Image") == image_id]
        pytest.fail(f"cannot remove {HARDENED_TAG} left by an earlier run ({exc.explanation}); containers using it: "
                    f"{', '.join(users) or 'none listed'}; remove them and run again", pytrace=False)
    proc = subprocess.run(
        [sys.executable, "-m", "harden", "image", deps_image, "--tag", HARDENED_TAG,
         "--report-dir", str(out / "reports"), "--output", f"oci-archive:{out / 'hardened.oci.tar'}"],
        capture_output=True, text=True, timeout=3000,
    )
    if proc.returncode != 0:
        pytest.fail(f"harden image exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}",
                    pytrace=False)
    return {"proc": proc, "out": out, "source": deps_image, "source_id": source_id}


def test_harden_exits_zero(hardened: dict[str, Any]) -> None:
    proc = hardened["proc"]
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"


def test_source_image_unchanged(hardened: dict[str, Any], docker_client: Any) -> None:
    assert docker_client.images.get(hardened["source"]).id == hardened["source_id"]


def test_hardened_is_at_most_half_the_size(hardened: dict[str, Any], docker_client: Any) -> None:
    before = docker_client.images.get(hardened["source"]).attrs["Size"]
    after = docker_client.images.get(HARDENED_TAG).attrs["Size"]
    assert after <= before * 0.5, f"{after} bytes is {after / before:.0%} of {before}"


def test_config_is_non_root_numeric_and_single_layer(
    hardened: dict[str, Any], image_config: Callable[[str], dict[str, Any]], docker_client: Any
) -> None:
    config = image_config(HARDENED_TAG)
    user = config["User"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit(), user
    assert len(docker_client.images.get(HARDENED_TAG).attrs["RootFS"]["Layers"]) == 1
    assert any(k.startswith("io.github.harden.policy") for k in config.get("Labels") or {})


def test_policy_modules_import_as_non_root(hardened: dict[str, Any], run_in: Callable[..., str]) -> None:
    code = (
        "import importlib, os, json\n"
        f"mods = {MUST_IMPORT!r}\n"
        "[importlib.import_module(m) for m in mods]\n"
        "from importlib.metadata import version\n"
        "print(json.dumps({'uid': os.getuid(), 'pandas': version('pandas'), 'numpy': version('numpy')}))\n"
    )
    result = json.loads(run_in(HARDENED_TAG, ["python3", "-c", code]))
    assert result["uid"] != 0
    assert result["pandas"] and result["numpy"]


def test_no_shell_in_hardened_image(hardened: dict[str, Any], run_in: Callable[..., str]) -> None:
    code = (
        "import subprocess, os\n"
        "try:\n    subprocess.run('true', shell=True, check=True); print('shell')\n"
        "except OSError: print('no-shell')\n"
        "print([p for p in ('/bin/sh','/bin/bash','/usr/bin/dash','/usr/bin/sh') if os.path.lexists(p)])\n"
    )
    assert run_in(HARDENED_TAG, ["python3", "-c", code]).split("\n")[:2] == ["no-shell", "[]"]


def test_reports_written(hardened: dict[str, Any]) -> None:
    reports = Path(hardened["out"]) / "reports"
    data = json.loads((reports / "report.json").read_text())
    assert data["schema_version"] == 2
    assert (Path(hardened["out"]) / "hardened.oci.tar").stat().st_size > 0


def test_the_whole_surface_was_walked_and_every_loss_is_accounted(hardened: dict[str, Any]) -> None:
    details = json.loads((Path(hardened["out"]) / "reports" / "report.json").read_text())["verification"]["details"]
    venv = next(diff for diff in details["imports"] if diff["interpreter"].startswith("/opt/venv/"))
    assert venv["counts"]["total"] > 5000  # every submodule of pandas, numpy, scipy, sklearn, pyspark …
    assert venv["regressions"] == []
    stages = {loss["accounting"]["stage"] for loss in venv["accounted"]}
    assert {"remove-tests", "remove-installers", "remove-jvm-payload"} <= stages
    assert any(loss["module"] == "pyspark.testing" for loss in venv["accounted"])
    assert not any(loss["module"].startswith("numpy.doc") for loss in venv["accounted"])  # kept: it is code


DEEP = "pandas/io/formats/xml.py"
"""DataFrame.to_xml's writer: `import pandas` does not load it, and it imports in the original (unlike
pandas/io/formats/style.py, which needs jinja2, absent here: its loss would rightly not be a regression)."""


@pytest.fixture(scope="module")
def deep_delete(hardened: dict[str, Any], docker_client: Any,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The hardened image with one deep pandas module deleted by hand, loaded into the engine."""
    from harden.image.blobs import BlobStore
    from harden.image.merge import merge_layers
    from harden.image.transports import open_image
    from harden.image.transports.daemon import remove_image
    from harden.image.transports.docker_archive import write_docker_archive
    from harden.image.writer import with_written_layers, write_layer
    from imagefactory import load_archive

    assert hardened["proc"].returncode == 0, hardened["proc"].stderr[-2000:]
    work = tmp_path_factory.mktemp("deep-delete")
    image = open_image(f"oci-archive:{hardened['out'] / 'hardened.oci.tar'}", work / "read")
    blobs = BlobStore(work / "blobs")
    rootfs = merge_layers(image.layers, blobs).rootfs
    [victim] = [e.path for e in rootfs if str(e.path).endswith("site-packages/" + DEEP)]
    broken = rootfs.with_changes(remove=frozenset({victim}))
    layer = write_layer(broken, blobs, work / "layer.tar", clamp_mtime=0)
    config = with_written_layers(image.config, [layer], created_by="test: one module deleted", epoch=0)
    image_id = load_archive(write_docker_archive(config, [layer], work / "broken.tar"), docker_client)
    yield image_id
    remove_image(image_id, client=docker_client)


def test_verify_fails_naming_a_deep_module_deleted_by_hand(hardened: dict[str, Any], deep_delete: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harden", "verify", hardened["source"], deep_delete, "--policy",
         "spark-k8s-python-deps"], capture_output=True, text=True, timeout=3000,
    )
    assert proc.returncode == 1, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"
    assert "pandas.io.formats.xml" in proc.stdout + proc.stderr
    assert f"site-packages/{DEEP} is gone from the hardened image" in proc.stdout + proc.stderr
