"""The hardened image loaded into the engine while the run builds its reports.

Publishing to an engine tag loads the image (untagged) and then tags it; the load does not depend on the reports
nor the reports on the load, and the engine does its part of the load in its own process. So the load starts on
a thread of its own as soon as the layer is written, the reports are built beside it, and ``publish`` finds the
image loaded (``WriteContext.loaded``) and only tags it. Whatever stops the run waits for the load to end first,
so that the run's cleanup (``forget_loaded``) removes the image it made: an interrupted run leaves none behind.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from harden.threads import join_whole

if TYPE_CHECKING:
    from harden.image.model import Image
    from harden.image.transports import WriteContext


@contextlib.contextmanager
def loading_beside(images: Sequence[Image], ctx: WriteContext) -> Iterator[None]:
    """``images`` loaded into the engine on a thread while the block runs; the block's end waits for the load.
    A load that failed raises its error then (as ``publish`` would have); when the block itself fails, that is
    the error raised, after the load ended."""
    ahead = _LoadAhead(images, ctx)
    try:
        yield
    except BaseException:
        ahead.join()
        raise
    ahead.join()
    if ahead.error is not None:
        raise ahead.error


class _LoadAhead:
    """One thread loading ``images`` into the engine."""

    def __init__(self, images: Sequence[Image], ctx: WriteContext) -> None:
        from harden.image.transports import load_into_engine

        self.error: BaseException | None = None

        def load() -> None:
            try:
                for image in images:
                    load_into_engine(image, ctx)
            except BaseException as exc:  # raised by loading_beside, in the run's thread
                self.error = exc

        self._thread = threading.Thread(target=load, name="harden-load-ahead", daemon=True)
        self._thread.start()

    def join(self) -> None:
        """Wait for the load to end, a Ctrl-C meanwhile included (raised after it)."""
        interrupted = join_whole(self._thread)
        if interrupted is not None:
            raise interrupted
