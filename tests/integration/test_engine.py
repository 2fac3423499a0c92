"""scripts/engine.sh (`make engine`): idempotent, truthful about where the engine is, and it never stops a
process it did not start."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harden.engine import PODMAN_SOCKET

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parents[2]
ENGINE_SH = REPO / "scripts" / "engine.sh"


def engine_sh(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ENGINE_SH), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
        check=False,
    )


def podman_services() -> dict[int, str]:
    """pid -> command line of every `podman system service` process on this machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if words and Path(words[0]).name == "podman" and words[1:3] == ["system", "service"]:
            found[int(entry.name)] = " ".join(words)
    return found


def exported_host(stdout: str) -> str:
    hosts = re.findall(r"^export DOCKER_HOST=(\S+)$", stdout, flags=re.MULTILINE)
    assert len(hosts) == 1, f"expected one DOCKER_HOST export on stdout, got {stdout!r}"
    return str(hosts[0])


def test_engine_start_is_idempotent(docker_client: Any, tmp_path: Path) -> None:
    env = {"HARDEN_ENGINE_ENV": str(tmp_path / "engine.env")}
    first = engine_sh("start", env=env)
    assert first.returncode == 0, first.stderr
    services_after_first = podman_services()
    second = engine_sh("start", env=env)
    assert second.returncode == 0, second.stderr

    host = exported_host(first.stdout)
    assert exported_host(second.stdout) == host
    assert second.stdout == first.stdout
    # Nothing new was started, and at most one service serves any one socket.
    assert podman_services() == services_after_first
    sockets = [cmd.rsplit(" ", 1)[-1] for cmd in services_after_first.values()]
    assert len(sockets) == len(set(sockets))
    if host == f"unix://{PODMAN_SOCKET}":
        assert [s for s in sockets if s == host] == [host], "exactly one podman service on harden's socket"
    # stdout carries only export lines; the env file says the same as stdout.
    assert all(line.startswith("export ") for line in second.stdout.splitlines())
    env_lines = (tmp_path / "engine.env").read_text(encoding="utf-8").splitlines()
    assert f"DOCKER_HOST={host}" in env_lines
    assert any(line.startswith("PYTHON_BASE_IMAGE=") for line in env_lines)


def test_printed_host_answers_the_docker_sdk(docker_client: Any) -> None:
    import docker

    status = engine_sh("status")
    assert status.returncode == 0, status.stderr
    client = docker.DockerClient(base_url=exported_host(status.stdout), timeout=30)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_stop_leaves_a_foreign_pid_alone(tmp_path: Path) -> None:
    # A pid file naming a process that is not our podman service (a stale or tampered file) must not make
    # `engine.sh stop` kill it.
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        (tmp_path / "podman.pid").write_text(f"{bystander.pid}\n", encoding="utf-8")
        result = engine_sh("stop", env={"HARDEN_ENGINE_DIR": str(tmp_path)})
        assert result.returncode == 0, result.stderr
        assert bystander.poll() is None, "engine.sh stop killed a process it did not start"
        assert "nothing stopped" in result.stderr
        assert not (tmp_path / "podman.pid").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_stop_without_pid_file_stops_nothing(tmp_path: Path) -> None:
    before = podman_services()
    result = engine_sh("stop", env={"HARDEN_ENGINE_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "nothing stopped" in result.stderr
    assert podman_services() == before
