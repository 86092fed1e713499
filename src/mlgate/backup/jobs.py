"""Backup jobs as the server's scheduler and the CLI run them: each owns its units of work.

A failed backup, a failed drill or a broken audit chain opens (or joins) an automatic incident
in its own transaction, so the alert survives the rollback of the work that failed.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.backup import drills, service
from mlgate.backup.archive import Advance
from mlgate.backup.cipher import load_key
from mlgate.backup.retention import Retention
from mlgate.backup.schemas import BackupRead, DrillRead, PruneResult
from mlgate.clock import utcnow
from mlgate.errors import MlgateError
from mlgate.incidents import service as incidents
from mlgate.incidents.schemas import Severity
from mlgate.runtime import Runtime

__all__ = [
    "ScheduledRun",
    "backup_job",
    "drill_job",
    "key_for",
    "prune_job",
    "retention_for",
    "scheduled_run",
    "verify_audit_job",
]

logger = logging.getLogger(__name__)
SYSTEM = Principal.system("backup")


def key_for(runtime: Runtime, key_file: Path | None = None) -> bytes | None:
    path = key_file or runtime.settings.backup_key_file
    return load_key(path) if path is not None else None


def retention_for(runtime: Runtime) -> Retention:
    s = runtime.settings
    return Retention(
        daily=s.backup_keep_daily, weekly=s.backup_keep_weekly, monthly=s.backup_keep_monthly
    )


def _alert(
    runtime: Runtime, *, cause_key: str, title: str, severity: Severity, detail: str
) -> None:
    try:
        with runtime.db.unit_of_work() as session:
            incidents.open_automatic(
                session,
                cause_key=cause_key,
                title=title,
                severity=severity,
                detail=detail,
                actor=SYSTEM,
                threshold_minutes=runtime.settings.incident_postmortem_minutes,
            )
    except Exception:  # the original failure matters more than a failed alert; log both
        logger.exception("could not open an incident for %s", cause_key)


def _describe(error: Exception) -> str:
    return error.detail if isinstance(error, MlgateError) else f"{type(error).__name__}: {error}"


def _alert_backup_failed(runtime: Runtime, detail: str) -> None:
    _alert(
        runtime,
        cause_key="backup-failed",
        title="Backup failed",
        severity=Severity.SEV2,
        detail=detail,
    )


def _take_backup(
    runtime: Runtime,
    *,
    actor: Principal,
    root: Path | None,
    key: bytes | None,
    progress: Advance | None,
) -> BackupRead:
    """Create a backup in its own unit of work; if its audit entry does not commit, the backup
    is removed again, so no backup exists that the audit log does not record."""
    created: BackupRead | None = None
    try:
        with runtime.db.unit_of_work() as session:
            created = service.create_backup(
                session,
                db=runtime.db,
                blobs=runtime.blobs,
                root=root or runtime.settings.backups_path,
                key=key,
                actor=actor,
                progress=progress,
            )
    except BaseException:
        if created is not None:
            with suppress(OSError):
                service.discard_backup(path=Path(created.path))
        raise
    return created


def backup_job(
    runtime: Runtime,
    *,
    actor: Principal,
    root: Path | None = None,
    key: bytes | None = None,
    progress: Advance | None = None,
) -> BackupRead:
    """Take a backup; on failure open the 'backup-failed' incident and re-raise."""
    try:
        return _take_backup(runtime, actor=actor, root=root, key=key, progress=progress)
    except Exception as error:
        _alert_backup_failed(runtime, _describe(error))
        raise


def drill_job(
    runtime: Runtime,
    *,
    actor: Principal,
    backup: Path,
    key: bytes | None,
    scratch_root: Path | None = None,
    progress: Advance | None = None,
) -> DrillRead:
    with runtime.db.unit_of_work() as session:
        result = drills.run_drill(
            session,
            live_url=runtime.settings.database_url,
            backup=backup,
            key=key,
            actor=actor,
            scratch_root=scratch_root,
            progress=progress,
        )
    if not result.ok:
        _alert(
            runtime,
            cause_key="backup-drill-failed",
            title="Restore drill failed",
            severity=Severity.SEV2,
            detail=f"drill of {result.backup_id}: {result.detail}",
        )
    return result


def prune_job(
    runtime: Runtime, *, actor: Principal, root: Path | None = None, dry_run: bool = False
) -> PruneResult:
    """Prune; a deletion that fails raises ``PruneIncomplete`` once the audit entry of what
    was deleted has committed (raising inside the unit of work would roll it back)."""
    with runtime.db.unit_of_work() as session:
        result = service.prune_backups(
            session,
            root=root or runtime.settings.backups_path,
            policy=retention_for(runtime),
            actor=actor,
            dry_run=dry_run,
        )
    if result.failed:
        raise service.PruneIncomplete(result)
    return result


def verify_audit_job(runtime: Runtime) -> bool:
    """Verify the live audit chain; a broken chain opens the 'audit-chain-broken' incident."""
    with runtime.db.read_only() as session:  # a long read: writes carry on beside it
        result = audit.verify(session)
    if not result.ok:
        _alert(
            runtime,
            cause_key="audit-chain-broken",
            title="Audit chain verification failed",
            severity=Severity.SEV1,
            detail=f"entry {result.first_broken_seq}: {result.reason}",
        )
    return result.ok


class ScheduledRun:
    """What one scheduled tick did (for logs and tests)."""

    def __init__(self) -> None:
        self.backup: BackupRead | None = None
        self.pruned: PruneResult | None = None
        self.audit_ok: bool | None = None
        self.error: str | None = None


def scheduled_run(runtime: Runtime, *, now: datetime | None = None) -> ScheduledRun:
    """The function a scheduler calls every few minutes: verify the audit chain, back up when the
    newest backup is older than ``backup_interval_seconds``, then prune. Never raises: any
    failure of the backup step (an unreadable key or backup directory, a failed backup or
    prune) opens the 'backup-failed' incident, so scheduled backups never stop unnoticed."""
    now = now or utcnow()
    run = ScheduledRun()
    try:
        run.audit_ok = verify_audit_job(runtime)
    except Exception as error:  # logged; the backup below is still worth taking
        run.error = _describe(error)
        logger.warning("scheduled audit verification failed: %s", run.error)
    step = "listing the backups"
    try:
        root = runtime.settings.backups_path
        latest = service.list_backups(root=root)
        interval = timedelta(seconds=runtime.settings.backup_interval_seconds)
        if not latest or now - latest[0].created_at >= interval:
            step = "reading the backup key"
            key = key_for(runtime)
            step = "backing up"
            run.backup = _take_backup(runtime, actor=SYSTEM, root=root, key=key, progress=None)
            step = "pruning"
            run.pruned = prune_job(runtime, actor=SYSTEM, root=root)
    except Exception as error:  # the one incident for every failure of this step; keep ticking
        run.error = _describe(error)
        logger.warning("scheduled backup failed while %s: %s", step, run.error)
        _alert_backup_failed(runtime, f"scheduled backup failed while {step}: {run.error}")
    return run
