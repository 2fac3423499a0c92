"""The hardened image's config: labels naming harden, the policy and the source; one squashed layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harden import __version__
from harden.image.model import ImageConfig

if TYPE_CHECKING:
    from harden.image.model import Image
    from harden.image.writer import WrittenLayer
    from harden.policy import Policy


LABEL_PREFIX = "io.github.harden"


def finalize_config(config: ImageConfig, source: Image, policy: Policy, layer: WrittenLayer,
                    epoch: int) -> ImageConfig:
    """Labels naming harden, the policy and the source; the one squashed layer; a history entry saying so."""
    from harden.image.writer import with_written_layers

    config = (
        config.with_label(f"{LABEL_PREFIX}.version", __version__)
        .with_label(f"{LABEL_PREFIX}.policy", policy.name)
        .with_label(f"{LABEL_PREFIX}.policy-digest", policy.digest)
        .with_label(f"{LABEL_PREFIX}.source-config-digest", source.config_digest)
    )
    return with_written_layers(
        config, [layer], epoch=epoch,
        created_by=f"harden {__version__} image --policy {policy.name} ({policy.digest})",
        comment="all layers squashed into one rewritten layer by harden",
    )

