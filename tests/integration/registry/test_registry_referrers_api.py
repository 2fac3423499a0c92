"""The referrers API path (OCI distribution 1.1), which distribution 2.8 lacks, against a minimal stand-in
registry on 127.0.0.1 written here: it serves ``GET /v2/NAME/referrers/DIGEST`` (with the ``artifactType``
filter and ``OCI-Filters-Applied``) and answers manifest pushes with ``OCI-Subject``, so no fallback tag is
read or written. The fallback path runs against the real registry in test_registry_referrers.py."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from harden.image.registry import (
    EMPTY_DESCRIPTOR,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    RegistryClient,
    list_referrers,
    push_referrer,
)

pytestmark = pytest.mark.registry
SUBJECT = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "5" * 64, "size": 123}
REFERRERS = [
    {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "6" * 64, "size": 10, "artifactType": "application/a"},
    {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "7" * 64, "size": 11, "artifactType": "application/b"},
]


class StandIn(ThreadingHTTPServer):
    seen: list[tuple[str, str]]


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    class Handler(BaseHTTPRequestHandler):
        server: StandIn

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            self.server.seen.append(("GET", url.path))
            if url.path == "/v2/":
                return self._answer(200, b"{}", "application/json")
            if url.path == f"/v2/app/referrers/{SUBJECT['digest']}":
                wanted = parse_qs(url.query).get("artifactType")
                entries = [r for r in REFERRERS if not wanted or r["artifactType"] in wanted]
                body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
                extra = {"OCI-Filters-Applied": "artifactType"} if wanted else {}
                return self._answer(200, body, OCI_INDEX, extra)
            self._answer(404, b'{"errors": [{"code": "MANIFEST_UNKNOWN"}]}', "application/json")

        def do_PUT(self) -> None:
            self.server.seen.append(("PUT", urlsplit(self.path).path))
            data = self.rfile.read(int(self.headers["Content-Length"]))
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            subject = json.loads(data)["subject"]["digest"]
            self._answer(201, b"", None, {"Docker-Content-Digest": digest, "OCI-Subject": subject})

        def _answer(self, status: int, body: bytes, kind: str | None, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            if kind:
                self.send_header("Content-Type", kind)
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = StandIn(("127.0.0.1", 0), Handler)
    server.seen = []
    threading.Thread(target=server.serve_forever, name="referrers-stand-in", daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(stand_in: StandIn, connect: Callable[..., RegistryClient]) -> RegistryClient:
    return connect(f"127.0.0.1:{stand_in.server_address[1]}")


def test_referrers_api_is_used_when_present(stand_in: StandIn, client: RegistryClient) -> None:
    found = list_referrers(client, "app", str(SUBJECT["digest"]))
    assert found.source == "api"
    assert [(m.digest, m.artifact_type) for m in found.manifests] == [
        (r["digest"], r["artifactType"]) for r in REFERRERS
    ]
    only_b = list_referrers(client, "app", str(SUBJECT["digest"]), artifact_type="application/b")
    assert [m.digest for m in only_b.manifests] == [REFERRERS[1]["digest"]]
    assert not any("sha256-" in path for _, path in stand_in.seen)  # the fallback tag was never asked for


def test_push_referrer_trusts_oci_subject(stand_in: StandIn, client: RegistryClient) -> None:
    manifest = Manifest.build(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/a",
            "config": EMPTY_DESCRIPTOR.to_json(),
            "layers": [EMPTY_DESCRIPTOR.to_json()],
            "subject": SUBJECT,
        }
    )
    pushed = push_referrer(client, "app", manifest)
    assert pushed.digest == manifest.digest and pushed.fallback_tag is None
    assert [entry for entry in stand_in.seen if entry[0] == "PUT"] == [("PUT", f"/v2/app/manifests/{manifest.digest}")]
