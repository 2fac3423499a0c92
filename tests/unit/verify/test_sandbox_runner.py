"""The bwrap sandbox runner: its command for each confinement, and real runs over the host's own root with the
host's /usr/bin/python3 (the user switch is real, the root is read-only, /tmp is private in a standard run and
absent from a restricted one, the environment is the image's, no network, a hung run is killed at its timeout
and ``stop()`` kills a run from another thread). Without bwrap these tests skip, and fail under CI."""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from harden.errors import InputError
from harden.verify import runners
from harden.verify.probes import FactsProbe
from harden.verify.runners import DEFAULT_PATH, Confinement, RunResult, SandboxRunner
from harden.verify.survey import recheck
from harden.verify.users import RunAs

NOBODY = RunAs(uid=65534, gid=65534, home="/nonexistent")
ROOT = RunAs(uid=0, gid=0, home="/root")


def pairs(command: list[str]) -> list[tuple[str, ...]]:
    """The command's options with their arguments, up to ``--``."""
    options = command[:command.index("--", command.index("--die-with-parent"))]
    found: list[tuple[str, ...]] = []
    widths = {"--bind": 3, "--ro-bind": 3, "--tmpfs": 2, "--cap-drop": 2, "--chdir": 2, "--setenv": 3,
              "--proc": 2, "--dev": 2, "--uid": 2, "--gid": 2}
    index = options.index("--die-with-parent")
    while index < len(options):
        width = widths.get(options[index], 1)
        found.append(tuple(options[index:index + width]))
        index += width
    return found


@pytest.fixture
def fake_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runners, "bwrap_path", lambda: "/usr/bin/bwrap")


@pytest.mark.usefixtures("fake_bwrap")
def test_the_command_for_each_confinement() -> None:
    runner = SandboxRunner(Path("/srv/rootfs"), NOBODY, ["A=1"], working_dir="/app")
    standard = pairs(runner.command(["/py", "-c", "x"], confinement=Confinement.STANDARD))
    restricted = pairs(runner.command(["/py", "-c", "x"], confinement=Confinement.RESTRICTED))
    writable = pairs(runner.command(["/py", "-c", "x"], confinement=Confinement.WRITABLE))
    assert ("--ro-bind", "/srv/rootfs", "/") in standard and ("--tmpfs", "/tmp") in standard
    assert ("--cap-drop", "ALL") not in standard
    assert ("--ro-bind", "/srv/rootfs", "/") in restricted and ("--cap-drop", "ALL") in restricted
    assert not [option for option in restricted if option[0] in ("--tmpfs", "--bind")]
    assert ("--bind", "/srv/rootfs", "/") in writable and ("--tmpfs", "/tmp") in writable
    assert not [option for option in writable if option[0] == "--ro-bind"]
    for options in (standard, restricted, writable):
        assert ("--unshare-all",) in options and ("--chdir", "/app") in options
        assert ("--setenv", "A", "1") in options and ("--setenv", "HOME", "/nonexistent") in options


@pytest.mark.usefixtures("fake_bwrap")
def test_the_command_is_an_argv_list_that_switches_user_without_any_shell() -> None:
    command = SandboxRunner(Path("/srv/rootfs"), NOBODY, []).command(["/opt/venv/bin/python3", "-c", "print(1)"])
    assert command[-4:] == ["--", "/opt/venv/bin/python3", "-c", "print(1)"]
    assert not [part for part in command if part in ("sh", "/bin/sh", "bash", "-lc")]
    assert ("--uid", "65534") in pairs(command) and ("--gid", "65534") in pairs(command)
    if os.geteuid() == 0:
        assert command[:5] == ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def test_without_bwrap_the_sandbox_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runners, "bwrap_path", lambda: None)
    with pytest.raises(InputError, match="bwrap"):
        SandboxRunner(Path("/"), NOBODY, [])


def run_python(runner: SandboxRunner, python: str, code: str,
               confinement: Confinement = Confinement.STANDARD) -> Any:
    result = runner.run([python, "-c", code], timeout=60, confinement=confinement)
    assert result.ok, result.stderr
    return json.loads(result.stdout)


WRITE = """\
import errno, json, os
def attempt(path):
    try:
        with open(path, "w") as handle:
            handle.write("x")
        return "written"
    except OSError as exc:
        return errno.errorcode[exc.errno]
print(json.dumps({"tmp": attempt("/tmp/harden-sandbox-probe"), "root": attempt(%r),
                  "listing": sorted(os.listdir("/tmp")) if os.path.isdir("/tmp") else None}))
"""


def test_a_restricted_run_cannot_write_tmp_nor_the_root(host_python3: str, tmp_path: Path) -> None:
    target = Path("/var/tmp") / f"harden-ro-{uuid.uuid4().hex}"
    runner = SandboxRunner(Path("/"), ROOT, [])
    facts = run_python(runner, host_python3, WRITE % str(target), Confinement.RESTRICTED)
    assert facts["tmp"] == errno.errorcode[errno.EROFS]
    assert facts["root"] == errno.errorcode[errno.EROFS]
    assert not Path("/tmp/harden-sandbox-probe").exists() and not target.exists()


def test_a_standard_run_has_a_private_writable_tmp_and_a_read_only_root(host_python3: str,
                                                                      tmp_path: Path) -> None:
    target = Path("/var/tmp") / f"harden-ro-{uuid.uuid4().hex}"
    runner = SandboxRunner(Path("/"), ROOT, [])
    facts = run_python(runner, host_python3, WRITE % str(target))
    assert (facts["tmp"], facts["listing"]) == ("written", ["harden-sandbox-probe"])  # the host's /tmp is not there
    assert facts["root"] == errno.errorcode[errno.EROFS]
    assert not Path("/tmp/harden-sandbox-probe").exists() and not target.exists()


def test_runs_as_the_image_user_numerically_with_real_permissions(host_python3: str) -> None:
    runner = SandboxRunner(Path("/"), NOBODY, ["PATH=/usr/bin:/bin"])
    facts = run_python(runner, host_python3, "import json, os\n"
                       "try:\n    open('/etc/shadow').read(); shadow = 'read'\n"
                       "except PermissionError:\n    shadow = 'denied'\n"
                       "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'shadow': shadow}))")
    assert (facts["uid"], facts["gid"]) == (65534, 65534)
    if os.geteuid() == 0:
        assert facts["shadow"] == "denied"


def test_the_environment_is_the_image_env_plus_runtime_defaults_only(host_python3: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARDEN_HOST_SECRET", "leak")
    runner = SandboxRunner(Path("/"), NOBODY, ["FOO=bar=baz", "LANG=C.UTF-8"], working_dir="/usr")
    facts = run_python(runner, host_python3, "import json, os\n"
                       "print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd()}))")
    env = dict(facts["env"])
    env.pop("PWD", None)  # bwrap --chdir sets it
    assert env == {"FOO": "bar=baz", "LANG": "C.UTF-8", "PATH": DEFAULT_PATH, "HOME": "/nonexistent"}
    assert facts["cwd"] == "/usr"


def test_no_network_but_loopback(host_python3: str) -> None:
    runner = SandboxRunner(Path("/"), NOBODY, [])
    code = "import json, socket; print(json.dumps([name for _, name in socket.if_nameindex()]))"
    assert run_python(runner, host_python3, code) == ["lo"]


def test_a_hung_run_is_killed_at_its_timeout(host_python3: str) -> None:
    runner = SandboxRunner(Path("/"), NOBODY, [])
    result = runner.run([host_python3, "-c", "import time; print('started', flush=True); time.sleep(600)"],
                        timeout=3)
    assert (result.timed_out, result.exit_code, result.ok) == (True, None, False)
    assert result.stdout == "started\n"


def running(token: str) -> bool:
    """Whether any process on the host has ``token`` on its command line."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False


def test_stop_kills_a_run_from_another_thread(host_python3: str) -> None:
    token = f"harden-stop-{uuid.uuid4().hex}"
    runner = SandboxRunner(Path("/"), NOBODY, [])
    box: dict[str, RunResult] = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", runner.run(
        [host_python3, "-c", f"import time; time.sleep(600)  # {token}"], timeout=600)))
    thread.start()
    deadline = time.monotonic() + 60
    while not running(token):
        assert time.monotonic() < deadline, "the sandboxed run never started"
        time.sleep(0.05)
    runner.stop()
    thread.join(60)
    assert not thread.is_alive(), "stop() did not end the run"
    assert not box["result"].ok and not box["result"].timed_out
    assert not running(token)


def test_a_run_asked_for_after_stop_never_starts(host_python3: str) -> None:
    """stop() races the other thread's run: if it comes first, that run must not start and then wait out its
    timeout (the interrupted verification would hang)."""
    token = f"harden-after-stop-{uuid.uuid4().hex}"
    runner = SandboxRunner(Path("/"), NOBODY, [])
    runner.stop()
    started = time.monotonic()
    result = runner.run([host_python3, "-c", f"import time; time.sleep(600)  # {token}"], timeout=30)
    assert time.monotonic() - started < 10
    assert not result.ok and not result.timed_out and "interrupted" in result.stderr
    assert not running(token)


def test_the_walker_and_the_facts_probe_through_the_sandbox_as_an_unprivileged_user(host_python3: str) -> None:
    runner = SandboxRunner(Path("/"), NOBODY, ["PATH=/usr/bin:/bin"])
    targets = ["json", "decimal", "encodings.cp437", "json:loads", "no_such_module_here"]
    outcomes = recheck(runner, "hardened", host_python3, targets, 30, Confinement.RESTRICTED)
    assert sorted(name for name, outcome in outcomes.items() if outcome.ok) == sorted(targets[:4])
    assert outcomes["no_such_module_here"].error == "ModuleNotFoundError: No module named 'no_such_module_here'"
    facts = FactsProbe(runner, host_python3, "hardened").facts([])
    assert (facts["uid"], facts["home"], facts["home_writable"]) == (65534, "/nonexistent", False)
