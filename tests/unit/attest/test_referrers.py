"""OCI referrers: artifact manifests per image-spec 1.1, written into a real layout that umoci, skopeo and
harden still read, and reachable from index.json by following ``subject``."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from attest_support import REF, make_layout, require_tool, run_tool

from harden.attest import referrers
from harden.attest.facts import RunFacts
from harden.attest.keys import SigningKey
from harden.attest.referrers import EMPTY_MEDIA_TYPE, Artifact, Descriptor, artifact_manifest, attach
from harden.attest.run import attest_run, layout_artifacts
from harden.errors import BadArchive, ImageNotFound, UsageError
from harden.image.transports import open_image
from harden.image.transports._archive import DirTree, TarArchive

EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"  # image-spec: sha256("{}")
SUBJECT = Descriptor("application/vnd.oci.image.manifest.v1+json", "sha256:" + "e" * 64, 401)


def blob(root: Path, digest: str) -> bytes:
    data = (root / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    return data


def run_artifacts(facts: RunFacts, bom: dict[str, Any], key: SigningKey | None) -> tuple[Artifact, ...]:
    attestations = attest_run(facts, bom, [key] if key else [])
    return layout_artifacts(attestations, json.dumps(bom).encode(), "sbom.hardened.cdx.json")


def test_the_artifact_manifest_follows_the_guidelines_for_artifact_usage() -> None:
    artifact = Artifact("application/vnd.in-toto.vsa+dsse", "application/vnd.dsse.envelope.v1+json", b"{...}",
                        "vsa.dsse.json", (("in-toto.io/predicate-type", "https://slsa.dev/verification_summary/v1"),))
    made = artifact_manifest(SUBJECT, artifact)
    manifest = json.loads(made.manifest)
    assert manifest == {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.in-toto.vsa+dsse",
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [{
            "mediaType": "application/vnd.dsse.envelope.v1+json",
            "digest": "sha256:" + hashlib.sha256(b"{...}").hexdigest(),
            "size": 5,
            "annotations": {"org.opencontainers.image.title": "vsa.dsse.json"},
        }],
        "subject": {"mediaType": SUBJECT.media_type, "digest": SUBJECT.digest, "size": 401},
        "annotations": {"org.opencontainers.image.title": "vsa.dsse.json",
                        "in-toto.io/predicate-type": "https://slsa.dev/verification_summary/v1"},
    }
    assert made.blobs == (b"{}", b"{...}")
    assert made.descriptor.digest == "sha256:" + hashlib.sha256(made.manifest).hexdigest()
    assert made.descriptor.to_json() == {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": made.descriptor.digest,
        "size": len(made.manifest),
        "artifactType": "application/vnd.in-toto.vsa+dsse",
        "annotations": manifest["annotations"],
    }
    assert artifact_manifest(SUBJECT, artifact) == made  # pure and deterministic


def test_attach_writes_blobs_and_lists_each_referrer_in_index_json(
    layout: tuple[Path, str], facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey
) -> None:
    root, digest = layout
    image_entry = json.loads((root / "index.json").read_text())["manifests"][0]
    descriptors = attach(root, digest, run_artifacts(facts, bom, signing_key))
    index = json.loads((root / "index.json").read_text())
    assert index["manifests"][0] == image_entry  # the image entry and its tag are untouched
    listed = index["manifests"][1:]
    assert [d["artifactType"] for d in listed] == [
        "application/vnd.cyclonedx+json",
        "application/vnd.in-toto.provenance+dsse",
        "application/vnd.in-toto.vsa+dsse",
        "application/vnd.in-toto.cyclonedx+dsse",
    ]
    assert [d.to_json() for d in descriptors] == listed
    subject = {"mediaType": image_entry["mediaType"], "digest": digest, "size": image_entry["size"]}
    for entry in listed:
        assert "org.opencontainers.image.ref.name" not in entry.get("annotations", {})
        manifest = json.loads(blob(root, entry["digest"]))
        assert len(blob(root, entry["digest"])) == entry["size"]
        assert manifest["subject"] == subject and manifest["artifactType"] == entry["artifactType"]
        assert blob(root, manifest["config"]["digest"]) == b"{}"
        [layer] = manifest["layers"]
        assert len(blob(root, layer["digest"])) == layer["size"]
    [sbom] = [m for m in listed if m["artifactType"] == "application/vnd.cyclonedx+json"]
    sbom_layer = json.loads(blob(root, sbom["digest"]))["layers"][0]
    assert json.loads(blob(root, sbom_layer["digest"])) == bom


def test_referrers_are_found_by_subject_from_index_json(
    layout: tuple[Path, str], facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey
) -> None:
    root, digest = layout
    attach(root, digest, run_artifacts(facts, bom, signing_key))
    found = referrers.referrers(DirTree(root, "layout"), digest)
    assert {r.artifact_type for r in found} == {"application/vnd.cyclonedx+json",
                                                "application/vnd.in-toto.provenance+dsse",
                                                "application/vnd.in-toto.vsa+dsse",
                                                "application/vnd.in-toto.cyclonedx+dsse"}
    assert referrers.referrers(DirTree(root, "layout"), "sha256:" + "0" * 64) == ()


def test_attaching_again_lists_nothing_twice(layout: tuple[Path, str], facts: RunFacts, bom: dict[str, Any],
                                             signing_key: SigningKey) -> None:
    root, digest = layout
    artifacts = run_artifacts(facts, bom, signing_key)
    attach(root, digest, artifacts)
    before = (root / "index.json").read_bytes()
    attach(root, digest, artifacts)
    assert (root / "index.json").read_bytes() == before


def test_unsigned_statements_are_attached_as_in_toto_json(layout: tuple[Path, str], facts: RunFacts,
                                                          bom: dict[str, Any]) -> None:
    root, digest = layout
    attach(root, digest, run_artifacts(facts, bom, None))
    found = referrers.referrers(DirTree(root, "layout"), digest)
    statements = [r for r in found if r.artifact_type == "application/vnd.in-toto+json"]
    assert len(statements) == 3
    titles = sorted(dict(r.annotations)["org.opencontainers.image.title"] for r in statements)
    assert titles == ["provenance.intoto.json", "sbom.intoto.json", "vsa.intoto.json"]


def test_attach_refuses_a_subject_the_layout_does_not_hold(layout: tuple[Path, str]) -> None:
    root, _ = layout
    with pytest.raises(ImageNotFound, match="no manifest sha256:0000"):
        attach(root, "sha256:" + "0" * 64, [])


def test_a_tampered_subject_blob_is_refused(layout: tuple[Path, str]) -> None:
    root, digest = layout
    path = root / "blobs" / "sha256" / digest.removeprefix("sha256:")
    path.write_bytes(path.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion":3'))
    with pytest.raises(BadArchive, match="does not match its digest"):
        attach(root, digest, [])


def test_image_manifest_skips_artifacts(layout: tuple[Path, str], facts: RunFacts, bom: dict[str, Any],
                                        signing_key: SigningKey) -> None:
    root, digest = layout
    attach(root, digest, run_artifacts(facts, bom, signing_key))
    reader = DirTree(root, "layout")
    assert referrers.image_manifest(reader, REF).digest == digest
    assert referrers.image_manifest(reader).digest == digest
    with pytest.raises(ImageNotFound, match="no image named other"):
        referrers.image_manifest(reader, "other")


def test_image_manifest_wants_a_name_when_several_images(tmp_path: Path) -> None:
    root = tmp_path / "two"
    make_layout(root)
    index = json.loads((root / "index.json").read_text())
    index["manifests"].append(dict(index["manifests"][0], annotations={"org.opencontainers.image.ref.name": "b"}))
    (root / "index.json").write_text(json.dumps(index))
    with pytest.raises(UsageError, match="lists 2 images"):
        referrers.image_manifest(DirTree(root, "two"))


# -- other readers of the layout -----------------------------------------------------------------------------
@pytest.fixture
def attached(layout: tuple[Path, str], facts: RunFacts, bom: dict[str, Any], signing_key: SigningKey
             ) -> tuple[Path, str]:
    attach(layout[0], layout[1], run_artifacts(facts, bom, signing_key))
    return layout


def test_umoci_still_reads_the_layout(tmp_path: Path, attached: tuple[Path, str]) -> None:
    umoci = require_tool("umoci")
    root, _ = attached
    assert run_tool([umoci, "ls", "--layout", str(root)]).stdout.split() == [REF]
    stat = run_tool([umoci, "stat", "--image", f"{root}:{REF}", "--json"]).stdout
    assert json.loads(stat)["history"]
    run_tool([umoci, "unpack", "--rootless", "--image", f"{root}:{REF}", str(tmp_path / "bundle")])
    assert (tmp_path / "bundle" / "rootfs" / "app" / "main.py").read_bytes() == b"print('hi')\n"


def test_skopeo_still_reads_the_tagged_image(tmp_path: Path, attached: tuple[Path, str]) -> None:
    skopeo = require_tool("skopeo")
    root, digest = attached
    inspected = json.loads(run_tool([skopeo, "inspect", f"oci:{root}:{REF}"]).stdout)
    assert inspected["Digest"] == digest and inspected["Os"] == "linux"
    raw = run_tool([skopeo, "inspect", "--raw", f"oci:{root}:{REF}"], text=False).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    run_tool([skopeo, "copy", "--quiet", f"oci:{root}:{REF}", f"oci:{tmp_path / 'copy'}:{REF}"])
    # Without :REF the layout is ambiguous to skopeo (it lists more than one manifest): documented, expected.
    untagged = run_tool([skopeo, "inspect", f"oci:{root}"], check=False)
    assert untagged.returncode != 0 and "more than one image" in untagged.stderr


def test_harden_still_reads_its_output(workdir: Path, attached: tuple[Path, str]) -> None:
    root, _ = attached
    tagged = open_image(f"oci:{root}:{REF}", workdir)
    untagged = open_image(f"oci:{root}", workdir)
    assert tagged.config_digest == untagged.config_digest
    assert tagged.config.user == "1000:1000"


def test_harden_reads_a_foreign_platform_output_without_ref(tmp_path: Path, workdir: Path, facts: RunFacts,
                                                           bom: dict[str, Any]) -> None:
    """Artifact manifests (artifactType set) are no images: the one image is chosen whatever the host is."""
    root = tmp_path / "s390x"
    digest = make_layout(root, architecture="s390x")
    attach(root, digest, run_artifacts(facts, bom, None))
    assert open_image(f"oci:{root}", workdir).config.platform == "linux/s390x"


def test_referrers_are_read_from_an_oci_archive_too(tmp_path: Path, attached: tuple[Path, str]) -> None:
    root, digest = attached
    archive = tmp_path / "out.tar"
    with tarfile.open(archive, "w") as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    reader = TarArchive(archive, "oci-archive out.tar")
    assert len(referrers.referrers(reader, digest)) == 4
    assert referrers.image_manifest(reader, REF).digest == digest
