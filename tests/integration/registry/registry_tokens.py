"""A tiny token service for the registry's ``auth: token`` mode, on 127.0.0.1, written for the tests.

It implements the Docker token protocol as distribution 2.8 checks it: ``GET /token?service=&scope=`` with
optional HTTP Basic credentials (and the OAuth2 ``POST`` with ``grant_type=refresh_token``), answering a JWT
signed RS256 by ``openssl dgst`` with a self-signed certificate in its ``x5c`` header; the registry trusts that
certificate through ``rootcertbundle``. Anonymous callers may pull; the one user may pull and push.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

SERVICE = "harden-test-registry"
ISSUER = "harden-test-token-service"
USER = "alice"
PASSWORD = "s3cret-token-pw"
REFRESH_TOKEN = "refresh-" + "7" * 24


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class TokenService:
    cert: Path
    key: Path
    requests: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    """(user or "" for anonymous, scopes) of every token request."""
    server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def registry_auth(self) -> dict[str, Any]:
        """The registry config's ``auth:`` section that trusts this service."""
        return {"token": {"realm": self.realm, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": str(self.cert)}}

    def sign(self, user: str, scopes: tuple[str, ...]) -> str:
        der = subprocess.run(
            ["openssl", "x509", "-in", str(self.cert), "-outform", "DER"], capture_output=True, check=True, timeout=30
        ).stdout
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode("ascii")]}
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": [_grant(scope, user) for scope in scopes if scope.startswith("repository:")],
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(),
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
        return f"{signing_input}.{_b64(signature)}"

    def start(self) -> None:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                user = self._basic_user()
                if user is None:
                    return self._answer(401, {"error": "bad credentials"})
                scopes = tuple(query.get("scope", []))
                service.requests.append((user, scopes))
                self._answer(200, {"token": service.sign(user, scopes), "expires_in": 300})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != [REFRESH_TOKEN]:
                    return self._answer(401, {"error": "invalid_grant"})
                scopes = tuple(" ".join(form.get("scope", [])).split())
                service.requests.append((USER, scopes))
                self._answer(200, {"access_token": service.sign(USER, scopes), "expires_in": 300})

            def _basic_user(self) -> str | None:
                header = self.headers.get("Authorization")
                if header is None:
                    return ""
                if not header.startswith("Basic "):
                    return None
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                return user if (user, password) == (USER, PASSWORD) else None

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, name="token-service", daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _grant(scope: str, user: str) -> dict[str, Any]:
    _, name, actions = scope.split(":", 2)
    asked = actions.split(",")
    allowed = ["pull", "push"] if user == USER else ["pull"]
    return {"type": "repository", "name": name, "actions": [a for a in asked if a in allowed]}
