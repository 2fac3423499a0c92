"""Policies: strict, versioned, composable TOML files that choose and tune the stages, the output and the
verification. ``load_policy("default")`` or ``load_policy("path/to/policy.toml")``."""

from harden.policy.loader import POLICY_SCHEMA_VERSION, list_policies, load_policy, validate_policy_file
from harden.policy.model import OutputSettings, Policy, SmokeTest, VerifySettings
from harden.policy.stage_schema import StageSchema, load_stage_schemas

__all__ = [
    "POLICY_SCHEMA_VERSION",
    "OutputSettings",
    "Policy",
    "SmokeTest",
    "StageSchema",
    "VerifySettings",
    "list_policies",
    "load_policy",
    "load_stage_schemas",
    "validate_policy_file",
]
