"""Registry credentials from docker's ``config.json`` (and skopeo's ``REGISTRY_AUTH_FILE``).

Files, first match wins: the ``auth_file`` given by the caller, else ``$REGISTRY_AUTH_FILE``, then
``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``). In one file, a host is looked up in
``credHelpers`` (a ``docker-credential-NAME get`` helper), then in ``auths`` (``auth`` = base64 of
``user:password``, or ``username``/``password``, or an ``identitytoken``), then in ``credsStore`` (a helper
for every host). Keys of ``auths`` are compared by host (``https://host/v1/`` is ``host``); Docker Hub is known
by all its names.

Secrets never reach a repr, a log line or an error message: errors name the file, host and helper only.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harden.errors import InputError

from .reference import DOCKER_HUB, DOCKER_HUB_API

HELPER_TIMEOUT_S = 60
IDENTITY_TOKEN_USER = "<token>"
"""The user name docker and credential helpers give an OAuth2 refresh token (``identitytoken``)."""
DOCKER_HUB_NAMES = frozenset({DOCKER_HUB, DOCKER_HUB_API, "index.docker.io"})
DOCKER_HUB_SERVER_URL = "https://index.docker.io/v1/"
_HELPER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and a secret (a password, or a refresh token when ``username`` is ``<token>``); ``source``
    says where they came from. The repr shows only the source."""

    username: str = field(repr=False)
    secret: str = field(repr=False)
    source: str = ""

    @property
    def is_identity_token(self) -> bool:
        return self.username == IDENTITY_TOKEN_USER


def auth_files(auth_file: Path | None = None, env: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The files searched, in order (existing or not)."""
    env = os.environ if env is None else env
    if auth_file is not None:
        return (auth_file,)
    files: list[Path] = []
    if env.get("REGISTRY_AUTH_FILE"):
        files.append(Path(env["REGISTRY_AUTH_FILE"]))
    docker_config = env.get("DOCKER_CONFIG")
    base = Path(docker_config) if docker_config else Path(env.get("HOME") or Path.home()) / ".docker"
    files.append(base / "config.json")
    return tuple(files)


def find_credentials(
    host: str, *, auth_file: Path | None = None, env: Mapping[str, str] | None = None
) -> Credentials | None:
    """The credentials for registry ``host`` (``name[:port]``), or None when no file has any."""
    for path in auth_files(auth_file, env):
        if not path.exists():
            if auth_file is not None:
                raise InputError(f"registry auth file {path} does not exist")
            continue
        found = _from_file(path, host)
        if found is not None:
            return found
    return None


def _from_file(path: Path, host: str) -> Credentials | None:
    config = _load(path)
    helpers = config.get("credHelpers") or {}
    if not isinstance(helpers, dict):
        raise InputError(f"{path}: credHelpers must be an object")
    for key, helper in helpers.items():
        if _same_host(key, host):
            return run_helper(str(helper), host, path)
    auths = config.get("auths") or {}
    if not isinstance(auths, dict):
        raise InputError(f"{path}: auths must be an object")
    for key, entry in auths.items():
        if _same_host(key, host) and isinstance(entry, dict):
            found = _from_entry(entry, path, host)
            if found is not None:
                return found
    store = config.get("credsStore")
    if store:
        return run_helper(str(store), host, path)
    return None


def _load(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read registry auth file {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"registry auth file {path} is not valid JSON") from None
    if not isinstance(config, dict):
        raise InputError(f"registry auth file {path} must hold a JSON object")
    return config


def _from_entry(entry: Mapping[str, Any], path: Path, host: str) -> Credentials | None:
    source = f"{path} auths"
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return Credentials(IDENTITY_TOKEN_USER, token, source)
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InputError(f"{path}: the auth entry for {host} is not base64 of user:password") from None
        user, colon, password = decoded.partition(":")
        if not colon or not user:
            raise InputError(f"{path}: the auth entry for {host} is not base64 of user:password")
        return Credentials(user, password, source)
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and name and isinstance(secret, str):
        return Credentials(name, secret, source)
    return None


def run_helper(name: str, host: str, config: Path) -> Credentials | None:
    """``docker-credential-NAME get`` (exec form, server URL on stdin); None when it has nothing for ``host``."""
    if not _HELPER_NAME_RE.match(name):
        raise InputError(f"{config}: invalid credential helper name {name[:60]!r}")
    program = f"docker-credential-{name}"
    server = DOCKER_HUB_SERVER_URL if _hostname(host) in DOCKER_HUB_NAMES else host
    try:
        proc = subprocess.run(
            [program, "get"],
            input=server.encode(),
            capture_output=True,
            timeout=HELPER_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise InputError(f"credential helper {program} (named in {config} for {host}) is not installed") from None
    except subprocess.TimeoutExpired:
        raise InputError(f"credential helper {program} did not answer for {host} in {HELPER_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        if b"credentials not found" in proc.stdout.lower() + proc.stderr.lower():
            return None
        raise InputError(f"credential helper {program} failed for {host} (exit {proc.returncode})")
    try:
        answer = json.loads(proc.stdout)
        user, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"credential helper {program} gave an unreadable answer for {host}") from None
    if not isinstance(user, str) or not isinstance(secret, str):
        raise InputError(f"credential helper {program} gave an unreadable answer for {host}")
    if not user and not secret:
        return None
    return Credentials(user, secret, program)


def _hostname(key: str) -> str:
    """``https://host:5000/v1/`` → ``host:5000`` (docker's ConvertToHostname)."""
    text = key.strip()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text.split("/", 1)[0].lower()


def _same_host(key: str, host: str) -> bool:
    a, b = _hostname(key), host.lower()
    return a == b or (a in DOCKER_HUB_NAMES and b in DOCKER_HUB_NAMES)
