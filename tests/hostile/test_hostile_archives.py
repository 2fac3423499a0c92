"""Broken archives and unusable images, end to end through ``harden image``: truncated, corrupt and
compressed-then-cut archives, a missing manifest, mismatched diff_ids, manifest and OCI names that try to
leave the archive, outputs that would overwrite the source, an image without Python, shell-form CMD, a
missing file and an engine that is down.

Each gets one ``harden: error:`` line and its documented exit code (2 usage, 3 input or environment) or a
safe, reported outcome; the scene checks that nothing is written elsewhere and nothing is left behind."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from hostile.hostile_scene import Scene
from hostile.hostile_support import PASSWD, base_layer, config_for, harden_to_archive, read_docker_archive
from imagefactory import directory, file, make_layer_tar, sha256_digest, write_oci_layout


def input_error(scene: Scene, archive: Path, *expected: str, code: int = 3, extra: tuple[str, ...] = ()) -> str:
    run = harden_to_archive(scene, archive, *extra)
    assert run.exit_code == code, run.stdout + run.stderr
    line = run.error_line
    for text in expected:
        assert text in line, f"{text!r} not in: {line}"
    assert run.created == set() and run.stdout == ""
    return line


def good_archive(scene: Scene, name: str = "image.tar") -> Path:
    return scene.archive([base_layer()], name=name)


# -- truncated and corrupt archives ---------------------------------------------------------------------------
def data_offset(archive: Path, name: str) -> int:
    with tarfile.open(archive) as tar:
        return tar.getmember(name).offset_data


@pytest.mark.parametrize("keep", ["header", "half", "inside-manifest"])
def test_truncated_archive(scene: Scene, keep: str) -> None:
    whole = good_archive(scene, "whole.tar")
    data = whole.read_bytes()
    cut = {"header": 700, "half": len(data) // 2, "inside-manifest": data_offset(whole, "manifest.json") + 5}[keep]
    archive = scene.inputs / "cut.tar"
    archive.write_bytes(data[:cut])
    input_error(scene, archive, f"docker-archive {archive}")


def test_random_bytes(scene: Scene) -> None:
    archive = scene.inputs / "noise.tar"
    archive.write_bytes(hashlib.sha512(b"noise").digest() * 200)
    input_error(scene, archive, "not a readable tar archive")


def test_truncated_gzip_archive_leaves_no_decompressed_copy(scene: Scene) -> None:
    """``docker save | gzip``: harden decompresses into its workspace; a cut stream must not leave that copy."""
    data = gzip.compress(good_archive(scene, "whole.tar").read_bytes(), mtime=0)
    archive = scene.inputs / "cut.tar.gz"
    archive.write_bytes(data[: len(data) * 2 // 3])
    input_error(scene, archive, "corrupt or truncated")


def test_gzip_archive_is_read(scene: Scene) -> None:
    archive = scene.inputs / "whole.tar.gz"
    archive.write_bytes(gzip.compress(good_archive(scene, "whole.tar").read_bytes(), mtime=0))
    run = harden_to_archive(scene, archive)
    assert run.exit_code == 0, run.stderr
    assert read_docker_archive(scene.out / "out.tar")[1]["app/main.py"].data == b"print('hello')\n"


def plain_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_missing_manifest(scene: Scene) -> None:
    layer = base_layer()
    config = json.dumps(config_for([layer])).encode()
    archive = plain_tar(scene.inputs / "nomanifest.tar", {
        f"{hashlib.sha256(config).hexdigest()}.json": config, "abc/layer.tar": layer})
    input_error(scene, archive, "missing manifest.json")


def test_manifest_that_is_not_json(scene: Scene) -> None:
    archive = plain_tar(scene.inputs / "badjson.tar", {"manifest.json": b"[{\"Config\": "})
    input_error(scene, archive, "manifest.json is not valid JSON")


def test_mismatched_diff_id(scene: Scene) -> None:
    layer = base_layer()
    config = config_for([layer])
    config["rootfs"] = {"type": "layers", "diff_ids": [sha256_digest(b"some other layer")]}
    archive = scene.archive([layer], config)
    input_error(scene, archive, "does not match its diff_id", sha256_digest(b"some other layer"))


def test_layer_count_differs_from_diff_ids(scene: Scene) -> None:
    layer = base_layer()
    config = config_for([layer, layer])
    archive = scene.archive([layer], config)
    input_error(scene, archive, "1 layers but the config lists 2 diff_ids")


def test_layer_that_is_not_a_tar(scene: Scene) -> None:
    junk = b"\x00\x01 not a tar stream " * 40
    archive = scene.archive([base_layer(), junk])
    input_error(scene, archive, "layer 1")


@pytest.mark.parametrize("evil", ["../outside/sentinel.txt", "/etc/passwd", "sub/../../outside/sentinel.txt"])
def test_manifest_names_cannot_leave_the_archive(scene: Scene, evil: str) -> None:
    layer = base_layer()
    config = json.dumps(config_for([layer])).encode()
    manifest = [{"Config": "config.json", "RepoTags": None, "Layers": [evil]}]
    archive = plain_tar(scene.inputs / "escape.tar", {
        "config.json": config, "manifest.json": json.dumps(manifest).encode()})
    input_error(scene, archive, "missing")


def test_outer_symlink_to_a_host_file_is_not_followed(scene: Scene) -> None:
    """An archive member that is a symlink to an absolute host path names a member, never a host file."""
    layer = base_layer()
    config = json.dumps(config_for([layer])).encode()
    manifest = [{"Config": "config.json", "RepoTags": None, "Layers": ["layer.tar"]}]
    archive = scene.inputs / "hostlink.tar"
    plain_tar(archive, {"config.json": config, "manifest.json": json.dumps(manifest).encode()})
    with tarfile.open(archive, "a") as tar:
        info = tarfile.TarInfo("layer.tar")
        info.type = tarfile.SYMTYPE
        info.linkname = str(scene.outside / "sentinel.txt")
        tar.addfile(info)
    input_error(scene, archive, "missing")


@pytest.mark.parametrize("field, value, expected", [
    ("Env", "PATH=/bin", "config.Env: expected an array of strings, got string"),
    ("Env", [1, 2], "config.Env: expected an array of strings, got array"),
    ("Cmd", "python3 app.py", "config.Cmd: expected an array of strings, got string"),
    ("Cmd", [None], "config.Cmd: expected an array of strings, got array"),
    ("Entrypoint", 5, "config.Entrypoint: expected an array of strings, got integer"),
    ("User", 0, "config.User: expected a string, got integer"),
    ("WorkingDir", ["/"], "config.WorkingDir: expected a string, got array"),
    ("Labels", ["a"], "config.Labels: expected an object of strings, got array"),
    ("Healthcheck", "x", "config.Healthcheck: expected an object whose Test is an array of strings, got string"),
])
def test_malformed_container_config(scene: Scene, field: str, value: object, expected: str) -> None:
    """Docker refuses such a config; harden used to split a string Env into characters or crash (exit 4)."""
    layer = base_layer()
    archive = scene.archive([layer], config_for([layer], **{field: value}))
    line = input_error(scene, archive, "malformed image config", expected)
    assert line.startswith(f"harden: error: docker-archive:{archive}: ")


def test_container_config_that_is_not_an_object(scene: Scene) -> None:
    layer = base_layer()
    config = config_for([layer])
    config["config"] = ["Cmd", "python3"]
    input_error(scene, scene.archive([layer], config), "config: expected an object, got array")


# -- OCI layouts ------------------------------------------------------------------------------------------
def oci_layout(scene: Scene) -> Path:
    return write_oci_layout(scene.inputs / "layout", [base_layer()])


def harden_layout(scene: Scene, layout: Path) -> tuple[int, str]:
    run = scene.run("image", f"oci:{layout}", "--no-verify", "--output", f"docker-archive:{scene.out / 'o.tar'}",
                    "--report-dir", str(scene.reports / "r"))
    line = run.error_line if run.exit_code else ""
    assert run.exit_code == 0 or run.created == set()
    return run.exit_code, line


def blob_paths(layout: Path) -> list[Path]:
    return sorted((layout / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)


def test_oci_blob_symlinked_out_of_the_layout(scene: Scene) -> None:
    layout = oci_layout(scene)
    layer_blob = blob_paths(layout)[-1]
    layer_blob.unlink()
    layer_blob.symlink_to(scene.outside / "sentinel.txt")
    code, line = harden_layout(scene, layout)
    assert code == 3 and "points outside the layout" in line


def test_oci_blob_whose_content_does_not_match_its_digest(scene: Scene) -> None:
    layout = oci_layout(scene)
    index = json.loads((layout / "index.json").read_text())
    manifest_path = layout / "blobs" / "sha256" / index["manifests"][0]["digest"].partition(":")[2]
    os.chmod(manifest_path, 0o644)
    manifest_path.write_bytes(manifest_path.read_bytes().replace(b'"schemaVersion": 2', b'"schemaVersion":2 '))
    code, line = harden_layout(scene, layout)
    assert code == 3 and "does not match its digest" in line


def test_oci_index_digest_with_a_path_in_it(scene: Scene) -> None:
    layout = oci_layout(scene)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["digest"] = "sha256:../../../outside/sentinel.txt"
    (layout / "index.json").write_text(json.dumps(index))
    code, line = harden_layout(scene, layout)
    assert code == 3 and "invalid digest" in line


def test_oci_layout_is_read_and_left_unchanged(scene: Scene) -> None:
    code, line = harden_layout(scene, oci_layout(scene))
    assert code == 0, line


# -- outputs that would change the source ----------------------------------------------------------------
def test_output_onto_the_source_archive_is_refused(scene: Scene) -> None:
    archive = good_archive(scene)
    run = scene.run("image", f"docker-archive:{archive}", "--no-verify", "--output", f"docker-archive:{archive}",
                    "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 2
    assert "would overwrite the source" in run.error_line
    assert run.created == set()


def test_output_layout_replacing_the_source_layout_is_refused(scene: Scene) -> None:
    layout = oci_layout(scene)
    run = scene.run("image", f"oci:{layout}", "--no-verify", "--output", f"oci:{layout}",
                    "--output", f"docker-archive:{layout / 'inside.tar'}", "--report-dir", str(layout / "reports"))
    assert run.exit_code == 2
    line = run.error_line
    assert f"--output oci:{layout} would overwrite" in line and "inside.tar would overwrite" in line
    assert "--report-dir" in line
    assert run.created == set()


def test_two_outputs_to_one_path_are_refused(scene: Scene) -> None:
    archive = good_archive(scene)
    out = scene.out / "same.tar"
    run = scene.run("image", f"docker-archive:{archive}", "--no-verify", "--output", f"docker-archive:{out}",
                    "--output", f"oci-archive:{out}")
    assert run.exit_code == 2 and "writes the same path" in run.error_line
    assert run.created == set()


def test_output_into_a_missing_directory_is_a_usage_error(scene: Scene) -> None:
    archive = good_archive(scene)
    run = scene.run("image", f"docker-archive:{archive}", "--no-verify", "--output",
                    f"docker-archive:{scene.out / 'no' / 'such' / 'dir.tar'}", "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 2 and "does not exist" in run.error_line
    assert run.created == set(), "nothing may be published when an output cannot be written"


# -- unusable images ---------------------------------------------------------------------------------------
def test_image_without_python_cannot_be_verified(scene: Scene) -> None:
    """Verification proves that the hardened image imports what the original did; without a Python there is
    nothing to prove: exit 3 before any work, with the way out in the one line."""
    archive = good_archive(scene)
    run = scene.run("image", f"docker-archive:{archive}", "--output", f"docker-archive:{scene.out / 'o.tar'}",
                    "--report-dir", str(scene.reports / "r"), "--runner", "sandbox")
    assert run.exit_code == 3
    line = run.error_line
    assert "no Python interpreter found in the image" in line and "--no-verify" in line
    assert run.created == set()
    unverified = harden_to_archive(scene, archive)
    assert unverified.exit_code == 0, unverified.stderr


SHELL_LAYER = make_layer_tar([directory("bin"), file("bin/sh", b"\x7fELF a shell", mode=0o755),
                              directory("usr"), directory("usr/bin"),
                              file("usr/bin/python3", b"#!/not/really\n", mode=0o755)])


def test_shell_form_cmd_is_converted_to_exec_form(scene: Scene) -> None:
    layers = [base_layer(), SHELL_LAYER]
    archive = scene.archive(layers, config_for(layers, Cmd=["/bin/sh", "-c", "python3 /app/main.py"]))
    run = harden_to_archive(scene, archive)
    assert run.exit_code == 0, run.stderr
    config, entries = read_docker_archive(scene.out / "out.tar")
    assert config["config"]["Cmd"] == ["python3", "/app/main.py"]
    assert "bin/sh" not in entries


@pytest.mark.parametrize("command", ["python3 /app/main.py | tee /tmp/log", "cd /app && python3 main.py",
                                     "python3 main.py > /tmp/out"])
def test_shell_form_cmd_that_needs_a_shell_is_refused(scene: Scene, command: str) -> None:
    layers = [base_layer(), SHELL_LAYER]
    archive = scene.archive(layers, config_for(layers, Cmd=["/bin/sh", "-c", command]))
    line = input_error(scene, archive, "Cmd", command, "exec form")
    assert line.startswith("harden: error: Cmd is a shell command")


# -- missing input, engine down -----------------------------------------------------------------------------
def test_missing_archive(scene: Scene) -> None:
    input_error(scene, scene.inputs / "nope.tar", "does not exist")


def test_directory_given_as_an_archive(scene: Scene) -> None:
    (scene.inputs / "adir").mkdir()
    input_error(scene, scene.inputs / "adir", "is not a file")


def test_archive_with_two_images_needs_a_selector(scene: Scene) -> None:
    archive = scene.archive([base_layer()], extra_images=[([make_layer_tar([file("x", b"x")])], ["other:2"])])
    line = input_error(scene, archive, "holds 2 images", "other:2", code=2)
    assert "docker-archive:PATH:TAG" in line
    run = scene.run("image", f"docker-archive:{archive}:other:2", "--no-verify",
                    "--output", f"docker-archive:{scene.out / 'o.tar'}", "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 0, run.stderr


@pytest.mark.parametrize("command", [["image", "some/image:1", "--no-verify"], ["report", "some/image:1"],
                                     ["verify", "some/image:1", "some/image:2"]])
def test_engine_down(scene: Scene, command: list[str]) -> None:
    """The engine DOCKER_HOST names does not answer: exit 3, one line naming it, as the docker CLI does; no
    other engine is tried (not Docker's socket, not harden's podman service), whichever answers. A child
    process, so the engine module reads this environment."""
    before = scene.snapshot()
    proc = scene.spawn(*command, "--report-dir", str(scene.reports / "r"),
                       env={"DOCKER_HOST": "unix:///nonexistent.sock",
                            "HARDEN_ENGINE_DIR": str(scene.root / "no-engine")})
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stdout + stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("harden: error: the engine unix:///nonexistent.sock (DOCKER_HOST) does not answer "
                             "(no socket at /nonexistent.sock)"), stderr
    assert scene.check_after(before) == set()


def test_tag_with_the_engine_down_writes_no_output(scene: Scene) -> None:
    """``--tag`` needs the engine: with none answering, the run stops before any work (exit 3) instead of
    writing the ``--output`` files and failing at the tag."""
    archive = good_archive(scene)
    before = scene.snapshot()
    proc = scene.spawn("image", f"docker-archive:{archive}", "--no-verify", "--tag", "hostile/tagged:1",
                       "--output", f"docker-archive:{scene.out / 'out.tar'}", "--report-dir", str(scene.reports / "r"),
                       env={"DOCKER_HOST": "unix:///nonexistent.sock",
                            "HARDEN_ENGINE_DIR": str(scene.root / "no-engine")})
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stdout + stderr
    assert stderr.count("\n") == 1 and "unix:///nonexistent.sock (DOCKER_HOST) does not answer" in stderr
    assert scene.check_after(before) == set()


def test_passwd_of_the_base_layer_is_kept(scene: Scene) -> None:
    """The scenes above build on base_layer(); its files survive hardening (a control for the refusals)."""
    run = harden_to_archive(scene, good_archive(scene))
    assert run.exit_code == 0, run.stderr
    entries = read_docker_archive(scene.out / "out.tar")[1]
    assert entries["etc/passwd"].data.startswith(PASSWD)
