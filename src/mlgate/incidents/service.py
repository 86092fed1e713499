"""The incidents domain's service: reading incidents, and the entry point to every operation.

Other domains and the routes and CLI import from here only; the operations live by idea in
``opening`` (by hand, or automatically per cause key), ``lifecycle`` (status, severity, roles,
handover, close), ``worklog`` (notes and tasks) and ``postmortem``. Every change goes through
``timeline``, so it lands on the timeline and in the audit log the same way.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mlgate.incidents.lifecycle import close, handover, update
from mlgate.incidents.models import Incident
from mlgate.incidents.opening import open_automatic, open_incident
from mlgate.incidents.postmortem import get_postmortem, set_postmortem
from mlgate.incidents.schemas import IncidentRead, IncidentStatus, Severity
from mlgate.incidents.timeline import (
    DEFAULT_POSTMORTEM_MINUTES,
    get_row,
    postmortem_reasons,
    read,
)
from mlgate.incidents.worklog import add_note, add_task, complete_task

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


def get(session: Session, *, ref: str, threshold_minutes: int) -> IncidentRead:
    return read(session, get_row(session, ref=ref), threshold_minutes=threshold_minutes)


_OPEN = Incident.status != IncidentStatus.CLOSED.value


def count_open(session: Session) -> int:
    """How many incidents are not closed."""
    query = select(func.count(Incident.id)).where(_OPEN)
    return int(session.scalar(query) or 0)


def get_all(
    session: Session,
    *,
    status: IncidentStatus | None = None,
    open_only: bool = False,
    severity: Severity | None = None,
    limit: int = 50,
    threshold_minutes: int = DEFAULT_POSTMORTEM_MINUTES,
) -> list[IncidentRead]:
    query = select(Incident).order_by(Incident.number.desc()).limit(max(1, min(limit, 500)))
    if status is not None:
        query = query.where(Incident.status == status.value)
    if open_only:
        query = query.where(_OPEN)
    if severity is not None:
        query = query.where(Incident.severity == severity.value)
    return [
        read(session, row, threshold_minutes=threshold_minutes) for row in session.scalars(query)
    ]
