"""Blameless postmortems: prefilled from the incident, rendered to Markdown and HTML.

What the team has written (``set_postmortem``) wins; what they have not yet written is
prefilled from the incident — its summary, impact flags, the first event as the trigger, tasks
as action items and the whole timeline — so the draft exists the moment the incident does.
HTML is rendered with Jinja2 autoescaping: timeline text comes from users and alerts. Once
the incident is closed, the sections ``close`` required can be amended but not emptied.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session

from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import FieldError, Invalid
from mlgate.incidents.models import Incident
from mlgate.incidents.schemas import (
    ActionItem,
    IncidentRead,
    IncidentStatus,
    Postmortem,
    PostmortemUpdate,
)
from mlgate.incidents.timeline import (
    DEFAULT_POSTMORTEM_MINUTES,
    REQUIRED_POSTMORTEM_FIELDS,
    get_row,
    log_change,
    read,
)

__all__ = ["build", "get_postmortem", "render_html", "render_markdown", "set_postmortem"]

TEMPLATES = Path(__file__).parent / "templates"
TODO = "_To be written._"


def _impact(incident: IncidentRead) -> str:
    parts = []
    if incident.user_impact:
        parts.append("users saw errors or degraded answers")
    if incident.data_loss:
        parts.append("data was lost")
    if incident.rollback:
        parts.append("a rollback was needed")
    if incident.affected_routes:
        parts.append("routes: " + ", ".join(incident.affected_routes))
    if incident.affected_models:
        parts.append("models: " + ", ".join(incident.affected_models))
    return "; ".join(parts) if parts else TODO


def build(incident: IncidentRead, written: dict[str, str] | None = None) -> Postmortem:
    written = {k: v for k, v in (written or {}).items() if v}
    end = incident.closed_at or utcnow()
    first = incident.events[0].text if incident.events else ""
    return Postmortem(
        incident_number=incident.number,
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        opened_at=incident.opened_at,
        closed_at=incident.closed_at,
        duration_minutes=round((end - incident.opened_at).total_seconds() / 60, 1),
        commander=incident.commander,
        summary=written.get("summary") or incident.summary or TODO,
        impact=written.get("impact") or _impact(incident),
        root_causes=written.get("root_causes") or TODO,
        trigger=written.get("trigger") or first or TODO,
        resolution=written.get("resolution") or TODO,
        detection=written.get("detection")
        or ("an automatic alert" if incident.cause_key else f"reported by {incident.created_by}"),
        action_items=[
            ActionItem(title=t.title, owner=t.owner, due_at=t.due_at, done=t.done_at is not None)
            for t in incident.tasks
        ],
        went_well=written.get("went_well") or TODO,
        went_wrong=written.get("went_wrong") or TODO,
        lucky=written.get("lucky") or TODO,
        timeline=incident.events,
        required_because=incident.postmortem_reasons,
    )


def _refuse_blanking_once_closed(row: Incident, changes: dict[str, str]) -> None:
    """A closed incident's postmortem is its record: the sections ``close`` requires may be
    amended, never emptied (other sections may be). Drafts of open incidents stay free."""
    if row.status != IncidentStatus.CLOSED.value:
        return
    blanked = [f for f in REQUIRED_POSTMORTEM_FIELDS if f in changes and not changes[f].strip()]
    if blanked:
        message = f"cannot be emptied: INC-{row.number} is closed; amend the text instead"
        raise Invalid(
            f"{', '.join(blanked)} {message}", errors=[FieldError(f, message) for f in blanked]
        )


def set_postmortem(
    session: Session,
    *,
    ref: str,
    postmortem_in: PostmortemUpdate,
    actor: Principal,
    threshold_minutes: int,
    now: datetime | None = None,
) -> IncidentRead:
    """Merge these sections over what was written before: sections not given stay as they were."""
    now = now or utcnow()
    row = get_row(session, ref=ref, lock=True)
    changes = postmortem_in.model_dump(exclude_none=True)
    if not changes:
        raise Invalid("nothing to change; give at least one postmortem field")
    _refuse_blanking_once_closed(row, changes)
    row.postmortem = {**(row.postmortem or {}), **changes}
    log_change(
        session,
        row,
        actor=actor,
        kind="postmortem",
        text=f"postmortem edited: {', '.join(sorted(changes))}",
        action="postmortem_edited",
        change={"fields": sorted(changes)},
        now=now,
    )
    return read(session, row, threshold_minutes=threshold_minutes)


def get_postmortem(
    session: Session, *, ref: str, threshold_minutes: int = DEFAULT_POSTMORTEM_MINUTES
) -> Postmortem:
    """The postmortem draft: what the team wrote, the rest prefilled from the incident."""
    row = get_row(session, ref=ref)
    return build(
        read(session, row, threshold_minutes=threshold_minutes),
        {k: str(v) for k, v in (row.postmortem or {}).items()},
    )


def _environment(autoescape: bool) -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,  # noqa: S701 - off only for Markdown; render_html escapes
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_markdown(postmortem: Postmortem) -> str:
    return _environment(False).get_template("postmortem.md.j2").render(pm=postmortem)


def render_html(postmortem: Postmortem) -> str:
    return _environment(True).get_template("postmortem.html.j2").render(pm=postmortem)
