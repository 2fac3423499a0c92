"""Authentication against real registries: htpasswd Basic auth, and Bearer tokens from a token service
(a small one written for these tests, whose RS256 JWTs distribution 2.8 verifies for real)."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from registry_images import build_image
from registry_server import BASIC_PASSWORD, BASIC_USER, RegistryServer
from registry_tokens import PASSWORD, REFRESH_TOKEN, USER, TokenService

from harden.errors import InputError
from harden.image.registry import (
    Credentials,
    RegistryClient,
    Unauthorized,
    find_credentials,
    get_manifest,
    push_blob,
    push_manifest,
    read_blob,
)

pytestmark = pytest.mark.registry
Connect = Callable[..., RegistryClient]


def docker_config(folder: Path, config: dict[str, object]) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return {"DOCKER_CONFIG": str(folder), "HOME": str(folder)}


def basic_auths(host: str, user: str, password: str) -> dict[str, object]:
    return {"auths": {host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}


def push_tiny(client: RegistryClient, repository: str, folder: Path, tag: str = "v1") -> str:
    image = build_image(folder, name=repository.replace("/", "-"), layers=1)
    for path in image.blobs.values():
        push_blob(client, repository, path)
    return push_manifest(client, repository, image.manifest, tag=tag)


def test_basic_auth_from_docker_config(basic_registry: RegistryServer, connect: Connect, tmp_path: Path) -> None:
    env = docker_config(tmp_path / "cfg", basic_auths(f"https://{basic_registry.host}/v1/", BASIC_USER, BASIC_PASSWORD))
    client = connect(basic_registry, env=env)
    digest = push_tiny(client, "auth/basic", tmp_path / "img")
    assert get_manifest(client, "auth/basic", "v1").digest == digest
    assert client.auth.used_credentials


def test_basic_auth_wrong_password(
    basic_registry: RegistryServer, connect: Connect, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-Passw0rd-xyz"
    env = docker_config(tmp_path / "cfg", basic_auths(basic_registry.host, BASIC_USER, wrong))
    client = connect(basic_registry, env=env)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Unauthorized) as caught:
        get_manifest(client, "auth/basic", "v1")
    message = caught.value.one_line()
    assert message.startswith(f"registry {basic_registry.host}, repository auth/basic: manifest v1: unauthorized")
    assert "credentials" in message
    for secret in (wrong, BASIC_USER, base64.b64encode(f"{BASIC_USER}:{wrong}".encode()).decode()):
        assert secret not in message
        assert secret not in caplog.text
        assert secret not in repr(client) + repr(client.auth) + repr(client.auth.credentials())
    assert isinstance(caught.value, InputError) and caught.value.exit_code == 3


def test_basic_auth_without_credentials(basic_registry: RegistryServer, connect: Connect) -> None:
    with pytest.raises(Unauthorized, match="unauthorized, no credentials found"):
        get_manifest(connect(basic_registry), "auth/basic", "v1")


def test_credential_store_helper(
    basic_registry: RegistryServer, connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    asked = tmp_path / "asked"
    helper = bin_dir / "docker-credential-hardentest"
    answer = json.dumps({"ServerURL": basic_registry.host, "Username": BASIC_USER, "Secret": BASIC_PASSWORD})
    helper.write_text(f"#!/bin/sh\n[ \"$1\" = get ] || exit 2\ncat > {asked}\necho '{answer}'\n", encoding="utf-8")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    env = docker_config(tmp_path / "cfg", {"credsStore": "hardentest", "auths": {basic_registry.host: {}}})
    client = connect(basic_registry, env=env)
    push_tiny(client, "auth/helper", tmp_path / "img")
    assert asked.read_text() == basic_registry.host
    found = find_credentials(basic_registry.host, env=env)
    assert found is not None and found.source == "docker-credential-hardentest"
    assert BASIC_PASSWORD not in repr(found)


def test_cred_helpers_per_host_and_missing_helper(basic_registry: RegistryServer, tmp_path: Path) -> None:
    env = docker_config(tmp_path / "cfg", {"credHelpers": {basic_registry.host: "harden-absent-helper"}})
    with pytest.raises(InputError, match=r"docker-credential-harden-absent-helper .* is not installed"):
        find_credentials(basic_registry.host, env=env)
    assert find_credentials("other.example:5000", env=env) is None


def test_token_auth_anonymous_pull_and_authenticated_push(
    token_registry: RegistryServer, token_service: TokenService, connect: Connect, tmp_path: Path
) -> None:
    env = docker_config(tmp_path / "cfg", basic_auths(token_registry.host, USER, PASSWORD))
    writer = connect(token_registry, env=env)
    digest = push_tiny(writer, "auth/token", tmp_path / "img")

    reader = connect(token_registry)  # no credentials: anonymous tokens, pull only
    manifest = get_manifest(reader, "auth/token", "v1")
    assert manifest.digest == digest
    assert read_blob(reader, "auth/token", manifest.layers[0])
    assert ("", ("repository:auth/token:pull",)) in token_service.requests
    with pytest.raises(Unauthorized, match=r"repository auth/token: .*unauthorized, no credentials found"):
        push_blob(reader, "auth/token", lambda: io.BytesIO(b"anonymous push"))


def test_token_is_cached_per_scope(
    token_registry: RegistryServer, token_service: TokenService, connect: Connect, tmp_path: Path
) -> None:
    env = docker_config(tmp_path / "cfg", basic_auths(token_registry.host, USER, PASSWORD))
    client = connect(token_registry, env=env)
    before = len(token_service.requests)
    push_tiny(client, "auth/cache", tmp_path / "img")  # HEADs (pull scope), uploads and manifest (push scope)
    for _ in range(3):
        get_manifest(client, "auth/cache", "v1")
    fetched = token_service.requests[before:]
    assert client.auth.token_requests == len(fetched) == 2
    assert sorted(scopes for _, scopes in fetched) == [
        ("repository:auth/cache:pull",),
        ("repository:auth/cache:pull,push",),
    ]


def test_token_auth_refused_credentials(
    token_registry: RegistryServer, connect: Connect, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Wrong-token-pw-123"
    env = docker_config(tmp_path / "cfg", basic_auths(token_registry.host, USER, wrong))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Unauthorized) as caught:
        get_manifest(connect(token_registry, env=env), "auth/token", "v1")
    message = caught.value.one_line()
    assert "token from 127.0.0.1" in message and "credentials from" in message and "were refused" in message
    assert wrong not in message and wrong not in caplog.text


def test_token_auth_with_identity_token(
    token_registry: RegistryServer, token_service: TokenService, connect: Connect, tmp_path: Path
) -> None:
    env = docker_config(tmp_path / "cfg", {"auths": {token_registry.host: {"identitytoken": REFRESH_TOKEN}}})
    client = connect(token_registry, env=env)
    push_tiny(client, "auth/identity", tmp_path / "img")
    assert (USER, ("repository:auth/identity:pull,push",)) in token_service.requests
    creds = client.auth.credentials()
    assert creds is not None and creds.is_identity_token and REFRESH_TOKEN not in repr(creds)


def test_explicit_credentials_win(basic_registry: RegistryServer, connect: Connect, tmp_path: Path) -> None:
    client = connect(basic_registry, credentials=Credentials(BASIC_USER, BASIC_PASSWORD, "test"))
    push_tiny(client, "auth/explicit", tmp_path / "img")
