"""Open, change and close incidents; every change lands on the timeline and in the audit log.

Status, severity and role changes write their own timeline events, so the timeline is the
record a postmortem starts from. ``open_automatic`` is what other domains call (the gateway for
a breaker open too long, backups for a failed backup or drill, audit verification for a broken
chain): one open incident per cause key, later events for the same cause join its timeline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mlgate.auth.schemas import Principal
from mlgate.clock import ensure_utc, utcnow
from mlgate.errors import Conflict, Invalid, NotFound
from mlgate.ids import new_id
from mlgate.incidents import postmortem
from mlgate.incidents.models import Incident, IncidentTask
from mlgate.incidents.schemas import (
    Handover,
    IncidentCreate,
    IncidentRead,
    IncidentStatus,
    IncidentUpdate,
    NoteCreate,
    Postmortem,
    PostmortemUpdate,
    Severity,
    TaskCreate,
    TaskRead,
)
from mlgate.incidents.timeline import (
    DEFAULT_POSTMORTEM_MINUTES,
    REQUIRED_POSTMORTEM_FIELDS,
    append_event,
    get_row,
    postmortem_reasons,
    read,
    record_change,
    written,
)

__all__ = [
    "DEFAULT_POSTMORTEM_MINUTES",
    "add_note",
    "add_task",
    "close",
    "complete_task",
    "get",
    "get_all",
    "get_postmortem",
    "get_row",
    "handover",
    "open_automatic",
    "open_incident",
    "postmortem_reasons",
    "read",
    "set_postmortem",
    "update",
]


def get(
    session: Session, *, ref: str, threshold_minutes: int = DEFAULT_POSTMORTEM_MINUTES
) -> IncidentRead:
    return read(session, get_row(session, ref=ref), threshold_minutes=threshold_minutes)


def get_all(
    session: Session,
    *,
    status: IncidentStatus | None = None,
    open_only: bool = False,
    severity: Severity | None = None,
    limit: int = 50,
) -> list[IncidentRead]:
    query = select(Incident).order_by(Incident.number.desc()).limit(max(1, min(limit, 500)))
    if status is not None:
        query = query.where(Incident.status == status.value)
    if open_only:
        query = query.where(Incident.status != IncidentStatus.CLOSED.value)
    if severity is not None:
        query = query.where(Incident.severity == severity.value)
    return [read(session, row) for row in session.scalars(query)]


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
    append_event(
        session,
        row,
        actor=actor,
        kind="opened",
        text=f"opened as {row.severity} by {actor.name}; commander {row.commander}",
        now=now,
    )
    record_change(
        session,
        row,
        actor=actor,
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
        append_event(
            session,
            row,
            actor=actor,
            kind="opened",
            text=f"opened automatically ({cause_key}) as {row.severity}: {detail or title}",
            data={"cause_key": cause_key},
            now=now,
        )
        record_change(
            session,
            row,
            actor=actor,
            action="opened",
            change={"title": title, "severity": row.severity, "cause_key": cause_key},
            now=now,
        )
        return read(session, row)
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
        append_event(
            session,
            row,
            actor=actor,
            kind="severity",
            text=f"severity {row.severity} -> {severity.value}",
            data={"from": row.severity, "to": severity.value},
            now=now,
        )
        change["severity"] = severity.value
        row.severity = severity.value
    row.affected_routes = sorted(set(row.affected_routes) | set(affected_routes or []))
    row.affected_models = sorted(set(row.affected_models) | set(affected_models or []))
    session.flush()
    record_change(session, row, actor=actor, action="updated", change=change, now=now)
    return read(session, row)


def _check_open(row: Incident) -> None:
    if row.status == IncidentStatus.CLOSED.value:
        raise Conflict(f"INC-{row.number} is closed; open a new incident instead")


def update(
    session: Session,
    *,
    ref: str,
    update_in: IncidentUpdate,
    actor: Principal,
    now: datetime | None = None,
) -> IncidentRead:
    now = now or utcnow()
    row = get_row(session, ref=ref, lock=True)
    _check_open(row)
    changes = update_in.model_dump(exclude_none=True, mode="json")
    if not changes:
        raise Invalid("nothing to change; give at least one field")
    if "status" in changes:
        new = IncidentStatus(changes["status"])
        if new == IncidentStatus.CLOSED:
            raise Invalid.field("status", "close an incident with `mlgate incidents close`")
        if new.value != row.status:
            append_event(
                session,
                row,
                actor=actor,
                kind="status",
                text=f"status {row.status} -> {new.value}",
                data={"from": row.status, "to": new.value},
                now=now,
            )
            row.status = new.value
            if new == IncidentStatus.STABLE:
                row.stable_at = now
    if "severity" in changes and changes["severity"] != row.severity:
        append_event(
            session,
            row,
            actor=actor,
            kind="severity",
            text=f"severity {row.severity} -> {changes['severity']}",
            data={"from": row.severity, "to": changes["severity"]},
            now=now,
        )
        row.severity = changes["severity"]
    for role in ("scribe", "communications"):
        if role in changes and changes[role] != getattr(row, role):
            append_event(
                session,
                row,
                actor=actor,
                kind="role",
                text=f"{role}: {getattr(row, role) or '-'} -> {changes[role]}",
                data={"role": role, "from": getattr(row, role), "to": changes[role]},
                now=now,
            )
            setattr(row, role, changes[role])
    for field in ("title", "summary", "user_impact", "data_loss", "rollback"):
        if field in changes:
            setattr(row, field, changes[field])
    for field in ("affected_routes", "affected_models"):
        if field in changes:
            setattr(row, field, sorted(set(changes[field])))
    session.flush()
    record_change(session, row, actor=actor, action="updated", change=changes, now=now)
    return read(session, row)


def handover(
    session: Session,
    *,
    ref: str,
    handover_in: Handover,
    actor: Principal,
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
    append_event(
        session,
        row,
        actor=actor,
        kind="handover",
        text=text,
        data={"from": previous, "to": handover_in.to},
        now=now,
    )
    row.commander = handover_in.to
    session.flush()
    record_change(
        session,
        row,
        actor=actor,
        action="handover",
        change={"from": previous, "to": handover_in.to},
        now=now,
    )
    return read(session, row)


def add_note(
    session: Session,
    *,
    ref: str,
    note_in: NoteCreate,
    actor: Principal,
    now: datetime | None = None,
) -> IncidentRead:
    now = now or utcnow()
    row = get_row(session, ref=ref, lock=True)
    append_event(session, row, actor=actor, kind="note", text=note_in.text, now=now)
    record_change(
        session, row, actor=actor, action="noted", change={"length": len(note_in.text)}, now=now
    )
    return read(session, row)


def add_task(
    session: Session,
    *,
    ref: str,
    task_in: TaskCreate,
    actor: Principal,
    now: datetime | None = None,
) -> TaskRead:
    now = now or utcnow()
    row = get_row(session, ref=ref, lock=True)
    task = IncidentTask(
        id=new_id(),
        incident_id=row.id,
        title=task_in.title,
        owner=task_in.owner,
        due_at=ensure_utc(task_in.due_at) if task_in.due_at else None,
        created_at=now,
    )
    row.tasks.append(task)
    due = f", due {task.due_at:%Y-%m-%d %H:%M}Z" if task.due_at else ""
    append_event(
        session,
        row,
        actor=actor,
        kind="task",
        text=f"task for {task.owner}: {task.title}{due}",
        data={"task": task.id},
        now=now,
    )
    record_change(
        session,
        row,
        actor=actor,
        action="task_added",
        change={"task": task.id, "owner": task.owner},
        now=now,
    )
    return TaskRead.model_validate(task)


def complete_task(
    session: Session, *, ref: str, task_id: str, actor: Principal, now: datetime | None = None
) -> TaskRead:
    now = now or utcnow()
    row = get_row(session, ref=ref, lock=True)
    task = next((t for t in row.tasks if t.id == task_id), None)
    if task is None:
        raise NotFound(f"INC-{row.number} has no task '{task_id}'")
    if task.done_at is not None:
        raise Conflict(f"task '{task_id}' is already done")
    task.done_at = now
    append_event(
        session,
        row,
        actor=actor,
        kind="task",
        text=f"task done: {task.title}",
        data={"task": task.id},
        now=now,
    )
    record_change(session, row, actor=actor, action="task_done", change={"task": task.id}, now=now)
    return TaskRead.model_validate(task)


def set_postmortem(
    session: Session,
    *,
    ref: str,
    postmortem_in: PostmortemUpdate,
    actor: Principal,
    now: datetime | None = None,
) -> IncidentRead:
    now = now or utcnow()
    row = get_row(session, ref=ref, lock=True)
    changes = postmortem_in.model_dump(exclude_none=True)
    if not changes:
        raise Invalid("nothing to change; give at least one postmortem field")
    row.postmortem = {**(row.postmortem or {}), **changes}
    append_event(
        session,
        row,
        actor=actor,
        kind="postmortem",
        text=f"postmortem edited: {', '.join(sorted(changes))}",
        now=now,
    )
    record_change(
        session,
        row,
        actor=actor,
        action="postmortem_edited",
        change={"fields": sorted(changes)},
        now=now,
    )
    return read(session, row)


def close(
    session: Session,
    *,
    ref: str,
    actor: Principal,
    note: str = "",
    threshold_minutes: int = DEFAULT_POSTMORTEM_MINUTES,
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
    append_event(
        session,
        row,
        actor=actor,
        kind="status",
        text=f"status {row.status} -> closed" + (f": {note}" if note else ""),
        data={"from": row.status, "to": "closed"},
        now=now,
    )
    row.status = IncidentStatus.CLOSED.value
    row.stable_at = row.stable_at or now
    row.closed_at = now
    row.open_cause_key = None
    session.flush()
    record_change(session, row, actor=actor, action="closed", change={"note": note}, now=now)
    return read(session, row, threshold_minutes=threshold_minutes)


def get_postmortem(
    session: Session, *, ref: str, threshold_minutes: int = DEFAULT_POSTMORTEM_MINUTES
) -> Postmortem:
    """The postmortem draft: what the team wrote, the rest prefilled from the incident."""
    row = get_row(session, ref=ref)
    return postmortem.build(
        read(session, row, threshold_minutes=threshold_minutes),
        {k: str(v) for k, v in (row.postmortem or {}).items()},
    )
