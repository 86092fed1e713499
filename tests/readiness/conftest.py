"""Small worlds for readiness tests: a fully ready model version and ways to break it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlgate.readiness import (
    Attestation,
    BackupFacts,
    CardFacts,
    EvidenceLevel,
    Facts,
    MonitoringFacts,
    PrivacyFacts,
    RouteFacts,
    Rubric,
    ScanFacts,
    load_maturity_model,
    load_ml_test_score,
    load_production_checklist,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

# Checklist items no automatic check can decide; the ready world attests each of them.
UNCHECKED_CHECKLIST_ITEMS = (
    "sec-key-management",
    "data-versioned",
    "exp-tracking",
    "code-review",
    "code-dead-paths",
    "code-glossary",
    "dep-rollback",
    "mon-consumers",
    "mon-feedback",
)
# ML Test Score tests the ready world attests, and how: data +1.5, model +2.0, infrastructure +1.
ML_TEST_ATTESTATIONS = {
    "data-2": EvidenceLevel.AUTOMATED,
    "data-7": EvidenceLevel.MANUAL,
    "model-1": EvidenceLevel.MANUAL,
    "model-2": EvidenceLevel.AUTOMATED,
    "model-6": EvidenceLevel.MANUAL,
    "infra-7": EvidenceLevel.AUTOMATED,
}


def attest(
    item_id: str,
    level: EvidenceLevel = EvidenceLevel.MANUAL,
    *,
    at: datetime = NOW - timedelta(days=10),
    valid_for: timedelta = timedelta(days=180),
    by: str = "ana",
    note: str = "",
) -> Attestation:
    return Attestation(
        item_id=item_id, by=by, at=at, expires_at=at + valid_for, level=level, note=note
    )


def ready_route(name: str = "churn-prod", **changes: object) -> RouteFacts:
    route = RouteFacts(
        name=name,
        serving_traffic=True,
        fallback=True,
        deadline_ms=300,
        retries=2,
        breaker=True,
        rate_limit=True,
        input_validation=True,
        canary_used=True,
    )
    return route.model_copy(update=changes)


def ready_facts(**changes: object) -> Facts:
    """A model with a complete card, approved, served with fallbacks, scanned clean, backed up."""
    facts = Facts(
        workspace="acme",
        model="churn",
        version=3,
        registered=True,
        version_approved=True,
        approvals_required=True,
        provenance_recorded=True,
        card=CardFacts(
            completeness=0.95,
            fairness_metrics_present=True,
            sensitive_data=True,
            input_schema_declared=True,
            evaluation_metrics_present=True,
            training_data_documented=True,
        ),
        routes=(ready_route(),),
        scans=ScanFacts(scan_clean=True, artifact_signed=True, dependency_audit_clean=True),
        privacy=PrivacyFacts(
            retention_days=30,
            log_encryption=True,
            pii_redaction=True,
            erasure_supported=True,
            processing_record=True,
        ),
        backups=BackupFacts(
            last_backup_at=NOW - timedelta(hours=3),
            last_drill_at=NOW - timedelta(days=20),
            runbook_present=True,
        ),
        monitoring=MonitoringFacts(
            drift_monitor=True, alert_rules=True, metrics_exported=True, retraining_trigger=True
        ),
    )
    return facts.model_copy(update=changes)


def ready_attestations() -> list[Attestation]:
    return [attest(item) for item in UNCHECKED_CHECKLIST_ITEMS] + [
        attest(item, level) for item, level in ML_TEST_ATTESTATIONS.items()
    ]


@pytest.fixture(scope="session")
def ml_test_score() -> Rubric:
    return load_ml_test_score()


@pytest.fixture(scope="session")
def checklist() -> Rubric:
    return load_production_checklist()


@pytest.fixture(scope="session")
def maturity() -> Rubric:
    return load_maturity_model()
