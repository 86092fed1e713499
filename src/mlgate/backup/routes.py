"""Backups over HTTP (scope backup:admin): list, create, verify, prune and drill.

Restore is deliberately CLI-only: it replaces the store the server itself is running on.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from mlgate.auth.deps import RuntimeDep, SessionDep, require_scope
from mlgate.auth.schemas import Principal
from mlgate.backup import drills, jobs, service
from mlgate.backup.schemas import BackupRead, DrillRead, PruneResult, VerifyReport

router = APIRouter(prefix="/api/v1/backups", tags=["backups"])
Admin = Annotated[Principal, Depends(require_scope("backup:admin"))]


@router.get("", response_model=list[BackupRead])
def list_backups(runtime: RuntimeDep, actor: Admin) -> list[BackupRead]:
    return service.list_backups(root=runtime.settings.backups_path)


@router.post("", status_code=201, response_model=BackupRead)
def create_backup(runtime: RuntimeDep, actor: Admin) -> BackupRead:
    return jobs.backup_job(runtime, actor=actor, key=jobs.key_for(runtime))


@router.post("/prune", response_model=PruneResult)
def prune(
    runtime: RuntimeDep, actor: Admin, dry_run: Annotated[bool, Query()] = True
) -> PruneResult:
    return jobs.prune_job(runtime, actor=actor, dry_run=dry_run)


@router.get("/drills", response_model=list[DrillRead])
def list_drills(
    session: SessionDep, actor: Admin, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[DrillRead]:
    return drills.list_drills(session, limit=limit)


@router.post("/drills", status_code=201, response_model=DrillRead)
def run_drill(runtime: RuntimeDep, actor: Admin) -> DrillRead:
    backup = service.resolve_backup(root=runtime.settings.backups_path, ref="latest")
    return jobs.drill_job(runtime, actor=actor, backup=backup, key=jobs.key_for(runtime))


@router.get("/{backup_id}", response_model=BackupRead)
def show(backup_id: str, runtime: RuntimeDep, actor: Admin) -> BackupRead:
    path = service.resolve_backup(
        root=runtime.settings.backups_path, ref=backup_id, allow_path=False
    )
    return service.get_backup(path=path)


@router.post("/{backup_id}/verify", response_model=VerifyReport)
def verify(backup_id: str, runtime: RuntimeDep, actor: Admin) -> VerifyReport:
    path = service.resolve_backup(
        root=runtime.settings.backups_path, ref=backup_id, allow_path=False
    )
    return service.verify_backup(path=path, key=jobs.key_for(runtime))
