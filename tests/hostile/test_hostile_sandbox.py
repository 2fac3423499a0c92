"""Hostile content meets verification in the bwrap sandbox (no engine): the image's root filesystem is written
to the host for the sandbox, in a directory other local users can traverse when the image user is not root.
An image's setuid-root binary or ``0666`` block device must not become usable on the host there: the
materialized tree clears setuid/setgid bits and makes device nodes root's with mode 000.

A policy smoke test looks at the tree from inside the sandbox (it sees the same inodes as the host). The tiny
Python image also has no ``_ssl``: the probe must cope with that (it once crashed on ``import ssl``)."""

from __future__ import annotations

import pytest

from hostile import host_python
from hostile.hostile_scene import Scene
from hostile.hostile_support import read_docker_archive
from imagefactory import block_device, directory, file, make_layer_tar

pytestmark = pytest.mark.skipif(host_python.unavailable() is not None, reason=str(host_python.unavailable()))

INERT_SMOKE = '''
[[verify.smoke]]
name = "host-safe-tree"
code = """
import os, stat
disk = os.lstat('/app/disk')
assert stat.S_ISBLK(disk.st_mode), 'the device node is missing'
assert stat.S_IMODE(disk.st_mode) == 0, f'device node usable: {oct(disk.st_mode)}'
assert disk.st_uid != os.getuid(), 'the image user owns the device node (and could chmod it)'
shell = os.stat('/app/rootshell')
assert not shell.st_mode & 0o6000, f'setuid binary on the host: {oct(shell.st_mode)}'
"""
'''


def test_setuid_binary_and_device_node_are_inert_while_verifying(sandbox_scene: Scene) -> None:
    scene = sandbox_scene
    hostile = make_layer_tar([
        directory("app"),
        file("app/rootshell", host_python.PYTHON.read_bytes(), mode=0o4755),
        block_device("app/disk", 8, 0, mode=0o666, uid=1000, gid=1000),
    ])
    layers = [host_python.python_layer(), hostile]
    archive = scene.archive(layers, host_python.python_config(layers, User="1000:1000"))
    policy = scene.inputs / "policy.toml"
    policy.write_text(host_python.FAST_POLICY + INERT_SMOKE)
    run = scene.run("image", f"docker-archive:{archive}", "--policy", str(policy), "--runner", "sandbox",
                    "--jobs", "1", "--output", f"docker-archive:{scene.out / 'out.tar'}",
                    "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "PASSED" in run.stdout
    _, entries = read_docker_archive(scene.out / "out.tar")
    assert entries["app/disk"].info.isblk(), "the image keeps its device node (as metadata)"
    assert not entries["app/rootshell"].info.mode & 0o6000, "add-user clears setid bits in the image"


def test_a_temp_directory_the_image_user_cannot_reach_is_a_clear_error(scene: Scene) -> None:
    """pytest's base directory is 0700: the image's uid 1000 cannot reach a sandbox root below it."""
    layers = [host_python.python_layer()]
    archive = scene.archive(layers, host_python.python_config(layers, User="1000:1000"))
    policy = scene.inputs / "policy.toml"
    policy.write_text(host_python.FAST_POLICY)
    run = scene.run("image", f"docker-archive:{archive}", "--policy", str(policy), "--runner", "sandbox",
                    "--jobs", "1", "--output", f"docker-archive:{scene.out / 'out.tar'}",
                    "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 3, run.stdout + run.stderr
    line = run.error_line
    assert "uid 1000" in line and "TMPDIR" in line
    assert run.created == set()
