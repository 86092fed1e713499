"""The security audit of one version: scan, signature, dependencies, schema, access, logging.

``audit_model`` combines what the scanning tables hold with the version's routes and keys into
one report of findings ranked by severity, and stores it; the ``security_audit_clean`` gate
reads the latest one. A finding's id hashes what it is about (never when it was found), so a
waiver keeps applying to the same finding in later audits. What was never checked is a
finding too: nothing is reported clean for lack of evidence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.approvals import deployments
from mlgate.audit import service as audit
from mlgate.auth.models import ApiKey
from mlgate.auth.schemas import Principal, Scope
from mlgate.clock import ensure_utc, utcnow
from mlgate.errors import Conflict, Forbidden, NotFound
from mlgate.gateway import service as gateway
from mlgate.gateway.schemas import RouteRead, TargetSpec
from mlgate.ids import new_id
from mlgate.registry import service as registry
from mlgate.registry.blobstore import BlobStore
from mlgate.registry.models import ModelVersion
from mlgate.scanning import service
from mlgate.scanning.models import SecurityAudit, Waiver
from mlgate.scanning.schemas import (
    AuditFinding,
    DependencyStatus,
    SecurityAuditRead,
    Severity,
    VerificationRead,
    WaiverCreate,
    WaiverRead,
)

__all__ = ["audit_model", "latest_audit", "list_waivers", "waive_finding"]


def _finding(
    category: str,
    severity: Severity,
    rule: str,
    message: str,
    *parts: object,
    evidence: tuple[str, ...] = (),
) -> AuditFinding:
    """A finding whose id is stable while what it says stays the same.

    ``evidence`` (advisory ids, a verification failure) is part of the id but not the subject: a
    waiver covers exactly what was reviewed, and a changed finding needs a new waiver.
    """
    material = "|".join([rule, *(str(p) for p in parts), *evidence])
    ident = f"{category}-{hashlib.sha256(material.encode()).hexdigest()[:12]}"
    subject = next((str(p) for p in parts if p is not None), None)
    return AuditFinding(
        id=ident, category=category, severity=severity, rule=rule, message=message, subject=subject
    )


def _scan_part(
    session: Session, model: str, version: int
) -> tuple[list[AuditFinding], dict[str, Any]]:
    scan = service.latest_scan(session, model_name=model, version=version)
    if scan is None:
        return [
            _finding(
                "scan",
                Severity.HIGH,
                "scan.missing",
                f"the artifacts were never scanned; run `mlgate scan version {model}@{version}`",
            )
        ], {"scanned": False}
    findings = [
        _finding(
            "scan",
            f.severity,
            f.rule,
            f.message,
            f.file + (f"!{f.member}" if f.member else ""),
            f.subject,
            f.offset,
        )
        for f in scan.findings
        if f.severity is not Severity.INFO
    ]
    return findings, {"scanned": True, "scan": scan.id, "at": scan.created_at.isoformat()}


def _signature_part(
    session: Session,
    blobs: BlobStore,
    model: str,
    version: int,
    verification: VerificationRead | None,
    trusted: Collection[str],
) -> tuple[list[AuditFinding], dict[str, Any]]:
    result = verification or service.verify_version(
        session, blobs=blobs, model_name=model, version=version, trusted=trusted
    )
    section = {"signed": result.signed_at is not None, "verified": result.verified}
    if result.signed_at is None:
        message = f"the artifacts are not signed; run `mlgate sign {model}@{version} --key KEY.pem`"
        return [_finding("signature", Severity.MEDIUM, "signature.missing", message)], section
    if not result.verified:
        message = f"the signature does not match the artifacts: {result.reason}"
        evidence = (result.reason, str(result.key_fingerprint), str(result.signed_at))
        finding = _finding(
            "signature", Severity.CRITICAL, "signature.invalid", message, evidence=evidence
        )
        return [finding], section
    return [], section | {"key_fingerprint": result.key_fingerprint}


def _dependency_part(
    session: Session, model: str, version: int
) -> tuple[list[AuditFinding], dict[str, Any]]:
    audited = service.latest_dependency_audit(session, model_name=model, version=version)
    if audited is None:
        message = (
            f"no requirements are recorded; run `mlgate scan deps {model}@{version} "
            "--requirements requirements.txt`"
        )
        return [_finding("dependencies", Severity.MEDIUM, "dependencies.missing", message)], {
            "recorded": False
        }
    findings: list[AuditFinding] = []
    if audited.advisories is None:
        findings.append(
            _finding(
                "dependencies", Severity.MEDIUM, "dependencies.no-database", service.NO_DATABASE
            )
        )
    for dep in audited.dependencies:
        if dep.status is DependencyStatus.VULNERABLE:
            ids = ", ".join(
                a.id + (f" ({', '.join(a.aliases)})" if a.aliases else "") for a in dep.advisories
            )
            fixed = sorted({a.fixed for a in dep.advisories if a.fixed})
            fix = f"; fixed in {fixed[-1]}" if fixed else ""
            message = f"{dep.name} {dep.version} has known vulnerabilities: {ids}{fix}"
            findings.append(
                _finding(
                    "dependencies",
                    Severity.HIGH,
                    "dependencies.vulnerable",
                    message,
                    dep.name,
                    dep.version,
                    evidence=tuple(sorted(a.id for a in dep.advisories)),
                )
            )
        elif dep.status is DependencyStatus.UNKNOWN and audited.advisories is not None:
            message = f"{dep.name} {dep.spec} cannot be audited: {dep.reason}"
            findings.append(
                _finding(
                    "dependencies",
                    Severity.LOW,
                    "dependencies.unknown",
                    message,
                    dep.name,
                    dep.spec,
                )
            )
    return findings, {"recorded": True, "status": audited.status.value, "counts": audited.counts}


def _serves(session: Session, target: TargetSpec, model: str, version: int) -> bool:
    if target.model != model:
        return False
    if target.version is not None:
        return target.version == version
    try:
        return deployments.resolve_alias(session, model_name=model, alias=target.alias) == version
    except NotFound:
        return False


def _routes_of(session: Session, model: str, version: int) -> list[RouteRead]:
    found = []
    for route in gateway.get_all(session):
        targets = [route.primary or TargetSpec(model=route.model), *route.fallbacks]
        if route.canary is not None:
            targets.append(route.canary.target)
        if any(_serves(session, target, model, version) for target in targets):
            found.append(route)
    return found


def _open_keys(session: Session, now: datetime) -> list[ApiKey]:
    """Live keys that may invoke every route (gateway:invoke or admin, no route list)."""
    keys = session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None))).all()
    return [
        key
        for key in keys
        if (Scope.GATEWAY_INVOKE.value in key.scopes or Scope.ADMIN.value in key.scopes)
        and key.allowed_routes is None
        and (key.expires_at is None or ensure_utc(key.expires_at) > now)
    ]


def _route_part(
    session: Session, model: str, version: int, now: datetime
) -> tuple[list[AuditFinding], dict[str, Any]]:
    routes = _routes_of(session, model, version)
    open_keys = _open_keys(session, now) if routes else []
    findings: list[AuditFinding] = []
    for route in routes:
        if open_keys:
            message = (
                f"{len(open_keys)} API keys may call every route, including '{route.name}'; "
                "issue invoke keys with --route to restrict them"
            )
            findings.append(
                _finding("access", Severity.MEDIUM, "access.unrestricted-keys", message, route.name)
            )
        if not (route.limits.route_rate or route.limits.key_rate):
            message = f"route '{route.name}' has no rate limit (limits.route_rate or key_rate)"
            findings.append(
                _finding("access", Severity.LOW, "access.no-rate-limit", message, route.name)
            )
        if route.log_mode == "redacted":
            message = (
                f"route '{route.name}' stores redacted payloads unencrypted (log_mode redacted); "
                "use log_mode full (encrypted) or metadata"
            )
            findings.append(
                _finding(
                    "logging", Severity.MEDIUM, "logging.unencrypted-payloads", message, route.name
                )
            )
    section = {
        "routes": [
            {
                "name": r.name,
                "log_mode": r.log_mode,
                "rate_limited": bool(r.limits.route_rate or r.limits.key_rate),
                "require_signature": r.require_signature,
            }
            for r in routes
        ],
        "unrestricted_keys": len(open_keys),
    }
    return findings, section


def _waivers(session: Session, version_id: str) -> dict[str, Waiver]:
    rows = session.scalars(select(Waiver).where(Waiver.version_id == version_id))
    return {row.finding_id: row for row in rows}


def _ranked(findings: list[AuditFinding], waivers: dict[str, Waiver]) -> list[AuditFinding]:
    marked = [
        f.model_copy(update={"waived": True, "waiver_reason": waivers[f.id].reason})
        if f.id in waivers
        else f
        for f in findings
    ]
    return sorted(marked, key=lambda f: (f.waived, -f.severity.rank, f.category, f.id))


def _read(
    row: SecurityAudit, model: str, version: int, waivers: dict[str, Waiver]
) -> SecurityAuditRead:
    findings = _ranked([AuditFinding.model_validate(f) for f in row.findings], waivers)
    live = [f.severity for f in findings if not f.waived]
    worst = max(live, key=lambda s: s.rank) if live else None
    return SecurityAuditRead(
        id=row.id,
        model=model,
        version=version,
        created_at=row.created_at,
        created_by=row.created_by,
        max_severity=worst,
        counts=service.count_by_severity(live),
        findings=findings,
        sections=row.sections,
    )


def audit_model(
    session: Session,
    *,
    blobs: BlobStore,
    model_name: str,
    version: int,
    actor: Principal,
    verification: VerificationRead | None = None,
    trusted: Collection[str] = (),
    now: datetime | None = None,
) -> SecurityAuditRead:
    """Build, store and return the version's security report (signature checked on the blobs).

    ``verification`` is the signature check made outside the transaction
    (``service.run_signature_check``), so a long hash does not hold the SQLite write lock;
    without it the check is made here, with ``trusted`` (the settings' trusted signing keys).
    """
    now = now or utcnow()
    row = registry.get_version_row(session, model_name=model_name, version=version)
    findings: list[AuditFinding] = []
    sections: dict[str, Any] = {}
    for name, (found, section) in (
        ("scan", _scan_part(session, model_name, version)),
        ("signature", _signature_part(session, blobs, model_name, version, verification, trusted)),
        ("dependencies", _dependency_part(session, model_name, version)),
        ("routes", _route_part(session, model_name, version, now)),
    ):
        findings += found
        sections[name] = section
    sections["input_schema"] = {"declared": bool(row.input_schema)}
    if not row.input_schema:
        message = "no input schema is declared, so the gateway cannot validate requests"
        findings.append(_finding("schema", Severity.MEDIUM, "schema.missing-input", message))
    return _store(session, row, model_name, version, findings, sections, actor, now)


def _store(
    session: Session,
    row: ModelVersion,
    model_name: str,
    version: int,
    findings: list[AuditFinding],
    sections: dict[str, Any],
    actor: Principal,
    now: datetime,
) -> SecurityAuditRead:
    unique = list({f.id: f for f in findings}.values())
    record = SecurityAudit(
        id=new_id(),
        version_id=row.id,
        created_at=now,
        created_by=actor.name,
        max_severity=None,
        counts={},
        findings=[f.model_dump(mode="json") for f in unique],
        sections=sections,
    )
    read = _read(record, model_name, version, _waivers(session, row.id))
    record.max_severity = read.max_severity.value if read.max_severity else None
    record.counts = read.counts
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="version.security_audited",
        object_type="model_version",
        object_id=f"{model_name}@{version}",
        change={"audit": record.id, "max_severity": record.max_severity, "counts": record.counts},
        now=now,
    )
    return read


def latest_audit_row(session: Session, *, version_id: str) -> SecurityAudit | None:
    return session.scalars(
        select(SecurityAudit)
        .where(SecurityAudit.version_id == version_id)
        .order_by(SecurityAudit.created_at.desc(), SecurityAudit.id.desc())
        .limit(1)
    ).one_or_none()


def read_audit(
    session: Session, *, row: SecurityAudit, model_name: str, version: int
) -> SecurityAuditRead:
    """A stored audit with the waivers that apply now."""
    return _read(row, model_name, version, _waivers(session, row.version_id))


def latest_audit(session: Session, *, model_name: str, version: int) -> SecurityAuditRead:
    row = registry.get_version_row(session, model_name=model_name, version=version)
    record = latest_audit_row(session, version_id=row.id)
    if record is None:
        raise NotFound(
            f"{model_name}@{version} has no security audit; run "
            f"`mlgate audit-model {model_name}@{version}`"
        )
    return read_audit(session, row=record, model_name=model_name, version=version)


def waive_finding(
    session: Session,
    *,
    model_name: str,
    version: int,
    waiver_in: WaiverCreate,
    actor: Principal,
    now: datetime | None = None,
) -> WaiverRead:
    """An admin accepts one finding of the latest audit, with a reason (audited)."""
    if not actor.is_admin:
        raise Forbidden("only an admin may waive a security finding")
    current = latest_audit(session, model_name=model_name, version=version)
    if not any(f.id == waiver_in.finding_id for f in current.findings):
        raise NotFound(
            f"the latest audit of {model_name}@{version} has no finding "
            f"'{waiver_in.finding_id}'; see `mlgate audit-model {model_name}@{version}`"
        )
    row = registry.get_version_row(session, model_name=model_name, version=version)
    waiver = Waiver(
        id=new_id(),
        version_id=row.id,
        finding_id=waiver_in.finding_id,
        reason=waiver_in.reason,
        created_at=now or utcnow(),
        created_by=actor.name,
    )
    if waiver.finding_id in _waivers(session, row.id):
        raise Conflict(f"finding '{waiver_in.finding_id}' is already waived")
    session.add(waiver)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="security_finding.waived",
        object_type="model_version",
        object_id=f"{model_name}@{version}",
        change={"finding": waiver.finding_id, "reason": waiver.reason},
        now=waiver.created_at,
    )
    return _waiver_read(model_name, version, waiver)


def _waiver_read(model_name: str, version: int, row: Waiver) -> WaiverRead:
    return WaiverRead(
        model=model_name,
        version=version,
        finding_id=row.finding_id,
        reason=row.reason,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def list_waivers(session: Session, *, model_name: str, version: int) -> list[WaiverRead]:
    row = registry.get_version_row(session, model_name=model_name, version=version)
    waivers = sorted(_waivers(session, row.id).values(), key=lambda w: w.created_at)
    return [_waiver_read(model_name, version, w) for w in waivers]
