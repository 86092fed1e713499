"""Opening incidents: by hand, or automatically with one open incident per cause key.

``open_automatic`` is what other domains call (the gateway for a breaker open too long, backups
for a failed backup or drill, audit verification for a broken chain): a later event for the same
cause joins the open incident's timeline instead of opening a second one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Invalid
from mlgate.ids import new_id
from mlgate.incidents.lifecycle import set_severity
from mlgate.incidents.models import Incident
from mlgate.incidents.schemas import IncidentCreate, IncidentRead, IncidentStatus, Severity
from mlgate.incidents.timeline import append_event, log_change, read, record_change

__all__ = ["open_automatic", "open_incident"]


def _insert(
    session: Session,
    *,
    incident_in: IncidentCreate,
    cause_key: str | None,
    actor: Principal,
    now: datetime,
) -> Incident:
    number = (session.scalar(select(func.max(Incident.number))) or 0) + 1
    row = Incident(
        id=new_id(),
        number=number,
        title=incident_in.title,
        severity=incident_in.severity.value,
        status=IncidentStatus.ACTIVE.value,
        cause_key=cause_key,
        open_cause_key=cause_key,
        summary=incident_in.summary,
        opened_at=now,
        created_by=actor.name,
        commander=incident_in.commander or actor.name,
        scribe=incident_in.scribe,
        communications=incident_in.communications,
        affected_routes=sorted(set(incident_in.affected_routes)),
        affected_models=sorted(set(incident_in.affected_models)),
        user_impact=incident_in.user_impact,
        data_loss=incident_in.data_loss,
        rollback=incident_in.rollback,
        events=[],
        tasks=[],
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict("another incident was opened at the same moment; try again") from error
    return row


def open_incident(
    session: Session, *, incident_in: IncidentCreate, actor: Principal, now: datetime | None = None
) -> IncidentRead:
    now = now or utcnow()
    row = _insert(session, incident_in=incident_in, cause_key=None, actor=actor, now=now)
    log_change(
        session,
        row,
        actor=actor,
        kind="opened",
        text=f"opened as {row.severity} by {actor.name}; commander {row.commander}",
        action="opened",
        change={"title": row.title, "severity": row.severity},
        now=now,
    )
    return read(session, row)


def open_automatic(
    session: Session,
    *,
    cause_key: str,
    title: str,
    severity: Severity,
    detail: str = "",
    affected_routes: list[str] | None = None,
    affected_models: list[str] | None = None,
    actor: Principal | None = None,
    now: datetime | None = None,
) -> IncidentRead:
    """Open an incident for ``cause_key``, or add this event to the one already open for it.

    A repeated cause never opens a second incident; a more severe repeat raises the severity.
    """
    now = now or utcnow()
    actor = actor or Principal.system("incidents")
    if not cause_key.strip():
        raise Invalid.field("cause_key", "must not be empty")
    row = session.scalars(
        select(Incident).where(Incident.open_cause_key == cause_key).with_for_update()
    ).one_or_none()
    if row is None:
        incident_in = IncidentCreate(
            title=title,
            severity=severity,
            summary=detail,
            affected_routes=affected_routes or [],
            affected_models=affected_models or [],
        )
        row = _insert(session, incident_in=incident_in, cause_key=cause_key, actor=actor, now=now)
        row.commander = None  # nobody has taken command of an automatic incident yet
        log_change(
            session,
            row,
            actor=actor,
            kind="opened",
            text=f"opened automatically ({cause_key}) as {row.severity}: {detail or title}",
            data={"cause_key": cause_key},
            action="opened",
            change={"title": title, "severity": row.severity, "cause_key": cause_key},
            now=now,
        )
        return read(session, row)
    # A repeat can write two timeline events (recurred, severity) but is one audited change.
    append_event(
        session,
        row,
        actor=actor,
        kind="recurred",
        text=f"{cause_key} again: {detail or title}",
        data={"cause_key": cause_key},
        now=now,
    )
    change: dict[str, Any] = {"cause_key": cause_key, "recurred": True}
    if severity.value < row.severity:  # "SEV1" < "SEV2": lower number is more severe
        change["severity"] = severity.value
        set_severity(session, row, severity=severity.value, actor=actor, now=now)
    row.affected_routes = sorted(set(row.affected_routes) | set(affected_routes or []))
    row.affected_models = sorted(set(row.affected_models) | set(affected_models or []))
    session.flush()
    record_change(session, row, actor=actor, action="updated", change=change, now=now)
    return read(session, row)
