"""Where probes run: inside the image, as the image would run. Both runners take an argv list only (exec form:
the hardened image has no shell, and no shell is used anywhere on the way).

* ``EngineRunner``: a throw-away container through the Docker API (a Docker daemon or the podman service of
  ``make engine``), as the image's own User, no network, confined as ``Confinement`` says.
* ``SandboxRunner``: ``bwrap`` over the image's root filesystem written to a directory, so images read from
  and written to archives verify without any engine. As root, the user switch is a real one (``setpriv`` to
  the image's uid/gid before ``bwrap``), so file permissions decide exactly as they would in a container.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from harden.errors import EngineUnavailable, ImageNotFound, InputError
from harden.verify.users import RunAs

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PODMAN_READ_ONLY_TMPFS = ("/tmp", "/var/tmp", "/run")
"""Where podman mounts a writable tmpfs in every ``--read-only`` container (its ``--read-only-tmpfs``, which the
Docker-compatible API cannot turn off): a restricted run mounts them read-only instead."""
LABEL = "io.github.harden.verify"


class Confinement(StrEnum):
    """How much of the image a probe may write, and with which privileges."""

    STANDARD = "standard"
    """Read-only root, a private writable ``/tmp`` (``docker run --read-only --tmpfs /tmp``)."""
    RESTRICTED = "restricted"
    """A Kubernetes ``restricted`` pod: read-only root and nothing writable (no ``/tmp``), every capability
    dropped, no privilege escalation (``allowPrivilegeEscalation: false``), the image's non-root user."""
    WRITABLE = "writable"
    """A writable root and ``/tmp`` (``docker run``'s default): where HOME is tested as the image runs."""


@dataclass(frozen=True, slots=True)
class RunResult:
    exit_code: int | None
    """None when the run was killed on timeout."""
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def stderr_tail(self, lines: int = 5) -> str:
        return " | ".join([line for line in self.stderr.splitlines() if line.strip()][-lines:])


class ProbeRunner(Protocol):
    kind: str

    def run(self, argv: Sequence[str], *, timeout: float,
            confinement: Confinement = Confinement.STANDARD) -> RunResult:
        """Run ``argv`` in the image, confined as ``confinement`` says."""
        ...

    def stop(self) -> None:
        """Kill every run still going (another thread's included): an interrupted verification leaves none."""
        ...


INSPECT_RETRIES = 5
"""Server errors in a row that inspecting a running probe container may answer before the run fails: podman 4.3
answers 500 "read /proc/PID/cgroup: no such process" when asked as the container's process exits (seen once in a
CI run of 1,696 tests)."""
_STOPPED = RunResult(-signal.SIGKILL, "", "stopped: the verification was interrupted", False)
"""What a run asked for after its runner's stop() returns (it never starts)."""


class EngineRunner:
    """One container per call on a Docker-API engine; the container is always removed."""

    kind = "engine"

    def __init__(self, client: Any, image: str, *, user: str | None = None) -> None:
        self.client = client
        self.image = image
        self.user = user
        self._active: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stopped = False
        self._is_podman: bool | None = None

    def _podman(self) -> bool:
        if self._is_podman is None:
            try:
                components = self.client.version().get("Components") or []
            except Exception:  # an engine that cannot say is treated as Docker
                components = []
            self._is_podman = any("podman" in str(c.get("Name", "")).lower() for c in components)
        return self._is_podman

    def stop(self) -> None:
        """Remove every probe container going, and refuse the runs asked for after it (the runner is done)."""
        import docker.errors

        with self._lock:
            self._stopped = True
            running = list(self._active.values())
        for container in running:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)

    def run(self, argv: Sequence[str], *, timeout: float,
            confinement: Confinement = Confinement.STANDARD) -> RunResult:
        import docker.errors
        import requests.exceptions

        options: dict[str, Any] = {
            "entrypoint": [argv[0]],
            "command": list(argv[1:]),
            "read_only": confinement is not Confinement.WRITABLE,
            "network_mode": "none",
            "labels": {LABEL: "probe"},
        }
        if confinement is Confinement.RESTRICTED:
            options.update(cap_drop=["ALL"], security_opt=["no-new-privileges"])
            if self._podman():  # podman mounts writable tmpfs there for any --read-only container
                options["tmpfs"] = {place: "ro" for place in PODMAN_READ_ONLY_TMPFS}
        else:
            options["tmpfs"] = {"/tmp": ""}
        if self.user is not None:
            options["user"] = self.user
        if self._stopped:
            return _STOPPED
        try:
            container = self.client.containers.create(self.image, **options)
        except docker.errors.ImageNotFound as exc:
            raise ImageNotFound(f"image {self.image} is not in the engine", details=[str(exc)]) from exc
        except docker.errors.APIError as exc:
            return RunResult(127, "", f"container could not be created: {exc}")
        except requests.exceptions.ConnectionError as exc:
            raise EngineUnavailable(f"engine stopped answering: {exc}") from exc
        with self._lock:  # registered, or refused when stop() came while it was being created
            stopped = self._stopped
            if not stopped:
                self._active[container.id] = container
        try:
            return _STOPPED if stopped else self._start_and_collect(container, timeout)
        finally:
            with self._lock:
                self._active.pop(container.id, None)
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                log.warning("could not remove probe container %s: %s", container.id, exc)

    def _start_and_collect(self, container: Any, timeout: float) -> RunResult:
        import docker.errors

        try:
            container.start()
        except docker.errors.APIError as exc:
            if self._stopped:  # removed by stop() before it started
                return _STOPPED
            # e.g. the interpreter is gone: an OCI runtime "executable file not found" error
            return RunResult(127, "", f"container could not start: {exc}")
        code = self._exit_code(container, timeout)
        if self._stopped:  # killed by stop(): whatever exit code the engine reports, the run did not finish
            return _STOPPED
        timed_out = code is None
        if timed_out:
            with contextlib.suppress(docker.errors.APIError):
                container.kill()
        stdout = container.logs(stdout=True, stderr=False).decode("utf-8", errors="replace")
        stderr = container.logs(stdout=False, stderr=True).decode("utf-8", errors="replace")
        return RunResult(code, stdout, stderr, timed_out)

    def _exit_code(self, container: Any, timeout: float) -> int | None:
        """The exit code, polled with a growing interval (None: still running after ``timeout``). Polling, not
        the wait endpoint: podman 4.3's Docker-compatible wait keeps a CPU core busy until the container
        exits (measured: a 25 s probe took 55 s beside it)."""
        import docker.errors
        import requests.exceptions

        deadline = time.monotonic() + timeout
        interval = 0.02
        failures = 0
        while True:
            try:
                state = self.client.api.inspect_container(container.id).get("State") or {}
            except docker.errors.NotFound:
                return -1  # removed by stop(): an interrupted run
            except docker.errors.APIError as exc:
                if self._stopped:  # podman 4.3 answers 500 "no such container" for a removed one
                    return -1
                failures += 1
                if not exc.is_server_error() or failures > INSPECT_RETRIES:
                    raise
                log.debug("inspecting probe container %s failed (%s); asking again", container.id, exc)
                time.sleep(0.2)
                continue
            except requests.exceptions.ConnectionError as exc:
                raise EngineUnavailable(f"engine stopped answering: {exc}") from exc
            failures = 0
            if state.get("Status") not in ("created", "running", "configured", "restarting"):
                return int(state.get("ExitCode", -1))
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 2, 0.5)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def searchable_by_others(path: Path) -> bool:
    """Whether any user can reach ``path``: every existing ancestor directory is o+x."""
    for folder in [path, *path.parents]:
        try:
            mode = folder.stat().st_mode
        except FileNotFoundError:
            continue
        if not mode & stat.S_IXOTH:
            return False
    return True


class SandboxRunner:
    """``bwrap`` over a root filesystem directory; one sandbox per call."""

    kind = "sandbox"

    def __init__(self, root: Path, run_as: RunAs, env: Sequence[str], working_dir: str = "") -> None:
        self.root = root
        self.run_as = run_as
        self.env = self._environment(env, run_as)
        self.working_dir = working_dir or "/"
        self._active: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._stopped = False
        bwrap = bwrap_path()
        if bwrap is None:
            raise InputError("no sandbox available: bwrap (Debian package bubblewrap) is not installed; "
                             "install it or verify with an engine (make engine)")
        self.bwrap = bwrap

    @staticmethod
    def _environment(env: Sequence[str], run_as: RunAs) -> list[tuple[str, str]]:
        """The image's Env, plus what a container runtime adds when the image does not set it."""
        values: dict[str, str] = {}
        for item in env:
            key, _, value = item.partition("=")
            if key:
                values[key] = value
        values.setdefault("PATH", DEFAULT_PATH)
        values.setdefault("HOME", run_as.home)
        return sorted(values.items())

    def command(self, argv: Sequence[str], *, confinement: Confinement = Confinement.STANDARD) -> list[str]:
        prefix: list[str] = []
        identity: list[str] = []
        if os.geteuid() == 0 and self.run_as.uid != 0:
            groups = ",".join(str(g) for g in self.run_as.groups)
            prefix = ["setpriv", f"--reuid={self.run_as.uid}", f"--regid={self.run_as.gid}",
                      f"--groups={groups}" if groups else "--clear-groups", "--"]
        if prefix or os.geteuid() != 0:
            identity = ["--unshare-user", "--uid", str(self.run_as.uid), "--gid", str(self.run_as.gid)]
        writable = confinement is Confinement.WRITABLE
        command = [
            *prefix, self.bwrap,
            "--die-with-parent", "--new-session", "--unshare-all", *identity,
            "--bind" if writable else "--ro-bind", str(self.root), "/",
            "--proc", "/proc", "--dev", "/dev",
        ]
        if confinement is Confinement.RESTRICTED:
            command += ["--cap-drop", "ALL"]  # bwrap always sets no_new_privs
        else:
            command += ["--tmpfs", "/tmp"]
        command += ["--chdir", self.working_dir, "--clearenv"]
        for key, value in self.env:
            command += ["--setenv", key, value]
        return [*command, "--", *argv]

    def run(self, argv: Sequence[str], *, timeout: float,
            confinement: Confinement = Confinement.STANDARD) -> RunResult:
        with self._lock:  # started and registered at once: a stop() from another thread never misses it
            if self._stopped:
                return _STOPPED
            process = subprocess.Popen(
                self.command(argv, confinement=confinement),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            self._active.add(process)
        try:
            out, err = process.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            timed_out = True
        finally:
            with self._lock:
                self._active.discard(process)
        return RunResult(
            None if timed_out else process.returncode,
            out.decode("utf-8", errors="replace"),
            err.decode("utf-8", errors="replace"),
            timed_out,
        )

    def stop(self) -> None:
        """Kill every run going, and refuse the runs asked for after it (the runner is done)."""
        with self._lock:
            self._stopped = True
            running = list(self._active)
        for process in running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
