"""Signing and verification keys from PEM: ECDSA P-256 (signatures DER-encoded, over SHA-256) or Ed25519.

Nothing else is accepted: RSA, other curves, DSA, Ed448 and X25519/X448 are refused with a UsageError naming the file
and the kind of key, never its bytes. A private key may be encrypted (PKCS#8 or traditional OpenSSL PEM); its
passphrase comes from ``HARDEN_SIGN_KEY_PASSWORD``. A key object's repr shows its algorithm and key id only, it
cannot be pickled, and no function here writes a private key anywhere.

The key id is the hex sha256 of the public key's SubjectPublicKeyInfo DER, the same whichever PEM form it came
from; ``openssl pkey -pubin -in pub.pem -outform DER | sha256sum`` recomputes it. It is a hint for the
verifier (DSSE: "MUST NOT be used for security decisions"); verification tries every key it is given.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NoReturn

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519

from harden.errors import UsageError

PASSWORD_ENV = "HARDEN_SIGN_KEY_PASSWORD"
MAX_PEM_BYTES = 64 * 1024
_SUPPORTED = "harden signs with ECDSA P-256 (prime256v1) or Ed25519 keys"

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class KeyAlgorithm(StrEnum):
    ECDSA_P256_SHA256 = "ecdsa-p256-sha256"
    ED25519 = "ed25519"


def key_id(public: PublicKey) -> str:
    """Hex sha256 of the SubjectPublicKeyInfo DER of ``public``."""
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class VerifyKey:
    """A public key that checks DSSE signatures."""

    algorithm: KeyAlgorithm
    keyid: str
    key: PublicKey = field(repr=False)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True when ``signature`` is this key's signature of ``data`` (DER ECDSA/SHA-256, or raw Ed25519)."""
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            else:
                self.key.verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM (what ``harden attest verify --key`` reads)."""
        return self.key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def __repr__(self) -> str:
        return f"VerifyKey({self.algorithm.value}, keyid={self.keyid})"


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class SigningKey:
    """A private key that signs DSSE envelopes. Its repr and errors never show key material."""

    algorithm: KeyAlgorithm
    keyid: str
    key: PrivateKey = field(repr=False)

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        return self.key.sign(data)

    @property
    def public(self) -> VerifyKey:
        public = self.key.public_key()
        return VerifyKey(self.algorithm, self.keyid, public)

    def __repr__(self) -> str:
        return f"SigningKey({self.algorithm.value}, keyid={self.keyid})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a signing key is not serializable")


def _algorithm(key: object, source: str, *, private: bool) -> KeyAlgorithm:
    """The algorithm of a supported key; a UsageError naming the kind of any other."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return KeyAlgorithm.ECDSA_P256_SHA256
        raise UsageError(f"{source}: an ECDSA key on {key.curve.name}; {_SUPPORTED}")
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return KeyAlgorithm.ED25519
    kinds: tuple[tuple[tuple[type, ...], str], ...] = (
        ((rsa.RSAPrivateKey, rsa.RSAPublicKey), "an RSA key"),
        ((ed448.Ed448PrivateKey, ed448.Ed448PublicKey), "an Ed448 key"),
        ((x25519.X25519PrivateKey, x25519.X25519PublicKey, x448.X448PrivateKey, x448.X448PublicKey),
         "a key-agreement (X25519/X448) key"),
    )
    for types, name in kinds:
        if isinstance(key, types):
            raise UsageError(f"{source}: {name}; {_SUPPORTED}")
    raise UsageError(f"{source}: an unsupported {'private' if private else 'public'} key type; {_SUPPORTED}")


def _refuse(source: str, what: str) -> NoReturn:
    raise UsageError(f"{source}: {what}")


def load_signing_key(pem: bytes, *, source: str, password: bytes | None = None) -> SigningKey:
    """A signing key from PEM bytes; ``source`` names them in errors (a path, "HARDEN_SIGN_KEY")."""
    if b"-----BEGIN" not in pem:
        _refuse(source, "not a PEM private key")
    if b"PRIVATE KEY-----" not in pem and b"PUBLIC KEY-----" in pem:
        _refuse(source, "a public key; signing needs the private key")
    try:
        try:
            key = serialization.load_pem_private_key(pem, password=password)
        except TypeError:
            if password is None:
                _refuse(source, f"the private key is encrypted; set {PASSWORD_ENV} to its passphrase")
            key = serialization.load_pem_private_key(pem, password=None)  # not encrypted: no passphrase needed
    except ValueError:
        # One message for garbage and for a wrong passphrase: cryptography cannot always tell them apart.
        hint = f" or {PASSWORD_ENV} is not its passphrase" if password is not None else ""
        _refuse(source, f"not a readable PEM private key{hint}")
    except UnsupportedAlgorithm:
        _refuse(source, f"a private key of an unsupported type; {_SUPPORTED}")
    algorithm = _algorithm(key, source, private=True)
    assert isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    return SigningKey(algorithm, key_id(key.public_key()), key)


def load_verify_key(pem: bytes, *, source: str) -> VerifyKey:
    """A verification key from SubjectPublicKeyInfo PEM bytes ("-----BEGIN PUBLIC KEY-----")."""
    if b"PRIVATE KEY-----" in pem:
        _refuse(source, "a private key; verification takes the public key (openssl pkey -pubout)")
    if b"-----BEGIN" not in pem:
        _refuse(source, "not a PEM public key")
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        _refuse(source, "not a readable PEM public key")
    except UnsupportedAlgorithm:
        _refuse(source, f"a public key of an unsupported type; {_SUPPORTED}")
    algorithm = _algorithm(key, source, private=False)
    assert isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    return VerifyKey(algorithm, key_id(key), key)


def _read_pem(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PEM_BYTES + 1)
    except IsADirectoryError:
        _refuse(str(path), f"a directory, not a {what}")
    except OSError as exc:
        _refuse(str(path), f"cannot read the {what} ({exc.strerror or type(exc).__name__})")
    if len(data) > MAX_PEM_BYTES:
        _refuse(str(path), f"larger than {MAX_PEM_BYTES} bytes; not a PEM {what}")
    return data


def read_signing_key(path: Path, *, environ: Mapping[str, str] = os.environ) -> SigningKey:
    """The signing key in the PEM file ``path``; an encrypted one is opened with ``HARDEN_SIGN_KEY_PASSWORD``."""
    password = environ.get(PASSWORD_ENV)
    return load_signing_key(_read_pem(Path(path), "private key"), source=str(path),
                            password=password.encode() if password else None)


def read_verify_key(path: Path) -> VerifyKey:
    """The public key in the PEM file ``path``."""
    return load_verify_key(_read_pem(Path(path), "public key"), source=str(path))
