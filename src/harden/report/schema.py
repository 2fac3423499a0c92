"""The checked-in JSON Schema of report.json, shipped as package data: harden/schemas/report.schema.json."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SCHEMA_RESOURCE = ("schemas", "report.schema.json")


def report_schema() -> dict[str, Any]:
    """The schema as a dict (validate with any Draft 2020-12 validator, e.g. ``jsonschema``)."""
    text = resources.files("harden").joinpath(*SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
