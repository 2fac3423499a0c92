"""The hardened layer sent to the engine's load while it is written.

A docker-archive may carry its layer first and name it in ``manifest.json`` at the end (podman's own save does;
an engine's load reads the whole archive before it imports anything). So when a run's output goes into the
engine, the one pass that writes its layer tar to the workspace also sends every byte of it, as the body of the
engine's load request, on a thread; the config and the manifest follow once the layer's diff_id is known. The
layer's tar header carries its size before its content: the writer computes it first (``LayerPlan.size``).

The engine imports while the run goes on; whoever needs the image waits for the load then (``daemon.load_image``,
``forget_loaded``). An error or a Ctrl-C before the archive is whole ends the request body early: the engine
gets a cut archive, refuses it, and keeps nothing.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING

from harden.image._streams import ConsumerGone, QueueWriter
from harden.image.transports._docker_members import add_config, add_manifest
from harden.image.transports._layers import check_layers
from harden.image.transports._tarball import DeterministicTar
from harden.threads import join_whole

if TYPE_CHECKING:
    from harden.image.model import Image

log = logging.getLogger(__name__)

LAYER_NAME = "layer.tar"
DEPTH = 4
"""Chunks written but not yet sent, at most (memory: DEPTH chunks of _streams.CHUNK)."""


class _CutShort(Exception):
    """The run stopped before the archive was whole: the body ends with this instead."""


class StreamedLoad:
    """One engine load whose body is written by the run's thread (``layer``, then ``finish``) while a thread of
    its own sends it. ``abort`` on any error before ``finish`` ended."""

    def __init__(self, what: str, send: Callable[[Iterator[bytes]], str], key_of: Callable[[Image], str]) -> None:
        """``send`` posts a body to the engine's load and returns the id of the image it made; ``key_of`` names
        an image in ``WriteContext.loaded``."""
        self.what = what
        self._key_of = key_of
        self.image_id: str | None = None
        self.error: BaseException | None = None
        self._pending: queue.Queue[bytes | None] = queue.Queue(maxsize=DEPTH)
        self._sender_gone = threading.Event()
        self._cut = False
        self._body = QueueWriter(self._pending, self._sender_gone)
        self._tar = DeterministicTar(fileobj=self._body)  # type: ignore[arg-type]

        def sending() -> None:
            try:
                self.image_id = send(self._chunks())
            except BaseException as exc:  # raised in the run's thread by join's callers
                self.error = exc
            finally:
                self._sender_gone.set()

        self._thread = threading.Thread(target=sending, name="harden-streamed-load", daemon=True)
        self._thread.start()

    def _chunks(self) -> Iterator[bytes]:
        while (chunk := self._pending.get()) is not None:
            yield chunk
        if self._cut:
            raise _CutShort(f"{self.what}: the run stopped before the archive was whole")

    @contextlib.contextmanager
    def layer(self, size: int) -> Iterator[IO[bytes]]:
        """The file to write the layer tar into, exactly ``size`` bytes."""
        with self._failure_of_the_sender(), self._tar.writing(LAYER_NAME, size) as stream:
            yield stream

    def finish(self, image: Image, streaming: dict[str, StreamedLoad]) -> None:
        """The archive's end: ``image``'s config (whose one layer is the one written) and the manifest. The load
        goes on, held in ``streaming`` (a ``WriteContext``'s) under the image's key until someone waits for it:
        from before the archive's last byte, so that a run stopped at any point after waits for it and removes
        its image."""
        check_layers(image.config, image.layers)
        streaming[self._key_of(image)] = self
        with self._failure_of_the_sender():
            add_manifest(self._tar, add_config(self._tar, image.config), [LAYER_NAME])
            self._tar.close()
            self._body.flush()
            self._body.put_end()
        log.debug("%s: the archive is whole; the engine imports it", self.what)

    def abort(self) -> None:
        """End the body short (the engine refuses a cut archive) and wait for the sender to end."""
        self._cut = True
        with contextlib.suppress(ConsumerGone):
            self._body.put_end()
        interrupted = self.join()
        if interrupted is not None:
            raise interrupted

    def join(self) -> KeyboardInterrupt | None:
        """Wait for the load to end; a Ctrl-C meanwhile is returned, not raised (``join_whole``)."""
        return join_whole(self._thread)

    @contextlib.contextmanager
    def _failure_of_the_sender(self) -> Iterator[None]:
        """A write that finds the sender gone raises the sender's own error (the engine's refusal, say)."""
        try:
            yield
        except ConsumerGone:
            self.join()
            if self.error is not None:
                raise self.error from None
            raise
