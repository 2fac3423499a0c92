"""Session fixtures for the engine tests: a Docker-API client and the two example images.

The images are built through the Makefile (the path a developer and CI take) only when missing or when their
``io.harden.build-inputs`` label no longer matches ``scripts/build-inputs.sh`` over the Dockerfile folder (or,
for the deps image, ``io.harden.base-image-id`` no longer names the current base image), so a second run of
the suite reuses them. ``HARDEN_REBUILD_IMAGES=1`` forces the Makefile build (layer caches keep that cheap
when nothing changed).

Without an engine the tests skip with the reason, except under ``CI``, where a missing engine is a failure:
CI must never pass by skipping them.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

from harden.engine import connect
from harden.errors import EngineUnavailable

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "spark-k8s-python-base:3.11"
DEPS_IMAGE = "spark-k8s-python-deps:latest"
INPUTS_LABEL = "io.harden.build-inputs"
BASE_ID_LABEL = "io.harden.base-image-id"
LOG_DIR = REPO / "build" / "test-logs"
BUILD_TIMEOUT_S = 3600


def engine_missing(reason: str) -> NoReturn:
    """Skip with the reason, or fail when running under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"engine tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def run_make(
    *args: str, log_name: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``make -C REPO ARGS``, output (stdout and stderr interleaved) kept in build/test-logs/LOG_NAME."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["make", "-C", str(REPO), "--no-print-directory", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        env={**os.environ, **(env or {})},
        check=False,
    )
    (LOG_DIR / log_name).write_text(proc.stdout, encoding="utf-8")
    return proc


def build_inputs(folder: str) -> str:
    """The digest the Makefile stamps on an image built from ``folder``."""
    out = subprocess.run(
        [str(REPO / "scripts" / "build-inputs.sh"), str(REPO / folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def image_labels(client: Any, ref: str) -> dict[str, str] | None:
    """The labels of a local image, or None when the engine has no such image."""
    import docker.errors

    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    return dict(image.attrs.get("Config", {}).get("Labels") or {})


def ensure_image(
    client: Any, ref: str, folder: str, target: str, extra: Sequence[str] = (), base: str | None = None
) -> str:
    """Reuse ``ref`` when it was built from the current files (and on the current ``base`` image), else
    build it with ``make target``."""
    labels = image_labels(client, ref)
    fresh = labels is not None and labels.get(INPUTS_LABEL) == build_inputs(folder)
    if fresh and base is not None:
        fresh = labels is not None and labels.get(BASE_ID_LABEL) == client.images.get(base).id
    if fresh and not os.environ.get("HARDEN_REBUILD_IMAGES"):
        return ref
    proc = run_make(target, *extra, log_name=f"{target}.log")
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        pytest.fail(f"`make {target}` failed (exit {proc.returncode}); last lines:\n{tail}", pytrace=False)
    if image_labels(client, ref) is None:
        pytest.fail(f"`make {target}` succeeded but {ref} does not exist", pytrace=False)
    return ref


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    try:
        client = connect()
    except EngineUnavailable as exc:
        engine_missing(exc.one_line())
    yield client
    client.close()


@pytest.fixture(scope="session")
def python_base_image(docker_client: Any) -> str:
    return ensure_image(docker_client, BASE_IMAGE, "dockerfiles/python-base", "build-python-base")


@pytest.fixture(scope="session")
def deps_image(docker_client: Any, python_base_image: str) -> str:
    # HARDEN_HOOK=0: build only; hardening is what the rest of the suite tests, not a build step here.
    return ensure_image(
        docker_client,
        DEPS_IMAGE,
        "dockerfiles/python-deps",
        "build-python-deps",
        ["HARDEN_HOOK=0"],
        base=python_base_image,
    )


def _is_podman(client: Any) -> bool:
    components = client.version().get("Components") or []
    return any("podman" in str(c.get("Name", "")).lower() for c in components)


def _image_config(client: Any, ref: str) -> dict[str, Any]:
    image = client.images.get(ref)
    config = dict(image.attrs.get("Config") or {})
    if config.get("Healthcheck") is None and _is_podman(client):
        native = client.api.get(f"{client.api.base_url}/v4.0.0/libpod/images/{image.id}/json")
        native.raise_for_status()
        data = native.json()
        config["Healthcheck"] = data.get("Healthcheck") or data.get("HealthCheck")
    return config


def _run_in(
    client: Any, ref: str, command: Sequence[str], environment: Mapping[str, str] | None = None
) -> str:
    container = client.containers.run(ref, list(command), environment=dict(environment or {}), detach=True)
    try:
        status = container.wait(timeout=600)
        out: bytes = container.logs(stdout=True, stderr=False)
        if status.get("StatusCode") != 0:
            err = container.logs(stdout=False, stderr=True).decode(errors="replace")
            code = status.get("StatusCode")
            pytest.fail(f"{command!r} in {ref} exited {code}:\n{err[-3000:]}", pytrace=False)
        return out.decode()
    finally:
        container.remove(force=True)


@pytest.fixture(scope="session")
def image_config(docker_client: Any) -> Callable[[str], dict[str, Any]]:
    """``image_config(ref)``: the image's container config. Podman's Docker-compatible inspect leaves out
    Healthcheck (seen with podman 4.3), so with podman it is read from podman's own endpoint."""
    return functools.partial(_image_config, docker_client)


@pytest.fixture(scope="session")
def run_in(docker_client: Any) -> Callable[..., str]:
    """``run_in(ref, command, environment=None)``: run an exec-form command in a fresh container of ``ref``
    and return its stdout; a non-zero exit fails the test with the container's stderr."""
    return functools.partial(_run_in, docker_client)


@pytest.fixture(scope="session")
def make() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``make(*args, log_name=..., env=None)``: run a Makefile target of the repository."""
    return run_make
