"""Value types of the scanning domain: findings, scan reports and dependency-audit reports."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Advisory",
    "AuditFinding",
    "DependencyAuditRead",
    "DependencyFinding",
    "DependencyReport",
    "DependencyStatus",
    "Finding",
    "RequirementsIn",
    "ScanRead",
    "ScanReport",
    "ScannedFile",
    "SecurityAuditRead",
    "Severity",
    "SignatureRead",
    "VerificationRead",
    "WaiverCreate",
    "WaiverRead",
]


class Severity(StrEnum):
    """How bad a finding is; ``rank`` orders them (critical is highest)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class Finding(BaseModel):
    """One thing the scanner saw: where (file, zip member, offset), what, and why it matters."""

    model_config = ConfigDict(frozen=True)

    severity: Severity
    rule: str = Field(description="stable rule id, e.g. 'pickle.dangerous-global'")
    file: str
    member: str | None = None
    offset: int | None = Field(
        default=None, description="byte offset in the file, or in the member when one is named"
    )
    subject: str | None = Field(default=None, description="the global, op or key concerned")
    message: str


class ScannedFile(BaseModel):
    """A file the scanner opened and the format its content was recognised as."""

    path: str
    format: str
    size: int


class ScanReport(BaseModel):
    """The result of scanning a file or a directory of model artifacts."""

    target: str
    findings: list[Finding] = Field(default_factory=list)
    files: list[ScannedFile] = Field(default_factory=list)
    files_scanned: int = 0
    bytes_scanned: int = 0
    duration_s: float = 0.0
    max_severity: Severity | None = None

    def above(self, severity: Severity) -> list[Finding]:
        """The findings strictly more severe than ``severity``."""
        return [f for f in self.findings if f.severity.rank > severity.rank]

    @property
    def passed(self) -> bool:
        """True when nothing above ``low`` was found: the gate the registry applies."""
        return not self.above(Severity.LOW)


class DependencyStatus(StrEnum):
    VULNERABLE = "vulnerable"
    CLEAN = "clean"
    UNKNOWN = "unknown"


class Advisory(BaseModel):
    """One OSV advisory that affects a dependency."""

    id: str
    aliases: list[str] = Field(default_factory=list)
    summary: str | None = None
    fixed: str | None = Field(default=None, description="first fixed version above the pinned one")


class DependencyFinding(BaseModel):
    """The audit verdict for one requirement line."""

    name: str
    spec: str = Field(description="the pinned version or the specifier as written")
    version: str | None = Field(default=None, description="the exact version, when pinned")
    status: DependencyStatus
    advisories: list[Advisory] = Field(default_factory=list)
    reason: str | None = None


class DependencyReport(BaseModel):
    """The audit of a requirements list against an offline OSV database."""

    dependencies: list[DependencyFinding] = Field(default_factory=list)

    @property
    def vulnerable(self) -> list[DependencyFinding]:
        return [d for d in self.dependencies if d.status is DependencyStatus.VULNERABLE]

    @property
    def unknown(self) -> list[DependencyFinding]:
        return [d for d in self.dependencies if d.status is DependencyStatus.UNKNOWN]


# -- what the scanning service stores and the API returns --------------------------------------


class ScanRead(BaseModel):
    """One stored scan of a registered version's artifacts (file names are artifact names)."""

    id: str
    model: str
    version: int
    created_at: datetime
    created_by: str
    scanner_version: str
    max_severity: Severity | None
    counts: dict[str, int] = Field(description="findings per severity")
    findings: list[Finding]
    files: list[ScannedFile]

    @property
    def passed(self) -> bool:
        """Nothing above ``low``: the same bar as ``ScanReport.passed``."""
        return all(f.severity.rank <= Severity.LOW.rank for f in self.findings)


class SignatureRead(BaseModel):
    """The signature recorded for a version: which artifacts it covers and who signed."""

    model: str
    version: int
    created_at: datetime
    created_by: str
    manifest: dict[str, str] = Field(description="artifact name -> sha256 at signing time")
    key_fingerprint: str = Field(description="sha256 of the signer's public key (DER)")
    public_key: str = Field(description="PEM of the signer's EC P-256 public key")


class VerificationRead(BaseModel):
    """Whether the recorded signature still matches the version's blobs."""

    model: str
    version: int
    verified: bool
    reason: str
    key_fingerprint: str | None = None
    signed_at: datetime | None = None
    signed_by: str | None = None


class RequirementsIn(BaseModel):
    """A version's requirements: requirements.txt, ``pip freeze`` output or a pyproject.toml."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1_000_000)
    source: str = Field(default="requirements.txt", min_length=1, max_length=255)


class DependencyAuditRead(BaseModel):
    """The stored audit of a version's requirements against offline OSV advisories."""

    model: str
    version: int
    created_at: datetime
    created_by: str
    source: str
    advisories: str | None = Field(description="the advisory database read; None: none set")
    status: DependencyStatus = Field(
        description="vulnerable if any dependency is; clean only if every one is known clean"
    )
    counts: dict[str, int]
    dependencies: list[DependencyFinding]


class AuditFinding(BaseModel):
    """One finding of a security audit; ``id`` is stable across audits so waivers stick."""

    id: str
    category: str = Field(description="scan, signature, dependencies, schema, access or logging")
    severity: Severity
    rule: str
    message: str
    subject: str | None = None
    waived: bool = False
    waiver_reason: str | None = None


class SecurityAuditRead(BaseModel):
    """The combined security report of a version, findings ranked by severity."""

    id: str
    model: str
    version: int
    created_at: datetime
    created_by: str
    max_severity: Severity | None = Field(description="the worst finding not waived")
    counts: dict[str, int] = Field(description="findings not waived, per severity")
    findings: list[AuditFinding]
    sections: dict[str, Any] = Field(description="what each part of the audit looked at")

    @property
    def blocking(self) -> list[AuditFinding]:
        """High or critical findings that are not waived: what the security gate refuses."""
        return [f for f in self.findings if not f.waived and f.severity.rank >= Severity.HIGH.rank]


class WaiverCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    finding_id: str = Field(pattern=r"^[a-z]+-[0-9a-f]{12}$")
    reason: str = Field(min_length=3, max_length=2000)


class WaiverRead(BaseModel):
    model: str
    version: int
    finding_id: str
    reason: str
    created_at: datetime
    created_by: str
