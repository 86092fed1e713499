"""Automatic checks: pure functions over Facts, registered by the name rubric items refer to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from mlgate.errors import Invalid
from mlgate.readiness.evidence import CheckContext, CheckPolicy, CheckResult, Status
from mlgate.readiness.facts import Facts, RouteFacts

__all__ = ["CHECKS", "Check", "run_check"]

Check = Callable[[CheckContext], CheckResult]
_REGISTRY: dict[str, Check] = {}
CHECKS: Mapping[str, Check] = _REGISTRY
"""Every automatic check by the name rubric items use in their ``check`` field."""


def run_check(
    name: str, facts: Facts, *, now: datetime, policy: CheckPolicy | None = None
) -> CheckResult:
    """Run one automatic check by name; ``now`` is injected so ages are reproducible."""
    try:
        check = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise Invalid.field("check", f"unknown check '{name}'; known checks: {known}") from None
    return check(CheckContext(facts=facts, now=now, policy=policy or CheckPolicy()))


def _ok(reason: str) -> CheckResult:
    return CheckResult(status=Status.SATISFIED, reason=reason)


def _fail(reason: str) -> CheckResult:
    return CheckResult(status=Status.UNSATISFIED, reason=reason)


def _unknown(reason: str) -> CheckResult:
    return CheckResult(status=Status.UNKNOWN, reason=reason)


def _flag(value: bool | None, yes: str, no: str, unknown: str) -> CheckResult:
    if value is None:
        return _unknown(unknown)
    return _ok(yes) if value else _fail(no)


def _register_flag(name: str, read: Callable[[Facts], bool | None], yes: str, no: str) -> None:
    def check(ctx: CheckContext) -> CheckResult:
        return _flag(read(ctx.facts), yes, no, f"no evidence gathered for {name}")

    _REGISTRY[name] = check


def _register_route_rule(name: str, has: Callable[[RouteFacts], bool], what: str) -> None:
    """Every route of the version must have the safeguard; a version on no route is unknown."""

    def check(ctx: CheckContext) -> CheckResult:
        routes = ctx.facts.routes
        if not routes:
            return _unknown("the version is not deployed to any route")
        lacking = sorted(route.name for route in routes if not has(route))
        if lacking:
            return _fail(f"route(s) without {what}: {', '.join(lacking)}")
        return _ok(f"every route has {what}")

    _REGISTRY[name] = check


_FLAGS: list[tuple[str, Callable[[Facts], bool | None], str, str]] = [
    (
        "registry_in_use",
        lambda f: f.registered,
        "the version is registered",
        "the version is not in the registry",
    ),
    (
        "version_approved",
        lambda f: f.version_approved,
        "the version is approved",
        "the version is not approved",
    ),
    (
        "approvals_required",
        lambda f: f.approvals_required,
        "approval stages are required",
        "no approval stage is required",
    ),
    (
        "provenance_recorded",
        lambda f: f.provenance_recorded,
        "artifact provenance is recorded",
        "artifact provenance is missing",
    ),
    (
        "fairness_metrics_present",
        lambda f: f.card.fairness_metrics_present,
        "the card reports fairness metrics",
        "the card reports no fairness metrics",
    ),
    (
        "input_schema_declared",
        lambda f: f.card.input_schema_declared,
        "the card declares an input schema",
        "the card declares no input schema",
    ),
    (
        "evaluation_metrics_present",
        lambda f: f.card.evaluation_metrics_present,
        "the card reports evaluation metrics",
        "the card reports no evaluation metrics",
    ),
    (
        "training_data_documented",
        lambda f: f.card.training_data_documented,
        "the card documents training data",
        "the card does not document training data",
    ),
    (
        "scan_clean",
        lambda f: f.scans.scan_clean,
        "the artifact scan is clean",
        "the artifact scan found problems",
    ),
    (
        "artifact_signed",
        lambda f: f.scans.artifact_signed,
        "the artifact signature verifies",
        "the artifact is not signed",
    ),
    (
        "dependency_audit_clean",
        lambda f: f.scans.dependency_audit_clean,
        "the dependency audit is clean",
        "the dependency audit found vulnerabilities",
    ),
    (
        "log_encryption",
        lambda f: f.privacy.log_encryption,
        "request logs are encrypted",
        "request logs are stored unencrypted",
    ),
    (
        "pii_redaction",
        lambda f: f.privacy.pii_redaction,
        "PII is redacted from request logs",
        "request logs keep PII",
    ),
    (
        "erasure_supported",
        lambda f: f.privacy.erasure_supported,
        "subject erasure is supported",
        "subject erasure is not supported",
    ),
    (
        "processing_record",
        lambda f: f.privacy.processing_record,
        "a record of processing exists",
        "no record of processing",
    ),
    (
        "runbook_present",
        lambda f: f.backups.runbook_present,
        "an incident runbook exists",
        "no incident runbook",
    ),
    (
        "drift_monitor",
        lambda f: f.monitoring.drift_monitor,
        "a drift monitor watches the version",
        "no drift monitor",
    ),
    (
        "alert_rules",
        lambda f: f.monitoring.alert_rules,
        "alert rules are defined",
        "no alert rules",
    ),
    (
        "metrics_exported",
        lambda f: f.monitoring.metrics_exported,
        "serving metrics are exported",
        "serving metrics are not exported",
    ),
    (
        "retraining_trigger",
        lambda f: f.monitoring.retraining_trigger,
        "a retraining trigger is configured",
        "no retraining trigger",
    ),
]
for _name, _read, _yes, _no in _FLAGS:
    _register_flag(_name, _read, _yes, _no)

_register_route_rule("route_fallback", lambda r: r.fallback, "a fallback")
_register_route_rule("route_deadline", lambda r: r.deadline_ms is not None, "a deadline")
_register_route_rule("route_retries", lambda r: r.retries > 0, "retries")
_register_route_rule("route_breaker", lambda r: r.breaker, "a circuit breaker")
_register_route_rule("route_rate_limit", lambda r: r.rate_limit, "a rate limit")
_register_route_rule("route_input_validation", lambda r: r.input_validation, "input validation")


def _card_completeness(ctx: CheckContext) -> CheckResult:
    value = ctx.facts.card.completeness
    wanted = ctx.policy.min_card_completeness
    if value is None:
        return _unknown("the card's completeness is unknown")
    if value >= wanted:
        return _ok(f"the card is {value:.0%} complete (>= {wanted:.0%})")
    return _fail(f"the card is {value:.0%} complete; {wanted:.0%} is required")


def _sensitive_data_declared(ctx: CheckContext) -> CheckResult:
    if ctx.facts.card.sensitive_data is None:
        return _fail("the card does not say whether the model uses sensitive data")
    return _ok("the card declares whether the model uses sensitive data")


def _serving_traffic(ctx: CheckContext) -> CheckResult:
    if ctx.facts.serving_traffic:
        return _ok("the version serves live traffic")
    return _fail("the version serves no live traffic")


def _canary_used(ctx: CheckContext) -> CheckResult:
    routes = ctx.facts.routes
    if not routes:
        return _unknown("the version is not deployed to any route")
    if any(route.canary_used for route in routes):
        return _ok("the version was rolled out as a canary")
    return _fail("the version was rolled out without a canary")


def _retention_days(ctx: CheckContext) -> CheckResult:
    days = ctx.facts.privacy.retention_days
    limit = ctx.policy.max_retention_days
    if days is None:  # every route keeps logs a bounded time: no route serves the version
        return _unknown("the version is not deployed to any route")
    if days > limit:
        return _fail(f"request logs are kept {days} days; at most {limit} allowed")
    return _ok(f"request logs are kept {days} days")


def _age_check(label: str, at: datetime | None, limit: timedelta, now: datetime) -> CheckResult:
    if at is None:
        return _fail(f"no {label} on record")
    age = now - at
    if age > limit:
        return _fail(f"the last {label} is {age.days} days old; at most {limit.days} allowed")
    return _ok(f"the last {label} is {age.days} days old")


def _last_backup_age(ctx: CheckContext) -> CheckResult:
    backups = ctx.facts.backups
    return _age_check("backup", backups.last_backup_at, ctx.policy.max_backup_age, ctx.now)


def _last_drill_age(ctx: CheckContext) -> CheckResult:
    return _age_check(
        "restore drill", ctx.facts.backups.last_drill_at, ctx.policy.max_drill_age, ctx.now
    )


_REGISTRY.update(
    {
        "card_completeness": _card_completeness,
        "sensitive_data_declared": _sensitive_data_declared,
        "serving_traffic": _serving_traffic,
        "canary_used": _canary_used,
        "retention_days": _retention_days,
        "last_backup_age": _last_backup_age,
        "last_drill_age": _last_drill_age,
    }
)
