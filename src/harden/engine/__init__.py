"""Which Docker-API engine harden talks to, chosen as the docker CLI chooses it:

1. ``DOCKER_HOST`` when set (the ``default`` context built from the environment);
2. else the context ``DOCKER_CONTEXT`` names;
3. else the ``currentContext`` of ``$DOCKER_CONFIG/config.json`` (``~/.docker/config.json``);
4. nothing chosen (no variable, no current context, or ``default``): Docker's socket
   (``/var/run/docker.sock``), then the podman service ``make engine`` starts (``scripts/engine.sh``) — the
   only case where harden looks further than one engine.

An engine that was chosen (1-3) and does not answer is an error naming it (exit 3): harden never falls back to
another engine, which may hold other images. TLS as the docker CLI: ``DOCKER_TLS_VERIFY`` (non-empty) verifies
the engine against ``ca.pem`` and presents ``cert.pem``/``key.pem`` from ``DOCKER_CERT_PATH`` (default the
config folder); ``DOCKER_TLS`` (non-empty) uses TLS without verifying; a context's TLS material is read from its
store (``contexts/tls/<id>/docker``) and its ``SkipTLSVerify`` honoured.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harden.errors import EngineUnavailable

PODMAN_SOCKET = Path(os.environ.get("HARDEN_ENGINE_DIR", "/run/harden")) / "podman.sock"
DOCKER_SOCKET = Path("/var/run/docker.sock")
DEFAULT_CONTEXT = "default"
PING_TIMEOUT_S = 15


@dataclass(frozen=True, slots=True)
class Tls:
    """TLS to the engine: ``verify`` against ``ca`` (when given), presenting ``cert``/``key`` (when given)."""

    verify: bool
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True, slots=True)
class EngineChoice:
    """One engine to try: its ``host`` URL, what chose it (``by``, for messages), its TLS settings, and whether
    it was chosen explicitly (then it is the only one tried)."""

    host: str
    by: str
    tls: Tls | None = None
    explicit: bool = True

    def describe(self) -> str:
        return f"{self.host} ({self.by})" if self.by != self.host else self.host


def config_dir(environ: Mapping[str, str]) -> Path:
    """``$DOCKER_CONFIG``, else ``~/.docker``."""
    if environ.get("DOCKER_CONFIG"):
        return Path(environ["DOCKER_CONFIG"])
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / ".docker"


def choose(environ: Mapping[str, str] | None = None) -> list[EngineChoice]:
    """The engines to try, in order: one when something chose it, else the sockets found (maybe none)."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_HOST"):
        return [EngineChoice(env["DOCKER_HOST"], "DOCKER_HOST", _env_tls(env))]
    folder = config_dir(env)
    context = env.get("DOCKER_CONTEXT") or None
    by = "DOCKER_CONTEXT"
    if context is None:
        context = _current_context(folder)
        by = f"the current docker context ({folder / 'config.json'})"
    if context is not None and context != DEFAULT_CONTEXT:
        return [_context_choice(folder, context, by)]
    found = [EngineChoice(f"unix://{sock}", f"found {sock}", _env_tls(env), explicit=False)
             for sock in (DOCKER_SOCKET, PODMAN_SOCKET) if sock.exists()]
    return found


def choice_key(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """What the choice depends on (a connection made for one key serves later calls with the same key)."""
    try:
        return tuple(c.host for c in choose(environ))
    except EngineUnavailable as exc:
        return (exc.message,)


def _current_context(folder: Path) -> str | None:
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EngineUnavailable(f"cannot read the docker config {path}: {exc}") from None
    current = data.get("currentContext") if isinstance(data, dict) else None
    return current if isinstance(current, str) and current else None


def context_id(name: str) -> str:
    """The folder name of a context in the docker CLI's store: the sha256 of its name."""
    return hashlib.sha256(name.encode()).hexdigest()


def _context_choice(folder: Path, name: str, by: str) -> EngineChoice:
    """The docker endpoint of context ``name`` from the CLI's store (``contexts/meta/<id>/meta.json``)."""
    meta = folder / "contexts" / "meta" / context_id(name) / "meta.json"
    what = f"docker context {name!r} (from {by})"
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EngineUnavailable(f"{what} does not exist (no {meta})",
                                details=["create it with `docker context create`, or choose another"]) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EngineUnavailable(f"{what}: cannot read {meta}: {exc}") from None
    endpoint = (data.get("Endpoints") or {}).get("docker") if isinstance(data, dict) else None
    if not isinstance(endpoint, dict) or not isinstance(endpoint.get("Host"), str) or not endpoint["Host"]:
        raise EngineUnavailable(f"{what} has no docker endpoint host in {meta}")
    tls_dir = folder / "contexts" / "tls" / context_id(name) / "docker"
    tls = None
    skip = bool(endpoint.get("SkipTLSVerify"))
    if tls_dir.is_dir() or (skip and endpoint["Host"].startswith(("tcp://", "https://"))):
        tls = Tls(not skip, *_tls_files(tls_dir))
    return EngineChoice(endpoint["Host"], f"docker context {name}", tls)


def _env_tls(env: Mapping[str, str]) -> Tls | None:
    verify = bool(env.get("DOCKER_TLS_VERIFY"))
    if not verify and not env.get("DOCKER_TLS"):
        return None
    folder = Path(env["DOCKER_CERT_PATH"]) if env.get("DOCKER_CERT_PATH") else config_dir(env)
    ca, cert, key = _tls_files(folder)
    if verify and ca is None:
        raise EngineUnavailable(f"DOCKER_TLS_VERIFY is set but there is no CA certificate {folder / 'ca.pem'}",
                                details=["set DOCKER_CERT_PATH to the folder of ca.pem, cert.pem and key.pem"])
    return Tls(verify, ca, cert, key)


def _tls_files(folder: Path) -> tuple[Path | None, Path | None, Path | None]:
    def present(name: str) -> Path | None:
        path = folder / name
        return path if path.is_file() else None

    cert, key = present("cert.pem"), present("key.pem")
    if (cert is None) != (key is None):
        cert = key = None
    return present("ca.pem"), cert, key


def _client(choice: EngineChoice, timeout: float) -> Any:
    """A client of ``choice`` speaking the engine's API version (``_negotiate``), or the error of its first
    request."""
    import docker

    if choice.tls is None:
        client = docker.DockerClient(base_url=choice.host, timeout=timeout, version=_FIRST_API)
    else:
        from docker.tls import TLSConfig

        tls = choice.tls
        client_cert = (str(tls.cert), str(tls.key)) if tls.cert and tls.key else None
        config = TLSConfig(client_cert=client_cert, ca_cert=str(tls.ca) if tls.ca else None, verify=tls.verify)
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the session's CA (the engine's ca.pem) on
        # every request: the session must not read the environment.
        client = docker.DockerClient(base_url=choice.host, tls=config, timeout=timeout, version=_FIRST_API)
        import requests.utils

        client.api.proxies = requests.utils.get_environ_proxies(client.api.base_url)
        client.api.trust_env = False
    client.api._version = _negotiate(client)
    return client


def _negotiate(client: Any) -> str:
    """The API version to speak: the engine's own, at most docker-py's (what its ``version="auto"`` does). Read
    from the ``Api-Version`` header of ``/_ping``, as the docker CLI reads it; from ``/version`` when the header
    is missing, which takes podman ~0.4 s to answer."""
    import docker

    response = client.api._get(client.api._url("/_ping", versioned_api=False))
    client.api._raise_for_status(response)
    served = response.headers.get("Api-Version")
    if not served:
        served = str(client.api.version(api_version=False).get("ApiVersion") or _FIRST_API)
    return str(min(served, docker.constants.DEFAULT_DOCKER_API_VERSION, key=_api_key))


_FIRST_API = "1.24"


def _api_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def connect(timeout: int = 600) -> Any:
    """A ``docker.DockerClient`` that answered a ping, or EngineUnavailable naming what was tried."""
    choices = choose()
    tried = []
    for choice in choices:
        try:
            client = _client(choice, min(timeout, PING_TIMEOUT_S))  # its version negotiation pings the engine
        except Exception as exc:
            reason = _reason(choice, exc)
            if choice.explicit:
                raise EngineUnavailable(
                    f"the engine {choice.describe()} does not answer ({reason})",
                    details=["harden uses the engine that was chosen and no other, as the docker CLI does"],
                ) from None
            tried.append(f"{choice.describe()}: {reason}")
            continue
        client.api.timeout = timeout
        return client
    where = "; ".join(tried) if tried else "DOCKER_HOST unset, no docker context, no socket found"
    raise EngineUnavailable(f"no Docker-API engine answers ({where}); run `make engine` or set DOCKER_HOST")


_shared: tuple[tuple[str, ...], Any] | None = None
"""The client ``shared`` connected last, with the choice it was made from."""


def shared() -> Any:
    """The client this process already connected to the chosen engine, while it answers a ping; else
    ``connect()``'s, kept. One run's preflight check, read and write share it instead of connecting three times
    (each connect negotiates the API version: a request or two, on the critical path before the save and before
    the load). Never close it."""
    global _shared
    key = choice_key()
    if _shared is not None and _shared[0] == key:
        try:
            _shared[1].ping()
            return _shared[1]
        except Exception:  # gone (engine restarted): connect again
            _shared = None
    connected = connect()
    _shared = (key, connected)
    return connected


_KNOWN = (("Connection refused", "connection refused"), ("timed out", "timed out"),
          ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate did not verify"),
          ("certificate verify failed", "its TLS certificate did not verify"),
          ("Permission denied", "permission denied"), ("Name or service not known", "unknown host"))


def _reason(choice: EngineChoice, exc: Exception) -> str:
    """A short reason: a missing socket, a refused connection, a failed certificate; else the error's start."""
    if choice.host.startswith("unix://") and not Path(choice.host[len("unix://"):]).exists():
        return f"no socket at {choice.host[len('unix://'):]}"
    text = str(exc)
    for needle, reason in _KNOWN:
        if needle in text:
            return reason
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(exc).__name__}: {first[:120]}" if first else type(exc).__name__
