"""The ``ImageRef`` value and the Docker name grammar (``[host[:port]/]path[:tag][@digest]``, image ids).

Which texts name which transport, and how each transport reads its part, is the transports' business
(``harden.image.transports``, one module per transport, registered in one table); this module holds only what
they share: the value they parse into and the grammar of image names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harden.errors import UsageError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?)"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
NAME_RE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
_ID_RE = re.compile(r"^(?:sha256:)?[a-f0-9]{12,64}$")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed reference: the transport's name, and what it needs of the text (a ``path`` for files, a
    ``name`` — an engine reference, a ``host/repository:tag`` or a selector inside a file —, an ``index``
    ``@N`` selecting the N-th image of a file). ``canonical`` is the text the transport reads back (set by the
    transport's parser; compared by value, not by text)."""

    transport: str
    path: Path | None = None
    name: str | None = None
    index: int | None = None
    canonical: str = field(default="", compare=False)

    @property
    def text(self) -> str:
        """The canonical text of this reference (what ``parse_reference`` reads back)."""
        return str(self)

    @property
    def repository(self) -> str:
        """The repository (no tag, no digest) of the name; else the file's short name."""
        if self.name is not None:
            if is_image_id(self.name) and not NAME_RE.match(self.name):
                return self.name
            match = NAME_RE.match(self.name)
            if match is not None:
                return match.group("name")
            return self.name
        return self.short_name

    @property
    def short_name(self) -> str:
        """A short name: the last repository component (``spark-k8s-python-deps``), or the file's stem."""
        if self.name is not None:
            match = NAME_RE.match(self.name)
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
        if self.canonical:
            return self.canonical
        body = str(self.path) if self.path is not None else ""
        if self.name is not None:
            body = f"{body}:{self.name}" if body else self.name
        elif self.index is not None:
            body += f":@{self.index}"
        return f"{self.transport}:{body}"


def is_image_id(text: str) -> bool:
    return bool(_ID_RE.match(text))


def is_valid_name(text: str) -> bool:
    """A Docker reference ``[host[:port]/]path[:tag][@digest]`` or an image id."""
    return bool(NAME_RE.match(text)) or is_image_id(text)


def split_tag(name: str) -> tuple[str, str]:
    """``repo:tag`` → (repo, tag); a missing tag is ``latest``. Digests are kept in the repo part."""
    if "@" in name:
        return name, ""
    match = NAME_RE.match(name)
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
