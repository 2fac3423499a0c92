"""Options shared by the commands that read images."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from harden import api
from harden.progress import ProgressReporter

F = TypeVar("F", bound=Callable[..., Any])


def _byte_size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """``500M``, ``20G`` or a number of bytes; anything else is a usage error (exit 2)."""
    if value is None:
        return None
    try:
        return api.parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def max_image_size(function: F) -> F:
    return click.option(
        "--max-image-size", "max_image_bytes", callback=_byte_size, metavar="SIZE",
        help="Refuse (exit 3) an image whose layers expand to more than SIZE (500M, 20G, bytes), checked while "
             "they are read. Default: $HARDEN_MAX_IMAGE_BYTES, else the workspace's free space less a margin, "
             "at most 64G.",
    )(function)


def command_progress() -> ProgressReporter:
    """The command's progress line, remembered in the click context: the error handler names the step a full
    disk stopped (``last_phase``)."""
    progress = ProgressReporter()
    ctx = click.get_current_context(silent=True)
    if ctx is not None and isinstance(ctx.obj, dict):
        ctx.obj["progress"] = progress
    return progress
