"""Registry references in skopeo's syntax: ``docker://HOST[:PORT]/REPO[:TAG|@DIGEST]``.

As in docker and skopeo, the first path component is a registry host only when it holds a ``.`` or a ``:`` or is
``localhost``; otherwise the registry is Docker Hub (``docker.io``), and a single-component name gains the
``library/`` namespace (``docker://python:3.11`` is ``docker.io/library/python:3.11``). A reference without a tag
or digest means ``:latest``. A tag and a digest together are refused, as skopeo does.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from harden.errors import UsageError

SCHEME = "docker://"
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_HOST_NAME_RE = re.compile(
    r"^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*$"
)
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_MAX_NAME = 255


@dataclass(frozen=True, slots=True)
class RegistryRef:
    """One image in a registry: ``host`` as written (``docker.io`` for Docker Hub), ``repository`` without the
    host, and exactly one of ``tag`` / ``digest``."""

    host: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What follows ``/manifests/`` in the API: the digest, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def api_host(self) -> str:
        """The host that serves the API (Docker Hub's is not ``docker.io``)."""
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    @property
    def name(self) -> str:
        """``host/repository``."""
        return f"{self.host}/{self.repository}"

    def with_reference(self, reference: str) -> RegistryRef:
        """The same repository at another tag or digest (validated like a parsed one)."""
        if reference.startswith(("sha256:", "sha512:")):
            check_digest(reference)
            return RegistryRef(self.host, self.repository, digest=reference)
        check_tag(reference)
        return RegistryRef(self.host, self.repository, tag=reference)

    def __str__(self) -> str:
        suffix = f"@{self.digest}" if self.digest else f":{self.tag or DEFAULT_TAG}"
        return f"{SCHEME}{self.host}/{self.repository}{suffix}"


def parse_registry_reference(text: str) -> RegistryRef:
    """``docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST]`` → RegistryRef; bad syntax raises UsageError (exit 2)."""
    if not text.startswith(SCHEME):
        raise UsageError(f"invalid registry reference {text!r}: expected docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST]")
    rest = text[len(SCHEME) :]
    if not rest or rest != rest.strip() or any(ch.isspace() for ch in rest):
        raise UsageError(f"invalid registry reference {text!r}: empty or contains white space")
    rest, at, digest = rest.partition("@")
    if at and not _DIGEST_RE.match(digest):
        raise UsageError(f"invalid digest {digest!r} in {text!r} (expected sha256:<64 hex> or sha512:<128 hex>)")
    host, path = _split_host(rest, text)
    path, tag = _split_tag(path)
    if tag is not None and at:
        raise UsageError(f"invalid registry reference {text!r}: give a tag or a digest, not both")
    if tag is not None and not _TAG_RE.match(tag):
        raise UsageError(f"invalid tag {tag!r} in {text!r}")
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _REPOSITORY_RE.match(path) or len(f"{host}/{path}") > _MAX_NAME:
        raise UsageError(
            f"invalid repository {path!r} in {text!r} (lowercase letters, digits and separators . _ __ - /)"
        )
    if at:
        return RegistryRef(host, path, digest=digest)
    return RegistryRef(host, path, tag=tag or DEFAULT_TAG)


def _split_host(rest: str, text: str) -> tuple[str, str]:
    first, slash, remainder = rest.partition("/")
    if not slash or not _looks_like_host(first):
        return DOCKER_HUB, rest
    check_host(first, text)
    if first in ("index.docker.io", DOCKER_HUB_API):
        first = DOCKER_HUB
    return first, remainder


def _looks_like_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost" or component.startswith("[")


def _split_tag(path: str) -> tuple[str, str | None]:
    last_slash = path.rfind("/")
    colon = path.rfind(":")
    if colon > last_slash:
        return path[:colon], path[colon + 1 :]
    return path, None


def check_host(host: str, text: str | None = None) -> None:
    """``name[:port]``, ``IPv4[:port]`` or ``[IPv6][:port]``; else UsageError."""
    where = f" in {text!r}" if text else ""
    name, port = split_host_port(host)
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise UsageError(f"invalid port {port!r}{where}")
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            raise UsageError(f"invalid IPv6 address {name!r}{where}") from None
    elif not _HOST_NAME_RE.match(name):
        raise UsageError(f"invalid registry host {host!r}{where}")


def split_host_port(host: str) -> tuple[str, str | None]:
    """``[::1]:5000`` → (``::1``, ``5000``); ``127.0.0.1`` → (``127.0.0.1``, None)."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise UsageError(f"invalid registry host {host!r}: missing ']'")
        tail = host[end + 1 :]
        if tail and not tail.startswith(":"):
            raise UsageError(f"invalid registry host {host!r}")
        return host[1:end], (tail[1:] if tail else None)
    name, colon, port = host.partition(":")
    return name, (port if colon else None)


def check_tag(tag: str) -> None:
    if not _TAG_RE.match(tag):
        raise UsageError(f"invalid tag {tag!r}")


def check_digest(digest: str) -> None:
    if not _DIGEST_RE.match(digest):
        raise UsageError(f"invalid digest {digest!r} (expected sha256:<64 hex> or sha512:<128 hex>)")


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (with or without a port): the only hosts plain HTTP is
    used for without an explicit ``tls_verify=False``."""
    name, _ = split_host_port(host)
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
