"""HTTP answers and connection failures → harden errors, each one line naming registry, repository and action.

Registry error bodies (``{"errors": [{"code": "MANIFEST_UNKNOWN", "message": …}]}``) contribute their codes
and a shortened first message; nothing from request headers (credentials, tokens) is ever quoted.
"""

from __future__ import annotations

import json
import re
import ssl
from dataclasses import dataclass

import requests

from harden.errors import HardenError, ImageNotFound, InputError

_MAX_DETAIL = 160
_NOT_FOUND_CODES = frozenset({"MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN", "BLOB_UPLOAD_UNKNOWN"})


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request goes, for messages: registry host and repository (empty for the registry itself)."""

    host: str
    repository: str = ""

    def prefix(self, what: str) -> str:
        where = f"registry {self.host}" + (f", repository {self.repository}" if self.repository else "")
        return f"{where}: {what}"


class Unauthorized(InputError):
    """The registry or its token service refused the request for lack of (valid) credentials or rights."""


def response_error(
    response: requests.Response, target: Target, what: str, *, had_credentials: bool, body: bytes = b""
) -> HardenError:
    """The error for an unexpected answer; ``body`` is (the start of) what it carried."""
    status = response.status_code
    codes, message = _registry_errors(body)
    detail = f" ({', '.join(codes)}{': ' + message if message else ''})" if codes else ""
    if status == 401:
        hint = "the registry refused the credentials" if had_credentials else "no credentials found for this registry"
        return Unauthorized(f"{target.prefix(what)}: unauthorized, {hint}{detail}")
    if status == 403:
        return Unauthorized(f"{target.prefix(what)}: forbidden, the credentials lack the rights for it{detail}")
    if status == 404 or (codes and set(codes) <= _NOT_FOUND_CODES):
        return ImageNotFound(f"{target.prefix(what)}: not found{detail}")
    if status == 429:
        return InputError(f"{target.prefix(what)}: too many requests, the registry asks to slow down{detail}")
    reason = response.reason or "error"
    return InputError(f"{target.prefix(what)}: HTTP {status} {reason}{detail}")


def connection_error(exc: requests.RequestException, target: Target, what: str) -> InputError:
    """The error for a request that got no answer."""
    if is_certificate_error(exc):
        return InputError(
            f"{target.prefix(what)}: the TLS certificate of {target.host} is not trusted "
            "(give its CA with ca_file, or tls_verify=False to skip verification)"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return InputError(f"{target.prefix(what)}: TLS handshake with {target.host} failed ({_short(exc)})")
    if _caused_by(exc, ConnectionRefusedError) or "connection refused" in str(exc).lower():
        return InputError(f"{target.prefix(what)}: cannot connect to {target.host}: connection refused")
    if isinstance(exc, requests.Timeout):
        return InputError(f"{target.prefix(what)}: {target.host} did not answer in time")
    if isinstance(exc, requests.ConnectionError):
        return InputError(f"{target.prefix(what)}: cannot connect to {target.host} ({_short(exc)})")
    return InputError(f"{target.prefix(what)}: request failed ({_short(exc)})")


def is_certificate_error(exc: BaseException) -> bool:
    return _caused_by(exc, ssl.SSLCertVerificationError) or "certificate verify failed" in str(exc).lower()


def is_tls_protocol_error(exc: BaseException) -> bool:
    """A TLS failure that means "this port does not speak TLS" (not a certificate problem)."""
    return isinstance(exc, requests.exceptions.SSLError) and not is_certificate_error(exc)


def is_refused(exc: BaseException) -> bool:
    return _caused_by(exc, ConnectionRefusedError) or "connection refused" in str(exc).lower()


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, kind):
            return True
        stack.extend((item.__cause__, item.__context__, getattr(item, "reason", None), *item.args))
    return False


def _registry_errors(body: bytes) -> tuple[list[str], str]:
    """(codes, first message) of a registry error body; ([], "") when there is none."""
    try:
        document = json.loads(body or b"null")
    except ValueError:
        return [], ""
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list):
        return [], ""
    codes = [str(e.get("code"))[:40] for e in errors if isinstance(e, dict) and e.get("code")]
    messages = [str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")]
    return codes[:3], _clean(messages[0]) if messages else ""


def _short(exc: BaseException) -> str:
    return _clean(str(exc))


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"
