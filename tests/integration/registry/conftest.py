"""Session fixtures for the registry tests: real registries (distribution 2.8, Debian's ``docker-registry``) on
127.0.0.1 — without auth, with htpasswd basic auth, with token auth (a test token service), and with TLS — and
``skopeo`` as an independent client.

A missing prerequisite skips these tests with the reason, except under ``CI``, where it is a failure
(``scripts/test-prereqs.sh`` installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harden_child import HardenRun
from registry_server import (
    BASIC_PASSWORD,
    BASIC_USER,
    REGISTRY_BINARY,
    RegistryServer,
    TlsRegistry,
    have,
    htpasswd_line,
    prerequisite_missing,
    self_signed,
    start_registry,
)
from registry_tokens import TokenService

from harden.image.registry import RegistryClient


def require(program: str, package: str) -> None:
    if not have(program):
        prerequisite_missing(f"{program} not found (Debian package {package})")


@pytest.fixture(scope="session")
def registry_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(REGISTRY_BINARY, "docker-registry")
    return tmp_path_factory.mktemp("registries")


@pytest.fixture(scope="session")
def plain_registry(registry_workdir: Path) -> Iterator[RegistryServer]:
    server = start_registry(registry_workdir, "plain")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def basic_registry(registry_workdir: Path) -> Iterator[RegistryServer]:
    require("htpasswd", "apache2-utils")
    htpasswd = registry_workdir / "htpasswd"
    htpasswd.write_text(htpasswd_line(BASIC_USER, BASIC_PASSWORD) + "\n", encoding="utf-8")
    server = start_registry(
        registry_workdir, "basic", auth={"htpasswd": {"realm": "harden-test", "path": str(htpasswd)}}
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_service(registry_workdir: Path) -> Iterator[TokenService]:
    require("openssl", "openssl")
    cert, key = self_signed(registry_workdir, "token-signer")
    service = TokenService(cert, key)
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def token_registry(registry_workdir: Path, token_service: TokenService) -> Iterator[RegistryServer]:
    server = start_registry(registry_workdir, "token", auth=token_service.registry_auth())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_registry(registry_workdir: Path) -> Iterator[TlsRegistry]:
    require("openssl", "openssl")
    cert, key = self_signed(registry_workdir, "registry-tls", ip="127.0.0.1")
    server = start_registry(registry_workdir, "tls", tls=(cert, key))
    yield TlsRegistry(server, cert)
    server.stop()


@pytest.fixture(scope="session")
def skopeo() -> str:
    path = shutil.which("skopeo")
    if path is None:
        prerequisite_missing("skopeo not found (Debian package skopeo)")
    return path


@pytest.fixture
def empty_docker_config(tmp_path: Path) -> dict[str, str]:
    """An environment whose docker config has no credentials (the machine's own is never read)."""
    folder = tmp_path / "docker-config"
    folder.mkdir()
    return {"DOCKER_CONFIG": str(folder), "HOME": str(tmp_path)}


@pytest.fixture
def connect(empty_docker_config: dict[str, str]) -> Iterator[Callable[..., RegistryClient]]:
    """``connect(server_or_host, **options)`` → a RegistryClient (closed at the end of the test)."""
    clients: list[RegistryClient] = []

    def make(target: RegistryServer | str, **options: Any) -> RegistryClient:
        host = target.host if isinstance(target, RegistryServer) else target
        options.setdefault("env", empty_docker_config)
        client = RegistryClient(host, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# -- harden itself against the registry: a child process with no engine at all ---------------------------------
@pytest.fixture
def harden(tmp_path: Path, empty_docker_config: dict[str, str]) -> Callable[..., HardenRun]:
    """``harden(*args)`` runs ``python -m harden ARGS`` in a child process whose environment has no engine:
    ``DOCKER_HOST`` names a socket that does not exist (so anything that touched an engine would fail with exit
    3), harden's own podman socket is looked for elsewhere, the docker config has no credentials, and the
    workspace is the test's (checked empty afterwards by ``no_leftovers``)."""
    work = tmp_path / "harden-work"
    work.mkdir()
    env = {**os.environ, **empty_docker_config, "DOCKER_HOST": "unix:///nonexistent/harden-no-engine.sock",
           "HARDEN_ENGINE_DIR": str(tmp_path / "no-engine"), "HARDEN_WORKDIR": str(work)}
    env.pop("DOCKER_CONTEXT", None)

    def run(*args: str, timeout: float = 900) -> HardenRun:
        proc = subprocess.run([sys.executable, "-m", "harden", *args], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=tmp_path, check=False)
        assert not any(work.iterdir()), f"the workspace was not removed: {sorted(work.rglob('*'))[:5]}"
        return HardenRun(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture(scope="session")
def deb_images() -> None:
    """The two platforms' Python .debs (scripts/test-prereqs.sh downloads them)."""
    import deb_python

    reason = deb_python.unavailable()
    if reason is not None:
        prerequisite_missing(reason)
    require("bwrap", "bubblewrap")
