"""Scanning over HTTP: scans, signature, requirements audit and security audit of a version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from mlgate.auth.deps import RuntimeDep, SessionDep, VersionNumber, require_scope
from mlgate.auth.schemas import Principal
from mlgate.errors import NotFound
from mlgate.scanning import posture, service
from mlgate.scanning.schemas import (
    DependencyAuditRead,
    RequirementsIn,
    ScanRead,
    SecurityAuditRead,
    SignatureRead,
    VerificationRead,
    WaiverCreate,
    WaiverRead,
)

router = APIRouter(prefix="/api/v1/models/{name}/versions/{version}", tags=["scanning"])
Reader = Annotated[Principal, Depends(require_scope("registry:read"))]
Scanner = Annotated[Principal, Depends(require_scope("scan:write"))]


# Routes that hash or scan blobs read in one unit of work and record in another, so the blob
# work never holds a transaction (on SQLite: the write lock) open.


@router.post("/scans", status_code=201, response_model=ScanRead)
def scan_version(
    name: str, version: VersionNumber, runtime: RuntimeDep, actor: Scanner
) -> ScanRead:
    """Scan every artifact of the version from the blob store and store the result."""
    with runtime.db.unit_of_work() as session:
        artifacts = service.version_artifacts(session, model_name=name, version=version)
    report = service.scan_artifacts(
        blobs=runtime.blobs, artifacts=artifacts, budget_s=runtime.settings.scan_budget_seconds
    )
    with runtime.db.unit_of_work() as session:
        return service.scan_version(
            session,
            blobs=runtime.blobs,
            model_name=name,
            version=version,
            actor=actor,
            report=report,
        )


@router.get("/scans", response_model=list[ScanRead])
def list_scans(
    name: str,
    version: VersionNumber,
    session: SessionDep,
    actor: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> list[ScanRead]:
    """Stored scans of the version, newest first."""
    return service.list_scans(session, model_name=name, version=version, limit=limit)


@router.get("/signature", response_model=SignatureRead)
def show_signature(
    name: str, version: VersionNumber, session: SessionDep, actor: Reader
) -> SignatureRead:
    return service.get_signature(session, model_name=name, version=version)


@router.get("/signature/verification", response_model=VerificationRead)
def verify_signature(
    name: str, version: VersionNumber, runtime: RuntimeDep, actor: Reader
) -> VerificationRead:
    """Check the recorded signature against the version's current blobs."""
    with runtime.db.unit_of_work() as session:
        check = service.signature_check(session, model_name=name, version=version)
    return service.run_signature_check(
        check, blobs=runtime.blobs, trusted=runtime.settings.trusted_keys
    )


@router.put("/requirements", response_model=DependencyAuditRead)
def record_requirements(
    name: str,
    version: VersionNumber,
    requirements_in: RequirementsIn,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Scanner,
) -> DependencyAuditRead:
    """Record the version's requirements and audit them against the offline advisories."""
    return service.audit_dependencies(
        session,
        model_name=name,
        version=version,
        requirements_in=requirements_in,
        advisories_dir=runtime.settings.advisories_dir,
        actor=actor,
    )


@router.get("/requirements", response_model=DependencyAuditRead)
def show_requirements(
    name: str, version: VersionNumber, session: SessionDep, actor: Reader
) -> DependencyAuditRead:
    found = service.latest_dependency_audit(session, model_name=name, version=version)
    if found is None:
        raise NotFound(
            f"{name}@{version} has no recorded requirements; PUT them to this address or run "
            f"`mlgate scan deps {name}@{version} --requirements FILE`"
        )
    return found


@router.post("/security-audit", status_code=201, response_model=SecurityAuditRead)
def audit_model(
    name: str, version: VersionNumber, runtime: RuntimeDep, actor: Scanner
) -> SecurityAuditRead:
    """Build and store the combined security report of the version."""
    with runtime.db.unit_of_work() as session:
        check = service.signature_check(session, model_name=name, version=version)
    verification = service.run_signature_check(
        check, blobs=runtime.blobs, trusted=runtime.settings.trusted_keys
    )
    with runtime.db.unit_of_work() as session:
        return posture.audit_model(
            session,
            blobs=runtime.blobs,
            model_name=name,
            version=version,
            actor=actor,
            verification=verification,
        )


@router.get("/security-audit", response_model=SecurityAuditRead)
def show_audit(
    name: str, version: VersionNumber, session: SessionDep, actor: Reader
) -> SecurityAuditRead:
    """The latest security report, with the waivers that apply now."""
    return posture.latest_audit(session, model_name=name, version=version)


@router.post("/security-audit/waivers", status_code=201, response_model=WaiverRead)
def waive_finding(
    name: str, version: VersionNumber, waiver_in: WaiverCreate, session: SessionDep, actor: Scanner
) -> WaiverRead:
    """An admin waives one finding of the latest audit, with a reason (403 for others)."""
    return posture.waive_finding(
        session, model_name=name, version=version, waiver_in=waiver_in, actor=actor
    )


@router.get("/security-audit/waivers", response_model=list[WaiverRead])
def list_waivers(
    name: str, version: VersionNumber, session: SessionDep, actor: Reader
) -> list[WaiverRead]:
    return posture.list_waivers(session, model_name=name, version=version)
