"""One exception tree; each class carries the process exit code the CLI maps it to.

0 ok · 1 verification or policy findings · 2 usage / invalid policy · 3 input or environment (a disk that fills
up included) · 4 internal.
"""

from __future__ import annotations

from collections.abc import Sequence


class HardenError(Exception):
    """Base of every error harden raises on purpose. Unknown subclasses count as internal."""

    exit_code = 4

    def __init__(self, message: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = tuple(details)

    def one_line(self) -> str:
        """The single line the CLI prints: the message, then up to three details."""
        if not self.details:
            return self.message
        shown = "; ".join(self.details[:3])
        more = f" (+{len(self.details) - 3} more)" if len(self.details) > 3 else ""
        return f"{self.message}: {shown}{more}"


class FindingsError(HardenError):
    """The tool worked and found problems: verification regressions or findings above --fail-on."""

    exit_code = 1


class VerificationFailed(FindingsError):
    """The hardened image lost something the original could do."""


class AttestationFailed(FindingsError):
    """An attestation did not verify: a bad signature, another image's digest, a FAILED verdict; details name
    each problem."""


class UsageError(HardenError):
    """Bad command-line usage."""

    exit_code = 2


class PolicyError(UsageError):
    """A policy file is invalid; details carry every dotted-path error."""


class InputError(HardenError):
    """The input or the environment is wrong: image missing, bad archive, unsafe layer, engine down."""

    exit_code = 3


class ImageNotFound(InputError):
    """No image answers to the reference."""


class BadArchive(InputError):
    """An archive or layout is truncated, corrupt or inconsistent."""


class UnsafeLayer(InputError):
    """A layer would write outside the root filesystem; details name the entries."""


class ImageTooLarge(InputError):
    """An image's layers expand to more bytes than the size limit (--max-image-size, HARDEN_MAX_IMAGE_BYTES)."""


class NoSpace(InputError):
    """The disk or quota filled up (ENOSPC, EDQUOT): an environment problem, named with its filesystem."""


class EngineUnavailable(InputError):
    """No Docker-API engine answers."""


class UnsupportedImage(InputError):
    """The image cannot be hardened as asked (e.g. shell-form CMD that cannot be converted)."""


class InternalError(HardenError):
    """A bug in harden."""

    exit_code = 4
