"""dockerfiles/python-deps/musl-wheel-check.sh, the builder stage's first step: a glibc interpreter skips it at
once; on musl it names every pin without a wheel for the interpreter, in one pip run per missing pin plus one.

No Alpine image can be pulled here, so musl is played the honest way that pip allows: MUSL_WHEEL_CHECK_FORCE=1
with pip's own musllinux target options (``--platform musllinux_1_2_x86_64 ... --python-version 3.11``), against
a local index of wheels made in the test (``--no-index --find-links``; no network): the same pip resolution an
Alpine interpreter does for its own tags. What the test cannot show is the real python:3.11-alpine run; the
musl detection itself is checked on a musl CPython where tests/fixtures/alpine/musl_python.py has built one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from fixtures.alpine.musl_python import musl_python

SCRIPT = Path(__file__).resolve().parents[2] / "dockerfiles" / "python-deps" / "musl-wheel-check.sh"
MUSL_TARGET = ["--platform", "musllinux_1_2_x86_64", "--platform", "musllinux_1_1_x86_64", "--python-version",
               "3.11", "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none"]


def wheel(directory: Path, name: str, version: str, tag: str) -> Path:
    """A minimal valid wheel: a module, METADATA, WHEEL and RECORD."""
    info = f"{name}-{version}.dist-info"
    path = directory / f"{name}-{version}-{tag}.whl"
    files = {
        f"{name}/__init__.py": "",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{item},,\n" for item in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for item, text in files.items():
            archive.writestr(item, text)
    return path


@pytest.fixture
def index(tmp_path: Path) -> Path:
    """pure (py3-none-any), native (manylinux only), musl11 (a musllinux_1_1 wheel), native2 (manylinux
    only); pyspark has no wheel at all (sdist-only upstream)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel(wheels, "pure", "1.0", "py3-none-any")
    wheel(wheels, "native", "2.0", "cp311-cp311-manylinux_2_28_x86_64")
    wheel(wheels, "musl11", "3.0", "cp311-cp311-musllinux_1_1_x86_64")
    wheel(wheels, "native2", "1.5", "cp311-cp311-manylinux_2_17_x86_64")
    return wheels


def check(python: str, constraints: Path, *options: str, force: bool = False,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The script as the Dockerfile runs it; with ``force``, musl is played with pip's target options (older
    pips take those only with ``--target``: a directory the dry run never writes to)."""
    if force:
        options = (*options, "--target", str(constraints.parent / "never-written"))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if force:
        environment["MUSL_WHEEL_CHECK_FORCE"] = "1"
    environment.update(env or {})
    return subprocess.run(["sh", str(SCRIPT), python, str(constraints), *options], capture_output=True, text=True,
                          env=environment, timeout=300)


def constraints(tmp_path: Path, *pins: str) -> Path:
    path = tmp_path / "constraints.txt"
    path.write_text("# pinned\n\n" + "".join(f"{pin}\n" for pin in pins))
    return path


def test_a_glibc_interpreter_skips_the_check_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    done = check(sys.executable, constraints(tmp_path, "no-such-distribution==0.0"))
    assert (done.returncode, done.stderr) == (0, "")
    assert time.monotonic() - started < 10


def test_on_musl_every_pin_without_a_wheel_is_named(tmp_path: Path, index: Path) -> None:
    pins = constraints(tmp_path, "pure==1.0", "native==2.0", "musl11==3.0", "native2==1.5", "pyspark==3.5.9")
    done = check(sys.executable, pins, "--no-index", "--find-links", str(index), *MUSL_TARGET, force=True)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == ("ERROR: BASE_IMAGE is musl-based (Alpine) and these pinned distributions have no "
                        "musllinux wheel for")
    assert lines[1] == f"ERROR: CPython {sys.version_info[0]}.{sys.version_info[1]}: native==2.0 native2==1.5"
    assert "pure" not in lines[1] and "musl11" not in lines[1] and "pyspark" not in lines[1]
    assert "Use a glibc base (python:3.11-slim), or a musl wheel-builder stage." in done.stderr
    assert pins.read_text().endswith("pyspark==3.5.9\n")  # the constraints file itself is left as it was
    assert not (tmp_path / "never-written").exists()


def test_on_musl_all_wheels_there_passes(tmp_path: Path, index: Path) -> None:
    done = check(sys.executable, constraints(tmp_path, "pure==1.0", "musl11==3.0"), "--no-index", "--find-links",
                 str(index), *MUSL_TARGET, force=True)
    assert (done.returncode, done.stderr) == (0, "")


def test_sdist_only_pins_are_a_setting(tmp_path: Path, index: Path) -> None:
    pins = constraints(tmp_path, "pure==1.0", "pyspark==3.5.9")
    options = ["--no-index", "--find-links", str(index), *MUSL_TARGET]
    done = check(sys.executable, pins, *options, force=True, env={"MUSL_SDIST_OK": "native"})
    assert done.returncode == 1 and "pyspark==3.5.9" in done.stderr


def test_another_failure_is_shown_not_taken_for_a_missing_wheel(tmp_path: Path, index: Path) -> None:
    done = check(sys.executable, constraints(tmp_path, "pure==1.0", "not a requirement ==="), "--no-index",
                 "--find-links", str(index), *MUSL_TARGET, force=True)
    assert done.returncode == 1
    assert "ERROR: the musl wheel check failed for another reason (above)" in done.stderr


def test_a_musl_cpython_is_recognised_as_musl(tmp_path: Path) -> None:
    """The detection on a real musl interpreter (CPython built with musl-gcc): the check runs instead of
    skipping, and without pip in that interpreter it fails loudly rather than passing."""
    python = musl_python()
    if python is None:
        pytest.skip("no musl CPython built on this machine (tests/fixtures/alpine/musl_python.py)")
    host = python.run("-c", "import sysconfig; print(sysconfig.get_config_var('HOST_GNU_TYPE'))")
    assert "musl" in host
    done = check(str(python.launcher), constraints(tmp_path, "pure==1.0"))
    assert done.returncode == 1
    assert "failed for another reason" in done.stderr and "No module named pip" in done.stderr
    assert shutil.which("sh") is not None
