"""The bwrap sandbox runner, over the host's own root (read-only) with the host's /usr/bin/python3: the user
switch is real, the root is read-only, /tmp is private, the environment is the image's, no network, and a
hung probe is killed."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from harden.verify.runners import DEFAULT_PATH, SandboxRunner, bwrap_path
from harden.verify.users import RunAs

PYTHON = "/usr/bin/python3"

pytestmark = [
    pytest.mark.skipif(bwrap_path() is None, reason="bwrap (Debian package bubblewrap) is not installed"),
    pytest.mark.skipif(not os.access(PYTHON, os.X_OK), reason=f"{PYTHON} is needed inside the sandbox"),
]

NOBODY = RunAs(uid=65534, gid=65534, home="/nonexistent")
ROOT = RunAs(uid=0, gid=0, home="/root")


def run_python(runner: SandboxRunner, code: str, timeout: float = 60) -> Any:
    result = runner.run([PYTHON, "-c", code], timeout=timeout)
    assert result.ok, result.stderr
    return json.loads(result.stdout)


def test_runs_as_the_image_user_numerically_with_real_permissions() -> None:
    runner = SandboxRunner(Path("/"), NOBODY, ["PATH=/usr/bin:/bin"])
    facts = run_python(runner, "import json, os\n"
                       "try:\n    open('/etc/shadow').read(); shadow = 'read'\n"
                       "except PermissionError:\n    shadow = 'denied'\n"
                       "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'shadow': shadow}))")
    assert facts["uid"] == 65534
    assert facts["gid"] == 65534
    if os.geteuid() == 0:
        assert facts["shadow"] == "denied"


def test_root_is_read_only_and_tmp_is_private(tmp_path: Path) -> None:
    probe_dir = Path("/var/tmp") / f"harden-ro-{uuid.uuid4().hex}"
    probe_dir.mkdir(mode=0o777)
    (tmp_path / "host-only").write_text("x")
    try:
        runner = SandboxRunner(Path("/"), ROOT, [])
        facts = run_python(runner, "import json, os, errno\n"
                           f"try:\n    open({str(probe_dir / 'f')!r}, 'w'); err = 'written'\n"
                           "except OSError as exc:\n    err = errno.errorcode[exc.errno]\n"
                           "open('/tmp/scratch', 'w').write('ok')\n"
                           f"print(json.dumps({{'err': err, 'tmp': sorted(os.listdir('/tmp')), "
                           f"'host_tmp_visible': os.path.exists({str(tmp_path)!r})}}))")
        assert facts["err"] == "EROFS"
        assert facts["tmp"] == ["scratch"]
        assert facts["host_tmp_visible"] is False
        assert not (probe_dir / "f").exists()
    finally:
        for child in probe_dir.iterdir():
            child.unlink()
        probe_dir.rmdir()


def test_environment_is_the_image_env_plus_runtime_defaults_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARDEN_HOST_SECRET", "leak")
    runner = SandboxRunner(Path("/"), NOBODY, ["FOO=bar=baz", "LANG=C.UTF-8"], working_dir="/usr")
    facts = run_python(runner, "import json, os\n"
                       "print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd()}))")
    env = dict(facts["env"])
    env.pop("PWD", None)  # bwrap --chdir sets it
    assert env == {"FOO": "bar=baz", "LANG": "C.UTF-8", "PATH": DEFAULT_PATH, "HOME": "/nonexistent"}
    assert facts["cwd"] == "/usr"


def test_no_network_but_loopback() -> None:
    runner = SandboxRunner(Path("/"), NOBODY, [])
    code = "import json, socket; print(json.dumps([name for _, name in socket.if_nameindex()]))"
    facts = run_python(runner, code)
    assert facts == ["lo"]


def test_a_hung_command_is_killed_at_the_timeout() -> None:
    runner = SandboxRunner(Path("/"), NOBODY, [])
    code = "import time; print('started', flush=True); time.sleep(600)"
    result = runner.run([PYTHON, "-c", code], timeout=3)
    assert result.timed_out
    assert result.exit_code is None
    assert not result.ok


def test_the_command_is_an_argv_list_without_any_shell() -> None:
    runner = SandboxRunner(Path("/srv/rootfs"), NOBODY, ["A=1"], working_dir="/app")
    command = runner.command(["/opt/venv/bin/python3", "-c", "print(1)"])
    assert command[-4:] == ["--", "/opt/venv/bin/python3", "-c", "print(1)"]
    assert "--ro-bind" in command and "--bind" not in command
    assert "--bind" in runner.command(["/x"], writable=True)
    assert not any(part in ("sh", "/bin/sh", "bash") for part in command)
    if os.geteuid() == 0:
        assert command[:3] == ["setpriv", "--reuid=65534", "--regid=65534"]
