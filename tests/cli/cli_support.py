"""Checks of what ``harden`` wrote, made with json, tarfile and jsonschema alone (not harden's readers):
report.json against the checked-in schema, OCI layouts and archives blob by blob."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]

SCHEMA = Path(__file__).resolve().parents[2] / "src" / "harden" / "schemas" / "report.schema.json"


def validate_report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text())
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    validator(schema, format_checker=validator.FORMAT_CHECKER).validate(report)
    return report


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def read_oci(files: dict[str, bytes]) -> tuple[dict[str, Any], dict[str, bytes], str | None]:
    """Check an OCI layout given as {relative name: bytes}: every blob matches its digest, index.json lists one
    image and, beside it, only its referrers (an ``artifactType``, a ``subject`` naming the image's manifest),
    the config's diff_ids match the uncompressed layers. Returns (config, {layer path: content}, ref name)."""
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert sha256(data) == "sha256:" + name.rsplit("/", 1)[1], f"{name} does not match its digest"
    index = json.loads(files["index.json"])
    [descriptor] = [entry for entry in index["manifests"] if "artifactType" not in entry]
    manifest = json.loads(files["blobs/sha256/" + descriptor["digest"].partition(":")[2]])
    for referrer in layout_referrers(files):
        assert referrer["subject"]["digest"] == descriptor["digest"]
    config = json.loads(files["blobs/sha256/" + manifest["config"]["digest"].partition(":")[2]])
    diff_ids = []
    entries: dict[str, bytes] = {}
    for layer in manifest["layers"]:
        blob = files["blobs/sha256/" + layer["digest"].partition(":")[2]]
        assert layer["size"] == len(blob)
        raw = gzip.decompress(blob) if layer["mediaType"].endswith("+gzip") else blob
        diff_ids.append(sha256(raw))
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            for info in tar.getmembers():
                stream = tar.extractfile(info) if info.isreg() else None
                entries[info.name.rstrip("/")] = stream.read() if stream else b""
    assert config["rootfs"]["diff_ids"] == diff_ids
    ref = (descriptor.get("annotations") or {}).get("org.opencontainers.image.ref.name")
    return config, entries, ref


def layout_referrers(files: dict[str, bytes]) -> list[dict[str, Any]]:
    """The artifact manifests index.json lists (an ``artifactType`` on the entry and in the manifest), read as
    plain JSON; each has a ``subject``."""
    found = []
    for entry in json.loads(files["index.json"])["manifests"]:
        if "artifactType" not in entry:
            continue
        blob = files["blobs/sha256/" + entry["digest"].partition(":")[2]]
        assert sha256(blob) == entry["digest"] and len(blob) == entry["size"]
        manifest = json.loads(blob)
        assert manifest["artifactType"] == entry["artifactType"] and "subject" in manifest
        found.append(manifest)
    return found


def oci_dir_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def oci_archive_files(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name.removeprefix("./"): tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isreg()}
