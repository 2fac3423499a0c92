"""``harden image`` on an Alpine-like docker-archive (tests/fixtures/alpine: real musl and busybox binaries, an
apk database in apk-tools' format), end to end through the CLI with ``--no-verify`` (the fixture's python3.11
is a musl stand-in, not CPython). What came out is read with tarfile and json alone: busybox and its applet
links are gone with no link left dangling, the apk database lists exactly what is left, report.json names the
OS and validates, the SBOMs carry apk purls, and the musl program strip-debug stripped still runs under the
musl loader of this machine."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path, PurePosixPath

import pytest

from cli.cli_support import validate_report
from fixtures.alpine.make_fixture import LOADER, Binaries, alpine_image, compile_binaries
from harden.apk.installed import parse_installed
from hostile.hostile_scene import Scene
from hostile.hostile_support import config_for, read_docker_archive

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def musl_binaries(tmp_path_factory: pytest.TempPathFactory) -> Binaries:
    return compile_binaries(Path(tmp_path_factory.mktemp("musl-build")))


def _resolve(links: dict[str, str], names: set[str], path: str) -> str | None:
    """Where ``path`` leads in the written layer (symlinks followed), or None when it leads nowhere."""
    for _ in range(40):
        if path in names and path not in links:
            return path
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if prefix in links:
                target = links[prefix]
                base = "" if target.startswith("/") else "/".join(parts[: i - 1])
                joined = os.path.normpath(os.path.join("/", base, target, *parts[i:])).lstrip("/")
                path = joined
                break
        else:
            return None
    return None


def test_an_alpine_image_end_to_end(scene: Scene, musl_binaries: Binaries, tmp_path: Path) -> None:
    layer = alpine_image(musl_binaries).layer()
    config = config_for([layer], Env=[PATH], Cmd=["/usr/local/bin/hello"])
    archive = scene.archive([layer], config, name="alpine.tar", repo_tags=["fixture/alpine:3.19"])
    out = scene.out / "out.tar"
    run = scene.run("image", f"docker-archive:{archive}", "--no-verify", "--jobs", "1",
                    "--output", f"docker-archive:{out}", "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 0, run.stderr

    _, entries = read_docker_archive(out)
    names = set(entries)
    links = {name: w.info.linkname for name, w in entries.items() if w.info.issym()}
    assert not {"bin/busybox", "bin/sh", "bin/ls", "usr/bin/env", "sbin/ifconfig"} & names
    assert [name for name in links if _resolve(links, names, name) is None] == []
    for kept in (LOADER, "lib/libc.musl-x86_64.so.1", "usr/local/bin/python3.11", "usr/local/bin/hello",
                 "usr/local/lib/greet/libgreet.so.1", "usr/local/lib/libpython3.11.so.1.0"):
        assert kept in names, kept

    db = parse_installed(entries["lib/apk/db/installed"].data)
    assert [p.name for p in db.packages] == ["musl", "alpine-baselayout-data", "alpine-release", "hello-musl",
                                             ".python-rundeps"]
    for package in db.packages:
        for path in package.paths:
            assert _resolve(links, names, path) is not None or path in links, f"{package.name}: {path}"

    report = validate_report(scene.reports / "r" / "report.json")
    assert report["os"] == {
        "name": "Alpine Linux v3.19", "id": "alpine", "version_id": "3.19.1", "package_db": "apk",
        "databases": [{"kind": "apk", "sources": ["/lib/apk/db/installed", "/lib/apk/db/triggers"],
                       "prunable": True, "packages": 7}],
    }
    assert report["packages"]["before"] == {"pypi": 0, "deb": 0, "apk": 7}
    assert report["packages"]["after"] == {"pypi": 0, "deb": 0, "apk": 5}
    stages = {row["stage"]: row for row in report["sizes"]["stages"]}
    assert stages["remove-unreachable"]["bytes_saved"] >= len(musl_binaries.busybox)
    markdown = (scene.reports / "r" / "report.md").read_text()
    assert "| OS | Alpine Linux v3.19 (apk: /lib/apk/db/installed, /lib/apk/db/triggers) |" in markdown

    before = json.loads((scene.reports / "r" / "sbom.original.cdx.json").read_text())
    purls = {c["name"]: c["purl"] for c in before["components"]}
    assert purls["busybox"] == "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1"
    diff = json.loads((scene.reports / "r" / "sbom.diff.json").read_text())
    assert sorted(c["name"] for c in diff["removed"]) == ["busybox", "busybox-binsh"]
    assert all(c["ecosystem"] == "apk" for c in diff["removed"])

    # strip-debug stripped the musl program and its library; they still run under the musl loader here
    assert len(entries["usr/local/bin/hello"].data) < len(musl_binaries.hello)
    assert len(entries["usr/local/lib/greet/libgreet.so.1"].data) < len(musl_binaries.libgreet)
    if not Path("/" + LOADER).exists():
        pytest.fail(f"/{LOADER} is missing (Debian package musl; scripts/test-prereqs.sh installs it)")
    root = tmp_path / "root"
    for path in ("usr/local/bin/hello", "usr/local/lib/greet/libgreet.so.1"):
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(entries[path].data)
        target.chmod(0o755)
    ran = subprocess.run([str(root / "usr/local/bin/hello")], capture_output=True, text=True, timeout=30,
                         env={"PATH": "/usr/bin:/bin"})
    assert (ran.returncode, ran.stdout) == (0, "hello from musl\n"), ran.stderr
    assert PurePosixPath(entries["usr/local/bin/hello"].info.name).name == "hello"


def test_a_dry_run_plans_the_same_without_writing(scene: Scene, musl_binaries: Binaries) -> None:
    layer = alpine_image(musl_binaries).layer()
    archive = scene.archive([layer], config_for([layer], Env=[PATH]), name="alpine.tar")
    run = scene.run("image", f"docker-archive:{archive}", "--dry-run", "--jobs", "1",
                    "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 0, run.stderr
    report = validate_report(scene.reports / "r" / "report.json")
    targets = {c["target"] for c in report["changes"] if c["stage"] == "remove-unreachable"}
    assert {"/bin", "/sbin", "/usr/bin", "/usr/local/bin/hello"} <= targets
    notes = [n["note"] for n in report["notes"] if n["stage"] == "prune-package-db"]
    assert notes[0].startswith("apk database: 7 packages checked; 3 pruned (no file left)")
    with tarfile.open(archive) as tar:  # the input is untouched (the scene hashes it too)
        assert "manifest.json" in tar.getnames()
