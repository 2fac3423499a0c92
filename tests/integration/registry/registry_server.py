"""A real registry (Debian's ``docker-registry``, distribution 2.8) on 127.0.0.1, for the registry tests.

``start_registry`` writes a config (filesystem storage in a temporary folder, ``http.addr`` on a free loopback
port, optional htpasswd or token auth, optional TLS), starts ``/usr/bin/docker-registry serve CONFIG`` — never
its systemd service — and waits a bounded time for ``/v2/`` to answer. ``stop`` ends that process only.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
import requests

REGISTRY_BINARY = os.environ.get("HARDEN_TEST_REGISTRY_BINARY", "/usr/bin/docker-registry")
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


@dataclass
class RegistryServer:
    name: str
    port: int
    root: Path
    """The storage root (``docker/registry/v2/...`` below it)."""
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    scheme: str = "http"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def blob_file(self, digest: str) -> Path:
        algorithm, hexpart = digest.split(":", 1)
        return self.root / "docker/registry/v2/blobs" / algorithm / hexpart[:2] / hexpart / "data"

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_registry(
    workdir: Path, name: str, *, auth: dict[str, Any] | None = None, tls: tuple[Path, Path] | None = None
) -> RegistryServer:
    """Start a registry in ``workdir/name``; ``auth`` is the config's ``auth:`` section, ``tls`` (cert, key)."""
    base = workdir / name
    root = base / "storage"
    root.mkdir(parents=True)
    port = free_port()
    http: dict[str, Any] = {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)}
    if tls is not None:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(root)}, "delete": {"enabled": True}},
        "http": http,
    }
    if auth is not None:
        config["auth"] = auth
    config_file = base / "config.yml"
    config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    log = base / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config_file)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=base,
        )
    server = RegistryServer(name, port, root, log, process, "https" if tls else "http")
    try:
        _wait_until_up(server, tls_ca=tls[0] if tls else None)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_up(server: RegistryServer, tls_ca: Path | None) -> None:
    url = f"{server.scheme}://{server.host}/v2/"
    context = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca else None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"registry {server.name} exited with {server.process.returncode}: {_tail(server)}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context):
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"registry {server.name} did not answer on {url} within {START_TIMEOUT_S} s: {_tail(server)}")


def _tail(server: RegistryServer) -> str:
    return " | ".join(server.log_text().strip().splitlines()[-5:])


def htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd line made by apache2-utils' ``htpasswd -nbB`` (the registry accepts bcrypt only)."""
    out = subprocess.run(["htpasswd", "-nbB", user, password], capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip()


def self_signed(workdir: Path, name: str, *, ip: str | None = None) -> tuple[Path, Path]:
    """(certificate, key) of a new self-signed RSA certificate made with the openssl command."""
    cert, key = workdir / f"{name}.crt", workdir / f"{name}.key"
    args = [
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
        "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
    ]  # fmt: skip
    if ip is not None:
        args += ["-addext", f"subjectAltName=IP:{ip}"]
    subprocess.run(args, capture_output=True, check=True, timeout=60)
    return cert, key


def have(program: str) -> bool:
    return shutil.which(program) is not None or Path(program).is_file()


def prerequisite_missing(reason: str) -> NoReturn:
    """Skip with the reason, or fail when running under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"registry tests cannot run under CI: {reason} (run scripts/test-prereqs.sh)", pytrace=False)
    pytest.skip(reason)


BASIC_USER = "bob"
BASIC_PASSWORD = "pw-Secr3t-basic-9f2c"


@dataclass(frozen=True)
class TlsRegistry:
    server: RegistryServer
    ca: Path


class RecordingSession(requests.Session):
    """A real requests session that records (method, path, status) of every response, redirects included."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, int]] = []
        self.hooks["response"].append(self._record)

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        path = requests.utils.urlparse(request.url or "").path
        self.seen.append((request.method or "", path, response.status_code))

    def count(self, method: str, contains: str = "") -> int:
        return sum(1 for m, path, _ in self.seen if m == method and contains in path)
