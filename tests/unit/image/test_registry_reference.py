"""Registry references (skopeo's docker:// syntax), the loopback rule and WWW-Authenticate parsing: no network."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harden.errors import UsageError
from harden.image.registry import RegistryRef, is_loopback, parse_registry_reference
from harden.image.registry.challenge import Challenge, parse_challenges

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("docker://python", RegistryRef("docker.io", "library/python", tag="latest")),
        ("docker://python:3.11-slim", RegistryRef("docker.io", "library/python", tag="3.11-slim")),
        ("docker://team/app", RegistryRef("docker.io", "team/app", tag="latest")),
        ("docker://index.docker.io/library/python:3", RegistryRef("docker.io", "library/python", tag="3")),
        ("docker://docker.io/python", RegistryRef("docker.io", "library/python", tag="latest")),
        ("docker://127.0.0.1:5000/team/app:v1", RegistryRef("127.0.0.1:5000", "team/app", tag="v1")),
        ("docker://localhost/app", RegistryRef("localhost", "app", tag="latest")),
        (f"docker://[::1]:5000/a/b/c@{DIGEST}", RegistryRef("[::1]:5000", "a/b/c", digest=DIGEST)),
        ("docker://ghcr.io/o-r_g/app.x__y:1.0", RegistryRef("ghcr.io", "o-r_g/app.x__y", tag="1.0")),
        ("docker://quay.io/single", RegistryRef("quay.io", "single", tag="latest")),
    ],
)
def test_parse(text: str, expected: RegistryRef) -> None:
    ref = parse_registry_reference(text)
    assert ref == expected
    assert parse_registry_reference(str(ref)) == ref


def test_reference_properties() -> None:
    hub = parse_registry_reference("docker://python:3.11")
    assert (hub.api_host, hub.reference, hub.name) == ("registry-1.docker.io", "3.11", "docker.io/library/python")
    local = parse_registry_reference(f"docker://127.0.0.1:5000/app@{DIGEST}")
    assert (local.api_host, local.reference) == ("127.0.0.1:5000", DIGEST)
    assert local.with_reference("v2") == RegistryRef("127.0.0.1:5000", "app", tag="v2")
    with pytest.raises(UsageError):
        local.with_reference("-bad")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("127.0.0.1:5000/app", "expected docker://"),
        ("docker://", "empty"),
        ("docker:// app", "white space"),
        ("docker://Team/App", "invalid repository"),
        ("docker://host.io/app:v1@" + DIGEST, "not both"),
        ("docker://host.io/app@sha256:1234", "invalid digest"),
        ("docker://host.io/app@md5:" + "a" * 32, "invalid digest"),
        ("docker://host.io:99999/app", "invalid port"),
        ("docker://host.io:/app", "invalid port"),
        ("docker://[::zz]:5000/app", "invalid IPv6"),
        ("docker://-bad.io/app", "invalid registry host"),
        ("docker://host.io/app:.tag", "invalid tag"),
        ("docker://host.io/app:" + "t" * 129, "invalid tag"),
        ("docker://host.io/a//b", "invalid repository"),
        ("docker://host.io/" + "a" * 300, "invalid repository"),
    ],
)
def test_bad_references_are_one_line_usage_errors(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment) as caught:
        parse_registry_reference(text)
    assert "\n" not in caught.value.one_line() and caught.value.exit_code == 2


_component = st.from_regex(r"[a-z0-9]{1,5}(?:[._-][a-z0-9]{1,5})?", fullmatch=True)


@given(
    host=st.sampled_from(["127.0.0.1:5000", "localhost", "registry.example:443", "[::1]", "ghcr.io"]),
    parts=st.lists(_component, min_size=1, max_size=3),
    tag=st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
)
def test_text_round_trip(host: str, parts: list[str], tag: str) -> None:
    ref = parse_registry_reference(f"docker://{host}/{'/'.join(parts)}:{tag}")
    assert (ref.host, ref.repository, ref.tag) == (host, "/".join(parts), tag)
    assert parse_registry_reference(str(ref)) == ref


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST:5000", True),
        ("127.0.0.1", True),
        ("127.8.9.10:5000", True),
        ("[::1]", True),
        ("[::1]:5000", True),
        ("0.0.0.0:5000", False),
        ("10.0.0.1:5000", False),
        ("192.168.1.2", False),
        ("localhost.example.com", False),
        ("127.0.0.1.nip.io", False),
        ("[::2]:5000", False),
        ("registry.example", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_parse_challenges() -> None:
    header = (
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push", Basic realm="x \\"quoted\\""'
    )
    bearer, basic = parse_challenges(header)
    assert bearer == Challenge(
        "bearer",
        (
            ("realm", "https://auth.example/token"),
            ("service", "registry.example"),
            ("scope", "repository:a/b:pull,push"),
        ),
    )
    assert basic.scheme == "basic" and basic.param("realm") == 'x "quoted"'
    assert parse_challenges('Basic realm="Registry Realm"') == (Challenge("basic", (("realm", "Registry Realm"),)),)
    assert parse_challenges("") == ()
    assert parse_challenges("Negotiate")[0].scheme == "negotiate"
