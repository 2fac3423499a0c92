"""Planted problems produce their findings with stable codes; --fail-on turns them into exit codes."""

from __future__ import annotations

from typing import Any

import pytest
from report_support import GROUP, PASSWD, SHADOW, build_image

from harden.errors import FindingsError, UsageError
from harden.image.blobs import BlobStore
from harden.report.findings import enforce_fail_on, exit_code_for, find_issues, metadata_findings
from harden.report.model import Component, Finding, Severity
from harden.report.rules import RULES
from imagefactory import TarEntry, directory, file, symlink

SAFE = [file("etc/passwd", PASSWD), file("etc/group", GROUP), file("etc/shadow", SHADOW)]
HEALTHY = {"Healthcheck": {"Test": ["CMD", "/usr/local/bin/python3", "-c", "0"]}, "User": "65532:65532"}
KEY = b"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"


def findings(blobs: BlobStore, entries: list[TarEntry], reference: str | None = None,
             **container: Any) -> list[Finding]:
    config = {**HEALTHY, **container}
    image, rootfs = build_image([entries], blobs, **config)
    return find_issues(rootfs, image.config, blobs, reference=reference)


def codes(found: list[Finding]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for f in found:
        result.setdefault(f.code, []).append(f.location)
    return result


def test_a_clean_image_has_no_findings(blobs: BlobStore) -> None:
    assert findings(blobs, [*SAFE, file("app/main.py", b"print()")]) == []


def test_planted_secret_file_is_cis_di_0010(blobs: BlobStore) -> None:
    found = codes(findings(blobs, [*SAFE, file("home/app/.aws/credentials", b"[default]\n"),
                                   file("root/.ssh/id_rsa", KEY, mode=0o600)]))
    assert found["CIS-DI-0010"] == ["/home/app/.aws/credentials", "/root/.ssh/id_rsa"]
    assert RULES["CIS-DI-0010"].severity is Severity.ERROR


def test_private_key_in_a_pem_file_is_hdn_0005(blobs: BlobStore) -> None:
    found = codes(findings(blobs, [*SAFE, file("srv/tls/server.pem", KEY),
                                   file("etc/ssl/certs/ca.pem", b"-----BEGIN CERTIFICATE-----\n")]))
    assert found == {"HDN-0005": ["/srv/tls/server.pem"]}


def test_planted_setuid_and_setgid_binaries_are_cis_di_0008(blobs: BlobStore) -> None:
    found = findings(blobs, [*SAFE, file("usr/bin/passwd", b"elf", mode=0o4755),
                             file("usr/bin/wall", b"elf", mode=0o2755),
                             file("usr/bin/ok", b"elf", mode=0o755)])
    hits = [f for f in found if f.code == "CIS-DI-0008"]
    assert [(f.location, f.message.split(" file")[0]) for f in hits] == [
        ("/usr/bin/passwd", "setuid"), ("/usr/bin/wall", "setgid")]


def test_planted_world_writable_file_is_hdn_0002(blobs: BlobStore) -> None:
    found = codes(findings(blobs, [*SAFE, file("srv/shared.txt", b"x", mode=0o666),
                                   directory("tmp", mode=0o1777), directory("srv/drop", mode=0o777),
                                   symlink("srv/link", "shared.txt")]))
    assert found == {"HDN-0002": ["/srv/drop", "/srv/shared.txt"]}


@pytest.mark.parametrize("user", ["", "root", "0", "0:0", "root:root", "toor", "toor:0"])
def test_every_spelling_of_root_is_cis_di_0001(blobs: BlobStore, user: str) -> None:
    passwd = PASSWD + b"toor:x:0:0::/root:/bin/sh\n"
    found = findings(blobs, [file("etc/passwd", passwd), file("etc/group", GROUP)], User=user)
    assert [f.code for f in found if f.location == "config:User"] == ["CIS-DI-0001"]


@pytest.mark.parametrize(("user", "expected"), [("65532", []), ("nonroot", []), ("nonroot:nonroot", []),
                                                 ("1000:1000", []), ("ghost", ["HDN-0001"])])
def test_non_root_users(blobs: BlobStore, user: str, expected: list[str]) -> None:
    found = findings(blobs, SAFE, User=user)
    assert [f.code for f in found if f.location == "config:User"] == expected


def test_secret_env_keys_are_flagged_without_their_values(blobs: BlobStore) -> None:
    found = findings(blobs, SAFE, Env=["PATH=/bin", "AWS_SECRET_ACCESS_KEY=abc123", "GPG_KEY=ABCD",
                                       "API_TOKEN=t0k"])
    hits = [f for f in found if f.code == "CIS-DI-0010"]
    assert [f.location for f in hits] == ["config:Env/API_TOKEN", "config:Env/AWS_SECRET_ACCESS_KEY"]
    assert not any("abc123" in f.message or "t0k" in f.message for f in found)


def test_missing_healthcheck_is_cis_di_0006(blobs: BlobStore) -> None:
    expected = {"CIS-DI-0006": ["config:Healthcheck"]}
    assert codes(findings(blobs, SAFE, Healthcheck=None)) == expected
    assert codes(findings(blobs, SAFE, Healthcheck={"Test": ["NONE"]})) == expected


def test_apt_lists_are_dkl_di_0005(blobs: BlobStore) -> None:
    found = codes(findings(blobs, [*SAFE, file("var/lib/apt/lists/deb.debian.org_Packages", b"x" * 100),
                                   file("var/lib/apt/lists/lock", b"")]))
    assert found == {"DKL-DI-0005": ["/var/lib/apt/lists"]}


def test_empty_password_and_duplicate_ids(blobs: BlobStore) -> None:
    entries = [
        file("etc/passwd", PASSWD + b"app:x:1000:1000::/app:/bin/false\nalso:x:1000:1000::/:/bin/false\n"),
        file("etc/group", GROUP + b"app:x:1000:\nalso:x:1000:\n"),
        file("etc/shadow", SHADOW + b"app::19000::::::\n"),
    ]
    found = codes(findings(blobs, entries))
    assert found["DKL-LI-0001"] == ["/etc/shadow:app"]
    assert sorted(found["DKL-LI-0002"]) == ["/etc/group:1000", "/etc/passwd:1000"]


def test_unnecessary_files_are_dkl_li_0003(blobs: BlobStore) -> None:
    entries = [*SAFE, file("app/Dockerfile", b"FROM x"), file("app/.git/HEAD", b"ref"),
               file("app/.git/config", b"x"), file("app/node_modules/x/.cache/y", b"z")]
    found = codes(findings(blobs, entries))
    assert found == {"DKL-LI-0003": ["/app/.git", "/app/Dockerfile"]}


def test_shells_and_installers_are_reported(blobs: BlobStore) -> None:
    found = codes(findings(blobs, [*SAFE, file("bin/bash", b"x", mode=0o755), symlink("bin/sh", "bash"),
                                   file("usr/local/bin/pip3", b"#!", mode=0o755)]))
    assert found == {"HDN-0003": ["/bin/bash", "/bin/sh"], "HDN-0004": ["/usr/local/bin/pip3"]}


@pytest.mark.parametrize(("reference", "flagged"), [
    ("python", True), ("python:latest", True), ("registry:5000/team/app", True), ("python:3.11", False),
    ("python@sha256:" + "a" * 64, False), ("docker-archive:/tmp/x.tar", False),
    ("registry:5000/app:1", False),
])
def test_latest_tag_is_dkl_di_0006(blobs: BlobStore, reference: str, flagged: bool) -> None:
    found = codes(findings(blobs, SAFE, reference=reference))
    assert ("DKL-DI-0006" in found) is flagged


def test_lost_dist_info_is_hdn_0009_except_deliberate_removals() -> None:
    def comp(name: str) -> Component:
        return Component("pypi", name, "1.0", f"pkg:pypi/{name}@1.0", "usr/lib/python3/site-packages")

    before = [comp("pandas"), comp("pip"), comp("boto3")]
    lost = metadata_findings(before, [comp("pandas")], allowed=("pip", "boto3"))
    assert lost == []
    lost = metadata_findings(before, [comp("pandas")])
    assert [f.message for f in lost] == ["boto3 1.0 lost its dist-info"]


def test_fail_on_thresholds() -> None:
    warning = Finding("HDN-0002", Severity.WARNING, "w", "/x")
    info = Finding("CIS-DI-0006", Severity.INFO, "i", "config:Healthcheck")
    error = Finding("CIS-DI-0001", Severity.ERROR, "e", "config:User")
    assert exit_code_for([warning, info], "error") == 0
    assert exit_code_for([warning, info], "warning") == 1
    assert exit_code_for([info], "warning") == 0
    assert exit_code_for([error], "error") == 1
    assert exit_code_for([error], "never") == 0
    assert exit_code_for([], "warning") == 0
    with pytest.raises(UsageError):
        exit_code_for([], "fatal")


def test_enforce_fail_on_raises_findings_error_naming_each_finding() -> None:
    error = Finding("CIS-DI-0001", Severity.ERROR, "USER '' runs as root", "config:User")
    with pytest.raises(FindingsError) as caught:
        enforce_fail_on([error], "error", report="reports/x/report.md")
    assert caught.value.exit_code == 1
    assert caught.value.details == ("CIS-DI-0001 config:User: USER '' runs as root",)
    enforce_fail_on([error], "never")
