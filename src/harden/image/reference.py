"""Image references: where an image comes from or goes to.

``NAME[:TAG][@DIGEST]`` or an image id is an image in the Docker-API engine; ``docker-archive:PATH[:REF]``,
``oci-archive:PATH[:REF]`` and ``oci:DIR[:REF]`` are files (skopeo's syntax: the path ends at the first
``:``).
``REF`` selects one image of several: a repo tag (docker-archive), a ``org.opencontainers.image.ref.name``
annotation (OCI), or ``@N`` for the N-th image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harden.errors import UsageError

Transport = Literal["daemon", "docker-archive", "oci-archive", "oci"]

FILE_TRANSPORTS: tuple[Transport, ...] = ("docker-archive", "oci-archive", "oci")
_DAEMON_ALIASES = ("daemon:", "docker-daemon:")
_UNSUPPORTED = ("docker://", "dir:", "containers-storage:", "registry:")

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?)"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME_RE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
_ID_RE = re.compile(r"^(?:sha256:)?[a-f0-9]{12,64}$")
_OCI_REF_RE = re.compile(r"^[A-Za-z0-9._:@/+-]+$")
_INDEX_RE = re.compile(r"^@(?P<index>[0-9]+)$")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed reference. ``name`` is the engine reference (daemon) or the selector inside an archive."""

    transport: Transport
    path: Path | None = None
    name: str | None = None
    index: int | None = None

    @property
    def is_daemon(self) -> bool:
        return self.transport == "daemon"

    @property
    def text(self) -> str:
        """The canonical text of this reference (what ``parse_reference`` reads back)."""
        return str(self)

    @property
    def repository(self) -> str:
        """The repository (no tag, no digest) of the engine name or selector; else the file's short name."""
        if self.name is not None:
            if is_image_id(self.name) and not _NAME_RE.match(self.name):
                return self.name
            match = _NAME_RE.match(self.name)
            if match is not None:
                return match.group("name")
            return self.name
        return self.short_name

    @property
    def short_name(self) -> str:
        """A short name: the last repository component (``spark-k8s-python-deps``), or the file's stem."""
        if self.name is not None:
            match = _NAME_RE.match(self.name)
            if match is not None:
                return match.group("name").rsplit("/", 1)[-1]
            return self.name.rsplit("/", 1)[-1].split(":", 1)[0] or "image"
        if self.path is not None:
            stem = self.path.name
            for suffix in (".gz", ".tgz", ".tar", ".oci", ".docker"):
                stem = stem.removesuffix(suffix)
            return stem or "image"
        return "image"

    def __str__(self) -> str:
        if self.transport == "daemon":
            return self.name or ""
        text = f"{self.transport}:{self.path}"
        if self.name is not None:
            text += f":{self.name}"
        elif self.index is not None:
            text += f":@{self.index}"
        return text


def is_image_id(text: str) -> bool:
    return bool(_ID_RE.match(text))


def is_valid_name(text: str) -> bool:
    """A Docker reference ``[host[:port]/]path[:tag][@digest]`` or an image id."""
    return bool(_NAME_RE.match(text)) or is_image_id(text)


def split_tag(name: str) -> tuple[str, str]:
    """``repo:tag`` → (repo, tag); a missing tag is ``latest``. Digests are kept in the repo part."""
    if "@" in name:
        return name, ""
    match = _NAME_RE.match(name)
    if match is None:
        raise UsageError(f"invalid image name {name!r}")
    return match.group("name"), match.group("tag") or "latest"


def normalize_tag(name: str) -> str:
    """``name`` → ``name:latest``; names that already carry a tag or digest are returned unchanged."""
    repo, tag = split_tag(name)
    return f"{repo}:{tag}" if tag else repo


def familiar_name(name: str) -> str:
    """Drop the default registry prefixes the engines add (``docker.io/library/``, ``localhost/``)."""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/", "localhost/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def names_match(wanted: str, candidate: str) -> bool:
    """True when two references name the same repo:tag, ignoring default registry prefixes."""
    if wanted == candidate:
        return True
    try:
        return familiar_name(normalize_tag(wanted)) == familiar_name(normalize_tag(candidate))
    except UsageError:
        return False


def parse_reference(text: str) -> ImageRef:
    """Parse a source or output reference; bad syntax raises UsageError (exit 2)."""
    text = text.strip()
    if not text:
        raise UsageError("empty image reference")
    for prefix in _UNSUPPORTED:
        if text.startswith(prefix):
            raise UsageError(
                f"unsupported transport in {text!r}: "
                "use an engine name, docker-archive:, oci-archive: or oci:"
            )
    for alias in _DAEMON_ALIASES:
        if text.startswith(alias):
            return _daemon_ref(text[len(alias) :], text)
    for transport in FILE_TRANSPORTS:
        if text.startswith(transport + ":"):
            return _file_ref(transport, text[len(transport) + 1 :], text)
    return _daemon_ref(text, text)


def _daemon_ref(name: str, text: str) -> ImageRef:
    if not is_valid_name(name):
        raise UsageError(
            f"invalid image reference {text!r} (expected NAME[:TAG], an image id, or TRANSPORT:PATH)"
        )
    return ImageRef("daemon", name=name)


def _file_ref(transport: Transport, rest: str, text: str) -> ImageRef:
    path_text, sep, selector = rest.partition(":")
    if not path_text:
        raise UsageError(f"missing path in {text!r} (expected {transport}:PATH)")
    path = Path(path_text)
    if not sep:
        return ImageRef(transport, path=path)
    index_match = _INDEX_RE.match(selector)
    if index_match:
        return ImageRef(transport, path=path, index=int(index_match.group("index")))
    valid = _NAME_RE.match(selector) if transport == "docker-archive" else _OCI_REF_RE.match(selector)
    if not selector or not valid:
        raise UsageError(f"invalid image selector {selector!r} in {text!r}")
    return ImageRef(transport, path=path, name=selector)
