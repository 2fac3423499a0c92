"""report.sarif: the findings as SARIF 2.1.0, for GitHub code scanning and other SARIF consumers.

Image paths become artifact URIs relative to the ``IMAGEROOT`` base; config findings point at the image
config (``image-config.json``) with a logical location naming the key. ``partialFingerprints`` hash code +
location so a finding keeps its identity across runs. ``security-severity`` lets GitHub rank them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from harden import __version__

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
SECURITY_SEVERITY = {"error": "7.5", "warning": "5.0", "info": "2.0"}
_ACCOUNT_FILES = ("/etc/shadow:", "/etc/passwd:", "/etc/group:")
CONFIG_URI = "image-config.json"


def _rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    tags = ["security", "container"]
    if rule["dockle_level"]:
        tags.append("dockle")
    return {
        "id": rule["code"],
        "name": rule["code"].replace("-", ""),
        "shortDescription": {"text": rule["title"]},
        "fullDescription": {"text": f"{rule['title']}. {rule['remediation']}"},
        "help": {"text": rule["remediation"], "markdown": f"**{rule['code']}**: {rule['remediation']}"},
        "defaultConfiguration": {"level": LEVELS[rule["severity"]]},
        "properties": {"tags": tags, "security-severity": SECURITY_SEVERITY[rule["severity"]],
                       "precision": "high"},
    }


def _location(location: str) -> dict[str, Any]:
    if location.startswith(_ACCOUNT_FILES):
        path, _, entry = location.partition(":")
        return {
            "physicalLocation": {"artifactLocation": {"uri": path.lstrip("/"), "uriBaseId": "IMAGEROOT"}},
            "logicalLocations": [{"name": entry, "fullyQualifiedName": location, "kind": "member"}],
        }
    if location.startswith("/"):
        return {"physicalLocation": {"artifactLocation": {"uri": location.lstrip("/") or ".",
                                                          "uriBaseId": "IMAGEROOT"}}}
    name = location.partition(":")[2] or location
    return {
        "physicalLocation": {"artifactLocation": {"uri": CONFIG_URI}},
        "logicalLocations": [{"name": name, "fullyQualifiedName": location, "kind": "member"}],
    }


def _result(finding: Mapping[str, Any], index: int) -> dict[str, Any]:
    fingerprint = hashlib.sha256(f"{finding['code']}|{finding['location']}".encode()).hexdigest()[:32]
    return {
        "ruleId": finding["code"],
        "ruleIndex": index,
        "level": LEVELS[finding["severity"]],
        "message": {"text": f"{finding['location']}: {finding['message']}"},
        "locations": [_location(finding["location"])],
        "partialFingerprints": {"hardenFinding/v1": fingerprint},
    }


def render_sarif(report: Mapping[str, Any]) -> dict[str, Any]:
    ident = report["identity"]
    rules = list(report["rules"])
    index = {rule["code"]: i for i, rule in enumerate(rules)}
    subject = ident["source"]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "harden",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [_rule(rule) for rule in rules],
            }
        },
        "automationDetails": {"id": f"harden/{ident['kind']}/{subject}/"},
        "originalUriBaseIds": {
            "IMAGEROOT": {"uri": "file:///", "description": {"text": f"root filesystem of {subject}"}},
        },
        "invocations": [{"executionSuccessful": True, "endTimeUtc": ident["generated_at"]}],
        "results": [_result(finding, index[finding["code"]]) for finding in report["findings"]],
        "properties": {
            "source": subject,
            "sourceDigest": ident["source_digest"] or "",
            "outputDigest": ident["output_digest"] or "",
            "platform": ident["platform"],
            "kind": ident["kind"],
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
