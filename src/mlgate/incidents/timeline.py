"""The incident record's primitives: reading it, appending to its timeline, auditing a change.

Every incident operation goes through these, so a change always lands on the timeline and in
the audit log the same way, and every reader sees the same postmortem rule.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.approvals import outbox
from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import ensure_utc, utcnow
from mlgate.errors import NotFound
from mlgate.ids import new_id, parse_number
from mlgate.incidents import runbooks
from mlgate.incidents.models import Incident, IncidentEvent
from mlgate.incidents.schemas import (
    EventRead,
    IncidentRead,
    IncidentStatus,
    Severity,
    TaskRead,
)

__all__ = [
    "DEFAULT_POSTMORTEM_MINUTES",
    "REQUIRED_POSTMORTEM_FIELDS",
    "append_event",
    "get_row",
    "log_change",
    "postmortem_reasons",
    "read",
    "record_change",
    "written",
]


# The setting's default, left only on ``open_automatic`` (other domains' jobs hold no settings)
# and ``get_all``/``get_postmortem`` (called without it outside incidents); the CLI, the API and
# the web pages always pass the configured threshold.
DEFAULT_POSTMORTEM_MINUTES = 60
REQUIRED_POSTMORTEM_FIELDS = ("summary", "root_causes", "resolution")


def postmortem_reasons(
    row: Incident, *, threshold_minutes: int, now: datetime | None = None
) -> list[str]:
    """Why this incident needs a postmortem (empty: it does not)."""
    reasons = []
    if row.user_impact:
        reasons.append("user-visible impact")
    if row.data_loss:
        reasons.append("data loss")
    if row.rollback:
        reasons.append("a rollback")
    end = ensure_utc(row.closed_at) if row.closed_at else (now or utcnow())
    if end - ensure_utc(row.opened_at) > timedelta(minutes=threshold_minutes):
        reasons.append(f"lasted longer than {threshold_minutes} minutes")
    return reasons


def written(row: Incident) -> bool:
    values = row.postmortem or {}
    return all(str(values.get(field) or "").strip() for field in REQUIRED_POSTMORTEM_FIELDS)


def read(session: Session, row: Incident, *, threshold_minutes: int) -> IncidentRead:
    """The incident as callers see it, by the deployment's postmortem rule.

    ``threshold_minutes`` is ``Settings.incident_postmortem_minutes``, and required: a reader
    that fell back to a default would disagree with ``close`` about the postmortem.
    """
    reasons = postmortem_reasons(row, threshold_minutes=threshold_minutes)
    return IncidentRead(
        id=row.id,
        number=row.number,
        title=row.title,
        severity=Severity(row.severity),
        status=IncidentStatus(row.status),
        cause_key=row.cause_key,
        summary=row.summary,
        opened_at=row.opened_at,
        stable_at=row.stable_at,
        closed_at=row.closed_at,
        created_by=row.created_by,
        commander=row.commander,
        scribe=row.scribe,
        communications=row.communications,
        affected_routes=list(row.affected_routes),
        affected_models=list(row.affected_models),
        user_impact=row.user_impact,
        data_loss=row.data_loss,
        rollback=row.rollback,
        postmortem_required=bool(reasons),
        postmortem_reasons=reasons,
        postmortem_written=written(row),
        events=[EventRead.model_validate(e) for e in row.events],
        tasks=[TaskRead.model_validate(t) for t in row.tasks],
        runbooks=runbooks.matching(session, routes=row.affected_routes, models=row.affected_models),
    )


def append_event(
    session: Session,
    row: Incident,
    *,
    actor: Principal,
    kind: str,
    text: str,
    data: dict[str, Any] | None = None,
    now: datetime,
) -> None:
    seq = (max((e.seq for e in row.events), default=0)) + 1
    event = IncidentEvent(
        id=new_id(),
        incident_id=row.id,
        seq=seq,
        at=now,
        actor=actor.name,
        kind=kind,
        text=text,
        data=data or {},
    )
    row.events.append(event)
    session.flush()


def record_change(
    session: Session,
    row: Incident,
    *,
    actor: Principal,
    action: str,
    change: dict[str, Any],
    now: datetime,
) -> None:
    audit.record(
        session,
        actor=actor,
        action=f"incident.{action}",
        object_type="incident",
        object_id=f"INC-{row.number}",
        change=change,
        now=now,
    )
    # Subscribers (pagers, chat) hear of every change through the same webhook outbox as
    # approvals, in the same transaction: an event exists exactly when the change does.
    outbox.emit(
        session,
        event_type=f"incident.{action}",
        subject=f"INC-{row.number}",
        payload={
            "number": row.number,
            "title": row.title,
            "severity": row.severity,
            "status": row.status,
            "commander": row.commander,
            "affected_routes": row.affected_routes,
            "affected_models": row.affected_models,
            "change": change,
            "by": actor.name,
        },
        now=now,
    )


def log_change(
    session: Session,
    row: Incident,
    *,
    actor: Principal,
    kind: str,
    text: str,
    data: dict[str, Any] | None = None,
    action: str,
    change: dict[str, Any],
    now: datetime,
) -> None:
    """Put one change on the timeline and in the audit log, in that order.

    Apply the change to ``row`` before calling: the audit entry's webhook carries the incident
    as it is now, and the timeline flush writes the change along with the event.
    """
    append_event(session, row, actor=actor, kind=kind, text=text, data=data, now=now)
    record_change(session, row, actor=actor, action=action, change=change, now=now)


def get_row(session: Session, *, ref: str, lock: bool = False) -> Incident:
    """An incident by number (``12`` or ``INC-12``) or id."""
    key = ref.upper().removeprefix("INC-")
    number = parse_number(key)
    query = (
        select(Incident).where(Incident.number == number)
        if number is not None
        else select(Incident).where(Incident.id == ref)
    )
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise NotFound(f"incident '{ref}' does not exist; list them with `mlgate incidents list`")
    return row
