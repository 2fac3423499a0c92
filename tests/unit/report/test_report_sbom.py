"""CycloneDX SBOMs before and after hardening: scanners must still see the data stack with its versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from report_support import (
    FIXED_TIME,
    SCHEMAS,
    SITE,
    StandInPolicy,
    build_image,
    dist_info,
    harden,
    small_image_layers,
)

from fixtures.alpine.make_fixture import Binaries, alpine_image
from harden.image.blobs import BlobStore
from harden.ospkg import detect_all
from harden.ospkg.purl import deb_purl
from harden.report.inventory import inventory, os_info, pypi_purl
from harden.report.sbom import cyclonedx
from harden.report.write import write_run_reports
from imagefactory import file, make_layer_tar, merged_rootfs, symlink

CDX = "http://cyclonedx.org/schema/"


def cyclonedx_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / "bom-1.5.schema.json").read_text())
    registry: Registry = Registry().with_resources([
        (CDX + "spdx.SNAPSHOT.schema.json",
         Resource.from_contents(json.loads((SCHEMAS / "spdx.schema.json").read_text()))),
        (CDX + "jsf-0.82.SNAPSHOT.schema.json",
         Resource.from_contents(json.loads((SCHEMAS / "jsf-0.82.schema.json").read_text()))),
    ])
    return jsonschema.Draft7Validator(schema, registry=registry)


def run(tmp_path: Path) -> Path:
    blobs = BlobStore(tmp_path / "blobs")
    image, rootfs = build_image(small_image_layers(), blobs)
    result = harden(rootfs, image.config, blobs)
    write_run_reports(
        tmp_path / "out", source="demo:1", source_image=image, original=rootfs, result=result,
        policy=StandInPolicy(), verification=None, dropped=(), written=(), harden_seconds=1.0, dry_run=False,
        blobs=blobs, generated_at=FIXED_TIME,
    )
    return tmp_path / "out"


def versions(bom: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["version"] for c in bom["components"]}


def test_sbom_lists_the_data_stack_with_versions_before_and_after(tmp_path: Path) -> None:
    out = run(tmp_path)
    before = json.loads((out / "sbom.original.cdx.json").read_text())
    after = json.loads((out / "sbom.hardened.cdx.json").read_text())
    for bom in (before, after):
        assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.5"
        found = versions(bom)
        assert found["pandas"] == "2.2.2"
        assert found["numpy"] == "1.26.4"
        assert found["pyiceberg"] == "0.7.1"
        assert found["libc6"] == "2.36-9+deb12u4"
        purls = {c["purl"] for c in bom["components"]}
        assert "pkg:pypi/pandas@2.2.2" in purls
        assert "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12" in purls
    assert "pip" in versions(before) and "pip" not in versions(after)


def test_sboms_validate_against_cyclonedx_1_5(tmp_path: Path) -> None:
    out = run(tmp_path)
    validator = cyclonedx_validator()
    for name in ("sbom.original.cdx.json", "sbom.hardened.cdx.json"):
        validator.validate(json.loads((out / name).read_text()))


def test_cyclonedx_validator_rejects_a_broken_bom(tmp_path: Path) -> None:
    out = run(tmp_path)
    bom = json.loads((out / "sbom.original.cdx.json").read_text())
    bom["serialNumber"] = "not-a-urn"
    with pytest.raises(jsonschema.ValidationError):
        cyclonedx_validator().validate(bom)


def test_sbom_diff_names_removed_and_changed_components(tmp_path: Path) -> None:
    out = run(tmp_path)
    diff = json.loads((out / "sbom.diff.json").read_text())
    assert [c["name"] for c in diff["removed"]] == ["pip"]
    assert diff["added"] == [] and diff["changed"] == []
    assert diff["summary"] == {"added": 0, "removed": 1, "changed": 0, "unchanged": 5}
    report = json.loads((out / "report.json").read_text())
    assert report["sbom"]["diff_summary"] == diff["summary"]


def test_serial_number_is_deterministic(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = json.loads((run(tmp_path / "a") / "sbom.original.cdx.json").read_text())
    second = json.loads((run(tmp_path / "b") / "sbom.original.cdx.json").read_text())
    assert first == second


def test_inventory_reads_dpkg_status_d_egg_info_and_sizes(blobs: BlobStore) -> None:
    layers = [[
        file("var/lib/dpkg/status.d/base-files",
             b"Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n"),
        file("var/lib/dpkg/status.d/base-files.md5sums", b"abc  etc/debian_version\n"),
        file("var/lib/dpkg/status.d/tzdata",
             b"Package: tzdata\nVersion: 1:2024a-0+deb12u1\nArchitecture: all\n"),
        file("var/lib/dpkg/status",
             b"Package: gone\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: amd64\n\n"),
        file("etc/os-release", b"ID=debian\nVERSION_ID=12\n"),
        file("usr/lib/python3/dist-packages/six.egg-info",
             b"Metadata-Version: 1.0\nName: six\nVersion: 1.16.0\n"),
        file("usr/lib/python3/dist-packages/oldpkg.egg-info/PKG-INFO", b"Name: old_pkg\nVersion: 0.1\n"),
        file("usr/lib/python3/dist-packages/oldpkg.egg-info/installed-files.txt", b"../oldpkg/__init__.py\n"),
        file("usr/lib/python3/dist-packages/oldpkg/__init__.py", b"x" * 300),
        *dist_info(SITE, "Foo_Bar", "1.0+local", {"foo_bar/__init__.py": b"y" * 700}),
        symlink("lib", "usr/lib"),
    ]]
    _, rootfs = build_image(layers, blobs)
    found = {c.name: c for c in inventory(rootfs, blobs)}
    assert set(found) == {"base-files", "tzdata", "six", "old_pkg", "Foo_Bar"}
    assert found["tzdata"].purl == "pkg:deb/debian/tzdata@1%3A2024a-0%2Bdeb12u1?arch=all&distro=debian-12"
    assert found["Foo_Bar"].purl == "pkg:pypi/foo-bar@1.0%2Blocal"
    assert (found["Foo_Bar"].files, found["Foo_Bar"].size_source) == (2, "record")
    assert found["Foo_Bar"].bytes > 700
    assert (found["old_pkg"].bytes, found["old_pkg"].size_source) == (300, "installed-files")
    assert found["six"].location == "usr/lib/python3/dist-packages"


def test_dpkg_list_sizes_follow_usrmerge_symlinks(blobs: BlobStore) -> None:
    layers = [[
        symlink("bin", "usr/bin"),
        file("usr/bin/dash", b"d" * 1234, mode=0o755),
        symlink("usr/bin/sh", "dash"),
        file("var/lib/dpkg/status", b"Package: dash\nStatus: install ok installed\nVersion: 0.5.12-2\n"
                                    b"Architecture: amd64\nInstalled-Size: 500\n"),
        file("var/lib/dpkg/info/dash.list", b"/.\n/bin\n/bin/dash\n/usr/bin/sh\n"),
    ]]
    _, rootfs = build_image(layers, blobs)
    (dash,) = inventory(rootfs, blobs)
    assert (dash.files, dash.bytes, dash.size_source) == (2, 1234, "dpkg-list")


def test_purls_follow_the_purl_spec() -> None:
    assert pypi_purl("PyIceberg", "0.7.1") == "pkg:pypi/pyiceberg@0.7.1"
    assert pypi_purl("typing_extensions", "4.12.2") == "pkg:pypi/typing-extensions@4.12.2"
    assert deb_purl("debian", "libstdc++6", "12.2.0-14", "amd64", "") == \
        "pkg:deb/debian/libstdc++6@12.2.0-14?arch=amd64"


def test_apk_packages_are_components_with_purls_licences_and_sizes(musl_binaries: Binaries, blobs: BlobStore) -> None:
    rootfs = merged_rootfs([alpine_image(musl_binaries).layer()], blobs)
    databases = detect_all(rootfs, blobs)
    components = {c.name: c for c in inventory(rootfs, blobs, databases) if c.ecosystem == "apk"}
    assert sorted(components) == [".python-rundeps", "alpine-baselayout-data", "alpine-release", "busybox",
                                  "busybox-binsh", "hello-musl", "musl"]
    musl = components["musl"]
    assert musl.purl == "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1"
    assert (musl.license, musl.location, musl.size_source) == ("MIT", "lib/apk/db/installed", "apk-installed")
    assert (musl.files, musl.bytes) == (2, len(musl_binaries.libc))  # the loader and its libc.musl symlink
    assert components["busybox-binsh"].purl.endswith("&upstream=busybox")
    assert (components[".python-rundeps"].files, components[".python-rundeps"].bytes) == (0, 0)
    os = os_info(databases, rootfs, blobs)
    assert os.to_dict() == {
        "name": "Alpine Linux v3.19", "id": "alpine", "version_id": "3.19.1", "package_db": "apk",
        "databases": [{"kind": "apk", "sources": ["/lib/apk/db/installed", "/lib/apk/db/triggers"],
                       "prunable": True, "packages": 7}],
    }
    bom = cyclonedx(sorted(components.values(), key=lambda c: c.name), subject="alpine:3.19", digest=None,
                    side="original", generated_at=FIXED_TIME, os=os)
    cyclonedx_validator().validate(bom)
    by_name = {c["name"]: c for c in bom["components"]}
    assert by_name["busybox"]["licenses"] == [{"license": {"name": "GPL-2.0-only"}}]
    assert {"name": "harden:ecosystem", "value": "apk"} in by_name["busybox"]["properties"]
    assert {"name": "harden:os", "value": "Alpine Linux v3.19"} in bom["metadata"]["component"]["properties"]
    assert {"name": "harden:package-db", "value": "apk"} in bom["metadata"]["component"]["properties"]


def test_an_rpm_image_is_named_and_its_packages_not_listed(blobs: BlobStore) -> None:
    rootfs = merged_rootfs([make_layer_tar([
        file("etc/os-release", b'NAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\nPRETTY_NAME="Fedora Linux 40"\n'),
        file("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\x00"),
    ])], blobs)
    databases = detect_all(rootfs, blobs)
    assert [c for c in inventory(rootfs, blobs, databases) if c.ecosystem != "pypi"] == []
    assert os_info(databases, rootfs, blobs).to_dict() == {
        "name": "Fedora Linux 40", "id": "fedora", "version_id": "40", "package_db": "rpm",
        "databases": [{"kind": "rpm", "sources": ["/var/lib/rpm/rpmdb.sqlite"], "prunable": False, "packages": 0}],
    }
    bare = merged_rootfs([make_layer_tar([file("app/main.py", b"")])], blobs)
    assert os_info(detect_all(bare, blobs), bare, blobs).to_dict() == {
        "name": "unknown OS", "id": "", "version_id": "", "package_db": "none", "databases": []}
