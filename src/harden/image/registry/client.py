"""One registry host: its URL scheme, TLS choice, authentication, and requests with one-line errors.

TLS: verified HTTPS with the system CAs (or ``ca_file``) by default. Plain HTTP is tried only after HTTPS found
no TLS on the port, and only for a loopback host (localhost, 127.0.0.0/8, ::1) or with ``tls_verify=False``
(which also skips certificate checks, like skopeo's ``--tls-verify=false``). ``tls_verify=True`` is an
explicit choice: HTTPS, verified, even on loopback. A certificate that fails verification never leads to
plain HTTP. The choice is made once, by ``GET /v2/``, which also learns the authentication challenge.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import requests
import urllib3

from harden import __version__
from harden.errors import InputError

from .auth import Authenticator, no_netrc
from .credentials import Credentials, find_credentials
from .http_errors import Target, connection_error, is_refused, is_tls_protocol_error, response_error
from .reference import RegistryRef, check_host, is_loopback

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
MAX_ERROR_BODY = 65536
USER_AGENT = f"harden/{__version__}"


class BodyStream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


Body = bytes | Callable[[], BodyStream]
"""A request body: bytes, or a factory of a fresh stream (called again when a request is retried)."""


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


class RegistryClient:
    """Requests to one registry host; use as a context manager (or ``close()``)."""

    def __init__(
        self,
        host: str,
        *,
        tls_verify: bool | None = None,
        ca_file: Path | None = None,
        credentials: Credentials | None = None,
        auth_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        session: requests.Session | None = None,
    ) -> None:
        check_host(host)
        self.host = host
        self.tls_verify = tls_verify
        self._verify: bool | str = False if tls_verify is False else (str(ca_file) if ca_file else True)
        self._timeout = timeout
        self._owns_session = session is None
        self._session = session or requests.Session()
        self._base: str | None = None

        def lookup() -> Credentials | None:
            return credentials if credentials is not None else find_credentials(host, auth_file=auth_file, env=env)

        self.auth = Authenticator(
            host, self._session, lookup, verify=self._verify, plain_http_ok=self.plain_http_ok, timeout=timeout
        )

    @classmethod
    def for_reference(cls, ref: RegistryRef, **options: Any) -> RegistryClient:
        """A client for the registry that serves ``ref`` (Docker Hub's API host for ``docker.io``); ``options``
        are the constructor's keywords."""
        return cls(ref.api_host, **options)

    def __repr__(self) -> str:
        return f"RegistryClient(host={self.host!r}, tls_verify={self.tls_verify!r}, base={self._base!r})"

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def plain_http_ok(self, host: str) -> bool:
        """Whether plain HTTP may be used for ``host`` under this client's TLS choice."""
        return self.tls_verify is False or (self.tls_verify is None and is_loopback(host))

    @property
    def base_url(self) -> str:
        """``https://HOST`` or ``http://HOST``, decided on first use."""
        if self._base is None:
            self._base = self._probe()
        return self._base

    def _probe(self) -> str:
        target = Target(self.host)
        schemes = ["https", "http"] if self.plain_http_ok(self.host) else ["https"]
        for n, scheme in enumerate(schemes):
            last = n == len(schemes) - 1
            try:
                response = self._send("GET", f"{scheme}://{self.host}/v2/", {}, None, None)
            except requests.RequestException as exc:
                if not last and (is_tls_protocol_error(exc) or is_refused(exc)):
                    log.debug("%s: no TLS (%s), trying plain HTTP", self.host, type(exc).__name__)
                    continue
                if is_tls_protocol_error(exc) and not self.plain_http_ok(self.host):
                    why = (
                        "tls_verify=True asks for verified HTTPS"
                        if self.tls_verify
                        else "only loopback registries, or tls_verify=False, may use it"
                    )
                    raise InputError(
                        f"registry {self.host}: no TLS on this port, and plain HTTP is refused ({why})"
                    ) from None
                raise connection_error(exc, target, "connecting") from None
            with response:
                if response.status_code == 401:
                    self.auth.challenged(response.headers.get("WWW-Authenticate"), ())
                elif response.status_code != 200:
                    raise InputError(
                        f"registry {self.host}: GET /v2/ answered HTTP {response.status_code}, not a registry API"
                    )
            return f"{scheme}://{self.host}"
        raise AssertionError("unreachable")

    def url(self, repository: str, path: str) -> str:
        return f"{self.base_url}/v2/{repository}{path}"

    def absolute(self, location: str) -> str:
        """A ``Location`` header as an absolute URL (registries may answer with a path)."""
        return location if location.startswith(("http://", "https://")) else self.base_url + location

    def request(
        self,
        method: str,
        repository: str,
        path: str,
        *,
        what: str,
        scopes: Iterable[str],
        ok: Iterable[int] = (200,),
        missing_ok: bool = False,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        body: Body | None = None,
    ) -> requests.Response | None:
        """Send, answering one authentication challenge; return the (streaming) response when its status is
        in ``ok``, None for a 404 when ``missing_ok``, else raise the mapped error. The caller closes it."""
        target = Target(self.host, repository)
        scope_tuple = tuple(scopes)
        url = path if path.startswith(("http://", "https://")) else self.url(repository, path)
        accepted = set(ok)
        for attempt in (0, 1):
            sent = dict(headers or {})
            authorization = self.auth.header(scope_tuple, target)
            if authorization:
                sent["Authorization"] = authorization
            try:
                response = self._send(method, url, sent, params, body)
            except requests.RequestException as exc:
                raise connection_error(exc, target, what) from None
            log.debug("%s %s -> %s", method, url.split("?", 1)[0], response.status_code)
            if response.status_code == 401 and attempt == 0:
                challenge = response.headers.get("WWW-Authenticate")
                response.close()
                self.auth.challenged(challenge, scope_tuple)
                continue
            if response.status_code in accepted:
                return response
            if response.status_code == 404 and missing_ok:
                response.close()
                return None
            data = b"" if method == "HEAD" else response.raw.read(MAX_ERROR_BODY, decode_content=True)
            response.close()
            raise response_error(response, target, what, had_credentials=self.auth.used_credentials, body=data)
        raise AssertionError("unreachable")

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None,
        body: Body | None,
    ) -> requests.Response:
        stream = body() if callable(body) else None
        data: object = stream if stream is not None else body
        try:
            with warnings.catch_warnings():
                if self._verify is False:
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                return self._session.request(
                    method,
                    url,
                    headers={"User-Agent": USER_AGENT, **headers},
                    params=params,
                    data=data,  # type: ignore[arg-type]
                    verify=self._verify,
                    timeout=self._timeout,
                    stream=True,
                    auth=no_netrc,
                )
        finally:
            if stream is not None:
                stream.close()
