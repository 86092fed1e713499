"""Model security scanning: artifact scanner, SARIF output, signatures and dependency audit."""

from __future__ import annotations

from mlgate.scanning.deps import audit_requirements, parse_requirements
from mlgate.scanning.sarif import to_sarif
from mlgate.scanning.scanner import detect_format, scan_path
from mlgate.scanning.schemas import (
    Advisory,
    DependencyFinding,
    DependencyReport,
    DependencyStatus,
    Finding,
    ScannedFile,
    ScanReport,
    Severity,
)
from mlgate.scanning.signing import sign_artifacts, verify_artifacts

__all__ = [
    "Advisory",
    "DependencyFinding",
    "DependencyReport",
    "DependencyStatus",
    "Finding",
    "ScanReport",
    "ScannedFile",
    "Severity",
    "audit_requirements",
    "detect_format",
    "parse_requirements",
    "scan_path",
    "sign_artifacts",
    "to_sarif",
    "verify_artifacts",
]
