"""Scan, sign, verify and audit the dependencies of registered versions; store every result.

Each function that records something adds one row and one audit entry in the caller's
transaction and only flushes. Blob work (hashing, scanning) happens before any row is written.
The combined security report (``audit_model``) lives in ``mlgate.scanning.posture``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate import __version__
from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Invalid, NotFound
from mlgate.ids import new_id
from mlgate.registry import service as registry
from mlgate.registry.blobstore import BlobStore
from mlgate.registry.models import ModelVersion
from mlgate.scanning.deps import audit_requirements, parse_requirements
from mlgate.scanning.manifest import (
    SignedManifest,
    key_fingerprint,
    sign_manifest,
    staged,
    verify_manifest,
)
from mlgate.scanning.models import ArtifactScan, ArtifactSignature, DependencyAudit
from mlgate.scanning.scanner import SCAN_BUDGET_S, scan_path
from mlgate.scanning.schemas import (
    DependencyAuditRead,
    DependencyFinding,
    DependencyReport,
    DependencyStatus,
    Finding,
    RequirementsIn,
    ScannedFile,
    ScanRead,
    ScanReport,
    Severity,
    SignatureRead,
    VerificationRead,
)

__all__ = [
    "artifact_map",
    "audit_dependencies",
    "count_by_severity",
    "get_signature",
    "latest_dependency_audit",
    "latest_scan",
    "list_scans",
    "run_signature_check",
    "scan_artifacts",
    "scan_files",
    "scan_version",
    "sign_version",
    "signature_check",
    "signed_manifest",
    "verify_version",
    "version_artifacts",
]

SCANNER_VERSION = f"mlgate-scan {__version__}"
NO_DATABASE = "no advisory database is configured (MLGATE_ADVISORIES_DIR); not audited"


def _ref(model_name: str, version: int) -> str:
    return f"{model_name}@{version}"


def artifact_map(row: ModelVersion) -> dict[str, str]:
    """The version's artifacts: name -> sha256."""
    return {artifact.name: artifact.sha256 for artifact in row.artifacts}


def count_by_severity(severities: Sequence[Severity]) -> dict[str, int]:
    found = Counter(severity.value for severity in severities)
    return {severity.value: found.get(severity.value, 0) for severity in Severity}


# -- artifact scans ------------------------------------------------------------------------------


def scan_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    progress: Callable[[int], None] | None = None,
    budget_s: float = SCAN_BUDGET_S,
) -> ScanReport:
    """Scan files or directories outside the registry (nothing is stored) as one report;
    ``budget_s`` bounds each path's scan."""
    if not paths:
        raise Invalid.field("paths", "give at least one file or directory to scan")
    reports = [scan_path(path, progress=progress, budget_s=budget_s) for path in paths]
    if len(reports) == 1:
        return reports[0]
    findings = sorted(
        (f for r in reports for f in r.findings),
        key=lambda f: (-f.severity.rank, f.file, f.offset or 0),
    )
    return ScanReport(
        target=", ".join(r.target for r in reports),
        findings=findings,
        files=[f for r in reports for f in r.files],
        files_scanned=sum(r.files_scanned for r in reports),
        bytes_scanned=sum(r.bytes_scanned for r in reports),
        duration_s=sum(r.duration_s for r in reports),
        max_severity=findings[0].severity if findings else None,
    )


def _scan_read(model_name: str, version: int, row: ArtifactScan) -> ScanRead:
    return ScanRead(
        id=row.id,
        model=model_name,
        version=version,
        created_at=row.created_at,
        created_by=row.created_by,
        scanner_version=row.scanner_version,
        max_severity=Severity(row.max_severity) if row.max_severity else None,
        counts=row.counts,
        findings=[Finding.model_validate(f) for f in row.findings],
        files=[ScannedFile.model_validate(f) for f in row.files],
    )


def version_artifacts(session: Session, *, model_name: str, version: int) -> dict[str, str]:
    """The artifacts (name -> sha256) of a version: read them, then do blob work outside.

    On SQLite every transaction holds the write lock, so callers that hash or scan large
    blobs read this in one short unit of work, work on the blobs, and record in another.
    """
    row = registry.get_version_row(session, model_name=model_name, version=version)
    return artifact_map(row)


def scan_artifacts(
    *,
    blobs: BlobStore,
    artifacts: Mapping[str, str],
    progress: Callable[[int], None] | None = None,
    budget_s: float = SCAN_BUDGET_S,
) -> ScanReport:
    """Scan the blobs under their artifact names (no SQL), within ``budget_s`` seconds."""
    with staged(blobs.path, artifacts) as root:
        return scan_path(root, progress=progress, budget_s=budget_s)


def scan_version(
    session: Session,
    *,
    blobs: BlobStore,
    model_name: str,
    version: int,
    actor: Principal,
    report: ScanReport | None = None,
    now: datetime | None = None,
) -> ScanRead:
    """Scan every artifact of ``model@version`` and store the result.

    ``report`` is a scan of the same artifacts made outside the transaction
    (``scan_artifacts``); artifacts of a version never change, so it stays valid.
    """
    row = registry.get_version_row(session, model_name=model_name, version=version)
    if report is None:
        report = scan_artifacts(blobs=blobs, artifacts=artifact_map(row))
    scan = ArtifactScan(
        id=new_id(),
        version_id=row.id,
        created_at=now or utcnow(),
        created_by=actor.name,
        scanner_version=SCANNER_VERSION,
        max_severity=report.max_severity.value if report.max_severity else None,
        counts=count_by_severity([f.severity for f in report.findings]),
        findings=[f.model_dump(mode="json") for f in report.findings],
        files=[f.model_dump(mode="json") for f in report.files],
    )
    session.add(scan)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="version.scanned",
        object_type="model_version",
        object_id=_ref(model_name, version),
        change={"scan": scan.id, "max_severity": scan.max_severity, "counts": scan.counts},
        now=scan.created_at,
    )
    return _scan_read(model_name, version, scan)


def list_scans(
    session: Session, *, model_name: str, version: int, limit: int = 20
) -> list[ScanRead]:
    """Stored scans of the version, newest first."""
    row = registry.get_version_row(session, model_name=model_name, version=version)
    scans = session.scalars(
        select(ArtifactScan)
        .where(ArtifactScan.version_id == row.id)
        .order_by(ArtifactScan.created_at.desc(), ArtifactScan.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    return [_scan_read(model_name, version, scan) for scan in scans]


def latest_scan(session: Session, *, model_name: str, version: int) -> ScanRead | None:
    scans = list_scans(session, model_name=model_name, version=version, limit=1)
    return scans[0] if scans else None


# -- signatures ----------------------------------------------------------------------------------


def _signature_row(session: Session, version_id: str) -> ArtifactSignature | None:
    return session.scalars(
        select(ArtifactSignature)
        .where(ArtifactSignature.version_id == version_id)
        .order_by(ArtifactSignature.created_at.desc(), ArtifactSignature.id.desc())
        .limit(1)
    ).one_or_none()


def _signature_read(model_name: str, version: int, row: ArtifactSignature) -> SignatureRead:
    return SignatureRead(
        model=model_name,
        version=version,
        created_at=row.created_at,
        created_by=row.created_by,
        manifest=row.manifest,
        key_fingerprint=row.key_fingerprint,
        public_key=row.public_key,
    )


def signed_manifest(session: Session, *, version_id: str) -> SignedManifest | None:
    """The latest signature of a version as the gateway's loader needs it (None if unsigned)."""
    row = _signature_row(session, version_id)
    if row is None:
        return None
    return SignedManifest(bundle=row.bundle, public_key=row.public_key, manifest=row.manifest)


def sign_version(
    session: Session,
    *,
    blobs: BlobStore,
    model_name: str,
    version: int,
    private_key: Path | None,
    actor: Principal,
    password: str | None = None,
    signed: SignedManifest | None = None,
    now: datetime | None = None,
) -> SignatureRead:
    """Sign every artifact's name and bytes with a local EC P-256 key; store bundle and key.

    ``signed`` is a signature made outside the transaction (``manifest.sign_manifest`` over
    ``version_artifacts``); it must cover exactly the version's artifacts.
    """
    row = registry.get_version_row(session, model_name=model_name, version=version)
    artifacts = artifact_map(row)
    if signed is None:
        if private_key is None:
            raise Invalid.field("key", "give the private key to sign with")
        signed = sign_manifest(blobs.path, artifacts, private_key=private_key, password=password)
    elif dict(signed.manifest) != artifacts:
        raise Conflict(f"the signature does not cover the artifacts of {model_name}@{version}")
    signature = ArtifactSignature(
        id=new_id(),
        version_id=row.id,
        created_at=now or utcnow(),
        created_by=actor.name,
        manifest=artifacts,
        bundle=signed.bundle,
        public_key=signed.public_key,
        key_fingerprint=key_fingerprint(signed.public_key),
    )
    session.add(signature)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="version.signed",
        object_type="model_version",
        object_id=_ref(model_name, version),
        change={"key_fingerprint": signature.key_fingerprint, "artifacts": artifacts},
        now=signature.created_at,
    )
    return _signature_read(model_name, version, signature)


def get_signature(session: Session, *, model_name: str, version: int) -> SignatureRead:
    row = registry.get_version_row(session, model_name=model_name, version=version)
    signature = _signature_row(session, row.id)
    if signature is None:
        raise NotFound(
            f"{_ref(model_name, version)} is not signed; sign it with "
            f"`mlgate sign {_ref(model_name, version)} --key KEY.pem`"
        )
    return _signature_read(model_name, version, signature)


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """What verifying a version needs, read in one short unit of work."""

    model: str
    version: int
    artifacts: dict[str, str]
    signed: SignedManifest | None
    key_fingerprint: str | None = None
    signed_at: datetime | None = None
    signed_by: str | None = None


def signature_check(session: Session, *, model_name: str, version: int) -> SignatureCheck:
    row = registry.get_version_row(session, model_name=model_name, version=version)
    signature = _signature_row(session, row.id)
    if signature is None:
        return SignatureCheck(model_name, version, artifact_map(row), None)
    return SignatureCheck(
        model=model_name,
        version=version,
        artifacts=artifact_map(row),
        signed=SignedManifest(signature.bundle, signature.public_key, signature.manifest),
        key_fingerprint=signature.key_fingerprint,
        signed_at=signature.created_at,
        signed_by=signature.created_by,
    )


def run_signature_check(
    check: SignatureCheck,
    *,
    blobs: BlobStore,
    public_key: Path | None = None,
    trusted: Collection[str] = (),
) -> VerificationRead:
    """Verify against the current blobs (no SQL); ``public_key`` pins the signer, else the
    recorded key must be one of ``trusted`` (fingerprints) when that is given."""
    base = {"model": check.model, "version": check.version}
    if check.signed is None:
        return VerificationRead(**base, verified=False, reason="the version is not signed")
    signer = {
        "key_fingerprint": check.key_fingerprint,
        "signed_at": check.signed_at,
        "signed_by": check.signed_by,
    }
    try:
        verify_manifest(
            blobs.path, check.artifacts, check.signed, public_key=public_key, trusted=trusted
        )
    except (Invalid, NotFound) as error:
        return VerificationRead(**base, **signer, verified=False, reason=error.detail)
    if public_key is not None:
        who = "the given key"
    elif trusted:
        who = "a trusted key"
    else:
        who = "the recorded key (no MLGATE_TRUSTED_SIGNING_KEYS: any signer counts)"
    return VerificationRead(
        **base, **signer, verified=True, reason=f"every artifact matches, signed by {who}"
    )


def verify_version(
    session: Session,
    *,
    blobs: BlobStore,
    model_name: str,
    version: int,
    public_key: Path | None = None,
    trusted: Collection[str] = (),
) -> VerificationRead:
    """Check the latest signature against the current blobs (and ``public_key`` if given)."""
    check = signature_check(session, model_name=model_name, version=version)
    return run_signature_check(check, blobs=blobs, public_key=public_key, trusted=trusted)


# -- dependency audit ----------------------------------------------------------------------------


def _unaudited(text: str) -> DependencyReport:
    """Without an advisory database nothing can be called clean: every dependency is unknown."""
    return DependencyReport(
        dependencies=[
            DependencyFinding(
                name=req.name,
                spec=req.spec,
                version=req.version,
                status=DependencyStatus.UNKNOWN,
                reason=req.note or NO_DATABASE,
            )
            for req in parse_requirements(text)
        ]
    )


def _overall(report: DependencyReport) -> DependencyStatus:
    if report.vulnerable:
        return DependencyStatus.VULNERABLE
    if report.unknown or not report.dependencies:
        return DependencyStatus.UNKNOWN
    return DependencyStatus.CLEAN


def _dependency_read(model_name: str, version: int, row: DependencyAudit) -> DependencyAuditRead:
    return DependencyAuditRead(
        model=model_name,
        version=version,
        created_at=row.created_at,
        created_by=row.created_by,
        source=row.source,
        advisories=row.advisories,
        status=DependencyStatus(row.status),
        counts=row.counts,
        dependencies=[DependencyFinding.model_validate(d) for d in row.dependencies],
    )


def audit_dependencies(
    session: Session,
    *,
    model_name: str,
    version: int,
    requirements_in: RequirementsIn,
    advisories_dir: Path | None,
    actor: Principal,
    now: datetime | None = None,
) -> DependencyAuditRead:
    """Record the version's requirements and audit them offline against OSV advisories."""
    row = registry.get_version_row(session, model_name=model_name, version=version)
    text = requirements_in.text
    if advisories_dir is None:
        report = _unaudited(text)
    else:
        report = audit_requirements(text, advisories_dir)
    status = _overall(report)
    found = Counter(d.status.value for d in report.dependencies)
    record = DependencyAudit(
        id=new_id(),
        version_id=row.id,
        created_at=now or utcnow(),
        created_by=actor.name,
        source=requirements_in.source,
        requirements=text,
        advisories=str(advisories_dir) if advisories_dir is not None else None,
        status=status.value,
        counts={s.value: found.get(s.value, 0) for s in DependencyStatus},
        dependencies=[d.model_dump(mode="json") for d in report.dependencies],
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="version.dependencies_audited",
        object_type="model_version",
        object_id=_ref(model_name, version),
        change={
            "source": record.source,
            "status": record.status,
            "counts": record.counts,
            "advisories": [a.id for d in report.vulnerable for a in d.advisories],
        },
        now=record.created_at,
    )
    return _dependency_read(model_name, version, record)


def latest_dependency_audit(
    session: Session, *, model_name: str, version: int
) -> DependencyAuditRead | None:
    row = registry.get_version_row(session, model_name=model_name, version=version)
    record = session.scalars(
        select(DependencyAudit)
        .where(DependencyAudit.version_id == row.id)
        .order_by(DependencyAudit.created_at.desc(), DependencyAudit.id.desc())
        .limit(1)
    ).one_or_none()
    return None if record is None else _dependency_read(model_name, version, record)
