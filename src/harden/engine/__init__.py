"""Finding a Docker-API engine: a real Docker daemon where one answers, else the podman service that
``make engine`` (scripts/engine.sh) starts on a unix socket."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harden.errors import EngineUnavailable

PODMAN_SOCKET = Path(os.environ.get("HARDEN_ENGINE_DIR", "/run/harden")) / "podman.sock"
DOCKER_SOCKET = Path("/var/run/docker.sock")


def candidate_hosts() -> list[str]:
    """DOCKER_HOST first (the user's explicit choice), then Docker's socket, then harden's podman socket."""
    hosts = []
    if os.environ.get("DOCKER_HOST"):
        hosts.append(os.environ["DOCKER_HOST"])
    for sock in (DOCKER_SOCKET, PODMAN_SOCKET):
        if sock.exists():
            hosts.append(f"unix://{sock}")
    return hosts


def connect(timeout: int = 600) -> Any:
    """A ``docker.DockerClient`` that answered a ping, or EngineUnavailable naming what was tried."""
    import docker  # imported here so that commands without an engine never need the SDK at start-up

    tried = []
    for host in candidate_hosts():
        try:
            client = docker.DockerClient(base_url=host, timeout=timeout)
            client.ping()
            return client
        except Exception as exc:
            tried.append(f"{host} ({type(exc).__name__})")
    where = ", ".join(tried) if tried else "DOCKER_HOST unset, no socket found"
    raise EngineUnavailable(f"no Docker-API engine answers (tried {where}); run `make engine` or set DOCKER_HOST")


def available() -> bool:
    try:
        connect(timeout=10).close()
    except EngineUnavailable:
        return False
    return True
