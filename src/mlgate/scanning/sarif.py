"""Renders a ScanReport as SARIF 2.1.0, the format code-scanning dashboards ingest."""

from __future__ import annotations

from typing import Any

from mlgate import __version__
from mlgate.scanning.schemas import ScanReport, Severity

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "to_sarif"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

# SARIF has three result levels (plus "none"); security-severity carries the finer grade.
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "none",
}
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def to_sarif(report: ScanReport, *, tool_version: str = __version__) -> dict[str, Any]:
    """One SARIF run: a rule per distinct rule id, a result per finding."""
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for finding in report.findings:
        rule = rules.setdefault(
            finding.rule,
            {
                "id": finding.rule,
                "name": finding.rule.replace(".", "-"),
                "shortDescription": {"text": finding.rule},
                "properties": {"security-severity": _SECURITY_SEVERITY[finding.severity]},
            },
        )
        if float(_SECURITY_SEVERITY[finding.severity]) > float(
            rule["properties"]["security-severity"]
        ):
            rule["properties"]["security-severity"] = _SECURITY_SEVERITY[finding.severity]
        location: dict[str, Any] = {"artifactLocation": {"uri": finding.file}}
        if finding.offset is not None and finding.member is None:
            location["region"] = {"byteOffset": finding.offset}
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "level": _LEVEL[finding.severity],
            "message": {"text": finding.message},
            "locations": [{"physicalLocation": location}],
            "properties": {"severity": finding.severity.value},
        }
        if finding.member is not None:
            result["properties"]["member"] = finding.member
            if finding.offset is not None:
                result["properties"]["memberOffset"] = finding.offset
        if finding.subject is not None:
            result["properties"]["subject"] = finding.subject
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mlgate-scan",
                        "version": tool_version,
                        "rules": list(rules.values()),
                    }
                },
                "artifacts": [
                    {"location": {"uri": f.path}, "length": f.size} for f in report.files
                ],
                "results": results,
                "properties": {
                    "filesScanned": report.files_scanned,
                    "bytesScanned": report.bytes_scanned,
                    "durationSeconds": report.duration_s,
                },
            }
        ],
    }
