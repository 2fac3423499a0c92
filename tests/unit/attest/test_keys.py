"""Keys: ECDSA P-256 and Ed25519 only, from the PEM forms openssl and cryptography write; nothing leaks key bytes."""

from __future__ import annotations

import base64
import copy
import hashlib
import pickle
from pathlib import Path

import pytest
from attest_support import pkcs8, require_tool, run_tool
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519

from harden.attest.keys import (
    PASSWORD_ENV,
    KeyAlgorithm,
    SigningKey,
    load_signing_key,
    load_verify_key,
    read_signing_key,
    read_verify_key,
)
from harden.errors import UsageError


def secret_fragments(pem: bytes) -> list[str]:
    """Pieces of a PEM's body that an error text must never contain (base64 lines, and the raw DER as hex)."""
    body = [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]
    der = base64.b64decode("".join(body))
    return [line[:16] for line in body] + [der.hex()[i:i + 16] for i in range(0, len(der.hex()) - 16, 16)]


def assert_no_key_material(text: str, pem: bytes) -> None:
    for fragment in secret_fragments(pem):
        assert fragment not in text


def test_ecdsa_p256_and_ed25519_load_and_sign(signing_key: SigningKey) -> None:
    public = signing_key.public
    signature = signing_key.sign(b"data")
    assert public.verify(signature, b"data")
    assert not public.verify(signature, b"datA")
    assert signing_key.algorithm in (KeyAlgorithm.ECDSA_P256_SHA256, KeyAlgorithm.ED25519)


def test_key_id_is_the_sha256_of_the_public_key_spki_der(signing_key: SigningKey) -> None:
    der = signing_key.key.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    assert signing_key.keyid == hashlib.sha256(der).hexdigest()
    assert load_verify_key(signing_key.public.pem(), source="pub.pem").keyid == signing_key.keyid


def test_repr_shows_algorithm_and_key_id_only(signing_key: SigningKey) -> None:
    pem = pkcs8(signing_key.key)
    for text in (repr(signing_key), str(signing_key), repr(signing_key.public)):
        assert signing_key.keyid in text
        assert_no_key_material(text, pem)
    with pytest.raises(TypeError, match="not serializable"):
        pickle.dumps(signing_key)
    with pytest.raises(TypeError):
        copy.copy(signing_key)


def test_an_encrypted_key_opens_with_the_passphrase_from_the_environment(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "k.pem"
    path.write_bytes(pkcs8(key, b"correct horse"))
    loaded = read_signing_key(path, environ={PASSWORD_ENV: "correct horse"})
    assert loaded.public.verify(loaded.sign(b"x"), b"x")
    with pytest.raises(UsageError, match=f"encrypted; set {PASSWORD_ENV}") as missing:
        read_signing_key(path, environ={})
    with pytest.raises(UsageError, match=f"or {PASSWORD_ENV} is not its passphrase") as wrong:
        read_signing_key(path, environ={PASSWORD_ENV: "battery staple"})
    for error in (missing.value, wrong.value):
        assert str(path) in error.one_line()
        assert "correct horse" not in error.one_line() and "battery" not in error.one_line()
        assert "\n" not in error.one_line()


def test_a_passphrase_set_for_an_unencrypted_key_is_not_needed(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(pkcs8(ec.generate_private_key(ec.SECP256R1())))
    assert read_signing_key(path, environ={PASSWORD_ENV: "unused"}).algorithm is KeyAlgorithm.ECDSA_P256_SHA256


def _pem(key: object) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # type: ignore[attr-defined]
                             serialization.NoEncryption())


@pytest.mark.parametrize(("make", "message"), [
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "an RSA key"),
    (lambda: ec.generate_private_key(ec.SECP384R1()), "an ECDSA key on secp384r1"),
    (lambda: ec.generate_private_key(ec.SECP256K1()), "an ECDSA key on secp256k1"),
    (ed448.Ed448PrivateKey.generate, "an Ed448 key"),
    (x25519.X25519PrivateKey.generate, "a key-agreement"),
], ids=["rsa", "p384", "secp256k1", "ed448", "x25519"])
def test_other_key_types_are_refused_naming_the_kind_never_the_bytes(make: object, message: str) -> None:
    pem = _pem(make())  # type: ignore[operator]
    with pytest.raises(UsageError, match=message) as caught:
        load_signing_key(pem, source="key.pem")
    line = caught.value.one_line()
    assert line.startswith("key.pem: ") and "ECDSA P-256" in line and "\n" not in line
    assert_no_key_material(line, pem)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(("data", "message"), [
    (b"", "not a PEM private key"),
    (b"hello, I am not a key", "not a PEM private key"),
    (b"-----BEGIN PRIVATE KEY-----\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n-----END PRIVATE KEY-----\n",
     "not a readable PEM private key"),
], ids=["empty", "text", "garbage-pem"])
def test_garbage_is_refused_in_one_line(data: bytes, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        load_signing_key(data, source="HARDEN_SIGN_KEY")
    assert "QUJDREVG" not in caught.value.one_line() and "\n" not in caught.value.one_line()


def test_a_public_key_is_no_signing_key_and_a_private_key_no_verify_key(signing_key: SigningKey) -> None:
    with pytest.raises(UsageError, match="a public key; signing needs the private key"):
        load_signing_key(signing_key.public.pem(), source="pub.pem")
    private = pkcs8(signing_key.key)
    with pytest.raises(UsageError, match="a private key; verification takes the public key") as caught:
        load_verify_key(private, source="key.pem")
    assert_no_key_material(caught.value.one_line(), private)


def test_rsa_public_keys_are_refused_for_verification() -> None:
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(UsageError, match="an RSA key"):
        load_verify_key(pem, source="rsa.pub")


def test_unreadable_files_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the private key"):
        read_signing_key(tmp_path / "missing.pem", environ={})
    with pytest.raises(UsageError, match="a directory"):
        read_verify_key(tmp_path)
    big = tmp_path / "big.pem"
    big.write_bytes(b"-----BEGIN PUBLIC KEY-----\n" + b"A" * 70_000)
    with pytest.raises(UsageError, match="larger than"):
        read_verify_key(big)


# -- keys as openssl writes them -----------------------------------------------------------------------------
@pytest.mark.parametrize(("argv", "algorithm"), [
    (["genpkey", "-algorithm", "ed25519"], KeyAlgorithm.ED25519),
    (["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], KeyAlgorithm.ECDSA_P256_SHA256),
    (["ecparam", "-name", "prime256v1", "-genkey", "-noout"], KeyAlgorithm.ECDSA_P256_SHA256),  # SEC1 "EC PRIVATE KEY"
], ids=["ed25519-pkcs8", "p256-pkcs8", "p256-sec1"])
def test_keys_written_by_openssl_load_with_the_key_id_openssl_computes(
    tmp_path: Path, argv: list[str], algorithm: KeyAlgorithm
) -> None:
    openssl = require_tool("openssl")
    key, pub = tmp_path / "key.pem", tmp_path / "pub.pem"
    run_tool([openssl, *argv, "-out", str(key)])
    run_tool([openssl, "pkey", "-in", str(key), "-pubout", "-out", str(pub)])
    der = run_tool([openssl, "pkey", "-pubin", "-in", str(pub), "-outform", "DER"], text=False).stdout
    signing = read_signing_key(key, environ={})
    assert signing.algorithm is algorithm
    assert signing.keyid == read_verify_key(pub).keyid == hashlib.sha256(der).hexdigest()


def test_an_openssl_encrypted_key_opens_with_its_passphrase(tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    key = tmp_path / "key.pem"
    run_tool([openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes-256-cbc",
              "-pass", "pass:s3cret", "-out", str(key)])
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    assert read_signing_key(key, environ={PASSWORD_ENV: "s3cret"}).algorithm is KeyAlgorithm.ECDSA_P256_SHA256
    with pytest.raises(UsageError, match="encrypted"):
        read_signing_key(key, environ={})
