"""Diff-verification of a hardened image against its original (see ``harden.verify.api``)."""

from __future__ import annotations

from harden.verify.api import VerifyTarget, raise_for_failures, verify
from harden.verify.result import VerificationReport

__all__ = ["VerificationReport", "VerifyTarget", "raise_for_failures", "verify"]
