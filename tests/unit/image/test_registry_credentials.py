"""Registry credentials from docker config files and credential helpers (real helper scripts): no network."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from harden.errors import InputError
from harden.image.registry import Credentials, find_credentials
from harden.image.registry.credentials import auth_files


def write(folder: Path, config: object) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return {"DOCKER_CONFIG": str(folder)}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("key", ["reg.example:5000", "https://reg.example:5000", "http://reg.example:5000/v1/"])
def test_auths_keys_are_compared_by_host(tmp_path: Path, key: str) -> None:
    env = write(tmp_path, {"auths": {key: {"auth": b64("u:p:with:colons")}}})
    found = find_credentials("reg.example:5000", env=env)
    assert found is not None and (found.username, found.secret) == ("u", "p:with:colons")
    assert find_credentials("reg.example", env=env) is None


def test_docker_hub_names(tmp_path: Path) -> None:
    env = write(tmp_path, {"auths": {"https://index.docker.io/v1/": {"username": "hub", "password": "pw"}}})
    for host in ("registry-1.docker.io", "docker.io", "index.docker.io"):
        found = find_credentials(host, env=env)
        assert found is not None and found.username == "hub"


def test_identity_token(tmp_path: Path) -> None:
    env = write(tmp_path, {"auths": {"r.example": {"identitytoken": "refresh-xyz"}}})
    found = find_credentials("r.example", env=env)
    assert found is not None and found.is_identity_token and found.secret == "refresh-xyz"


def test_repr_hides_secrets() -> None:
    creds = Credentials("someone", "hunter2-secret", "config.json auths")
    assert "hunter2" not in repr(creds) and "someone" not in repr(creds)
    assert "config.json auths" in repr(creds)


def test_bad_auth_entry_names_file_and_host_only(tmp_path: Path) -> None:
    env = write(tmp_path, {"auths": {"r.example": {"auth": "bm90LXZhbGlk!!"}}})
    with pytest.raises(InputError, match=r"config.json: the auth entry for r.example is not base64") as caught:
        find_credentials("r.example", env=env)
    assert "bm90" not in caught.value.one_line()
    env = write(tmp_path / "2", {"auths": {"r.example": {"auth": b64("nocolon")}}})
    with pytest.raises(InputError, match="not base64 of user:password"):
        find_credentials("r.example", env=env)


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="is not valid JSON"):
        find_credentials("r.example", env={"DOCKER_CONFIG": str(tmp_path)})
    with pytest.raises(InputError, match="does not exist"):
        find_credentials("r.example", auth_file=tmp_path / "missing.json")
    assert find_credentials("r.example", env={"DOCKER_CONFIG": str(tmp_path / "none")}) is None


def test_file_order(tmp_path: Path) -> None:
    skopeo_file = tmp_path / "auth.json"
    skopeo_file.write_text(json.dumps({"auths": {"a.example": {"auth": b64("from:skopeo")}}}), encoding="utf-8")
    env = {**write(tmp_path / "docker", {"auths": {"a.example": {"auth": b64("from:docker")},
                                                   "b.example": {"auth": b64("only:docker")}}}),
           "REGISTRY_AUTH_FILE": str(skopeo_file)}  # fmt: skip
    assert auth_files(env=env) == (skopeo_file, tmp_path / "docker" / "config.json")
    a, b = find_credentials("a.example", env=env), find_credentials("b.example", env=env)
    assert a is not None and a.username == "from" and b is not None and b.username == "only"
    assert auth_files(env={"HOME": str(tmp_path)}) == (tmp_path / ".docker" / "config.json",)


def fake_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    helper = bin_dir / f"docker-credential-{name}"
    helper.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_cred_helpers_win_over_auths_and_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_helper(
        tmp_path, monkeypatch, "perhost", 'read url; echo "{\\"Username\\":\\"h-$url\\",\\"Secret\\":\\"s\\"}"\n'
    )
    fake_helper(tmp_path, monkeypatch, "store", "echo 'credentials not found in native keychain'; exit 1\n")
    env = write(
        tmp_path / "cfg",
        {
            "credHelpers": {"r.example": "perhost"},
            "credsStore": "store",
            "auths": {"r.example": {"auth": b64("file:pw")}, "s.example": {"auth": b64("file:pw")}},
        },
    )
    found = find_credentials("r.example", env=env)
    assert found is not None and found.username == "h-r.example" and found.source == "docker-credential-perhost"
    from_file = find_credentials("s.example", env=env)
    assert from_file is not None and from_file.username == "file"
    assert find_credentials("t.example", env=env) is None  # the store has nothing for it
    found_hub = find_credentials("docker.io", env=write(tmp_path / "hub", {"credsStore": "perhost"}))
    assert found_hub is not None and found_hub.username == "h-https://index.docker.io/v1/"


def test_failing_helper_does_not_leak_its_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_helper(tmp_path, monkeypatch, "broken", "echo 'password=leaked-secret' >&2; exit 3\n")
    env = write(tmp_path / "cfg", {"credsStore": "broken"})
    with pytest.raises(InputError, match=r"docker-credential-broken failed for r.example \(exit 3\)") as caught:
        find_credentials("r.example", env=env)
    assert "leaked" not in caught.value.one_line()
    env = write(tmp_path / "cfg2", {"credsStore": "../../bin/sh"})
    with pytest.raises(InputError, match="invalid credential helper name"):
        find_credentials("r.example", env=env)
