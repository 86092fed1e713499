"""Runbooks: markdown documents linked to routes and models; an incident shows the matching ones."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import NotFound
from mlgate.ids import new_id
from mlgate.incidents.models import Runbook
from mlgate.incidents.schemas import RunbookCreate, RunbookRead

__all__ = ["get_runbook", "list_runbooks", "matching", "put_runbook"]


def put_runbook(session: Session, *, runbook_in: RunbookCreate, actor: Principal) -> RunbookRead:
    """Create the runbook, or replace the one with the same name."""
    now = utcnow()
    row = session.scalars(select(Runbook).where(Runbook.name == runbook_in.name)).one_or_none()
    created = row is None
    if row is None:
        row = Runbook(id=new_id(), name=runbook_in.name)
        session.add(row)
    row.title = runbook_in.title
    row.body = runbook_in.body
    row.routes = sorted(set(runbook_in.routes))
    row.models = sorted(set(runbook_in.models))
    row.updated_at = now
    row.updated_by = actor.name
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="runbook.created" if created else "runbook.updated",
        object_type="runbook",
        object_id=row.name,
        change={"title": row.title, "routes": row.routes, "models": row.models},
        now=now,
    )
    return RunbookRead.model_validate(row)


def get_runbook(session: Session, *, name: str) -> RunbookRead:
    row = session.scalars(select(Runbook).where(Runbook.name == name)).one_or_none()
    if row is None:
        raise NotFound(
            f"runbook '{name}' does not exist; add it with `mlgate incidents runbook add`"
        )
    return RunbookRead.model_validate(row)


def list_runbooks(session: Session) -> list[RunbookRead]:
    return [
        RunbookRead.model_validate(r)
        for r in session.scalars(select(Runbook).order_by(Runbook.name))
    ]


def matching(
    session: Session, *, routes: Sequence[str], models: Sequence[str]
) -> list[RunbookRead]:
    """Runbooks linked to any of ``routes`` or ``models`` (runbooks are few; filtered here)."""
    if not routes and not models:
        return []
    wanted_routes, wanted_models = set(routes), set(models)
    return [
        runbook
        for runbook in list_runbooks(session)
        if wanted_routes & set(runbook.routes) or wanted_models & set(runbook.models)
    ]
