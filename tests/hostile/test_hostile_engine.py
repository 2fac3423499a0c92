"""Hostile and broken input through the engine: an image name that does not exist, and two ``harden image``
runs on one engine image at once with different tags (both succeed, each tag names a hardened image, and
harden leaves no untagged image behind). Needs a Docker-API engine (``make engine``)."""

from __future__ import annotations

import contextlib
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hostile import host_python
from hostile.hostile_scene import Scene
from hostile.hostile_support import base_layer
from imagefactory import file, make_layer_tar

pytestmark = pytest.mark.engine

SOURCE_LABEL = "io.github.harden.source-config-digest"


@pytest.mark.parametrize("command", [["image", "{name}", "--no-verify"], ["report", "{name}"],
                                     ["verify", "{name}", "{name}"]])
def test_image_name_that_does_not_exist(scene: Scene, docker_client: Any, command: list[str]) -> None:
    name = f"harden-test/no-such-image-{uuid.uuid4().hex[:12]}:404"
    run = scene.run(*(part.format(name=name) for part in command), "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 3, run.stdout + run.stderr
    line = run.error_line
    assert "no such image" in line and name.split(":")[0] in line
    assert run.created == set()


@contextlib.contextmanager
def loaded_source(scene: Scene, client: Any, prefix: str, layers: list[bytes],
                  config: dict[str, Any] | None = None) -> Iterator[tuple[str, str]]:
    """An image of ``layers`` loaded into the engine under a unique name; (reference, config digest). Removed
    after, with every image harden made from it."""
    repo = f"harden-test/{prefix}-{uuid.uuid4().hex[:12]}"
    archive = scene.archive(layers, config, name=f"{prefix}.tar", repo_tags=[f"{repo}:1"])
    with archive.open("rb") as stream:
        image_id = client.images.load(stream.read())[0].id
    try:
        yield f"{repo}:1", image_id
    finally:
        for image in derived_images(client, image_id):
            client.images.remove(image.id, force=True)
        client.images.remove(image_id, force=True)


@pytest.fixture
def engine_source(scene: Scene, docker_client: Any) -> Iterator[tuple[str, str]]:
    """A tiny image loaded into the engine under a unique name; (reference, config digest)."""
    with loaded_source(scene, docker_client, "hostile", [base_layer()]) as source:
        yield source


def derived_images(client: Any, source_id: str) -> list[Any]:
    """Every image in the engine that harden made from ``source_id`` (by the label it writes)."""
    return [image for image in client.images.list(all=True)
            if (image.labels or {}).get(SOURCE_LABEL) == source_id]


def test_two_runs_on_one_engine_image_with_different_tags(scene: Scene, docker_client: Any,
                                                          engine_source: tuple[str, str]) -> None:
    source, source_id = engine_source
    repo = source.rsplit(":", 1)[0]
    before = scene.snapshot()
    procs = [scene.spawn("image", source, "--no-verify", "--jobs", "1", "--tag", f"{repo}:hardened-{n}",
                         "--report-dir", str(scene.reports / f"r{n}"))
             for n in (1, 2)]
    results = [proc.communicate(timeout=600) for proc in procs]
    for proc, (_, stderr) in zip(procs, results, strict=True):
        assert proc.returncode == 0, stderr
    assert {p.split("/")[1] for p in scene.check_after(before)} == {"r1", "r2"}
    tagged = {n: docker_client.images.get(f"{repo}:hardened-{n}") for n in (1, 2)}
    for image in tagged.values():
        assert image.labels[SOURCE_LABEL] == source_id
    assert tagged[1].id == tagged[2].id, "same source, same policy: the same image"
    stray = [image.id for image in derived_images(docker_client, source_id) if image.id != tagged[1].id]
    assert stray == [], "harden left images behind"
    assert docker_client.images.get(source).id == source_id, "the source image is never changed"


def reports_once_loaded(monkeypatch: pytest.MonkeyPatch, client: Any, source_id: str,
                        then: Callable[..., Any] | None) -> list[float]:
    """harden's report building held until the run's image shows in the engine (120 s at most), then ``then``
    (None: the real one); the seconds waited are recorded. Without a load beside the reports the image shows
    only after them: the wait runs out and the run stops there."""
    import harden.report.write

    real = harden.report.write.build_run_reports
    waited: list[float] = []

    def held(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        while not derived_images(client, source_id):
            if time.monotonic() - started > 120:
                raise AssertionError("the hardened image did not reach the engine while the reports were built")
            time.sleep(0.1)
        waited.append(time.monotonic() - started)
        return (then or real)(*args, **kwargs)

    monkeypatch.setattr(harden.report.write, "build_run_reports", held)
    return waited


def test_the_engine_load_runs_beside_the_reports(scene: Scene, docker_client: Any,
                                                 engine_source: tuple[str, str]) -> None:
    """Publishing to an engine tag loads the image while the reports are built (harden.job.engine_ahead): the
    image is in the engine before the reports are done, and the tag then names it."""
    source, source_id = engine_source
    repo = source.rsplit(":", 1)[0]
    waited = reports_once_loaded(scene.monkeypatch, docker_client, source_id, None)
    run = scene.run("image", source, "--no-verify", "--jobs", "1", "--tag", f"{repo}:ahead",
                    "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 0, run.stdout + run.stderr
    assert len(waited) == 1
    (made,) = derived_images(docker_client, source_id)
    assert docker_client.images.get(f"{repo}:ahead").id == made.id


def test_interrupt_while_the_reports_are_built_leaves_no_tag_and_no_image(
        scene: Scene, docker_client: Any, engine_source: tuple[str, str]) -> None:
    """Ctrl-C while the reports are built and the image is already in the engine: exit 130, no tag, and the
    untagged image is removed on the way out."""
    import docker.errors

    source, source_id = engine_source
    repo = source.rsplit(":", 1)[0]

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    before = scene.snapshot()
    reports_once_loaded(scene.monkeypatch, docker_client, source_id, interrupted)
    run = scene.run("image", source, "--no-verify", "--jobs", "1", "--tag", f"{repo}:interrupted",
                    "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 130, run.stdout + run.stderr
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(f"{repo}:interrupted")
    assert derived_images(docker_client, source_id) == [], "the interrupted run left its image in the engine"
    assert scene.check_after(before) == set()


@pytest.fixture
def big_engine_source(scene: Scene, docker_client: Any) -> Iterator[tuple[str, str]]:
    """engine_source with a 4 MiB file more (/app/big.bin): bigger than the chunks a load is sent in."""
    big = make_layer_tar([file("app/big.bin", bytes(range(256)) * (16 << 10))])
    with loaded_source(scene, docker_client, "hostile", [base_layer(), big]) as source:
        yield source


@pytest.mark.parametrize("where", ["while the layer is sent", "once the archive is sent"])
def test_interrupt_while_the_layer_goes_into_the_engine_leaves_no_tag_and_no_image(
        scene: Scene, docker_client: Any, big_engine_source: tuple[str, str], where: str) -> None:
    """The layer goes into the engine's load as it is written (harden.image.transports.daemon_stream). A Ctrl-C
    halfway through that write, or once the whole archive is sent (the engine importing it, nothing in the run
    waiting for it yet): exit 130, no tag, and no image left in the engine either way."""
    import docker.errors

    import harden.image.transports
    import harden.image.writer as writer
    import harden.job.harden

    source, source_id = big_engine_source
    repo = source.rsplit(":", 1)[0]
    real_stream = harden.image.transports.stream_into_engine
    loads: list[Any] = []

    def stream_into_engine(*args: Any) -> Any:
        loads.append(real_stream(*args))
        return loads[-1]

    scene.monkeypatch.setattr(harden.image.transports, "stream_into_engine", stream_into_engine)
    if where == "while the layer is sent":
        real_add = writer._add
        added: list[str] = []

        def add_then_stop(tar: Any, entry: Any, *args: Any) -> None:
            real_add(tar, entry, *args)
            added.append(str(entry.path))
            if added[-1] == "app/big.bin":  # 4 MiB: chunks of it are on their way to the engine
                raise KeyboardInterrupt

        scene.monkeypatch.setattr(writer, "_add", add_then_stop)
    else:
        def stop(*args: Any) -> None:
            raise KeyboardInterrupt

        scene.monkeypatch.setattr(harden.job.harden, "_output_annotations", stop)  # the step after the write
    before = scene.snapshot()
    run = scene.run("image", source, "--no-verify", "--jobs", "1", "--tag", f"{repo}:interrupted",
                    "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 130, run.stdout + run.stderr
    (load,) = loads
    load.join()  # a load the run did not wait for would end now: its image shows below
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(f"{repo}:interrupted")
    assert derived_images(docker_client, source_id) == [], "the interrupted run left its image in the engine"
    assert scene.check_after(before) == set()
    if where == "while the layer is sent":
        assert load.error is not None and load.image_id is None, "the cut archive made an image"
    else:
        assert load.image_id is not None, "the whole archive made no image (so nothing was left to remove)"


@pytest.fixture
def engine_python(scene: Scene, docker_client: Any) -> Iterator[tuple[str, str]]:
    """The tiny host-Python image (hostile/host_python.py) loaded into the engine; (reference, id)."""
    reason = host_python.unavailable()
    if reason is not None:
        pytest.skip(reason)
    layers = [host_python.python_layer()]
    with loaded_source(scene, docker_client, "python", layers, host_python.python_config(layers)) as source:
        yield source


def test_failed_verification_in_the_engine_leaves_no_tag_and_no_image(
        scene: Scene, docker_client: Any, engine_python: tuple[str, str]) -> None:
    import docker.errors

    source, source_id = engine_python
    repo = source.rsplit(":", 1)[0]
    policy = scene.inputs / "breaking.toml"
    policy.write_text(host_python.FAST_POLICY.replace('name = "host-python-fast"', 'name = "breaking"')
                      + f'\n[stages.remove-docs]\nextra_remove = ["{host_python.SITE}/hello/**"]\n')
    run = scene.run("image", source, "--policy", str(policy), "--runner", "engine", "--jobs", "1",
                    "--tag", f"{repo}:bad", "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 1, run.stdout + run.stderr
    assert "verification failed; nothing was written" in run.error_line
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(f"{repo}:bad")
    assert derived_images(docker_client, source_id) == [], "the rejected image was left in the engine"
    assert docker_client.images.get(source).id == source_id


def test_failed_publish_leaves_no_tag_and_no_image(scene: Scene, docker_client: Any,
                                                   engine_python: tuple[str, str]) -> None:
    """Verification in the engine loads the hardened image untagged; when an output then cannot be written
    (an unrelated directory in the way), the run fails (exit 2) leaving neither the tag nor that image."""
    import docker.errors

    source, source_id = engine_python
    repo = source.rsplit(":", 1)[0]
    policy = scene.inputs / "fast.toml"
    policy.write_text(host_python.FAST_POLICY)
    in_the_way = scene.out / "not-a-layout"
    in_the_way.mkdir()
    (in_the_way / "precious.txt").write_text("keep me")
    run = scene.run("image", source, "--policy", str(policy), "--runner", "engine", "--jobs", "1",
                    "--tag", f"{repo}:published", "--output", f"oci:{in_the_way}",
                    "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 2, run.stdout + run.stderr
    assert "is not an OCI image layout" in run.error_line
    assert (in_the_way / "precious.txt").read_text() == "keep me"
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(f"{repo}:published")
    assert derived_images(docker_client, source_id) == [], "the verified but unpublished image was left behind"


WAITING_SMOKE = """
[[verify.smoke]]
name = "waits-for-the-interrupt"
timeout_seconds = 900
code = "import time; time.sleep(900)"
"""
"""A probe that outlives any wait for the image to show up in the engine's list: without it, harden's few
seconds of verification could end (and the run succeed) while the test still waited for the list, so that
the Ctrl-C would land on a finished run."""


def test_interrupt_during_engine_verification_leaves_no_tag_and_no_image(
        scene: Scene, docker_client: Any, engine_python: tuple[str, str]) -> None:
    """Ctrl-C once the hardened image is in the engine (verification is running there, held by a smoke test
    that sleeps): exit 130 well before the smoke test's own timeout, no tag, and the untagged image is removed
    on the way out."""
    import docker.errors

    source, source_id = engine_python
    repo = source.rsplit(":", 1)[0]
    policy = scene.inputs / "fast.toml"
    policy.write_text(host_python.FAST_POLICY + WAITING_SMOKE)
    before = scene.snapshot()
    proc = scene.spawn("image", source, "--policy", str(policy), "--runner", "engine", "--jobs", "1",
                       "--tag", f"{repo}:interrupted", "--report-dir", str(scene.reports / "r"))
    try:
        deadline = time.monotonic() + 300
        while not derived_images(docker_client, source_id):
            assert proc.poll() is None, "harden finished before its image reached the engine"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert stderr.splitlines()[-1] == "harden: interrupted; nothing was written"
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(f"{repo}:interrupted")
    assert derived_images(docker_client, source_id) == [], "the interrupted run left its image in the engine"
    assert scene.check_after(before) == set()
