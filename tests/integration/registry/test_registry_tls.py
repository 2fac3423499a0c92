"""TLS and the plain-HTTP rule, against real registries: plain HTTP only for loopback hosts or with an explicit
``tls_verify=False``; an explicit ``tls_verify=True`` and an untrusted certificate are never downgraded.

The non-loopback case uses a made-up host name that a requests adapter maps to 127.0.0.1: name resolution is the
only thing replaced, the requests still reach the real registry, and nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from registry_images import build_image
from registry_server import RegistryServer, TlsRegistry

from harden.errors import InputError
from harden.image.registry import RegistryClient, get_manifest, push_blob, push_manifest

pytestmark = pytest.mark.registry
Connect = Callable[..., RegistryClient]
ALIAS = "registry.harden.test"


class LoopbackAlias(requests.adapters.HTTPAdapter):
    """Sends requests for ``ALIAS:port`` to ``127.0.0.1:port``."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._from, self._to = f"://{ALIAS}:{port}/", f"://127.0.0.1:{port}/"

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        assert request.url is not None and self._from in request.url
        request.url = request.url.replace(self._from, self._to, 1)
        return super().send(request, *args, **kwargs)


def aliased_session(port: int) -> requests.Session:
    session = requests.Session()
    for scheme in ("http", "https"):
        session.mount(f"{scheme}://{ALIAS}:{port}/", LoopbackAlias(port))
    return session


def push_tiny(client: RegistryClient, repository: str, folder: Path) -> str:
    image = build_image(folder, name=repository.replace("/", "-"), layers=1)
    for path in image.blobs.values():
        push_blob(client, repository, path)
    return push_manifest(client, repository, image.manifest, tag="v1")


def test_loopback_registry_may_use_plain_http(plain_registry: RegistryServer, connect: Connect, tmp_path: Path) -> None:
    for host in (plain_registry.host, f"localhost:{plain_registry.port}"):
        client = connect(host)
        assert client.base_url == f"http://{host}"
    push_tiny(connect(f"localhost:{plain_registry.port}"), "tls/localhost", tmp_path)


def test_explicit_tls_verify_is_not_downgraded_on_loopback(plain_registry: RegistryServer, connect: Connect) -> None:
    client = connect(plain_registry, tls_verify=True)
    with pytest.raises(InputError, match=r"no TLS on this port, and plain HTTP is refused .tls_verify=True"):
        get_manifest(client, "tls/x", "v1")


def test_non_loopback_host_needs_tls(plain_registry: RegistryServer, connect: Connect) -> None:
    host = f"{ALIAS}:{plain_registry.port}"
    client = connect(host, session=aliased_session(plain_registry.port))
    with pytest.raises(
        InputError, match=rf"registry {host}: no TLS on this port, and plain HTTP is refused .only loopback"
    ):
        get_manifest(client, "tls/x", "v1")


def test_non_loopback_host_with_tls_verify_false_falls_back(
    plain_registry: RegistryServer, connect: Connect, tmp_path: Path
) -> None:
    host = f"{ALIAS}:{plain_registry.port}"
    client = connect(host, tls_verify=False, session=aliased_session(plain_registry.port))
    digest = push_tiny(client, "tls/insecure", tmp_path)
    assert client.base_url == f"http://{host}"
    assert get_manifest(client, "tls/insecure", "v1").digest == digest


def test_untrusted_certificate_is_an_error_not_a_downgrade(tls_registry: TlsRegistry, connect: Connect) -> None:
    client = connect(tls_registry.server)  # loopback, default: system CAs only
    with pytest.raises(InputError, match=f"the TLS certificate of {tls_registry.server.host} is not trusted"):
        get_manifest(client, "tls/x", "v1")


def test_tls_with_ca_file(tls_registry: TlsRegistry, connect: Connect, tmp_path: Path) -> None:
    client = connect(tls_registry.server, ca_file=tls_registry.ca)
    digest = push_tiny(client, "tls/verified", tmp_path)
    assert client.base_url == f"https://{tls_registry.server.host}"
    assert get_manifest(client, "tls/verified", digest).digest == digest


def test_tls_verify_false_still_prefers_https(tls_registry: TlsRegistry, connect: Connect) -> None:
    client = connect(tls_registry.server, tls_verify=False)
    assert client.base_url == f"https://{tls_registry.server.host}"
