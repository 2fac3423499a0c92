"""Checks of harden's signed attestations made without harden's code: keys made by the openssl command, DSSE
signatures verified by it over a PAE built here from the spec, statements read with json, manifest digests
recomputed with hashlib; and a tampered copy of a layout's referrer, rewritten consistently (new blob, new
artifact manifest, index.json updated) so that only its signature can give it away."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KINDS = ("ecdsa-p256", "ed25519")
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


def openssl(*args: str, ok: bool = True) -> subprocess.CompletedProcess[bytes]:
    path = shutil.which("openssl")
    if path is None:
        pytest.fail("the openssl command is needed (Debian package openssl)", pytrace=False)
    done = subprocess.run([path, *args], capture_output=True, timeout=60, check=False)
    if ok and done.returncode != 0:
        pytest.fail(f"openssl {' '.join(args)} exited {done.returncode}: {done.stderr!r}", pytrace=False)
    return done


def make_key(folder: Path, kind: str, name: str = "key") -> tuple[Path, Path]:
    """A fresh private key of ``kind`` (PKCS#8 PEM, made by openssl) and its public key; (private, public)."""
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    if kind == "ecdsa-p256":
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(private))
    else:
        openssl("genpkey", "-algorithm", "ed25519", "-out", str(private))
    openssl("pkey", "-in", str(private), "-pubout", "-out", str(public))
    return private, public


def key_secrets(private: Path) -> list[bytes]:
    """The private key in every form it could leak in: the PEM file, each base64 line of it, its DER, the raw
    scalar or seed (bytes and hex)."""
    pem = private.read_bytes()
    lines = [line for line in pem.splitlines() if line and not line.startswith(b"-----")]
    der = openssl("pkey", "-in", str(private), "-outform", "DER").stdout
    key = serialization.load_pem_private_key(pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        raw = key.private_numbers().private_value.to_bytes(32, "big")
    else:
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,  # type: ignore[union-attr]
                                serialization.NoEncryption())
    return [pem, *lines, der, raw, raw.hex().encode(), base64.b64encode(raw)]


def assert_no_secret(secrets: Iterable[bytes], *roots: Path, texts: Iterable[str] = ()) -> int:
    """No secret in any file below ``roots`` nor in ``texts`` (output, logs); the number of files looked at."""
    secrets = list(secrets)
    files = [p for root in roots for p in root.rglob("*") if p.is_file()]
    for path in files:
        data = path.read_bytes()
        assert not any(secret in data for secret in secrets), f"{path} holds the private key"
        assert b"PRIVATE KEY" not in data, path
    for text in texts:
        assert not any(secret.decode("latin-1") in text for secret in secrets)
    return len(files)


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding, from the spec: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body."""
    kind = payload_type.encode()
    return b"DSSEv1 " + str(len(kind)).encode() + b" " + kind + b" " + str(len(body)).encode() + b" " + body


def openssl_verifies(envelope: dict[str, Any], public: Path, kind: str, work: Path) -> bool:
    """Whether openssl accepts the envelope's (only) signature over its PAE with ``public``."""
    [signature] = envelope["signatures"]
    work.mkdir(parents=True, exist_ok=True)
    message, sig = work / "pae.bin", work / "sig.bin"
    message.write_bytes(pae(envelope["payloadType"], base64.b64decode(envelope["payload"])))
    sig.write_bytes(base64.b64decode(signature["sig"]))
    if kind == "ecdsa-p256":
        argv = ["dgst", "-sha256", "-verify", str(public), "-signature", str(sig), str(message)]
    else:
        argv = ["pkeyutl", "-verify", "-pubin", "-inkey", str(public), "-rawin", "-in", str(message),
                "-sigfile", str(sig)]
    done = openssl(*argv, ok=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


def verified_statement(envelope: dict[str, Any], public: Path, kind: str, work: Path) -> dict[str, Any]:
    """The in-toto statement of an envelope openssl verified with ``public`` (fails the test otherwise)."""
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert openssl_verifies(envelope, public, kind, work), "openssl does not verify the envelope"
    statement: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    return statement


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob(layout: Path, digest: str) -> bytes:
    data = (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
    assert sha256(data) == digest
    return data


def tagged_manifest_digest(layout: Path, ref_name: str) -> str:
    """The digest of the manifest index.json names ``ref_name``, recomputed from the manifest's bytes."""
    index = json.loads((layout / "index.json").read_text())
    [entry] = [m for m in index["manifests"] if (m.get("annotations") or {}).get(REF_NAME) == ref_name]
    data = (layout / "blobs" / "sha256" / entry["digest"].removeprefix("sha256:")).read_bytes()
    assert len(data) == entry["size"]
    return sha256(data)


def dsse_referrers(layout: Path) -> dict[str, dict[str, Any]]:
    """{layer title: envelope} of the DSSE layers of the artifact manifests index.json lists."""
    found = {}
    for entry in json.loads((layout / "index.json").read_text())["manifests"]:
        if "artifactType" not in entry:
            continue
        for layer in json.loads(blob(layout, entry["digest"]))["layers"]:
            if layer["mediaType"] == DSSE_MEDIA_TYPE:
                found[layer["annotations"]["org.opencontainers.image.title"]] = json.loads(blob(layout,
                                                                                               layer["digest"]))
    return found


def flip_payload_byte(envelope: dict[str, Any], needle: bytes) -> dict[str, Any]:
    """The envelope with one bit of its payload changed (in the first ``needle``), signatures kept."""
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[payload.index(needle)] ^= 0x01
    return dict(envelope, payload=base64.b64encode(bytes(payload)).decode())


def _write_blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = sha256(data)
    (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def replace_referrer_envelope(layout: Path, title: str, envelope: dict[str, Any]) -> None:
    """Swap the envelope titled ``title`` in the layout for ``envelope``, consistently: its blob, the artifact
    manifest's layer descriptor, the manifest's entry in index.json (every digest right, so a reader that
    checks digests finds nothing wrong; only the signature can tell)."""
    index = json.loads((layout / "index.json").read_text())
    for entry in index["manifests"]:
        if "artifactType" not in entry:
            continue
        manifest = json.loads(blob(layout, entry["digest"]))
        layers = [layer for layer in manifest["layers"]
                  if layer.get("annotations", {}).get("org.opencontainers.image.title") == title]
        if not layers:
            continue
        layers[0].update(_write_blob(layout, json.dumps(envelope).encode()))
        entry.update(_write_blob(layout, json.dumps(manifest).encode()))
        (layout / "index.json").write_text(json.dumps(index))
        return
    raise AssertionError(f"no referrer titled {title}")
