"""Reading one image into the workspace: open it through its transport, merge its layers, check it has a
Python to verify."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harden.errors import UnsupportedImage
from harden.image.blobs import BlobStore
from harden.image.model import Platform, Rootfs
from harden.progress import ProgressReporter

if TYPE_CHECKING:
    from harden.image.model import Image
    from harden.image.reference import ImageRef
    from harden.image.space import SizeLimit
    from harden.image.transports import RegistryOptions
    from harden.report.model import Efficiency


@dataclass(frozen=True, slots=True)
class Loaded:
    """One image read and merged inside the workspace."""

    ref: ImageRef
    image: Image
    rootfs: Rootfs
    dropped: tuple[Any, ...]
    efficiency: Efficiency | None = None
    """The report's layer-efficiency figure, computed from the member headers the merge read; the headers
    themselves (one object per member of every layer) are not kept through the run. None when not measured
    (``measure_efficiency=False``) or when the source layers could not be read again."""


def load_and_merge(reference: str, workspace: Path, blobs: BlobStore, progress: ProgressReporter,
                   *, sanitize: bool = False, size_limit: SizeLimit | None = None,
                   platform: Platform | None = None, registry: RegistryOptions | None = None,
                   measure_efficiency: bool = True) -> Loaded:
    """Read and merge the one image ``reference`` names (of an index: ``platform``'s, default this machine's);
    ``measure_efficiency=False`` where no report shows the layer efficiency (``harden verify``)."""
    from harden.image.space import limit_for
    from harden.image.transports import RegistryOptions, open_image, parse_reference

    ref = parse_reference(reference)
    progress.phase(f"read {reference}")
    limit = limit_for(size_limit, workspace)  # None: the default, from the workspace's free space
    image = open_image(ref, workspace, limit=limit, platform=platform, registry=registry or RegistryOptions())
    return merge_image(ref, image, blobs, progress, sanitize=sanitize, limit=limit,
                       measure_efficiency=measure_efficiency)


def merge_image(ref: ImageRef, image: Image, blobs: BlobStore, progress: ProgressReporter, *,
                sanitize: bool = False, limit: SizeLimit | None = None, label: str | None = None,
                measure_efficiency: bool = True) -> Loaded:
    """Merge ``image`` (of ``ref``); ``label`` names its platform in the progress when a run has several."""
    from harden.image.config_check import check_config
    from harden.image.merge import merge_layers
    from harden.report.efficiency import efficiency_of

    check_config(image.config, ref.text)
    progress.phase(f"merge {len(image.layers)} layers" + (f" ({label})" if label else ""))
    merged = merge_layers(image.layers, blobs, sanitize=sanitize, limit=limit, list_members=measure_efficiency)
    efficiency = efficiency_of(image, merged.listings) if measure_efficiency else None
    return Loaded(ref, image, merged.rootfs, tuple(merged.dropped), efficiency)


def program_head(loaded: Loaded, blobs: BlobStore) -> bytes | None:
    """The first bytes of the image's (first) Python interpreter: what the kernel's binfmt_misc matches."""
    from harden.verify.api import VerifyTarget, interpreters_of

    for path in interpreters_of(VerifyTarget("original", loaded.image.config, loaded.rootfs, blobs)):
        resolved = loaded.rootfs.resolve(path)
        entry = loaded.rootfs.get(resolved) if resolved is not None else None
        if entry is not None and entry.digest is not None and entry.digest in blobs:
            with blobs.open(entry.digest) as stream:
                return stream.read(64)
    return None


def require_python(loaded: Loaded, blobs: BlobStore, platform: str | None = None) -> None:
    """Verification proves what the original's Python could import; without one there is nothing to prove,
    so the run stops before any work (exit 3) instead of failing verification at the end."""
    from harden.verify.api import VerifyTarget, interpreters_of

    if not interpreters_of(VerifyTarget("original", loaded.image.config, loaded.rootfs, blobs)):
        where = f"{loaded.ref.text} ({platform})" if platform else loaded.ref.text
        raise UnsupportedImage(
            f"{where}: no Python interpreter found in the image, so verification has nothing to prove",
            details=["harden it anyway with --no-verify"],
        )

