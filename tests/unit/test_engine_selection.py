"""Which engine harden talks to, as the docker CLI chooses it, against real (tiny) Docker-API servers: an HTTP
server answering ``/_ping`` and ``/version`` on unix sockets, and one behind TLS with a CA made here.

An engine chosen by DOCKER_HOST, DOCKER_CONTEXT or the current docker context is the only one tried, and when
it does not answer the error names it (exit 3); other sockets are tried only when nothing chose one. TLS:
DOCKER_TLS_VERIFY verifies the engine with DOCKER_CERT_PATH's ca.pem (and presents cert.pem/key.pem)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socketserver
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from docker.constants import DEFAULT_DOCKER_API_VERSION

import harden.engine
from harden.engine import EngineChoice, Tls, choose, connect, context_id, shared
from harden.errors import EngineUnavailable


@dataclass
class FakeEngine:
    """A Docker API that answers ``/_ping`` and ``/version``, counting the requests it saw."""

    name: str
    seen: list[str] = field(default_factory=list)
    ping_version: str | None = None
    """The Api-Version header of its /_ping (docker and podman send it); None: no header."""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                engine.seen.append(self.path)
                if self.path.endswith("/_ping"):
                    body, kind = b"OK", "text/plain"
                elif self.path.endswith("/version"):
                    body, kind = json.dumps({"ApiVersion": "1.41", "Version": engine.name}).encode(), \
                        "application/json"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                if engine.ping_version is not None and self.path.endswith("/_ping"):
                    self.send_header("Api-Version", engine.ping_version)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def address_string(self) -> str:
                return "unix"

        return Handler


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    servers: list[socketserver.BaseServer] = []

    def start(name: str, path: Path | None = None, *, tls: ssl.SSLContext | None = None) -> tuple[FakeEngine, str]:
        engine = FakeEngine(name)
        server: socketserver.BaseServer
        if tls is None:
            sock = path or tmp_path / f"{name}.sock"
            server = _UnixHTTPServer(str(sock), engine.handler())
            host = f"unix://{sock}"
        else:
            tcp = ThreadingHTTPServer(("127.0.0.1", 0), engine.handler())
            tcp.socket = tls.wrap_socket(tcp.socket, server_side=True)
            server, host = tcp, f"tcp://127.0.0.1:{tcp.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return engine, host

    def stop(path: Path) -> bool:
        """Stop the engine serving at ``path`` (its socket removed, as an engine that exits removes it)."""
        for server in servers:
            if isinstance(server, socketserver.UnixStreamServer) and str(server.server_address) == str(path):
                server.shutdown()
                server.server_close()
                servers.remove(server)
                path.unlink()
                return True
        return False

    start.stop = stop  # type: ignore[attr-defined]
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No DOCKER_* variable, an empty docker config folder, and the two fallback sockets moved into tmp_path."""
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "docker-config"
    config.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.setattr(harden.engine, "DOCKER_SOCKET", tmp_path / "docker.sock")
    monkeypatch.setattr(harden.engine, "PODMAN_SOCKET", tmp_path / "podman.sock")
    return config


def add_context(config: Path, name: str, host: str, *, current: bool = False, skip_tls: bool = False) -> None:
    meta = config / "contexts" / "meta" / context_id(name)
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({
        "Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_tls}}}))
    if current:
        (config / "config.json").write_text(json.dumps({"auths": {}, "currentContext": name}))


def test_nothing_chosen_tries_the_sockets(clean_env: Path, serve: Any, tmp_path: Path) -> None:
    podman, _ = serve("podman", tmp_path / "podman.sock")
    client = connect()
    assert client.version()["Version"] == "podman" and any(p.endswith("/_ping") for p in podman.seen)
    assert choose() == [EngineChoice(f"unix://{tmp_path / 'podman.sock'}", f"found {tmp_path / 'podman.sock'}",
                                     None, explicit=False)]


def test_an_explicit_docker_host_that_does_not_answer_is_the_error(
    clean_env: Path, serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    podman, _ = serve("podman", tmp_path / "podman.sock")  # answers, and must not be used
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'gone.sock'}")
    with pytest.raises(EngineUnavailable) as caught:
        connect()
    assert caught.value.exit_code == 3
    assert caught.value.message == f"the engine unix://{tmp_path / 'gone.sock'} (DOCKER_HOST) does not answer " \
                                   f"(no socket at {tmp_path / 'gone.sock'})"
    assert podman.seen == [], "another engine was tried"


def test_docker_host_wins_over_contexts(clean_env: Path, serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, host = serve("named")
    context, context_host = serve("context")
    add_context(clean_env, "ctx", context_host, current=True)
    monkeypatch.setenv("DOCKER_CONTEXT", "ctx")
    monkeypatch.setenv("DOCKER_HOST", host)
    assert connect().version()["Version"] == "named" and context.seen == []


def test_docker_context_wins_over_the_current_context(
    clean_env: Path, serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve("podman", tmp_path / "podman.sock")
    _, first = serve("first")
    _, second = serve("second")
    add_context(clean_env, "first", first, current=True)
    add_context(clean_env, "second", second)
    assert connect().version()["Version"] == "first", "the current context of config.json"
    monkeypatch.setenv("DOCKER_CONTEXT", "second")
    assert connect().version()["Version"] == "second"
    monkeypatch.setenv("DOCKER_CONTEXT", "default")
    assert connect().version()["Version"] == "podman", "the default context: nothing chosen"


def test_a_chosen_context_that_is_missing_or_down_is_the_error(
    clean_env: Path, serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    podman, _ = serve("podman", tmp_path / "podman.sock")
    monkeypatch.setenv("DOCKER_CONTEXT", "nowhere")
    with pytest.raises(EngineUnavailable, match=r"docker context 'nowhere' .* does not exist"):
        connect()
    add_context(clean_env, "down", f"unix://{tmp_path / 'down.sock'}", current=True)
    monkeypatch.delenv("DOCKER_CONTEXT")
    with pytest.raises(EngineUnavailable, match=r"docker context down.* does not answer"):
        connect()
    assert podman.seen == []


# -- TLS -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pki:
    ca: Path
    other_ca: Path
    server: ssl.SSLContext


def _cert(subject: str, key: Any, issuer: x509.Name, issuer_key: Any, *, ca: bool, ip: str | None = None) -> Any:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def make_pki(folder: Path) -> Pki:
    """Two CAs, and an engine certificate (for 127.0.0.1) signed by the first."""
    folder.mkdir()
    pem = serialization.Encoding.PEM
    cas = []
    for name in ("ca", "other-ca"):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = _cert(name, key, subject, key, ca=True)
        (folder / f"{name}.pem").write_bytes(cert.public_bytes(pem))
        cas.append((key, cert))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _cert("engine", server_key, cas[0][1].subject, cas[0][0], ca=False, ip="127.0.0.1")
    (folder / "server.pem").write_bytes(server_cert.public_bytes(pem))
    (folder / "server.key").write_bytes(server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                                 serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return Pki(folder / "ca.pem", folder / "other-ca.pem", context)


def cert_dir(tmp_path: Path, ca: Path) -> Path:
    folder = tmp_path / f"certs-{ca.stem}"
    folder.mkdir()
    (folder / "ca.pem").write_bytes(ca.read_bytes())
    return folder


def test_docker_tls_verify_verifies_the_engine(
    clean_env: Path, serve: Any, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, host = serve("tls", tls=pki.server)
    monkeypatch.setenv("DOCKER_HOST", host)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    good = cert_dir(tmp_path, pki.ca)
    monkeypatch.setenv("DOCKER_CERT_PATH", str(good))
    assert choose()[0].tls == Tls(True, good / "ca.pem")
    assert connect().version()["Version"] == "tls"
    monkeypatch.setenv("DOCKER_CERT_PATH", str(cert_dir(tmp_path, pki.other_ca)))
    with pytest.raises(EngineUnavailable, match=r"\(DOCKER_HOST\) does not answer \(its TLS certificate did not "):
        connect()
    monkeypatch.delenv("DOCKER_TLS_VERIFY")
    with pytest.raises(EngineUnavailable, match="does not answer"):
        connect()  # plain HTTP to a TLS engine
    monkeypatch.setenv("DOCKER_TLS", "1")
    assert connect().version()["Version"] == "tls", "DOCKER_TLS: TLS without verification"
    assert engine.seen


def test_tls_settings_from_the_environment_and_contexts(clean_env: Path, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    env = {"DOCKER_CONFIG": str(clean_env), "DOCKER_HOST": "tcp://engine:2376", "DOCKER_TLS_VERIFY": "1",
           "DOCKER_CERT_PATH": str(certs)}
    with pytest.raises(EngineUnavailable, match="no CA certificate"):
        choose(env)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (certs / name).write_text("x")
    assert choose(env)[0].tls == Tls(True, certs / "ca.pem", certs / "cert.pem", certs / "key.pem")
    assert choose({**env, "DOCKER_TLS_VERIFY": ""})[0].tls is None
    add_context(clean_env, "remote", "tcp://remote:2376", skip_tls=True)
    tls_dir = clean_env / "contexts" / "tls" / context_id("remote") / "docker"
    tls_dir.mkdir(parents=True)
    (tls_dir / "ca.pem").write_text("x")
    chosen = choose({"DOCKER_CONFIG": str(clean_env), "DOCKER_CONTEXT": "remote"})
    assert chosen == [EngineChoice("tcp://remote:2376", "docker context remote", Tls(False, tls_dir / "ca.pem"))]


def test_one_run_asks_the_engine_its_version_once(
    clean_env: Path, serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preflight check, the read and the write share one client: each new one asks /version (~0.4 s on
    podman); another choice, or an engine that stopped answering, gets a client of its own."""
    monkeypatch.setattr(harden.engine, "_shared", None)
    first, host = serve("first")
    monkeypatch.setenv("DOCKER_HOST", host)
    client = shared()
    assert shared() is client and shared() is client
    assert sum(p.endswith("/version") for p in first.seen) == 1, first.seen
    _, other = serve("second")
    monkeypatch.setenv("DOCKER_HOST", other)
    assert shared().version()["Version"] == "second"
    monkeypatch.setenv("DOCKER_HOST", host)
    assert shared() is not client, "a client is kept for the last choice only"


def test_a_shared_client_whose_engine_stopped_is_replaced(
    clean_env: Path, serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harden.engine, "_shared", None)
    sock = tmp_path / "restarted.sock"
    _, host = serve("before", sock)
    monkeypatch.setenv("DOCKER_HOST", host)
    client = shared()
    stopped = serve.stop(sock)
    assert stopped and not sock.exists()
    with pytest.raises(EngineUnavailable):
        shared()  # not the kept client of an engine that no longer answers
    serve("after", sock)
    assert shared() is not client and shared().version()["Version"] == "after"


@pytest.mark.parametrize(("header", "spoken"), [("1.40", "1.40"), ("1.99", DEFAULT_DOCKER_API_VERSION), (None, "1.41")])
def test_the_api_version_comes_from_the_ping(
    clean_env: Path, serve: Any, monkeypatch: pytest.MonkeyPatch, header: str | None, spoken: str
) -> None:
    """As the docker CLI does: the Api-Version header of /_ping, at most docker-py's; /version (which takes
    podman ~0.4 s) only when the header is missing (the fake's /version says 1.41)."""
    engine, host = serve("pinged")
    engine.ping_version = header
    monkeypatch.setenv("DOCKER_HOST", host)
    client = connect()
    assert client.api._version == spoken
    assert any(p.endswith("/version") for p in engine.seen) == (header is None), engine.seen
