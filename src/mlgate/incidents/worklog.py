"""What responders add while they work: notes on the timeline, and tasks with owners.

Unlike status changes, these are allowed on a closed incident too: its tasks are the
postmortem's action items, and they are followed up after the incident is over.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mlgate.auth.schemas import Principal
from mlgate.clock import ensure_utc, utcnow
from mlgate.errors import Conflict, NotFound
from mlgate.ids import new_id
from mlgate.incidents.models import IncidentTask
from mlgate.incidents.schemas import IncidentRead, NoteCreate, TaskCreate, TaskRead
from mlgate.incidents.timeline import get_row, log_change, read

__all__ = ["add_note", "add_task", "complete_task"]


def add_note(
    session: Session,
    *,
    ref: str,
    note_in: NoteCreate,
    actor: Principal,
    threshold_minutes: int,
    now: datetime | None = None,
) -> IncidentRead:
    now = now or utcnow()
    row = get_row(session, ref=ref, lock=True)
    log_change(
        session,
        row,
        actor=actor,
        kind="note",
        text=note_in.text,
        action="noted",
        change={"length": len(note_in.text)},  # free text stays out of the audit log
        now=now,
    )
    return read(session, row, threshold_minutes=threshold_minutes)


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
    log_change(
        session,
        row,
        actor=actor,
        kind="task",
        text=f"task for {task.owner}: {task.title}{due}",
        data={"task": task.id},
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
    log_change(
        session,
        row,
        actor=actor,
        kind="task",
        text=f"task done: {task.title}",
        data={"task": task.id},
        action="task_done",
        change={"task": task.id},
        now=now,
    )
    return TaskRead.model_validate(task)
