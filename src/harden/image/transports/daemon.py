"""The Docker-API engine (Docker or podman) as a transport: ``NAME[:TAG]``, ``NAME@DIGEST``, an image id, or
``docker-daemon:NAME[:TAG]`` (skopeo's name; ``daemon:`` too).

Reading: the engine's ``save`` stream is written to a file in the workspace (never held in memory: a few chunks
at a time, written by a second thread while the next ones arrive) and then read as a docker-archive; podman's
save over the Docker API produces one too. One image, one platform.

Writing (``--tag``, or ``--output docker-daemon:NAME:TAG``): the image is loaded *untagged* (a docker-archive
streamed to the engine as it is made, never written to disk: when a run writes one platform's layer, in the
same pass that writes it, ``daemon_stream``; else read once, from where the writer put it), then tagged as the
very last step of publishing, so a failed or interrupted run
never leaves a tag pointing at a half-made image; an untagged image the run loaded is removed when the run does
not publish it. The image id is the config digest, the same in Docker and podman. Which engine answers is
``harden.engine``'s choice (the docker CLI's rules).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import queue
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from harden.atomic import Publication
from harden.engine import PODMAN_SOCKET
from harden.errors import EngineUnavailable, HardenError, ImageNotFound, InputError, UsageError
from harden.image._streams import produced
from harden.image.model import Image, ImageSet
from harden.image.reference import (
    ImageRef,
    familiar_name,
    is_image_id,
    is_valid_name,
    normalize_tag,
    split_tag,
)
from harden.image.space import SizeLimit, limited_chunks
from harden.image.transports._archive import TarArchive
from harden.image.transports._layers import check_layers
from harden.image.transports._tarball import DeterministicTar
from harden.image.transports._transport import Commit, ReadContext, Transport, WriteContext
from harden.image.transports.daemon_stream import StreamedLoad
from harden.image.transports.docker_archive import fill_docker_archive, read_docker_archive

log = logging.getLogger(__name__)

SAVE_CHUNK = 4 << 20
SAVE_QUEUE = 4
"""Chunks received but not yet written, at most (memory: SAVE_QUEUE * SAVE_CHUNK)."""


class Daemon(Transport):
    name = "daemon"
    loads_into_engine = True
    prefixes = ("docker-daemon:", "daemon:")
    syntax = "NAME[:TAG] | NAME@DIGEST | IMAGE-ID | docker-daemon:NAME[:TAG]"
    summary = ("an image in the Docker-API engine (written with --tag, or --output docker-daemon:NAME:TAG; "
               "one platform)")
    all_platforms = False
    compresses = False

    def parse(self, rest: str, text: str) -> ImageRef:
        if not is_valid_name(rest):
            raise UsageError(
                f"invalid image reference {text!r} (expected NAME[:TAG], an image id, or TRANSPORT:…; "
                "see harden image --help)"
            )
        return ImageRef(self.name, name=rest, canonical=rest)

    def open(self, ref: ImageRef, ctx: ReadContext) -> ImageSet:
        return ImageSet.single(save_image(ref, ctx.workspace, client=ctx.engine, limit=ctx.limit))

    def output_problem(self, ref: ImageRef, ctx: WriteContext) -> str | None:
        assert ref.name is not None
        if "@" in ref.name or is_image_id(ref.name):
            return "is not a tag (NAME[:TAG])"
        _client(None)  # the tag needs an engine: fail before any work (exit 3), not after writing outputs
        return None

    def stage(self, ref: ImageRef, images: ImageSet, ctx: WriteContext, publication: Publication) -> Commit | None:
        assert ref.name is not None
        (image,) = images.images  # one platform: checked before any work
        tag = normalize_tag(ref.name)
        image_id = load_image(image, ctx)
        previous: list[str | None] = []

        def apply() -> None:
            previous.append(_holder(tag))
            tag_image(image_id, tag)
            ctx.loaded.pop(_key(image), None)  # published: this run no longer removes it

        def undo() -> None:
            _untag(tag, image_id, previous[0] if previous else None)

        def abandon() -> None:
            if ctx.loaded.pop(_key(image), None) is not None:
                remove_image(image_id)

        return Commit(f"tag {tag}", apply, undo, abandon, order=0)

    def identity(self, ref: ImageRef) -> str | None:
        assert ref.name is not None
        if is_image_id(ref.name) or "@" in ref.name:
            return f"daemon:{ref.name}"
        return f"daemon:{familiar_name(normalize_tag(ref.name))}"

    def engine_image(self, ref: ImageRef, image: Image) -> str | None:
        return image.config_digest or ref.name

    def default_output(self, ref: ImageRef, suffix: str) -> ImageRef | None:
        name = f"{ref.repository}:{suffix}"
        return ImageRef(self.name, name=name, canonical=name)

    def moving_tag(self, ref: ImageRef) -> bool:
        name = ref.name or ""
        if "@" in name or is_image_id(name):
            return False
        return split_tag(name)[1] == "latest"


# -- reading ---------------------------------------------------------------------------------------------------
def save_image(ref: ImageRef, workspace: Path, *, client: Any = None, limit: SizeLimit | None = None) -> Image:
    """Save ``ref.name`` from the engine into ``workspace`` and read it (``client`` defaults to the shared one);
    a save stream longer than ``limit`` stops with ImageTooLarge."""
    if ref.name is None:
        raise UsageError("engine reference without a name")
    client = _client(client)
    name = ref.name
    with engine_errors(f"image {name}"):
        engine_image = client.images.get(name)
        tags = tuple(engine_image.tags or ())
        fd, tmp = tempfile.mkstemp(dir=workspace, prefix="engine-save-", suffix=".tar")
        try:
            with os.fdopen(fd, "wb") as out:
                chunks = engine_image.save(chunk_size=SAVE_CHUNK, named=False)
                write_while_receiving(limited_chunks(chunks, f"engine image {name} (its save stream)", limit), out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    archive = TarArchive(Path(tmp), f"engine image {name}")
    image = read_docker_archive(archive, index=0, reference=name)
    return Image(
        config=image.config,
        layers=image.layers,
        reference=name,
        repo_tags=tags or image.repo_tags,
        config_digest=image.config_digest,
        platform=image.platform,
    )


def write_while_receiving(chunks: Iterable[bytes], out: IO[bytes]) -> None:
    """Write ``chunks`` to ``out`` on a second thread, so that the disk writes overlap the network reads.

    An error on either side stops both and is raised here; at most SAVE_QUEUE chunks wait in between."""
    pending: queue.Queue[bytes | None] = queue.Queue(maxsize=SAVE_QUEUE)
    failed: list[BaseException] = []

    def write() -> None:
        try:
            while (chunk := pending.get()) is not None:
                out.write(chunk)
        except BaseException as exc:  # raised in the receiving thread below
            failed.append(exc)
            while pending.get() is not None:  # keep taking, so the receiver never blocks on a full queue
                pass

    writer = threading.Thread(target=write, name="harden-save-writer", daemon=True)
    writer.start()
    try:
        for chunk in chunks:
            if failed:
                break
            pending.put(chunk)
    finally:
        pending.put(None)
        writer.join()
    if failed:
        raise failed[0]

# -- writing ---------------------------------------------------------------------------------------------------
def _key(image: Image) -> str:
    return "sha256:" + hashlib.sha256(image.config.to_bytes()).hexdigest()


def stream_into_engine(what: str) -> StreamedLoad:
    """A load into the engine whose body the caller writes: the layer, as it is written (``daemon_stream``)."""
    return StreamedLoad(what, lambda body: load_stream(body, None, what), _key)


def load_image(image: Image, ctx: WriteContext) -> str:
    """Load ``image`` (one platform of this run's output) into the engine untagged, once per run; its id.
    Recorded in ``ctx.loaded`` until published, so that ``forget_loaded`` removes it if the run is not."""
    key = _key(image)
    if key in ctx.streaming:
        _settle(key, ctx)
    if key in ctx.loaded:
        return ctx.loaded[key]
    check_layers(image.config, image.layers)

    def fill(out: IO[bytes]) -> None:
        with DeterministicTar(fileobj=out) as tar:
            fill_docker_archive(tar, image.config, image.layers, spool_dir=ctx.workspace)

    image_id = load_stream(produced(fill), key, "the hardened image")
    ctx.loaded[key] = image_id
    return image_id


def _settle(key: str, ctx: WriteContext) -> None:
    """Wait for the load streamed under ``key`` to end (a Ctrl-C meanwhile is raised after it), its image in
    ``ctx.loaded``; a failed load raises its error."""
    load = ctx.streaming.pop(key)
    interrupted = load.join()
    if load.image_id is not None:
        ctx.loaded[key] = load.image_id
    if interrupted is not None:
        raise interrupted
    if load.error is not None:
        raise load.error


def forget_loaded(ctx: WriteContext) -> None:
    """Remove every image this run loaded and did not publish (an error, Ctrl-C, failed verification); a load
    still streaming is waited for first."""
    while ctx.streaming:
        with contextlib.suppress(Exception):
            _settle(next(iter(ctx.streaming)), ctx)
    while ctx.loaded:
        _, image_id = ctx.loaded.popitem()
        remove_image(image_id)


def _holder(tag: str) -> str | None:
    """The id of the image ``tag`` names now, if any (best effort: only an undo uses it)."""
    try:
        return str(_client(None).images.get(tag).id)
    except Exception:  # no such image, or an engine that cannot say: nothing to give the tag back to
        return None


def _untag(tag: str, image_id: str, previous: str | None) -> None:
    """Take back ``tag`` from ``image_id``: give it back to the image it named before, or drop it."""
    client = _client(None)
    try:
        with engine_errors(f"taking back the tag {tag}"):
            if previous is not None and previous != image_id:
                repository, version = split_tag(tag)
                client.images.get(previous).tag(repository, version or None)
            elif previous is None:
                client.api.remove_image(tag, noprune=True)
    except HardenError as exc:
        log.error("could not take back the engine tag %s: %s", tag, exc.one_line())


_LOADED = re.compile(r"(^Loaded image ID: |^Loaded image: )(.+)$", re.MULTILINE)


def load_stream(body: Iterable[bytes] | IO[bytes], config_digest: str | None, what: str, *,
                client: Any = None) -> str:
    """Send a docker-archive (a file, or chunks as they are made: sent chunked, never written to disk) to the
    engine's load; return the id of the image it made (``config_digest``, or the one the engine names)."""
    import docker.errors

    client = _client(client)
    reported: list[str] = []
    with engine_errors(f"loading {what}"):
        for chunk in client.api.load_image(body):
            if not isinstance(chunk, dict):
                continue
            if "errorDetail" in chunk or "error" in chunk:
                detail = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error")
                raise InputError(f"the engine could not load {what}: {detail}")
            match = _LOADED.search(str(chunk.get("stream") or ""))
            if match:
                reported.append(match.group(2).strip())
        for candidate in (config_digest, *reported):
            if candidate is None:
                continue
            try:
                image_id = str(client.images.get(candidate).id)
            except docker.errors.NotFound:
                continue
            log.info("loaded %s as %s", what, image_id)
            return image_id
    raise InputError(f"the engine accepted {what} but shows no image {config_digest}")


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


def _client(client: Any) -> Any:
    from harden.engine import shared

    return client if client is not None else shared()


# -- engine errors ----------------------------------------------------------------------------------------------
@contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """ImageNotFound for 404s, EngineUnavailable for connection failures, InputError for other API errors."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except HardenError:
        raise
    except docker.errors.NotFound as exc:
        raise ImageNotFound(f"{what}: no such image in the engine ({_explain(exc)})") from exc
    except docker.errors.APIError as exc:
        raise InputError(f"{what}: the engine refused ({_explain(exc)})") from exc
    except docker.errors.ImageLoadError as exc:
        raise InputError(f"{what}: the engine could not load the image ({exc})") from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError) as exc:
        raise EngineUnavailable(f"{what}: lost the connection to the engine ({type(exc).__name__})") from exc
    except docker.errors.DockerException as exc:
        raise EngineUnavailable(f"{what}: {exc}") from exc


def _explain(exc: object) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)
