"""The facts snapshot that readiness checks read: what mlgate knows about one model version."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BackupFacts",
    "CardFacts",
    "Facts",
    "MonitoringFacts",
    "PrivacyFacts",
    "RouteFacts",
    "ScanFacts",
]

# ``None`` everywhere below means "the gatherer could not tell", which checks report as unknown;
# it must never be read as "no".


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CardFacts(_Frozen):
    """What the version's model card declares."""

    completeness: float | None = Field(default=None, ge=0.0, le=1.0)
    fairness_metrics_present: bool | None = None
    # True/False is the card's answer to "does it use sensitive data?"; None: the card is silent.
    sensitive_data: bool | None = None
    input_schema_declared: bool | None = None
    evaluation_metrics_present: bool | None = None
    training_data_documented: bool | None = None


class RouteFacts(_Frozen):
    """One gateway route that serves (or would serve) the version."""

    name: str
    serving_traffic: bool = False
    fallback: bool = False
    deadline_ms: int | None = Field(default=None, gt=0)
    retries: int = Field(default=0, ge=0)
    breaker: bool = False
    rate_limit: bool = False
    input_validation: bool = False
    # The version is this route's canary, or was (pinned) since the route was created: a
    # promoted canary keeps the evidence.
    canary_used: bool = False


class ScanFacts(_Frozen):
    """Results of the artifact scanner, signature check and dependency audit."""

    scan_clean: bool | None = None
    artifact_signed: bool | None = None
    dependency_audit_clean: bool | None = None


class PrivacyFacts(_Frozen):
    """The request-log policy that applies to the version's routes."""

    retention_days: int | None = Field(default=None, ge=0)
    log_encryption: bool | None = None
    pii_redaction: bool | None = None
    erasure_supported: bool | None = None
    processing_record: bool | None = None


class BackupFacts(_Frozen):
    """Backup and recovery evidence for the deployment that holds the version."""

    last_backup_at: datetime | None = None
    last_drill_at: datetime | None = None
    runbook_present: bool | None = None


class MonitoringFacts(_Frozen):
    """What watches the version once it serves."""

    drift_monitor: bool | None = None
    alert_rules: bool | None = None
    metrics_exported: bool | None = None
    retraining_trigger: bool | None = None


class Facts(_Frozen):
    """A snapshot of one model version in one workspace, gathered from registry, routes, scans."""

    workspace: str = "default"
    model: str
    version: int = Field(ge=1)
    registered: bool = True
    version_approved: bool | None = None
    approvals_required: bool | None = None
    provenance_recorded: bool | None = None
    card: CardFacts = CardFacts()
    routes: tuple[RouteFacts, ...] = ()
    scans: ScanFacts = ScanFacts()
    privacy: PrivacyFacts = PrivacyFacts()
    backups: BackupFacts = BackupFacts()
    monitoring: MonitoringFacts = MonitoringFacts()

    @property
    def serving_traffic(self) -> bool:
        """True when at least one route sends live traffic to the version."""
        return any(route.serving_traffic for route in self.routes)
