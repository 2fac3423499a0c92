"""Answers a registry's ``WWW-Authenticate`` challenges for one host.

Basic: the host's credentials on every request once the registry asked for them. Bearer: a token from the
challenge's realm for the request's scopes (``repository:NAME:pull`` / ``pull,push``), fetched anonymously or
with the credentials (HTTP Basic, or an OAuth2 refresh-token POST for an ``identitytoken``), and cached per set
of scopes until shortly before it expires. Credentials are looked up once, on the first challenge that needs
them. A realm on plain HTTP is accepted only where the registry itself may be plain HTTP.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from harden.errors import InputError

from .challenge import Challenge, parse_challenges
from .credentials import Credentials
from .http_errors import Target, Unauthorized, connection_error

log = logging.getLogger(__name__)

DEFAULT_TOKEN_LIFETIME_S = 60
"""What the token specification says a token without ``expires_in`` lasts."""
EXPIRY_MARGIN_S = 10
MAX_TOKEN_RESPONSE = 1 << 20
CLIENT_ID = "harden"


@dataclass(frozen=True, slots=True)
class _Token:
    value: str = field(repr=False)
    expires: float


class Authenticator:
    """``header(scopes)`` before a request; ``challenged(header)`` after a 401, then ``header`` again."""

    def __init__(
        self,
        host: str,
        session: requests.Session,
        credentials: Callable[[], Credentials | None],
        *,
        verify: bool | str,
        plain_http_ok: Callable[[str], bool],
        timeout: float,
    ) -> None:
        self._host = host
        self._session = session
        self._lookup = credentials
        self._looked_up = False
        self._credentials: Credentials | None = None
        self._verify = verify
        self._plain_http_ok = plain_http_ok
        self._timeout = timeout
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], _Token] = {}
        self.token_requests = 0
        """How many tokens were fetched (tests check the cache with it)."""

    def __repr__(self) -> str:
        scheme = self._challenge.scheme if self._challenge else "none"
        return f"Authenticator(host={self._host!r}, scheme={scheme!r}, tokens={len(self._tokens)})"

    @property
    def used_credentials(self) -> bool:
        return self._credentials is not None

    def credentials(self) -> Credentials | None:
        if not self._looked_up:
            self._credentials = self._lookup()
            self._looked_up = True
        return self._credentials

    def challenged(self, header: str | None, scopes: tuple[str, ...]) -> None:
        """Record the registry's challenge (from a 401) and forget the token that it refused."""
        challenges = parse_challenges(header or "")
        chosen = next((c for c in challenges if c.scheme == "bearer"), None) or next(
            (c for c in challenges if c.scheme == "basic"), None
        )
        if chosen is None:
            shown = challenges[0].scheme if challenges else "none"
            raise InputError(f"registry {self._host}: unsupported authentication scheme {shown!r}")
        self._challenge = chosen
        self._tokens.pop(_key(scopes), None)

    def header(self, scopes: tuple[str, ...], target: Target) -> str | None:
        """The Authorization header for a request with ``scopes``; None before any challenge."""
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            creds = self.credentials()
            if creds is None:
                raise Unauthorized(f"{target.prefix('authentication')}: unauthorized, no credentials found")
            return _basic(creds)
        token = self._tokens.get(_key(scopes))
        if token is None or token.expires <= time.monotonic():
            token = self._fetch_token(challenge, scopes, target)
            self._tokens[_key(scopes)] = token
        return f"Bearer {token.value}"

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...], target: Target) -> _Token:
        realm = challenge.param("realm") or ""
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"registry {self._host}: the token realm {realm[:100]!r} is not an http(s) URL")
        if parts.scheme == "http" and not self._plain_http_ok(parts.netloc):
            raise InputError(
                f"registry {self._host}: refusing the plain-HTTP token service {parts.netloc} "
                "(only loopback hosts, or tls_verify=False, may use plain HTTP)"
            )
        service = challenge.param("service")
        wanted = tuple(dict.fromkeys((*scopes, *(s for s in [challenge.param("scope")] if s))))
        creds = self.credentials()
        what = f"token from {parts.netloc}"
        self.token_requests += 1
        try:
            if creds is not None and creds.is_identity_token:
                form = {"grant_type": "refresh_token", "refresh_token": creds.secret, "client_id": CLIENT_ID}
                if service:
                    form["service"] = service
                if wanted:
                    form["scope"] = " ".join(wanted)
                response = self._session.post(
                    realm, data=form, verify=self._verify, timeout=self._timeout, stream=True, auth=no_netrc
                )
            else:
                params: list[tuple[str, str]] = [("service", service)] if service else []
                params += [("scope", scope) for scope in wanted]
                auth = (creds.username, creds.secret) if creds is not None else no_netrc
                response = self._session.get(
                    realm, params=params, auth=auth, verify=self._verify, timeout=self._timeout, stream=True
                )
        except requests.RequestException as exc:
            raise connection_error(exc, target, what) from None
        with response:
            body = response.raw.read(MAX_TOKEN_RESPONSE + 1, decode_content=True) if response.raw else b""
            if response.status_code in (401, 403):
                hint = f"the credentials from {creds.source} were refused" if creds else "no credentials found"
                raise Unauthorized(f"{target.prefix(what)}: unauthorized, {hint}")
            if response.status_code != 200 or len(body) > MAX_TOKEN_RESPONSE:
                raise InputError(f"{target.prefix(what)}: the token service answered HTTP {response.status_code}")
        return _parse_token(body, target, what)


def _parse_token(body: bytes, target: Target, what: str) -> _Token:
    try:
        answer = json.loads(body)
    except ValueError:
        raise InputError(f"{target.prefix(what)}: the token service answered no JSON") from None
    if not isinstance(answer, dict):
        raise InputError(f"{target.prefix(what)}: the token service answered no JSON object")
    value = answer.get("token") or answer.get("access_token")
    if not isinstance(value, str) or not value:
        raise InputError(f"{target.prefix(what)}: the token service answered no token")
    lifetime = answer.get("expires_in")
    if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
        lifetime = DEFAULT_TOKEN_LIFETIME_S
    log.debug("%s: token for %s, valid %s s", target.host, what, lifetime)
    return _Token(value, time.monotonic() + max(1.0, float(lifetime) - EXPIRY_MARGIN_S))


def _basic(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.secret}".encode()).decode("ascii")


def no_netrc(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """An explicit no-op auth, so requests never adds ~/.netrc credentials on its own."""
    return request


def _key(scopes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(scopes))
