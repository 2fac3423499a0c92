from __future__ import annotations

import pytest
from stage_helpers import FakeImage, config_set, removed, skipped

from harden.errors import UnsupportedImage
from harden.plan import Remove
from harden.stages._shell_form import split_command
from harden.stages.drop_shells import DropShells

SHELLS = frozenset({"sh", "bash", "dash"})


def merged_usr_debian(image: FakeImage) -> None:
    image.dir("usr/bin")
    image.symlink("bin", "usr/bin")
    image.symlink("sbin", "usr/sbin")
    image.file("usr/bin/dash", b"\x7fELF dash", mode=0o755)
    image.symlink("usr/bin/sh", "dash")
    image.file("usr/bin/bash", b"\x7fELF bash", mode=0o755)
    image.hardlink("usr/bin/rbash", "usr/bin/bash")
    image.file("usr/bin/ls", b"\x7fELF ls", mode=0o755)
    image.file("etc/shells", "/bin/sh\n/bin/bash\n")


def test_shells_and_every_link_and_copy_go(image: FakeImage) -> None:
    merged_usr_debian(image)
    image.symlink("usr/local/bin/mysh", "/bin/sh")
    image.symlink("etc/alternatives/sh", "/usr/bin/dash")
    image.file("opt/tools/bash-copy", b"\x7fELF bash", mode=0o755)
    image.hardlink("usr/libexec/bash-static", "usr/bin/bash")
    plan = DropShells().plan(image.ctx(DropShells))
    assert removed(plan) == {
        "usr/libexec/bash-static",
        "usr/bin/dash",
        "usr/bin/sh",
        "usr/bin/bash",
        "usr/bin/rbash",
        "usr/local/bin/mysh",
        "etc/alternatives/sh",
        "opt/tools/bash-copy",
    }
    assert all(c.category == "shells" for c in plan.changes if isinstance(c, Remove))
    reasons = {str(c.path): c.reason for c in plan.changes if isinstance(c, Remove)}
    assert reasons["usr/bin/rbash"] == "shell rbash"
    assert reasons["usr/libexec/bash-static"] == "hardlink of shell bash (/usr/bin/bash)"
    assert "byte-identical copy" in reasons["opt/tools/bash-copy"]


def test_bin_sh_through_the_merged_usr_symlink(image: FakeImage) -> None:
    """Only usr/bin/sh is stored; the stage finds it through bin -> usr/bin and keeps the bin symlink."""
    merged_usr_debian(image)
    plan = DropShells().plan(image.ctx(DropShells, {"shells": ["sh"]}))
    assert removed(plan) == {"usr/bin/sh", "usr/bin/dash"}
    assert image.rootfs().resolve("bin/sh") is not None


def test_busybox_and_its_applet_links_go(image: FakeImage) -> None:
    image.file("bin/busybox", b"\x7fELF busybox", mode=0o755)
    image.symlink("bin/sh", "/bin/busybox")
    image.symlink("bin/ls", "/bin/busybox")
    image.symlink("usr/bin/env", "../../bin/busybox")
    image.file("usr/bin/python3.12", b"\x7fELF python", mode=0o755)
    plan = DropShells().plan(image.ctx(DropShells))
    assert removed(plan) == {"bin/busybox", "bin/sh", "bin/ls", "usr/bin/env"}


def test_shell_form_cmd_becomes_exec_form(image: FakeImage) -> None:
    merged_usr_debian(image)
    image.config["Cmd"] = ["/bin/sh", "-c", "exec python3 app.py --port 8080"]
    plan = DropShells().plan(image.ctx(DropShells))
    assert config_set(plan) == {"Cmd": ["python3", "app.py", "--port", "8080"]}


def test_shell_form_with_a_pipe_is_refused(image: FakeImage) -> None:
    merged_usr_debian(image)
    image.config["Cmd"] = ["sh", "-c", "a | b"]
    with pytest.raises(UnsupportedImage) as info:
        DropShells().plan(image.ctx(DropShells))
    assert "Cmd" in info.value.message and "'a | b'" in info.value.message
    assert info.value.exit_code == 3


def test_shell_form_entrypoint_drops_the_cmd_it_ignored(image: FakeImage) -> None:
    image.config["Entrypoint"] = ["/bin/sh", "-c", "gunicorn app:wsgi"]
    image.config["Cmd"] = ["--workers", "2"]
    assert config_set(DropShells().plan(image.ctx(DropShells))) == {"Entrypoint": ["gunicorn", "app:wsgi"], "Cmd": None}


def test_bare_sh_c_entrypoint_with_the_command_in_cmd(image: FakeImage) -> None:
    image.config["Entrypoint"] = ["/bin/sh", "-c"]
    image.config["Cmd"] = ["python app.py"]
    assert config_set(DropShells().plan(image.ctx(DropShells))) == {"Entrypoint": None, "Cmd": ["python", "app.py"]}


def test_healthcheck_shell_form(image: FakeImage) -> None:
    health = {"Test": ["CMD-SHELL", "python -m app.health"], "Interval": 30_000_000_000}
    image.config["Healthcheck"] = health
    assert config_set(DropShells().plan(image.ctx(DropShells)))["Healthcheck"] == {
        "Test": ["CMD", "python", "-m", "app.health"],
        "Interval": 30_000_000_000,
    }
    image.config["Healthcheck"] = {"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]}
    with pytest.raises(UnsupportedImage, match="Healthcheck"):
        DropShells().plan(image.ctx(DropShells))
    plan = DropShells().plan(image.ctx(DropShells, {"unconvertible_healthcheck": "remove"}))
    assert config_set(plan) == {"Healthcheck": None}


def test_exec_form_shell_script_is_refused(image: FakeImage) -> None:
    merged_usr_debian(image)
    image.file("docker-entrypoint.sh", '#!/bin/sh\nexec "$@"\n', mode=0o755)
    image.config["Entrypoint"] = ["/docker-entrypoint.sh"]
    image.config["Cmd"] = ["python3"]
    with pytest.raises(UnsupportedImage, match="shell script"):
        DropShells().plan(image.ctx(DropShells))


@pytest.mark.parametrize(
    "command",
    [
        "a && b",
        "echo $HOME",
        "python 'x y'",
        "ls *.py",
        "FOO=1 python",
        "cd /app",
        "bash run.sh",
        "x\ny",
        "",
        "exec",
    ],
)
def test_commands_that_need_a_shell_are_refused(command: str) -> None:
    with pytest.raises(UnsupportedImage, match="Cmd"):
        split_command("Cmd", command, SHELLS)


def test_all_binaries_keeps_python_and_what_the_config_runs(image: FakeImage) -> None:
    merged_usr_debian(image)
    image.python()  # usr/local/bin/python3.11 + python3 symlink
    image.symlink("usr/local/bin/python", "python3")
    image.file("opt/venv/pyvenv.cfg", "home = /usr/local/bin\nversion = 3.11.9\n")
    image.symlink("opt/venv/bin/python3", "/usr/local/bin/python3")
    image.dir("opt/venv/lib/python3.11/site-packages")
    image.file("usr/bin/tini", b"\x7fELF tini", mode=0o755)
    image.file("usr/bin/perl", b"\x7fELF perl", mode=0o755)
    image.file("usr/bin/env", b"\x7fELF env", mode=0o755)
    image.file("usr/local/bin/gunicorn", "#!/usr/local/bin/python3.11\nfrom gunicorn import run\n", mode=0o755)
    image.file("usr/local/bin/pip", "#!/usr/bin/env python3\nimport pip\n", mode=0o755)
    image.file("usr/local/bin/helper.sh", "#!/bin/sh\necho hi\n", mode=0o755)
    image.config["Entrypoint"] = ["tini", "--"]
    image.config["Cmd"] = ["gunicorn", "app:wsgi"]
    plan = DropShells().plan(image.ctx(DropShells, {"mode": "all-binaries"}))
    assert removed(plan) == {
        "usr/bin/dash",
        "usr/bin/sh",
        "usr/bin/bash",
        "usr/bin/rbash",
        "usr/bin/ls",
        "usr/bin/perl",
        "usr/local/bin/helper.sh",
    }
    reasons = skipped(plan)
    assert reasons["usr/local/bin/python3.11"].startswith("kept: Python interpreter")
    assert "usr/local/bin/python" in reasons
    assert reasons["usr/bin/tini"] == "kept: run by the image config (/usr/bin/tini)"
    assert reasons["usr/bin/env"] == "kept: keep glob 'usr/bin/env'"
    assert reasons["usr/local/bin/gunicorn"].startswith("kept: run by the image config")
    assert reasons["usr/local/bin/pip"] == "kept: Python script (#!/usr/bin/env python3)"


def test_harmless_shell_options_are_accepted_login_shells_are_not(image: FakeImage) -> None:
    image.config["Cmd"] = ["/bin/bash", "-o", "pipefail", "-ec", "python3 -m app"]
    assert config_set(DropShells().plan(image.ctx(DropShells))) == {"Cmd": ["python3", "-m", "app"]}
    image.config["Cmd"] = ["/bin/bash", "-lc", "python3 -m app"]
    with pytest.raises(UnsupportedImage, match="Cmd runs a shell"):
        DropShells().plan(image.ctx(DropShells))
