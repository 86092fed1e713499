"""Changing an open incident until it closes; every change lands on the timeline and audit log.

Status, severity and role changes write their own timeline events, so the timeline is the
record a postmortem starts from. Command changes hands only by an explicit ``handover``, and an
incident that needs a postmortem closes only once the postmortem is written.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Invalid
from mlgate.incidents.affected import require_routes
from mlgate.incidents.models import Incident
from mlgate.incidents.schemas import Handover, IncidentRead, IncidentStatus, IncidentUpdate
from mlgate.incidents.timeline import (
    REQUIRED_POSTMORTEM_FIELDS,
    append_event,
    get_row,
    log_change,
    postmortem_reasons,
    read,
    record_change,
    written,
)

__all__ = ["close", "handover", "set_severity", "update"]


def _check_open(row: Incident) -> None:
    if row.status == IncidentStatus.CLOSED.value:
        raise Conflict(f"INC-{row.number} is closed; open a new incident instead")


# Each field change below puts its own event on the timeline, so a postmortem can tell when the
# incident stabilised or escalated; the caller writes one audit entry for the whole change.


def _set_status(
    session: Session, row: Incident, *, status: IncidentStatus, actor: Principal, now: datetime
) -> None:
    append_event(
        session,
        row,
        actor=actor,
        kind="status",
        text=f"status {row.status} -> {status.value}",
        data={"from": row.status, "to": status.value},
        now=now,
    )
    row.status = status.value
    # stable_at is when the incident last stabilised: one that escalates again is not stable.
    row.stable_at = now if status == IncidentStatus.STABLE else None


def set_severity(
    session: Session, row: Incident, *, severity: str, actor: Principal, now: datetime
) -> None:
    """Shared with ``open_automatic``, so an escalation by a repeat reads like one by hand."""
    append_event(
        session,
        row,
        actor=actor,
        kind="severity",
        text=f"severity {row.severity} -> {severity}",
        data={"from": row.severity, "to": severity},
        now=now,
    )
    row.severity = severity


def _set_role(
    session: Session, row: Incident, *, role: str, name: str, actor: Principal, now: datetime
) -> None:
    """Change the scribe or communications lead; command changes only through ``handover``."""
    previous = getattr(row, role)
    append_event(
        session,
        row,
        actor=actor,
        kind="role",
        text=f"{role}: {previous or '-'} -> {name}",
        data={"role": role, "from": previous, "to": name},
        now=now,
    )
    setattr(row, role, name)


def update(
    session: Session,
    *,
    ref: str,
    update_in: IncidentUpdate,
    actor: Principal,
    threshold_minutes: int,
    now: datetime | None = None,
) -> IncidentRead:
    now = now or utcnow()
    row = get_row(session, ref=ref, lock=True)
    _check_open(row)
    changes = update_in.model_dump(exclude_none=True, mode="json")
    if not changes:
        raise Invalid("nothing to change; give at least one field")
    if "affected_routes" in changes:  # checked before any change lands on the timeline
        require_routes(session, changes["affected_routes"], listed=row.affected_routes)
    if "status" in changes:
        new = IncidentStatus(changes["status"])
        if new == IncidentStatus.CLOSED:
            raise Invalid.field("status", "close an incident with `mlgate incidents close`")
        if new.value != row.status:
            _set_status(session, row, status=new, actor=actor, now=now)
    if "severity" in changes and changes["severity"] != row.severity:
        set_severity(session, row, severity=changes["severity"], actor=actor, now=now)
    for role in ("scribe", "communications"):
        if role in changes and changes[role] != getattr(row, role):
            _set_role(session, row, role=role, name=changes[role], actor=actor, now=now)
    for field in ("title", "summary", "user_impact", "data_loss", "rollback"):
        if field in changes:
            setattr(row, field, changes[field])
    for field in ("affected_routes", "affected_models"):
        if field in changes:
            setattr(row, field, sorted(set(changes[field])))
    session.flush()
    record_change(session, row, actor=actor, action="updated", change=changes, now=now)
    return read(session, row, threshold_minutes=threshold_minutes)


def handover(
    session: Session,
    *,
    ref: str,
    handover_in: Handover,
    actor: Principal,
    threshold_minutes: int,
    now: datetime | None = None,
) -> IncidentRead:
    """Hand command to someone else: an explicit, logged act (never a side effect of an update)."""
    now = now or utcnow()
    row = get_row(session, ref=ref, lock=True)
    _check_open(row)
    if row.commander == handover_in.to:
        raise Conflict(f"{handover_in.to} already commands INC-{row.number}")
    previous = row.commander
    text = f"command handed over: {previous or '-'} -> {handover_in.to}"
    if handover_in.note:
        text += f" ({handover_in.note})"
    row.commander = handover_in.to
    log_change(
        session,
        row,
        actor=actor,
        kind="handover",
        text=text,
        data={"from": previous, "to": handover_in.to},
        action="handover",
        change={"from": previous, "to": handover_in.to},
        now=now,
    )
    return read(session, row, threshold_minutes=threshold_minutes)


def close(
    session: Session,
    *,
    ref: str,
    actor: Principal,
    note: str = "",
    threshold_minutes: int,
    now: datetime | None = None,
) -> IncidentRead:
    """Close an incident; one that needs a postmortem closes only once it is written."""
    now = now or utcnow()
    row = get_row(session, ref=ref, lock=True)
    _check_open(row)
    reasons = postmortem_reasons(row, threshold_minutes=threshold_minutes, now=now)
    if reasons and not written(row):
        raise Conflict(
            f"INC-{row.number} needs a postmortem ({', '.join(reasons)}); fill in"
            f" {', '.join(REQUIRED_POSTMORTEM_FIELDS)} with `mlgate incidents postmortem"
            f" {row.number} --set summary=…` before closing"
        )
    previous = row.status
    row.status = IncidentStatus.CLOSED.value
    row.stable_at = row.stable_at or now
    row.closed_at = now
    row.open_cause_key = None  # frees the cause key: the next failure opens a new incident
    log_change(
        session,
        row,
        actor=actor,
        kind="status",
        text=f"status {previous} -> closed" + (f": {note}" if note else ""),
        data={"from": previous, "to": "closed"},
        action="closed",
        change={"note": note},
        now=now,
    )
    return read(session, row, threshold_minutes=threshold_minutes)
