"""Diff-verification on real images: a Debian bookworm root filesystem with Python 3.11 and a venv holding
two tiny local packages (``pkga`` imports ``pkgb.testing``). The original and its "hardened" copies are made
through the model (``Rootfs.with_changes``); the same pairs verify in the bwrap sandbox and on the engine.

* a hardened copy that lost ``pkgb/testing`` fails, naming ``pkga``; ``brokenmod`` fails in both: not blamed
* a properly hardened copy (no shell, no setid, non-root, an installer removed on purpose) passes
* the engine runner and the sandbox runner agree on the same pair

The base is debootstrap'ed once and cached under /var/cache/harden-test (``HARDEN_TEST_CACHE``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from harden.image.blobs import BlobStore
from harden.image.merge import merge_layers
from harden.image.model import EntryType, FileEntry, ImageConfig, Layer, Rootfs
from harden.policy import SmokeTest, VerifySettings
from harden.verify.api import VerifyTarget, verify
from harden.verify.assertions import shells_in_model
from harden.verify.result import VerificationReport
from harden.verify.runners import bwrap_path

pytestmark = pytest.mark.engine

CACHE = Path(os.environ.get("HARDEN_TEST_CACHE", "/var/cache/harden-test"))
BASE_DIR = CACHE / "pybase-bookworm"
BASE_TAR = CACHE / "pybase-bookworm.tar"
SITE = PurePosixPath("opt/venv/lib/python3.11/site-packages")
VENV_PYTHON = PurePosixPath("opt/venv/bin/python3")
VENV = "/opt/venv/bin/python3.11"  # the venv's interpreter as environment discovery names it
PATH = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NONROOT = 65532

PACKAGES = {
    "pkga/__init__.py": "import pkgb.testing\n\nHELPER = pkgb.testing.HELPER\n\ndef main():\n    return 0\n",
    "pkgb/__init__.py": "VERSION = '2.0'\n",
    "pkgb/testing/__init__.py": "HELPER = 'kept at run time'\n",
    "brokenmod.py": "import module_that_never_existed\n",
    "tinyinstaller/__init__.py": "",
    "pkga-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: pkga\nVersion: 1.0\nRequires-Dist: pkgb\n",
    "pkga-1.0.dist-info/RECORD": "pkga/__init__.py,,\npkga-1.0.dist-info/METADATA,,\n",
    "pkga-1.0.dist-info/entry_points.txt": "[console_scripts]\npkga = pkga:main\n",
    "pkgb-2.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: pkgb\nVersion: 2.0\n",
    "pkgb-2.0.dist-info/RECORD": "pkgb/__init__.py,,\npkgb/testing/__init__.py,,\n",
    "tinyinstaller-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinyinstaller\nVersion: 1.0\n",
    "tinyinstaller-1.0.dist-info/top_level.txt": "tinyinstaller\n",
}
NONROOT_PASSWD = f"nonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
NONROOT_GROUP = f"nonroot:x:{NONROOT}:\n"

SETTINGS = VerifySettings.of(
    imports=("pkga",),
    plugins=("pkgb.testing",),
    timeout_seconds=60,
    discover=True,
    startup_modules=("pkga",),
    startup_runs=3,
    smoke=(SmokeTest("pkga works", "import pkga\nassert pkga.main() == 0\n", 60),),
)
QUICK = VerifySettings.of(imports=("pkga", "brokenmod", "json"), discover=False, startup_runs=1)


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def build_base() -> None:
    """debootstrap (minbase + python3, venv, CA certificates, tzdata), a venv at /opt/venv, docs pruned."""
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        unavailable(f"{BASE_DIR} is not cached and debootstrap (as root) is not available to build it")
    scratch = BASE_DIR.with_name(BASE_DIR.name + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    steps = [
        ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates,tzdata",
         "bookworm", str(scratch), "http://deb.debian.org/debian"],
        ["chroot", str(scratch), "/usr/bin/python3", "-m", "venv", "--without-pip", "/opt/venv"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=1800, check=False)
        if done.returncode != 0:
            unavailable(f"{step[0]} failed: {done.stderr[-500:]}")
    for junk in ("usr/share/doc", "usr/share/man", "usr/share/locale", "var/cache/apt", "var/lib/apt/lists"):
        for child in (scratch / junk).glob("*"):
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    scratch.rename(BASE_DIR)


def base_tar() -> Path:
    if not BASE_DIR.is_dir():
        build_base()
    if not BASE_TAR.exists() or BASE_TAR.stat().st_mtime < BASE_DIR.stat().st_mtime:
        scratch = BASE_TAR.with_suffix(".tmp")
        with tarfile.open(scratch, "w", format=tarfile.PAX_FORMAT) as tar:
            for child in sorted(BASE_DIR.iterdir()):
                tar.add(child, arcname=child.name)
        scratch.rename(BASE_TAR)
    return BASE_TAR


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


@dataclass(frozen=True)
class Images:
    blobs: BlobStore
    original: Rootfs
    good: Rootfs
    bad: Rootfs
    original_config: ImageConfig
    hardened_config: ImageConfig


def put_file(blobs: BlobStore, path: PurePosixPath, data: bytes, mode: int = 0o644) -> FileEntry:
    digest, size = blobs.put_bytes(data)
    return FileEntry(path, EntryType.FILE, mode=mode, digest=digest, size=size)


def appended(rootfs: Rootfs, blobs: BlobStore, path: str, extra: str) -> FileEntry:
    entry = rootfs.get(path)
    assert entry is not None and entry.digest is not None
    data = blobs.read(entry.digest) + extra.encode()
    return put_file(blobs, PurePosixPath(path), data, entry.mode)


def config(user: str) -> ImageConfig:
    return ImageConfig({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": [f"PATH={PATH}", "LANG=C.UTF-8"], "Cmd": ["python3"], "User": user,
                   "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": []},
    })


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    tar = base_tar()
    blobs = BlobStore(tmp_path_factory.mktemp("verify-blobs"))
    base = merge_layers([Layer(sha256_file(tar), lambda: tar.open("rb"))], blobs).rootfs
    put: dict[PurePosixPath, FileEntry] = {}
    for name, text in PACKAGES.items():
        path = SITE / name
        put[path] = put_file(blobs, path, text.encode())
        for parent in path.parents:
            if parent not in base and parent != PurePosixPath("."):
                put.setdefault(parent, FileEntry(parent, EntryType.DIR, mode=0o755))
    put[PurePosixPath("etc/passwd")] = appended(base, blobs, "etc/passwd", NONROOT_PASSWD)
    put[PurePosixPath("etc/group")] = appended(base, blobs, "etc/group", NONROOT_GROUP)
    home = PurePosixPath("home/nonroot")
    put[home] = FileEntry(home, EntryType.DIR, mode=0o755, uid=NONROOT, gid=NONROOT)
    original = base.with_changes(put=put)

    shells = frozenset(PurePosixPath(path.lstrip("/")) for path in shells_in_model(original))
    installer = frozenset({SITE / "tinyinstaller", SITE / "tinyinstaller-1.0.dist-info"})
    cleared = {e.path: e.evolve(mode=e.mode & ~0o6000) for e in original if e.setid}
    good = original.with_changes(remove=shells | installer, put=cleared)
    bad = good.with_changes(remove=frozenset({SITE / "pkgb" / "testing"}))
    return Images(blobs, original, good, bad, config(""), config(f"{NONROOT}:{NONROOT}"))


def target(label: str, rootfs: Rootfs, image_config: ImageConfig, blobs: BlobStore,
           engine_image: str | None = None) -> VerifyTarget:
    return VerifyTarget(label, image_config, rootfs, blobs, engine_image)


needs_bwrap = pytest.mark.skipif(bwrap_path() is None, reason="bwrap (Debian package bubblewrap) is missing")


def regressions(report: VerificationReport) -> dict[str, list[str]]:
    return {diff.interpreter: [c.module for c in diff.regressions] for diff in report.imports}


def preexisting(report: VerificationReport) -> dict[str, list[str]]:
    return {diff.interpreter: [c.module for c in diff.preexisting_failures] for diff in report.imports}


@pytest.fixture(scope="module")
def sandbox_bad_report(images: Images, tmp_path_factory: pytest.TempPathFactory) -> VerificationReport:
    if bwrap_path() is None:
        pytest.skip("bwrap (Debian package bubblewrap) is missing")
    return verify(
        target("original", images.original, images.original_config, images.blobs),
        target("hardened", images.bad, images.hardened_config, images.blobs),
        SETTINGS, allowed_removals=("tinyinstaller",), runner="sandbox",
        workdir=tmp_path_factory.mktemp("verify-work"), jobs=2,
    )


@needs_bwrap
def test_a_hardened_image_that_lost_a_module_fails_naming_the_import_that_broke(
        sandbox_bad_report: VerificationReport) -> None:
    report = sandbox_bad_report
    assert report.runner == "sandbox"
    assert report.interpreters[0] == VENV
    assert "/usr/bin/python3.11" in report.interpreters or "/usr/bin/python3" in report.interpreters
    assert not report.ok
    venv = regressions(report)[VENV]
    assert {"pkga", "pkga:main", "pkgb.testing"} <= set(venv)
    failures = report.failures()
    lost = "pkga: ModuleNotFoundError: No module named 'pkgb.testing'"
    assert any(line.startswith(lost) for line in failures)
    assert any(line.startswith("smoke test pkga works failed in the hardened image") for line in failures)


@needs_bwrap
def test_a_module_broken_in_the_original_too_is_not_a_regression(
        sandbox_bad_report: VerificationReport) -> None:
    report = sandbox_bad_report
    assert "brokenmod" in preexisting(report)[VENV]
    assert not any("brokenmod" in line for line in report.failures())
    venv = next(d for d in report.imports if d.interpreter == VENV)
    assert [loss.module for loss in venv.accounted] == ["tinyinstaller"]
    assert venv.accounted[0].accounting is not None
    assert venv.total > 500  # the stdlib surface is in: codecs, decimal, numbers …
    assert venv.ok_before > 500


@needs_bwrap
def test_a_properly_hardened_image_passes(images: Images, tmp_path: Path) -> None:
    report = verify(
        target("original", images.original, images.original_config, images.blobs),
        target("hardened", images.good, images.hardened_config, images.blobs),
        SETTINGS, allowed_removals=("tinyinstaller",), runner="sandbox", workdir=tmp_path, jobs=2,
    )
    assert report.failures() == []
    assert report.ok
    assert {a.code for a in report.assertions if a.passed} >= {
        "HV-NO-SHELL", "HV-NO-SHELL-BINARY", "HV-NON-ROOT", "HV-NO-SETID", "HV-HOME-WRITABLE",
        "HV-CA-BUNDLE", "HV-TZDATA"}
    venv = next(m for m in report.metadata if m.interpreter == VENV)
    assert venv.removed_deliberately == ("tinyinstaller",)
    assert report.startup is not None and report.startup.ratio is not None
    assert [s.passed for s in report.smoke] == [True]
    assert len(report.clean_starts) >= 2 and all(s.failure() is None for s in report.clean_starts)
    assert not list(tmp_path.iterdir())  # the materialized root filesystems are gone


@needs_bwrap
def test_a_pth_file_left_importing_a_removed_module_fails_the_bare_start(images: Images, tmp_path: Path) -> None:
    """What remove-installers once left on Debian: distutils-precedence.pth without _distutils_hack. Python only
    prints the error and carries on, so no import fails; the bare start catches it."""
    pth = SITE / "orphan-precedence.pth"
    orphaned = images.good.with_changes(put={pth: put_file(
        images.blobs, pth, b"import os; __import__('_hack_that_was_removed').add_shim();\n")})
    report = verify(
        target("original", images.original, images.original_config, images.blobs),
        target("hardened", orphaned, images.hardened_config, images.blobs),
        QUICK, runner="sandbox", workdir=tmp_path, interpreters=[VENV_PYTHON],
    )
    [start] = report.clean_starts
    assert start.exit_before == 0 and start.exit_after == 0
    assert any("orphan-precedence.pth" in line for line in start.new_stderr)
    assert any(line.startswith("/opt/venv/bin/python3 prints new errors at start-up: Error processing line 1 of "
                               "/opt/venv/lib/python3.11/site-packages/orphan-precedence.pth")
               for line in report.failures())


@needs_bwrap
def test_an_unhardened_image_fails_the_assertions_in_the_sandbox(images: Images, tmp_path: Path) -> None:
    same = target("original", images.original, images.original_config, images.blobs)
    report = verify(same, same, QUICK, runner="sandbox", workdir=tmp_path, interpreters=[VENV_PYTHON])
    failed = {a.code for a in report.assertions if not a.passed}
    assert failed == {"HV-NO-SHELL", "HV-NO-SHELL-BINARY", "HV-NON-ROOT", "HV-NO-SETID"}
    assert regressions(report) == {"/opt/venv/bin/python3": []}
    required = ("brokenmod: ModuleNotFoundError: No module named 'module_that_never_existed' "
                "(required by the policy; failed in the original too)")
    assert required in report.failures()


@needs_bwrap
def test_an_interpreter_gone_from_the_hardened_image_fails(images: Images, tmp_path: Path) -> None:
    gone = images.good.with_changes(remove=frozenset({PurePosixPath("opt/venv/bin")}))
    report = verify(
        target("original", images.original, images.original_config, images.blobs),
        target("hardened", gone, images.hardened_config, images.blobs),
        QUICK, runner="sandbox", workdir=tmp_path, interpreters=[VENV_PYTHON],
    )
    assert "interpreter /opt/venv/bin/python3 is gone from the hardened image" in report.failures()


# ---------------------------------------------------------------------------- engine


@pytest.fixture(scope="module")
def engine_images(images: Images, docker_client: Any,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from harden.image.transports.daemon import remove_image
    from harden.image.transports.docker_archive import write_docker_archive
    from harden.image.writer import with_written_layers, write_layer
    from imagefactory import load_archive

    folder = tmp_path_factory.mktemp("verify-engine")
    loaded = []
    for name, rootfs, image_config in (("original", images.original, images.original_config),
                                       ("bad", images.bad, images.hardened_config)):
        layer = write_layer(rootfs, images.blobs, folder / f"{name}.layer.tar", clamp_mtime=0)
        final = with_written_layers(image_config, [layer], created_by=f"test_verify {name}", epoch=0)
        archive = write_docker_archive(final, [layer], folder / f"{name}.docker-archive.tar")
        loaded.append(load_archive(archive, docker_client))
        layer.path.unlink()
        archive.unlink()
    yield loaded[0], loaded[1]
    for image_id in loaded:
        remove_image(image_id, client=docker_client)


def test_engine_and_sandbox_agree_on_the_same_pair(
        images: Images, engine_images: tuple[str, str], sandbox_bad_report: VerificationReport,
        tmp_path: Path) -> None:
    original_id, bad_id = engine_images
    report = verify(
        target("original", images.original, images.original_config, images.blobs, original_id),
        target("hardened", images.bad, images.hardened_config, images.blobs, bad_id),
        SETTINGS, allowed_removals=("tinyinstaller",), runner="engine", workdir=tmp_path, jobs=2,
    )
    sandbox = sandbox_bad_report
    assert report.runner == "engine"
    assert not report.ok
    assert report.interpreters == sandbox.interpreters
    assert regressions(report) == regressions(sandbox)
    assert preexisting(report) == preexisting(sandbox)
    assert [d.counts for d in report.imports] == [d.counts for d in sandbox.imports]
    assert [m.to_dict() for m in report.metadata] == [m.to_dict() for m in sandbox.metadata]
    assert [(a.code, a.passed) for a in report.assertions] == [(a.code, a.passed) for a in sandbox.assertions]
    assert [(s.name, s.before.passed, s.after.passed) for s in report.smoke] == \
           [(s.name, s.before.passed, s.after.passed) for s in sandbox.smoke]
    assert report.failures() == sandbox.failures()


def test_the_engine_runner_runs_read_only_without_network_as_the_user_and_cleans_up(
        engine_images: tuple[str, str], docker_client: Any) -> None:
    from harden.verify.runners import LABEL, Confinement, EngineRunner

    _, bad_id = engine_images
    runner = EngineRunner(docker_client, bad_id)  # the image's own User: 65532:65532
    code = ("import errno, json, os, socket\n"
            "try:\n    open('/home/nonroot/probe', 'w'); err = 'written'\n"
            "except OSError as exc:\n    err = errno.errorcode[exc.errno]\n"
            "open('/tmp/scratch', 'w').write('ok')\n"
            "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'err': err,\n"
            "                  'nics': sorted(n for _, n in socket.if_nameindex())}))")
    result = runner.run(["/usr/bin/python3", "-c", code], timeout=120)
    assert result.ok, result.stderr
    facts = json.loads(result.stdout)
    assert (facts["uid"], facts["gid"]) == (NONROOT, NONROOT)
    assert facts["err"] == "EROFS"  # the user's own HOME: only the read-only root stops the write
    assert facts["nics"] == ["lo"]
    writable = runner.run(["/usr/bin/python3", "-c", "open('/home/nonroot/x', 'w')"], timeout=120,
                          confinement=Confinement.WRITABLE)
    assert writable.ok, writable.stderr
    restricted = runner.run(["/usr/bin/python3", "-c", "open('/tmp/x', 'w')"], timeout=120,
                            confinement=Confinement.RESTRICTED)
    assert not restricted.ok and "Read-only file system" in restricted.stderr
    assert writable.ok, writable.stderr
    hung = runner.run(["/usr/bin/python3", "-c", "import time; time.sleep(600)"], timeout=5)
    assert hung.timed_out and not hung.ok
    gone = runner.run(["/opt/nowhere/python3", "-c", "pass"], timeout=120)
    assert gone.exit_code not in (0, None)
    assert docker_client.containers.list(all=True, filters={"label": LABEL}) == []


def test_the_engine_runner_stop_is_final_and_races_nothing(engine_images: tuple[str, str],
                                                           docker_client: Any) -> None:
    """stop() from another thread ends a run going; a run asked for after it never creates a container; and a
    stop() landing while a container is being created removes that container instead of letting it run."""
    import threading
    import time

    from harden.verify.runners import LABEL, EngineRunner

    original_id, _ = engine_images
    runner = EngineRunner(docker_client, original_id)
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", runner.run(
        ["/usr/bin/python3", "-c", "import time; time.sleep(600)"], timeout=300)))
    thread.start()
    deadline = time.monotonic() + 60
    while not docker_client.containers.list(filters={"label": LABEL}) and time.monotonic() < deadline:
        time.sleep(0.1)
    runner.stop()
    thread.join(60)
    assert not thread.is_alive(), "stop() did not end the run"
    assert not box["result"].ok and not box["result"].timed_out
    later = runner.run(["/usr/bin/python3", "-c", "pass"], timeout=120)
    assert not later.ok and "interrupted" in later.stderr

    class StopWhileCreating:
        """The real client; its create returns only after the runner was stopped (the race, made certain)."""

        def __init__(self, client: Any) -> None:
            self.api = client.api
            self.containers = self
            self._client = client

        def version(self) -> Any:
            return self._client.version()

        def create(self, image: str, **options: Any) -> Any:
            created = self._client.containers.create(image, **options)
            racing.stop()
            return created

    racing = EngineRunner(StopWhileCreating(docker_client), original_id)
    raced = racing.run(["/usr/bin/python3", "-c", "print('must not run')"], timeout=120)
    assert not raced.ok and "must not run" not in raced.stdout and "interrupted" in raced.stderr
    assert docker_client.containers.list(all=True, filters={"label": LABEL}) == []
