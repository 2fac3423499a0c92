"""Helpers of the attestation tests: outside tools and modules, keys as PEM, a real layout, the facts of a run.

Tools and test-only libraries that stand outside harden (openssl, umoci, skopeo, securesystemslib, the in-toto
attestation protos) are required through ``require_tool`` / ``require_module``: missing, a test skips with the
reason, except under ``CI``, where it fails (scripts/test-prereqs.sh and the dev extra install them).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from harden.attest.facts import CheckCount, Checks, RunFacts, Verdict
from harden.attest.uris import oci_purl
from harden.image.model import ImageConfig
from harden.image.transports.oci_layout import build_layout
from imagefactory import default_config, diff_id, directory, file, make_layer_tar, memory_layers

START = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
END = datetime(2025, 3, 1, 12, 4, 30, tzinfo=UTC)
REF = "hardened"


def _missing(what: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing under CI (scripts/test-prereqs.sh / the dev extra install it)", pytrace=False)
    pytest.skip(f"{what} is not installed (scripts/test-prereqs.sh / pip install -e '.[dev]')")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        _missing(f"the {name} command")
    return path


def require_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        _missing(f"the Python module {name}")


def run_tool(argv: Sequence[str], *, check: bool = True, text: bool = True, **kw: Any
             ) -> subprocess.CompletedProcess[Any]:
    """Run an outside tool; on an unexpected exit its output is in the failure message."""
    done = subprocess.run(list(argv), capture_output=True, text=text, timeout=60, check=False, **kw)
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {done.returncode}: {done.stdout!r} {done.stderr!r}", pytrace=False)
    return done


def pkcs8(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def make_layout(root: Path, *, ref_name: str | None = REF, architecture: str = "amd64") -> str:
    """A one-layer OCI layout written by harden's own sink; the image manifest digest."""
    tar = make_layer_tar([directory("app"), file("app/main.py", b"print('hi')\n")])
    raw = dict(default_config([diff_id(tar)], User="1000:1000"), architecture=architecture)
    config = ImageConfig.from_bytes(json.dumps(raw).encode())
    root.mkdir(parents=True)
    return build_layout(config, memory_layers([tar]), root, ref_name=ref_name)


def make_facts(output_digest: str, **changes: Any) -> RunFacts:
    values: dict[str, Any] = {
        "source": "docker-archive:/in/python-app.tar",
        "source_digest": "sha256:" + "1" * 64,
        "output_names": (f"oci:/out:{REF}",),
        "output_digest": output_digest,
        "resource_uri": oci_purl("out", output_digest, tag=REF),
        "policy_name": "spark-k8s-python-deps",
        "policy_digest": "sha256:" + "2" * 64,
        "harden_version": "0.1.0",
        "report_digest": "sha256:" + "3" * 64,
        "verdict": Verdict.PASSED,
        "checks": Checks(CheckCount(412, 0), CheckCount(57), CheckCount(3), CheckCount(9)),
        "started_on": START,
        "finished_on": END,
        "invocation_id": "run-1",
    }
    values.update(changes)
    return RunFacts(**values)
