"""``harden image`` on an Alpine-like docker-archive (tests/fixtures/alpine: real musl and busybox binaries, an
apk database in apk-tools' format), end to end through the CLI with ``--no-verify`` (the fixture's python3.11
is a musl stand-in, not CPython). What came out is read with tarfile and json alone: busybox and its applet
links are gone with no link left dangling, the apk database lists exactly what is left, report.json names the
OS and validates, the SBOMs carry apk purls, and the musl program strip-debug stripped still runs under the
musl loader of this machine. A pure-Python app on a musl CPython (scripts/musl-python.sh builds one) goes
through the whole run, verification in the bwrap sandbox included."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path, PurePosixPath

import pytest

from cli.cli_support import validate_report
from fixtures.alpine.make_fixture import LOADER, Binaries, alpine_image, compile_binaries
from fixtures.alpine.musl_python import python_alpine_image, require_musl_python
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


def test_a_pure_python_app_on_a_musl_cpython_hardens_and_verifies_in_the_sandbox(
        sandbox_scene: Scene, musl_binaries: Binaries, tmp_path: Path) -> None:
    """python:3.11-alpine's shape with a real interpreter: CPython built with musl-gcc (scripts/musl-python.sh) in
    /usr/local, a pure-Python app in site-packages run by a console script, busybox, the apk database. The
    whole ``harden image`` runs, verification included, in the bwrap sandbox: every module of the app and the
    stdlib imports as before, the linkage check resolves through musl's loader, and what comes out runs."""
    scene = sandbox_scene
    python = require_musl_python()
    layer = python_alpine_image(musl_binaries, python).layer()
    config = config_for([layer], Env=[PATH], Cmd=["/usr/local/bin/app"])
    archive = scene.archive([layer], config, name="musl-app.tar", repo_tags=["fixture/musl-app:1"])
    out = scene.out / "out.tar"
    run = scene.run("image", f"docker-archive:{archive}", "--runner", "sandbox", "--jobs", "1",
                    "--output", f"docker-archive:{out}", "--report-dir", str(scene.reports / "r"))
    report = validate_report(scene.reports / "r" / "report.json")
    verification = report["verification"]
    assert run.exit_code == 0, (run.stderr, verification and verification["failures"])
    assert verification["ok"] is True, verification["failures"]
    details = verification["details"]
    walked = {item["interpreter"]: item for item in details["imports"]}
    assert list(walked) == ["/usr/local/bin/python3.11"]
    surface = walked["/usr/local/bin/python3.11"]
    counts = surface["counts"]
    assert counts["total"] > 300 and counts["ok_after"] + counts["accounted"] == counts["ok_before"] > 300
    accounted = {item["module"]: item["accounting"]["stage"] for item in surface["accounted"]}
    assert accounted == {"ensurepip": "remove-installers", "ensurepip._uninstall": "remove-installers"}
    assert counts["regressions"] == 0 and surface["regressions"] == []
    (metadata,) = details["metadata"]
    assert metadata["ok"] and metadata["distributions_before"] == metadata["distributions_after"] == 1
    assert {a["code"]: a["passed"] for a in details["assertions"]} == {
        "HV-CA-BUNDLE": True, "HV-HOME-WRITABLE": True, "HV-NO-SETID": True, "HV-NO-SHELL": True,
        "HV-NO-SHELL-BINARY": True, "HV-NON-ROOT": True, "HV-TZDATA": True}
    assert details["linkage"]["objects"] > 30 and details["linkage"]["broken"] == []
    assert report["os"]["name"] == "Alpine Linux v3.19" and report["os"]["package_db"] == "apk"

    _, entries = read_docker_archive(out)
    names = set(entries)
    links = {name: w.info.linkname for name, w in entries.items() if w.info.issym()}
    assert "bin/busybox" not in names and "bin/sh" not in names
    assert [name for name in links if _resolve(links, names, name) is None] == []
    libpython = "usr/local/lib/libpython3.11.so.1.0"
    assert len(entries[libpython].data) < (python.root / libpython).stat().st_size  # strip-debug
    root = tmp_path / "root"
    for name, written in entries.items():
        if name.startswith("usr/local/") and written.info.isreg():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(written.data)
            target.chmod(0o755)
    ran = subprocess.run([str(root / "usr/local/bin/python3.11"), "-c", "import app; app.main()"],
                         env={"LD_LIBRARY_PATH": str(root / "usr/local/lib"), "PYTHONHOME": str(root / "usr/local"),
                              "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert (ran.returncode, ran.stdout) == (0, '{"greeting": "hello from musl", "year": 2024}\n'), ran.stderr
