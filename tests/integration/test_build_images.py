"""The example images build and are what the issue asks for: a Python 3.11 base, and a deps image whose venv
imports the pinned stack and which carries none of the builder stage's secrets or tools."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parents[2]
DEPS_DIR = REPO / "dockerfiles" / "python-deps"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")  # the Makefile's default CA_BUNDLE

BASE_ENV = {
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PIP_NO_CACHE_DIR": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}
# import name -> distribution name in constraints.txt
DEPS_IMPORTS = {
    "pandas": "pandas",
    "numpy": "numpy",
    "pyarrow": "pyarrow",
    "pyspark": "pyspark",
    "pyiceberg": "pyiceberg",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "sqlalchemy": "sqlalchemy",
    "psycopg2": "psycopg2-binary",
    "requests": "requests",
    "fsspec": "fsspec",
    "urllib3": "urllib3",
}

# Runs inside an image: pip configuration files, copies of the build CA (by size + sha256), compilers, and the
# builder's /build folder. Prints one JSON object.
SCAN = r"""
import hashlib, json, os, re, stat
ca_size, ca_sha = int(os.environ["CA_SIZE"]), os.environ["CA_SHA256"]
pip_paths = ["/etc/pip.conf", "/etc/xdg/pip/pip.conf", "/root/.pip", "/root/.config/pip",
             "/opt/venv/pip.conf"]
compiler = re.compile(r"^(gcc|cc|cc1|c\+\+|g\+\+|cpp|clang|x86_64-linux-gnu-(gcc|g\+\+|cpp))(-[0-9.]+)?$")
found = {"pip_config": [p for p in pip_paths if os.path.lexists(p)], "ca_copies": [], "compilers": [],
         "build_dir": os.path.lexists("/build"), "env": sorted(k for k in os.environ if k.startswith("PIP_"))}
for root, dirs, files in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    for name in files:
        path = os.path.join(root, name)
        if compiler.match(name):
            found["compilers"].append(path)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size == ca_size:
            with open(path, "rb") as fh:
                if hashlib.sha256(fh.read()).hexdigest() == ca_sha:
                    found["ca_copies"].append(path)
print(json.dumps(found))
"""


def pins() -> dict[str, str]:
    """constraints.txt as {normalized name: version}; every non-comment line must be an exact pin."""
    result = {}
    for line in (DEPS_DIR / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)", line.strip())
        assert match, f"constraints.txt: not an exact pin: {line!r}"
        result[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return result


def requirement_names(filename: str) -> list[str]:
    names = []
    for line in (DEPS_DIR / filename).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
            assert match, f"{filename}: unreadable requirement {line!r}"
            names.append(re.sub(r"[-_.]+", "-", match[0]).lower())
    return names


def env_of(config: dict[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in config.get("Env") or [])


def scan(run_in: Callable[..., str], ref: str) -> dict[str, Any]:
    data = HOST_CA.read_bytes()
    env = {"CA_SIZE": str(len(data)), "CA_SHA256": hashlib.sha256(data).hexdigest()}
    result: dict[str, Any] = json.loads(run_in(ref, ["python3", "-c", SCAN], env))
    return result


def test_every_requirement_is_pinned() -> None:
    pinned = pins()
    wanted = requirement_names("requirements-base.txt") + requirement_names("requirements-iceberg.txt")
    assert "pyiceberg" in wanted and "pyspark" in wanted
    assert [name for name in wanted if name not in pinned] == []
    # numpy<2 is a stated choice (PySpark 3.5); the lock must honour it.
    assert pinned["numpy"].startswith("1.")


def test_base_image_config(python_base_image: str, image_config: Callable[[str], dict[str, Any]]) -> None:
    config = image_config(python_base_image)
    env = env_of(config)
    assert {k: env.get(k) for k in BASE_ENV} == BASE_ENV
    assert config["Cmd"] == ["python3"]
    assert config["Healthcheck"]["Test"][0] == "CMD", "HEALTHCHECK must be exec form"
    labels = config.get("Labels") or {}
    assert labels["org.opencontainers.image.title"] == "spark-k8s-python-base"
    assert labels["org.opencontainers.image.base.name"]


def test_base_image_has_python_311_with_pip_setuptools_wheel(
    python_base_image: str, run_in: Callable[..., str]
) -> None:
    # One module at a time: Debian's setuptools asserts when imported after pip in the same process.
    script = (
        "import importlib.util, sys\n"
        "for m in ('pip', 'setuptools', 'wheel', 'venv', 'ensurepip'):\n"
        "    assert importlib.util.find_spec(m), m\n"
        "print(*sys.version_info[:2], sep='.')\n"
    )
    assert run_in(python_base_image, ["python3", "-c", script]).strip() == "3.11"
    assert run_in(python_base_image, ["python3", "-m", "pip", "--version"]).startswith("pip ")
    run_in(python_base_image, ["python3", "-c", "import setuptools, wheel"])


def test_deps_image_imports_the_pinned_stack(deps_image: str, run_in: Callable[..., str]) -> None:
    script = (
        "import importlib, importlib.metadata as md, json, sys\n"
        f"mods = {sorted(DEPS_IMPORTS)!r}\n"
        "for m in mods: importlib.import_module(m)\n"
        f"dists = {sorted(set(DEPS_IMPORTS.values()))!r}\n"
        "print(json.dumps({'prefix': sys.prefix, 'versions': {d: md.version(d) for d in dists}}))\n"
    )
    result = json.loads(run_in(deps_image, ["python3", "-c", script]))
    assert result["prefix"] == "/opt/venv"
    pinned = pins()
    assert {d: pinned[d] for d in result["versions"]} == result["versions"]


def test_deps_image_config(deps_image: str, image_config: Callable[[str], dict[str, Any]]) -> None:
    config = image_config(deps_image)
    env = env_of(config)
    assert env["PATH"].split(":")[0] == "/opt/venv/bin"
    assert {k: env.get(k) for k in BASE_ENV} == BASE_ENV
    assert not [k for k in env if k in ("PIP_CERT", "PIP_CONFIG_FILE", "PIP_INDEX_URL", "REQUESTS_CA_BUNDLE")]
    assert config["Cmd"] == ["python3"]
    health = config["Healthcheck"]["Test"]
    assert health[0] == "CMD" and "pandas" in health[-1] and "numpy" in health[-1]
    assert (config.get("Labels") or {})["org.opencontainers.image.title"] == "spark-k8s-python-deps"


def test_deps_healthcheck_command_passes(
    deps_image: str, image_config: Callable[[str], dict[str, Any]], run_in: Callable[..., str]
) -> None:
    test = image_config(deps_image)["Healthcheck"]["Test"]
    run_in(deps_image, test[1:])  # fails the test on a non-zero exit


def test_deps_image_is_base_plus_one_venv_layer(
    docker_client: Any, python_base_image: str, deps_image: str
) -> None:
    base_layers = docker_client.images.get(python_base_image).attrs["RootFS"]["Layers"]
    deps = docker_client.images.get(deps_image)
    deps_layers = deps.attrs["RootFS"]["Layers"]
    assert deps_layers[: len(base_layers)] == base_layers
    assert len(deps_layers) == len(base_layers) + 1, "the final stage must add only the /opt/venv copy"
    history = " ".join(str(h.get("CreatedBy", "")) for h in deps.history())
    assert "secrets" not in history and "pip.conf" not in history


def test_deps_image_carries_no_pip_config_ca_copy_or_compiler(
    python_base_image: str, deps_image: str, run_in: Callable[..., str]
) -> None:
    base, deps = scan(run_in, python_base_image), scan(run_in, deps_image)
    assert deps["pip_config"] == []
    assert deps["build_dir"] is False
    assert deps["env"] == sorted(k for k in BASE_ENV if k.startswith("PIP_"))
    # A copy of the build CA beyond what the base itself ships (e.g. the system bundle on a host without a
    # custom CA) would be a leak from the builder.
    assert sorted(set(deps["ca_copies"]) - set(base["ca_copies"])) == []
    assert deps["compilers"] == []


def test_gpu_build_fails_with_a_clear_message(
    docker_client: Any, python_base_image: str, make: Callable[..., Any]
) -> None:
    import docker.errors

    tag = "harden-test/gpu-must-fail:latest"
    proc = make(
        "build-python-deps",
        "HARDEN_HOOK=0",
        "BUILD_GPU_DEPS=1",
        f"DEPS_IMAGE_TAG={tag}",
        log_name="build-python-deps-gpu.log",
    )
    assert proc.returncode != 0
    assert "BUILD_GPU_DEPS=1 but BASE_IMAGE has no CUDA runtime" in proc.stdout
    assert "Refusing to build" in proc.stdout
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(tag)
