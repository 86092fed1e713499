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
from mlgate.incidents.affected import require_routes
from mlgate.incidents.lifecycle import set_severity
from mlgate.incidents.models import Incident
from mlgate.incidents.schemas import IncidentCreate, IncidentRead, IncidentStatus, Severity
from mlgate.incidents.timeline import (
    DEFAULT_POSTMORTEM_MINUTES,
    append_event,
    log_change,
    read,
    record_change,
)

__all__ = ["open_automatic", "open_incident"]


# Each lost insert means another opening committed first, so a handful covers any real burst.
INSERT_ATTEMPTS = 5


def _new_row(
    session: Session,
    *,
    incident_in: IncidentCreate,
    cause_key: str | None,
    actor: Principal,
    now: datetime,
) -> Incident:
    number = (session.scalar(select(func.max(Incident.number))) or 0) + 1
    return Incident(
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


def _inserted(session: Session, row: Incident) -> bool:
    """Insert ``row``; False when a concurrent opening took its number or open cause key.

    The savepoint confines the IntegrityError to this insert, so the caller's transaction goes
    on. PostgreSQL reports a unique conflict only once the other transaction has committed, so
    under READ COMMITTED the next statement sees the winner (its number, its open incident).
    """
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def _lost_race() -> Conflict:
    return Conflict("another incident was opened at the same moment; try again")


def open_incident(
    session: Session,
    *,
    incident_in: IncidentCreate,
    actor: Principal,
    threshold_minutes: int,
    now: datetime | None = None,
) -> IncidentRead:
    now = now or utcnow()
    require_routes(session, incident_in.affected_routes)
    for _ in range(INSERT_ATTEMPTS):
        row = _new_row(session, incident_in=incident_in, cause_key=None, actor=actor, now=now)
        if _inserted(session, row):
            break
    else:
        raise _lost_race()
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
    return read(session, row, threshold_minutes=threshold_minutes)


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
    threshold_minutes: int = DEFAULT_POSTMORTEM_MINUTES,
    now: datetime | None = None,
) -> IncidentRead:
    """Open an incident for ``cause_key``, or add this event to the one already open for it.

    A repeated cause never opens a second incident, not even when two openers race: the one
    whose insert loses records its event as a repeat on the winner's incident. A more severe
    repeat raises the severity.
    """
    now = now or utcnow()
    actor = actor or Principal.system("incidents")
    if not cause_key.strip():
        raise Invalid.field("cause_key", "must not be empty")
    for _ in range(INSERT_ATTEMPTS):
        existing = session.scalars(
            select(Incident).where(Incident.open_cause_key == cause_key).with_for_update()
        ).one_or_none()
        if existing is not None:
            return _recur(
                session,
                existing,
                cause_key=cause_key,
                title=title,
                severity=severity,
                detail=detail,
                affected_routes=affected_routes or [],
                affected_models=affected_models or [],
                actor=actor,
                threshold_minutes=threshold_minutes,
                now=now,
            )
        incident_in = IncidentCreate(
            title=title,
            severity=severity,
            summary=detail,
            affected_routes=affected_routes or [],
            affected_models=affected_models or [],
        )
        row = _new_row(session, incident_in=incident_in, cause_key=cause_key, actor=actor, now=now)
        row.commander = None  # nobody has taken command of an automatic incident yet
        if _inserted(session, row):
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
            return read(session, row, threshold_minutes=threshold_minutes)
    raise _lost_race()


def _recur(
    session: Session,
    row: Incident,
    *,
    cause_key: str,
    title: str,
    severity: Severity,
    detail: str,
    affected_routes: list[str],
    affected_models: list[str],
    actor: Principal,
    threshold_minutes: int,
    now: datetime,
) -> IncidentRead:
    """Add a repeat of ``cause_key`` to its open incident, locked by the caller."""
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
    row.affected_routes = sorted(set(row.affected_routes) | set(affected_routes))
    row.affected_models = sorted(set(row.affected_models) | set(affected_models))
    session.flush()
    record_change(session, row, actor=actor, action="updated", change=change, now=now)
    return read(session, row, threshold_minutes=threshold_minutes)
