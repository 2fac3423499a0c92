"""The Docker-API engine as a sink: load a docker-archive *untagged*, then tag it when the caller decides.

Loading first and tagging last means a failed or interrupted run never leaves a tag pointing at a half-made
image; an untagged image that verification rejected can be removed with ``remove_image``. The image id is the
config digest, the same in Docker and podman.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harden.engine import PODMAN_SOCKET
from harden.errors import InputError
from harden.image._engine_errors import engine_errors
from harden.image.reference import split_tag
from harden.image.sources._archive import TarArchive
from harden.image.sources.docker_archive import read_docker_archive

log = logging.getLogger(__name__)

_LOADED = re.compile(r"(^Loaded image ID: |^Loaded image: )(.+)$", re.MULTILINE)


_last: tuple[tuple[str, ...], Any] | None = None
"""The engine client this module connected last, with the hosts it was chosen from: ``load_archive`` then
``tag_image`` in one run share it instead of connecting twice (each connect asks the engine its version)."""


def _client(client: Any) -> Any:
    global _last
    if client is not None:
        return client
    from harden.engine import candidate_hosts, connect

    hosts = tuple(candidate_hosts())
    if _last is not None and _last[0] == hosts:
        try:
            _last[1].ping()
            return _last[1]
        except Exception:  # gone (engine restarted): connect again
            _last = None
    connected = connect()
    _last = (hosts, connected)
    return connected


def load_archive(archive: Path, *, client: Any = None) -> str:
    """Load a docker-archive (written without RepoTags) into the engine; return the image id."""
    import docker.errors

    image = read_docker_archive(TarArchive(archive, f"docker-archive {archive}"))
    client = _client(client)
    reported: list[str] = []
    with engine_errors(f"loading {archive.name}"):
        with archive.open("rb") as stream:
            for chunk in client.api.load_image(stream):
                if not isinstance(chunk, dict):
                    continue
                if "errorDetail" in chunk or "error" in chunk:
                    detail = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error")
                    raise InputError(f"the engine could not load {archive.name}: {detail}")
                match = _LOADED.search(str(chunk.get("stream") or ""))
                if match:
                    reported.append(match.group(2).strip())
        for candidate in (image.config_digest, *reported):
            try:
                image_id = str(client.images.get(candidate).id)
            except docker.errors.NotFound:
                continue
            log.info("loaded %s as %s", archive.name, image_id)
            return image_id
    raise InputError(f"the engine accepted {archive.name} but shows no image {image.config_digest}")


TAG_ATTEMPTS = 5


@contextlib.contextmanager
def _host_tag_lock() -> Iterator[None]:
    """Serialize tagging between harden processes on this host. Podman 4.3 rewrites an image's name list
    without a lock: two runs tagging the same image at once lose one tag (measured: 7 of 15 concurrent pairs).
    The lock lives in the engine's runtime folder (``make engine``'s); without that folder, no lock."""
    if not PODMAN_SOCKET.parent.is_dir():
        yield
        return
    with (PODMAN_SOCKET.parent / "tag.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def tag_image(image_id: str, tag: str, *, client: Any = None) -> None:
    """Tag, then read the tag back (retagging if a concurrent writer dropped it)."""
    repository, version = split_tag(tag)
    client = _client(client)
    with engine_errors(f"tagging {image_id} as {tag}"), _host_tag_lock():
        for _ in range(TAG_ATTEMPTS):
            image = client.images.get(image_id)
            if not image.tag(repository, version or None):
                raise InputError(f"the engine refused to tag {image_id} as {tag}")
            if _has_tag(client.images.get(image_id).tags, repository, version or "latest"):
                return
            time.sleep(0.2)
        raise InputError(f"the engine dropped the tag {tag} of {image_id} {TAG_ATTEMPTS} times")


def _has_tag(tags: list[str], repository: str, version: str) -> bool:
    """Engines may qualify names (podman: docker.io/library/NAME): compare the trailing components."""
    wanted = f"{repository}:{version}"
    return any(t == wanted or t.endswith("/" + wanted) for t in tags)


def remove_image(image_id: str, *, client: Any = None) -> None:
    """Remove an (untagged) image this run loaded; a missing image is not an error. An image that got a tag
    meanwhile is left alone: a concurrent run on the same source made the same image and published it."""
    import docker.errors

    client = _client(client)
    with engine_errors(f"removing {image_id}"), contextlib.suppress(docker.errors.NotFound):
        if client.images.get(image_id).tags:
            log.info("not removing %s: it is tagged now", image_id)
            return
        client.images.remove(image_id, force=False, noprune=False)
