"""Where images come from and go to: one module per transport, registered in ``TRANSPORTS`` (the one table),
and the API the job uses — no caller knows a transport by name.

    ref = parse_reference("docker://127.0.0.1:5000/team/app:1")
    images = open_source(ref, workspace, platforms=[Platform.parse("linux/arm64")])
    ...
    written = publish([parse_output("oci:out:app"), parse_output("docker://127.0.0.1:5000/team/app:1-hard")],
                      hardened, WriteContext(workspace))

A new transport is one module with one ``Transport`` subclass, added to ``TRANSPORTS``: its reference syntax,
reader, writer and output checks live in it, the CLI help is generated from the table.
"""

from __future__ import annotations

import contextlib
import logging
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harden.atomic import Publication
from harden.errors import InputError, UsageError
from harden.image.host_platform import host_platform
from harden.image.model import Image, ImageSet, Platform
from harden.image.reference import ImageRef
from harden.image.space import SizeLimit
from harden.image.transports._layers import DEFAULT_COMPRESSION, Compression, reopened
from harden.image.transports._oci import Document, Referrer, output_annotations
from harden.image.transports._transport import (
    Commit,
    ReadContext,
    RegistryOptions,
    Transport,
    WriteContext,
)
from harden.image.transports.daemon import Daemon
from harden.image.transports.daemon import forget_loaded as _forget_loaded
from harden.image.transports.daemon import load_image as _load_image
from harden.image.transports.daemon import stream_into_engine as _stream_into_engine
from harden.image.transports.daemon_stream import StreamedLoad
from harden.image.transports.docker_archive import DockerArchive
from harden.image.transports.oci_archive import OciArchive
from harden.image.transports.oci_layout import OciLayout
from harden.image.transports.registry import Registry

log = logging.getLogger(__name__)

TRANSPORTS: tuple[Transport, ...] = (Registry(), DockerArchive(), OciArchive(), OciLayout(), Daemon())
"""Every transport, in the order references are matched against their prefixes. The engine (``Daemon``) also
takes references without a prefix, as sources (``NAME:TAG``, an image id)."""
_BARE = TRANSPORTS[-1]
_UNSUPPORTED = ("dir:", "containers-storage:", "ostree:", "sif:", "tarball:")
"""skopeo's other transports (a prefix followed by a port number is a registry host in an engine name)."""

__all__ = [
    "DEFAULT_COMPRESSION",
    "TRANSPORTS",
    "Commit",
    "Compression",
    "Document",
    "ReadContext",
    "Referrer",
    "RegistryOptions",
    "StreamedLoad",
    "Transport",
    "WriteContext",
    "check_outputs",
    "check_platforms",
    "choose_platforms",
    "default_output",
    "engine_image",
    "forget_loaded",
    "help_text",
    "load_into_engine",
    "moving_tag",
    "open_image",
    "open_source",
    "output_annotations",
    "output_manifests",
    "parse_output",
    "parse_reference",
    "publish",
    "reopened",
    "stores_manifest",
    "stream_into_engine",
    "transport_of",
]


# -- references ------------------------------------------------------------------------------------------------
def transport_of(ref: ImageRef) -> Transport:
    for transport in TRANSPORTS:
        if transport.name == ref.transport:
            return transport
    raise UsageError(f"unknown transport {ref.transport!r}")


def parse_reference(text: str) -> ImageRef:
    """Parse a source reference; bad syntax raises UsageError (exit 2). Without a transport prefix, an engine
    image."""
    text = text.strip()
    if not text:
        raise UsageError("empty image reference")
    for transport in TRANSPORTS:
        rest = transport.claims(text)
        if rest is not None:
            return transport.parse(rest, text)
    for prefix in _UNSUPPORTED:
        if text.startswith(prefix) and not text[len(prefix):len(prefix) + 1].isdigit():
            raise UsageError(f"unsupported transport in {text!r}: use one of {_prefixes()}")
    return _BARE.parse(text, text)


def parse_output(text: str) -> ImageRef:
    """Parse an ``--output``: a transport prefix is required (a bare name would silently become an engine tag)
    and the transport must write."""
    ref = parse_reference(text)
    transport = transport_of(ref)
    if not any(text.strip().startswith(prefix) for prefix in transport.prefixes) or not transport.writes:
        raise UsageError(f"--output takes {_prefixes(writing=True)}, got {text!r}; use --tag NAME:TAG for the engine")
    return ref


def _prefixes(*, writing: bool = False) -> str:
    return ", ".join(t.prefixes[0] for t in TRANSPORTS if t.writes or not writing)


def help_text(width: int = 96) -> str:
    """The transports, for the CLI's help (generated from the table): the syntax, then what it is, indented."""
    lines = []
    for transport in TRANSPORTS:
        ways = "read and write" if transport.reads and transport.writes else "read" if transport.reads else "write"
        extra = "every platform" if transport.all_platforms else "one platform"
        compressed = "--compression applies" if transport.compresses else "layers uncompressed"
        lines.append(transport.syntax)
        lines += textwrap.wrap(f"{transport.summary} [{ways}; {extra}; {compressed}]", width,
                               initial_indent="    ", subsequent_indent="    ")
    return "\n".join(lines)


def moving_tag(reference: str) -> bool:
    """Whether ``reference`` names a tag that moves (``latest`` or none); False for what does not parse."""
    try:
        ref = parse_reference(reference)
    except UsageError:
        return False
    return transport_of(ref).moving_tag(ref)


def default_output(ref: ImageRef, suffix: str) -> ImageRef | None:
    return transport_of(ref).default_output(ref, suffix)


def engine_image(ref: ImageRef, image: Image) -> str | None:
    return transport_of(ref).engine_image(ref, image)


def stores_manifest(ref: ImageRef) -> bool:
    """Whether the output ``ref`` stores the image's OCI manifest by its digest (and so its referrers)."""
    return transport_of(ref).stores_manifest


def path_of(ref: ImageRef) -> Path | None:
    return transport_of(ref).path(ref)


def identity_of(ref: ImageRef) -> str | None:
    return transport_of(ref).identity(ref)


# -- reading ---------------------------------------------------------------------------------------------------
def open_source(ref: ImageRef | str, workspace: Path, *, limit: SizeLimit | None = None,
                platforms: Sequence[Platform] = (), engine: Any = None,
                registry: RegistryOptions | None = None) -> ImageSet:
    """What ``ref`` names: one image, or every platform image of an index (``platforms``: only those, each of
    which the source must have — else UsageError naming what it has). Only engine references touch the engine
    (``engine``: a client, else the one ``harden.engine`` chooses). What a source writes into ``workspace``
    stops with ImageTooLarge past ``limit``; the layers themselves are counted when they are merged."""
    if isinstance(ref, str):
        ref = parse_reference(ref)
    transport = transport_of(ref)
    workspace.mkdir(parents=True, exist_ok=True)
    images = transport.open(ref, ReadContext(workspace, limit, engine, registry or RegistryOptions()))
    return choose_platforms(images, platforms, ref.text)


def choose_platforms(images: ImageSet, platforms: Sequence[Platform], where: str) -> ImageSet:
    """The images of the platforms asked for (all when none is); UsageError when one of them is missing."""
    if not platforms:
        return images
    missing = [str(p) for p in platforms if not any(i.runs_on is not None and i.runs_on.matches(p)
                                                     for i in images.images)]
    if missing:
        raise UsageError(f"{where} has no image for --platform {', '.join(missing)}",
                         details=[f"it has: {images.describe_platforms()}"])
    chosen = tuple(i for i in images.images if i.runs_on is not None and any(i.runs_on.matches(p) for p in platforms))
    unchosen = tuple(f"{i.runs_on}: not chosen by --platform" for i in images.images if i not in chosen)
    return ImageSet(chosen, images.reference, images.is_index, images.media_type, images.annotations,
                    images.skipped + unchosen)


def open_image(ref: ImageRef | str, workspace: Path, *, limit: SizeLimit | None = None,
               platform: Platform | None = None, engine: Any = None,
               registry: RegistryOptions | None = None) -> Image:
    """One image: the only one ``ref`` names, or of an index the one of ``platform`` (default: this machine's;
    UsageError when the index has none)."""
    if isinstance(ref, str):
        ref = parse_reference(ref)
    images = open_source(ref, workspace, limit=limit, platforms=[platform] if platform else [], engine=engine,
                         registry=registry)
    if len(images.images) == 1:
        return images.images[0]
    host = host_platform()
    native = [i for i in images.images if i.runs_on is not None and i.runs_on.matches(host)]
    if len(native) == 1:
        return native[0]
    raise UsageError(f"{ref.text} holds images for {images.describe_platforms()}; choose one with --platform",
                     details=[str(p) for p in images.platforms])


# -- writing ---------------------------------------------------------------------------------------------------
def check_outputs(outputs: Sequence[ImageRef], ctx: WriteContext) -> None:
    """Before any work: UsageError naming every output that cannot be written (a missing or unwritable folder,
    a file output that is a directory, an ``oci:`` directory holding something else, a registry output that
    names a digest); an engine or registry that does not answer raises its own error (exit 3). (Outputs
    sharing a path or overwriting the source are ``refuse_writes_into_sources``'s.)"""
    problems: list[str] = []
    for ref in outputs:
        problem = transport_of(ref).output_problem(ref, ctx)
        if problem is not None:
            problems.append(f"--output {ref.text} {problem}")
    if len(problems) == 1:
        raise UsageError(problems[0])
    if problems:
        raise UsageError(f"{len(problems)} outputs cannot be written", details=problems)


def check_platforms(outputs: Sequence[ImageRef], images: ImageSet, *, compression: Compression | None) -> None:
    """Outputs that hold one platform (docker-archive, an engine tag) cannot take several: UsageError before
    any work, naming them and the platforms. ``--compression`` given where no output compresses is refused."""
    single = [ref for ref in outputs if not transport_of(ref).all_platforms]
    if len(images.images) > 1 and single:
        names = ", ".join(ref.text for ref in single)
        raise UsageError(
            f"{names} holds one platform, and {images.reference} has {len(images.images)} "
            f"({images.describe_platforms()}); choose one with --platform",
            details=["docker-archive outputs and engine tags hold one image; oci:, oci-archive: and docker:// "
                     "outputs hold every platform"],
        )
    if compression is not None and outputs and not any(transport_of(ref).compresses for ref in outputs):
        raise UsageError("--compression applies to oci:, oci-archive: and docker:// outputs; docker-archive: "
                         "and the engine store layers uncompressed")


def loads_into_engine(outputs: Sequence[ImageRef]) -> bool:
    """Whether publishing ``outputs`` loads the images into the engine (an engine tag among them)."""
    return any(transport_of(ref).loads_into_engine for ref in outputs)


def load_into_engine(image: Image, ctx: WriteContext) -> str:
    """Load one hardened image into the engine untagged (for verification in containers); its id."""
    return _load_image(image, ctx)


def stream_into_engine(what: str) -> StreamedLoad:
    """A load into the engine that starts before the image is made: its layer is sent as it is written."""
    return _stream_into_engine(what)


def forget_loaded(ctx: WriteContext) -> None:
    """Remove the engine images this run loaded and did not publish."""
    _forget_loaded(ctx)


@contextlib.contextmanager
def _environment_errors(what: str) -> Iterator[None]:
    """A full, read-only or failing disk is the environment's fault (exit 3), not a bug in harden (exit 4)."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise InputError(f"{what}: {exc.strerror or exc}{where}") from exc


def output_manifests(images: ImageSet, ctx: WriteContext) -> tuple[Document, ...]:
    """The image manifest of each image of ``images`` (same order) as every output that stores manifests writes
    it, built now: the layers are compressed once (``--compression``), and ``publish`` reuses them."""
    with _environment_errors("cannot build the outputs' manifests"):
        return tuple(image.manifest for image in ctx.built(images, ctx.compression).images)


def publish(outputs: Sequence[ImageRef], images: ImageSet, ctx: WriteContext) -> list[str]:
    """Every output, or none: files are staged beside their destinations (with ``ctx.referrers``, where an
    output stores manifests), registry content pushed (untagged), engine images loaded (untagged); then the
    files are moved into place together and the tags put last, the least reversible last (engine, then
    registry, whose referrers follow its tag). A failure at any point (Ctrl-C included) takes back what
    was already in place: files restored, tags given back where the engine or registry allows it."""
    commits: list[Commit] = []
    applied: list[Commit] = []
    try:
        with Publication() as publication:
            for ref in outputs:
                with _environment_errors(f"cannot write --output {ref.text}"):
                    commit = transport_of(ref).stage(ref, images, ctx, publication)
                if commit is not None:
                    commits.append(commit)
            with _environment_errors("cannot publish the outputs"):
                publication.commit()
            for commit in sorted(commits, key=lambda c: c.order):
                commit.apply()
                applied.append(commit)
    except BaseException:
        for commit in reversed(applied):
            with contextlib.suppress(Exception):
                commit.undo()
        for commit in commits:
            if commit not in applied:
                with contextlib.suppress(Exception):
                    commit.abandon()
        raise
    return [ref.text for ref in outputs]
