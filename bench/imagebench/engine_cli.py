"""The engine as its command-line client sees it: build, save, run, inspect layers, remove by tag.

podman as a remote client when the engine is a podman service (its builds then keep no intermediate images:
``--layers=false``), else the docker CLI. ``load_fresh`` loads an archive into an empty, throw-away podman storage,
where no layer exists yet: the second half of the I/O floor.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
FIRST_BYTE_POLL = 0.01


class EngineError(RuntimeError):
    pass


def docker_host() -> str:
    """$DOCKER_HOST, else the one `make engine` wrote to build/engine.env, else the Docker default socket."""
    if host := os.environ.get("DOCKER_HOST"):
        return host
    env_file = ROOT / "build" / "engine.env"
    if env_file.is_file():
        for line in env_file.read_text().splitlines():
            if line.startswith("DOCKER_HOST="):
                return line.split("=", 1)[1].strip()
    return "unix:///var/run/docker.sock"


@dataclass(frozen=True, slots=True)
class EngineCli:
    host: str
    client: tuple[str, ...]

    @classmethod
    def discover(cls) -> EngineCli:
        host = docker_host()
        if shutil.which("podman"):
            podman = ("podman", "--remote", "--url", host)
            probe = subprocess.run([*podman, "version"], capture_output=True, check=False, timeout=60)
            if probe.returncode == 0:
                return cls(host, podman)
        if shutil.which("docker"):
            return cls(host, ("docker",))
        raise EngineError(f"no client answers for the engine at {host} (neither podman --remote nor docker)")

    @property
    def is_podman(self) -> bool:
        return self.client[0] == "podman"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0"}

    def run(self, args: Sequence[str], *, check: bool = True,
            timeout: float = 3600) -> subprocess.CompletedProcess[str]:
        argv = [*self.client, *args]
        log.debug("$ %s", " ".join(argv))
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise EngineError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        return done

    def timed(self, args: Sequence[str]) -> float:
        started = time.perf_counter()
        self.run(args)
        return time.perf_counter() - started

    def version(self) -> str:
        if self.is_podman:
            text = self.run(["version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"]).stdout.split()
            return f"Podman {text[0]} (podman service, API {text[-1]})"
        data = json.loads(self.run(["version", "--format", "{{json .Server}}"]).stdout)
        components = {c.get("Name", ""): c.get("Version", "") for c in data.get("Components") or []}
        name = next((n for n in components if "Engine" in n), "engine")
        return f"{name} {components.get(name) or data.get('Version', '?')} (API {data.get('ApiVersion', '?')})"

    def storage(self) -> str:
        if self.is_podman:
            done = self.run(["info", "--format", "{{.Store.GraphDriverName}} {{.Store.GraphRoot}}"], check=False)
        else:
            done = self.run(["info", "--format", "{{.Driver}} {{.DockerRootDir}}"], check=False)
        return " at ".join(done.stdout.split()[:2]) if done.returncode == 0 else "unknown"

    def exists(self, reference: str) -> bool:
        return self.run(["image", "inspect", reference], check=False).returncode == 0

    def image_bytes(self, reference: str) -> int:
        """The engine's own size figure for an image (used only for the run-time estimate)."""
        return int(self.run(["image", "inspect", "--format", "{{.Size}}", reference]).stdout.strip() or 0)

    def layers(self, reference: str) -> tuple[str, ...]:
        """The image's layer diff_ids (RootFS.Layers)."""
        out = self.run(["image", "inspect", "--format", "{{json .RootFS.Layers}}", reference]).stdout
        return tuple(json.loads(out.strip() or "[]") or ())

    def user(self, reference: str) -> str:
        """The image config's User ("" when it runs as root by default)."""
        return self.run(["image", "inspect", "--format", "{{.Config.User}}", reference]).stdout.strip()

    def layer_holders(self) -> dict[str, list[str]]:
        """diff_id → the images (``id tag,tag``) holding it, over every image in the engine."""
        ids = self.run(["images", "-a", "-q", "--no-trunc"]).stdout.split()
        holders: dict[str, list[str]] = {}
        if not ids:
            return holders
        fmt = "{{.Id}}\t{{json .RepoTags}}\t{{json .RootFS.Layers}}"
        done = self.run(["image", "inspect", "--format", fmt, *dict.fromkeys(ids)], check=False)
        for line in done.stdout.splitlines():
            image_id, tags, layers = [*line.split("\t"), "", "", ""][:3]
            name = image_id.removeprefix("sha256:")[:12] + " " + ",".join(json.loads(tags or "null") or ["<none>"])
            for layer in json.loads(layers or "null") or ():
                holders.setdefault(layer, []).append(name)
        return holders

    def build(self, context: Path, tag: str, build_args: Mapping[str, str]) -> float:
        args = ["build", "--force-rm", "-q", "-t", tag]
        if self.is_podman:
            args += ["--format", "docker", "--layers=false"]
        for key, value in build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        return self.timed([*args, str(context)])

    def save(self, reference: str, archive: Path) -> tuple[float, float | None]:
        """``save -o archive reference``: (seconds, seconds until the archive's first byte was written, polled
        every 10 ms while the client runs; None when none was seen before it ended)."""
        argv = [*self.client, "save", "-o", str(archive), reference]
        log.debug("$ %s", " ".join(argv))
        archive.unlink(missing_ok=True)
        started = time.perf_counter()
        first: float | None = None
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.DEVNULL, stderr=errors)
            while first is None and proc.poll() is None:
                if archive.exists() and archive.stat().st_size > 0:
                    first = time.perf_counter() - started
                else:
                    time.sleep(FIRST_BYTE_POLL)
            code = proc.wait()
            seconds = time.perf_counter() - started
            if code != 0:
                errors.seek(0)
                raise EngineError(f"{' '.join(argv)} exited {code}: {errors.read().decode(errors='replace')[-2000:]}")
        return seconds, first

    def remove(self, references: Sequence[str]) -> None:
        """Remove these tags (an image with another tag keeps it: only this name goes)."""
        present = [r for r in references if self.exists(r)]
        if present:
            self.run(["rmi", *present], check=False)

    def python(self, reference: str, code: str, *, timeout: float = 300) -> tuple[int, str]:
        """Run ``python3 -c CODE`` in a fresh container of the image: (exit code, last meaningful line)."""
        done = self.run(["run", "--rm", "--network", "none", "--entrypoint", "python3", reference, "-c", code],
                        check=False, timeout=timeout)
        text = done.stdout.strip() if done.returncode == 0 else (done.stderr.strip() or done.stdout.strip())
        lines = [line for line in text.splitlines() if line.strip()]
        line = (lines[0] if done.returncode == 0 else lines[-1]) if lines else ""
        return done.returncode, line


def load_fresh(archive: Path, scratch: Path) -> tuple[float | None, str]:
    """Seconds for ``podman load`` into an empty storage under ``scratch`` (removed after), or (None, why).

    A podman of its own: new ``--root``, ``--runroot`` and ``--tmpdir`` (libpod's state; the default,
    /run/libpod, belongs to the engine service), its own network configuration directory, no events, overlay
    driver, on the scratch directory's filesystem: no layer of the archive exists there, so every layer is
    written. Removed with ``rm -rf`` afterwards, never with ``podman system reset``, which also clears state it
    does not own."""
    podman = shutil.which("podman")
    if podman is None:
        return None, "podman is not installed: no empty storage to load into"
    root = Path(tempfile.mkdtemp(prefix="fresh-store-", dir=scratch))
    private = Path(tempfile.mkdtemp(prefix="hb-"))  # podman refuses a runroot longer than 50 characters
    for name in ("run", "tmp", "net"):
        (private / name).mkdir()
    argv = [podman, "--root", str(root), "--runroot", str(private / "run"), "--tmpdir", str(private / "tmp"),
            "--network-config-dir", str(private / "net"), "--events-backend", "none",
            "--storage-driver", "overlay", "load", "-q", "-i", str(archive)]
    try:
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=3600)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            return None, f"podman load into an empty storage failed: {done.stderr.strip()[-300:]}"
        return seconds, ""
    finally:
        _remove_tree(root)
        _remove_tree(private)


def _remove_tree(path: Path) -> None:
    """``rm -rf``; a storage left mounted (it should not be: a load mounts nothing) is unmounted first."""
    for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
        target = line.split()[1]
        if target == str(path) or target.startswith(str(path) + "/"):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)
    shutil.rmtree(path, ignore_errors=True)
