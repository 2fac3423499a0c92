"""Helpers shared by the sources: JSON loading with clear errors, digest checks, layer construction."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from harden.errors import BadArchive
from harden.image._streams import layer_media_type, open_verified, sniff_compression
from harden.image.model import ImageConfig, Layer
from harden.image.sources._archive import BlobReader

DIGEST_RE = re.compile(r"^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")


def load_json(reader: BlobReader, name: str) -> Any:
    data = reader.read_bytes(name)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadArchive(f"{reader.description}: {name} is not valid JSON ({exc})") from exc


def check_digest(text: object, where: str) -> str:
    """A digest from untrusted JSON; refused unless exactly ``algorithm:hex`` (no path tricks)."""
    if not isinstance(text, str) or not DIGEST_RE.match(text):
        raise BadArchive(f"{where}: invalid digest {text!r}")
    return text


def blob_name(digest: str) -> str:
    algorithm, _, hex_digest = digest.partition(":")
    return f"blobs/{algorithm}/{hex_digest}"


def verify_bytes(data: bytes, digest: str, where: str) -> None:
    algorithm, _, expected = digest.partition(":")
    actual = hashlib.new(algorithm, data).hexdigest()
    if actual != expected:
        raise BadArchive(f"{where}: content does not match its digest", details=[f"expected {digest}"])


def parse_config(data: bytes, where: str) -> ImageConfig:
    try:
        config = ImageConfig.from_bytes(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadArchive(f"{where}: image config is not valid JSON ({exc})") from exc
    if not isinstance(config.raw, dict):
        raise BadArchive(f"{where}: image config is not a JSON object")
    rootfs = config.raw.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise BadArchive(f"{where}: image config has no rootfs.diff_ids")
    for index, diff_id in enumerate(rootfs["diff_ids"]):
        check_digest(diff_id, f"{where}: rootfs.diff_ids[{index}]")
    return config


def make_layers(
    reader: BlobReader, names: Sequence[str], config: ImageConfig, where: str
) -> tuple[Layer, ...]:
    """One Layer per blob name, paired in order with the config's diff_ids (counts must agree)."""
    diff_ids = config.diff_ids
    if len(diff_ids) != len(names):
        raise BadArchive(
            f"{where}: {len(names)} layers but the config lists {len(diff_ids)} diff_ids",
        )
    layers = []
    for index, (name, diff_id) in enumerate(zip(names, diff_ids, strict=True)):
        opener = reader.opener(name)
        with opener() as head:
            compression = sniff_compression(head.read(8))
        what = f"{where}: layer {index} ({name})"
        layers.append(
            Layer(
                diff_id=diff_id,
                open=functools.partial(open_verified, opener, diff_id, what),
                size=reader.size(name),
                media_type=layer_media_type(compression),
                region=None if compression else reader.region(name),
            )
        )
    return tuple(layers)


def config_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def expect(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise BadArchive(f"{where}: {message}")
