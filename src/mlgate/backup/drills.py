"""Restore drills: prove the latest backup restores, and record how long it took (RTO) and how
old it was (RPO) as evidence for the readiness rubric.

A drill restores into a scratch location (a temporary SQLite file, or a scratch PostgreSQL
database on the live server that the drill drops afterwards), verifies it, then smoke-checks
it: the restored registry lists its models, and the route table compiles when the gateway
offers a compile function (skipped, and said so, when it does not yet).
"""

from __future__ import annotations

import importlib
import inspect as pyinspect
import logging
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.backup import targets
from mlgate.backup.archive import Advance, read_manifest
from mlgate.backup.models import BackupDrill
from mlgate.backup.restore import restore_backup
from mlgate.backup.schemas import DrillRead
from mlgate.clock import utcnow
from mlgate.errors import MlgateError
from mlgate.ids import new_id
from mlgate.registry import service as registry
from mlgate.store.database import Database

__all__ = ["gateway_smoke_check", "list_drills", "run_drill"]

GATEWAY_COMPILERS = (
    ("mlgate.gateway.table", "compile_route_table"),
    ("mlgate.gateway.routetable", "compile_route_table"),
    ("mlgate.gateway.service", "compile_route_table"),
    ("mlgate.gateway", "compile_route_table"),
)
logger = logging.getLogger(__name__)


def gateway_smoke_check(session: Session) -> str:
    """Compile the restored route table if the gateway exposes a compile function."""
    for module_name, attribute in GATEWAY_COMPILERS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        compile_fn = getattr(module, attribute, None)
        if compile_fn is None:
            continue
        parameters = pyinspect.signature(compile_fn).parameters
        table = compile_fn(session) if len(parameters) >= 1 else compile_fn()
        routes = getattr(table, "routes", None)
        count = f" ({len(routes)} routes)" if routes is not None else ""
        return f"ok: {module_name}.{attribute}{count}"
    return "skipped: mlgate.gateway exposes no compile_route_table() yet"


def _scratch_url(live_url: str, scratch: Path, drill_id: str) -> str:
    if targets.dialect_of(live_url) == "sqlite":
        return f"sqlite:///{scratch / 'drill.db'}"
    url = make_url(live_url)
    return url.set(
        database=f"{(url.database or 'mlgate')[:30]}_drill_{drill_id[-10:].lower()}"
    ).render_as_string(hide_password=False)


def _remove_scratch(live_url: str, url: str, scratch: Path) -> str:
    """Drop the scratch database and remove the scratch directory. A failure is logged and
    returned as a note, never raised: raised, it would replace the drill's own error, or fail a
    drill that succeeded, and the drill would go unrecorded."""
    shutil.rmtree(scratch, ignore_errors=True)
    if targets.dialect_of(live_url) != "postgresql":
        return ""
    try:
        targets.drop_pg_database(url)
    except Exception as error:  # any failure to clean up: a database error, the server gone
        name = make_url(url).database
        reason = next(iter(str(error).splitlines()), "") or type(error).__name__
        logger.warning("restore drill: scratch database %s was not dropped: %s", name, reason)
        return f"scratch database {name} was not dropped ({reason}); drop it by hand"
    return ""


def run_drill(
    session: Session,
    *,
    live_url: str,
    backup: Path,
    key: bytes | None,
    actor: Principal,
    scratch_root: Path | None = None,
    now: datetime | None = None,
    progress: Advance | None = None,
) -> DrillRead:
    """Restore ``backup`` to scratch, verify and smoke-check it, and record the drill.

    The drill's own failure is recorded (ok=false, with the reason) rather than raised, so the
    evidence of a failed drill is kept; callers open an incident when ``ok`` is false. A scratch
    database that cannot be dropped is a warning in ``detail``, after the drill's outcome.
    """
    now = now or utcnow()
    drill_id = new_id()
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="mlgate-drill-", dir=scratch_root))
    url = _scratch_url(live_url, scratch, drill_id)
    backup_id = backup.name
    rpo = 0.0
    rto: float | None = None
    gateway = "not reached"
    ok = False
    try:
        manifest = read_manifest(backup)
        backup_id = manifest.id
        rpo = max(0.0, (now - manifest.created_at).total_seconds())
        restore_backup(
            backup=backup,
            target_url=url,
            blob_dir=scratch / "blobs",
            key=key,
            actor=actor,
            progress=progress,
        )
        restored = Database(url)
        try:
            with restored.unit_of_work() as check:
                models = registry.list_models(check, limit=1)
                gateway = gateway_smoke_check(check)
        finally:
            restored.dispose()
        ok = True
        rto = time.monotonic() - started
        detail = f"restored and verified; registry lists {models.total} models"
    except MlgateError as error:
        detail = error.detail
    except Exception as error:  # a drill records every failure as evidence, then reports it
        detail = f"unexpected {type(error).__name__}: {error}"
    finally:
        left_behind = _remove_scratch(live_url, url, scratch)
    if left_behind:  # the drill's own outcome stands; the leftover is a note beside it
        note = f"; warning: {left_behind}"
        detail = detail[: 2000 - len(note)] + note  # a long error must not cut the note off
    row = BackupDrill(
        id=drill_id,
        at=now,
        backup_id=backup_id,
        dialect=targets.dialect_of(live_url),
        rto_seconds=round(rto if rto is not None else time.monotonic() - started, 3),
        rpo_seconds=round(rpo, 3),
        ok=ok,
        detail=detail[:2000],
        gateway_check=gateway[:200],
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="backup.drill",
        object_type="backup",
        object_id=backup_id,
        change={
            "drill": drill_id,
            "ok": ok,
            "rto_seconds": row.rto_seconds,
            "rpo_seconds": row.rpo_seconds,
        },
        now=now,
    )
    return DrillRead.model_validate(row)


def list_drills(session: Session, *, limit: int = 50) -> list[DrillRead]:
    rows = session.scalars(select(BackupDrill).order_by(BackupDrill.at.desc()).limit(limit))
    return [DrillRead.model_validate(row) for row in rows]
