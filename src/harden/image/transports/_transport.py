"""What a transport is: one class per transport module, holding its reference syntax, its reader, its writer and
its output checks; and the values the dispatching API (``harden.image.transports``) hands it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harden.errors import UsageError
from harden.image.model import ImageSet
from harden.image.reference import ImageRef
from harden.image.transports._layers import DEFAULT_COMPRESSION, Compression, LayerBlobs

if TYPE_CHECKING:
    from harden.atomic import Publication
    from harden.image.model import Image
    from harden.image.space import SizeLimit
    from harden.image.transports._oci import BuiltSet, Referrer
    from harden.image.transports.daemon_stream import StreamedLoad


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    """How registries are reached: ``tls_verify`` None is the default (verified HTTPS; plain HTTP for loopback
    registries only), False skopeo's ``--tls-verify=false``; ``auth_file`` a docker config.json other than
    ``$DOCKER_CONFIG/config.json``; ``env`` replaces the environment credentials are looked up in (tests)."""

    tls_verify: bool | None = None
    auth_file: Path | None = None
    env: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ReadContext:
    """What reading needs: a ``workspace`` folder (inside the run's Workspace) for what the source writes (an
    engine's save stream, a decompressed archive, registry blobs), the size ``limit``, an engine client (None:
    connect when needed) and the registry options. Readers give every platform (layers are read lazily, so a
    platform that is not chosen costs its manifest and config only); ``open_source`` chooses."""

    workspace: Path
    limit: SizeLimit | None = None
    engine: Any = None
    registry: RegistryOptions = RegistryOptions()


@dataclass
class WriteContext:
    """What writing needs, shared by every output of one run: the workspace, the compression, the compressed
    layer blobs (made once), the name a file output records when its reference has none (``--tag``), the
    engine images this run loaded (untagged), the registry options, and the referrers (SBOM, attestations)
    every output that stores manifests stores with the images."""

    workspace: Path
    compression: Compression = DEFAULT_COMPRESSION
    tag_name: str | None = None
    registry: RegistryOptions = RegistryOptions()
    loaded: dict[str, str] = field(default_factory=dict)
    """Engine images this run loaded and has not published: config digest → image id."""
    streaming: dict[str, StreamedLoad] = field(default_factory=dict)
    """Engine loads sent as their layer was written, maybe not yet ended: config digest → the load."""
    referrers: tuple[Referrer, ...] = ()
    """Artifact manifests whose subjects are the outputs' image manifests (``stores_manifest`` outputs only)."""
    _blobs: LayerBlobs | None = None
    _built: dict[tuple[object, ...], BuiltSet] = field(default_factory=dict)

    @property
    def layer_blobs(self) -> LayerBlobs:
        if self._blobs is None:
            self._blobs = LayerBlobs(self.workspace / "layer-blobs")
        return self._blobs

    def built(self, images: ImageSet, compression: Compression | None) -> BuiltSet:
        """The OCI documents of ``images`` (made once per compression, shared by the outputs)."""
        from harden.image.transports._oci import build_set

        key = (tuple(image.config.to_bytes() for image in images.images), images.is_index, images.annotations,
               compression)
        if key not in self._built:
            self._built[key] = build_set(images, self.layer_blobs, compression)
        return self._built[key]


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Commit:
    """The last step of an output that is not a file: a tag in the engine or a registry. ``apply`` makes it
    visible (after every file output is in place); ``undo`` takes it back if a later step fails (best effort:
    what cannot be taken back is logged); ``abandon`` cleans up what staging left when ``apply`` never ran.
    Lower ``order`` first: the least reversible step comes last."""

    what: str
    apply: Callable[[], None]
    undo: Callable[[], None] = _nothing
    abandon: Callable[[], None] = _nothing
    order: int = 0


class Transport(ABC):
    """One transport. Subclasses set the class attributes and implement what they support."""

    name: ClassVar[str]
    """The name in ImageRef.transport."""
    prefixes: ClassVar[tuple[str, ...]]
    """The texts a reference starts with (the first is the one written back)."""
    syntax: ClassVar[str]
    summary: ClassVar[str]
    reads: ClassVar[bool] = True
    writes: ClassVar[bool] = True
    all_platforms: ClassVar[bool] = True
    """An output holds every platform (an index); False: one platform only."""
    compresses: ClassVar[bool] = True
    """``--compression`` applies to its outputs."""
    stores_manifest: ClassVar[bool] = False
    """An output stores the image's OCI manifest as the run built it, by its digest (a layout, a registry):
    attestations name that digest as their subject, and the referrers go with the image. A docker-archive or an
    engine keeps no manifest a registry or layout would serve."""
    loads_into_engine: ClassVar[bool] = False
    """``stage`` loads each image into the engine (untagged, once per run: ``WriteContext.loaded``), which a run
    may do earlier, while it builds its reports (``harden.job.engine_ahead``)."""

    def claims(self, text: str) -> str | None:
        """The rest of ``text`` after one of this transport's prefixes, or None when it is not this one's."""
        for prefix in self.prefixes:
            if text.startswith(prefix):
                return text[len(prefix):]
        return None

    @abstractmethod
    def parse(self, rest: str, text: str) -> ImageRef:
        """``rest`` (after the prefix) as an ImageRef; UsageError (exit 2) for bad syntax."""

    @abstractmethod
    def open(self, ref: ImageRef, ctx: ReadContext) -> ImageSet:
        """The image(s) ``ref`` names; layers are read lazily."""

    def output_problem(self, ref: ImageRef, ctx: WriteContext) -> str | None:
        """Why ``ref`` cannot be written (a phrase following ``--output REF``), checked before any work."""
        return None

    def stage(self, ref: ImageRef, images: ImageSet, ctx: WriteContext, publication: Publication) -> Commit | None:
        """Write ``images`` to ``ref``: files staged in ``publication`` (committed with the others), anything
        else prepared so that only the returned Commit remains to make it visible."""
        raise UsageError(f"{self.name}: cannot be written")

    def path(self, ref: ImageRef) -> Path | None:
        """The file or directory the reference reads or writes, if any."""
        return ref.path

    def identity(self, ref: ImageRef) -> str | None:
        """What two references naming the same thing share (for references without a path)."""
        return None

    def engine_image(self, ref: ImageRef, image: Image) -> str | None:
        """An id or name the engine can run ``image`` of ``ref`` by (engine sources only)."""
        return None

    def default_output(self, ref: ImageRef, suffix: str) -> ImageRef | None:
        """Where a run on this source writes when asked for nothing (an engine source: NAME:SUFFIX)."""
        return None

    def moving_tag(self, ref: ImageRef) -> bool:
        """Whether ``ref`` names a tag that moves (``latest`` or none), which a review flags."""
        return False
