"""parse_reference: engine names, file transports with selectors, and usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harden.errors import UsageError
from harden.image.reference import ImageRef, names_match, normalize_tag, split_tag
from harden.image.transports import parse_reference


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("python", ImageRef("daemon", name="python")),
        ("spark-k8s-python-deps:latest", ImageRef("daemon", name="spark-k8s-python-deps:latest")),
        ("localhost:5000/team/app:1.2", ImageRef("daemon", name="localhost:5000/team/app:1.2")),
        ("docker-daemon:python:3.11", ImageRef("daemon", name="python:3.11")),
        ("sha256:" + "a" * 64, ImageRef("daemon", name="sha256:" + "a" * 64)),
        ("0123456789ab", ImageRef("daemon", name="0123456789ab")),
        ("app@sha256:" + "b" * 64, ImageRef("daemon", name="app@sha256:" + "b" * 64)),
        ("docker-archive:/tmp/in.tar", ImageRef("docker-archive", path=Path("/tmp/in.tar"))),
        ("docker-archive:in.tar:demo:1", ImageRef("docker-archive", path=Path("in.tar"), name="demo:1")),
        ("docker-archive:in.tar:@2", ImageRef("docker-archive", path=Path("in.tar"), index=2)),
        ("oci-archive:out.tar", ImageRef("oci-archive", path=Path("out.tar"))),
        ("oci:layout:v1.0", ImageRef("oci", path=Path("layout"), name="v1.0")),
        ("docker://127.0.0.1:5000/team/app:1", ImageRef("registry", name="127.0.0.1:5000/team/app:1")),
        ("docker://python", ImageRef("registry", name="docker.io/library/python:latest")),
        ("docker://localhost/app@sha256:" + "c" * 64, ImageRef("registry", name="localhost/app@sha256:" + "c" * 64)),
    ],
)
def test_parse(text: str, expected: ImageRef) -> None:
    parsed = parse_reference(text)
    assert parsed == expected
    assert parse_reference(parsed.text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Upper:1",
        "docker-archive:",
        "oci:",
        "docker://Upper/app",
        "docker://host:5000/app:tag@sha256:" + "d" * 64,
        "dir:/tmp/image",
        "containers-storage:app",
        "name:bad tag",
        "a//b",
        "docker-archive:x:!!",
    ],
)
def test_bad_syntax_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_reference(text)
    assert caught.value.exit_code == 2


def test_names() -> None:
    assert (
        parse_reference("registry.example.com/team/spark-k8s-python-deps:3.5").short_name
        == "spark-k8s-python-deps"
    )
    assert parse_reference("registry.example.com/team/app:3.5").repository == "registry.example.com/team/app"
    assert (
        parse_reference("docker-archive:/data/spark-k8s-python-deps.tar").short_name
        == "spark-k8s-python-deps"
    )
    assert parse_reference("oci:/data/layout").short_name == "layout"
    assert split_tag("app") == ("app", "latest") and normalize_tag("app") == "app:latest"
    assert normalize_tag("localhost:5000/app") == "localhost:5000/app:latest"
    assert parse_reference("docker://127.0.0.1:5000/team/app:1").short_name == "app"
    assert parse_reference("docker://127.0.0.1:5000/team/app:1").text == "docker://127.0.0.1:5000/team/app:1"
    assert names_match("demo", "docker.io/library/demo:latest")
    assert names_match("demo:1", "localhost/demo:1")
    assert not names_match("demo:1", "demo:2")
