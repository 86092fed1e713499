"""Incidents over HTTP: open, change, hand over, tasks, notes, close, postmortems, runbooks."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from mlgate.auth.deps import RuntimeDep, SessionDep, require_scope
from mlgate.auth.schemas import Principal
from mlgate.ids import NAME_PATTERN
from mlgate.incidents import postmortem, runbooks, service
from mlgate.incidents.schemas import (
    Handover,
    IncidentCreate,
    IncidentRead,
    IncidentStatus,
    IncidentUpdate,
    NoteCreate,
    Postmortem,
    PostmortemUpdate,
    RunbookCreate,
    RunbookRead,
    Severity,
    TaskCreate,
    TaskRead,
)

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
Reader = Annotated[Principal, Depends(require_scope("incidents:read"))]
Writer = Annotated[Principal, Depends(require_scope("incidents:write"))]
RunbookName = Annotated[str, Path(pattern=NAME_PATTERN, description="The runbook's name.")]


def _postmortem_minutes(runtime: RuntimeDep) -> int:
    return runtime.settings.incident_postmortem_minutes


# Every answer that holds an incident says whether it needs a postmortem by the server's rule.
Threshold = Annotated[int, Depends(_postmortem_minutes)]


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


@router.get("/runbooks", response_model=list[RunbookRead])
def list_runbooks(session: SessionDep, actor: Reader) -> list[RunbookRead]:
    return runbooks.list_runbooks(session)


@router.put("/runbooks/{name}", response_model=RunbookRead)
def put_runbook(
    name: RunbookName, runbook_in: RunbookCreate, session: SessionDep, actor: Writer
) -> RunbookRead:
    # model_copy does not validate: ``name`` is checked against the body's rule by RunbookName.
    return runbooks.put_runbook(
        session, runbook_in=runbook_in.model_copy(update={"name": name}), actor=actor
    )


@router.get("", response_model=list[IncidentRead])
def list_incidents(
    session: SessionDep,
    actor: Reader,
    threshold: Threshold,
    status: IncidentStatus | None = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
    severity: Severity | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[IncidentRead]:
    return service.get_all(
        session,
        status=status,
        open_only=open_only,
        severity=severity,
        limit=limit,
        threshold_minutes=threshold,
    )


@router.post("", status_code=201, response_model=IncidentRead)
def open_incident(
    incident_in: IncidentCreate, session: SessionDep, actor: Writer, threshold: Threshold
) -> IncidentRead:
    return service.open_incident(
        session, incident_in=incident_in, actor=actor, threshold_minutes=threshold
    )


@router.get("/{ref}", response_model=IncidentRead)
def show(ref: str, session: SessionDep, actor: Reader, threshold: Threshold) -> IncidentRead:
    return service.get(session, ref=ref, threshold_minutes=threshold)


@router.patch("/{ref}", response_model=IncidentRead)
def update(
    ref: str, update_in: IncidentUpdate, session: SessionDep, actor: Writer, threshold: Threshold
) -> IncidentRead:
    return service.update(
        session, ref=ref, update_in=update_in, actor=actor, threshold_minutes=threshold
    )


@router.post("/{ref}/handover", response_model=IncidentRead)
def handover(
    ref: str, handover_in: Handover, session: SessionDep, actor: Writer, threshold: Threshold
) -> IncidentRead:
    return service.handover(
        session, ref=ref, handover_in=handover_in, actor=actor, threshold_minutes=threshold
    )


@router.post("/{ref}/notes", response_model=IncidentRead)
def add_note(
    ref: str, note_in: NoteCreate, session: SessionDep, actor: Writer, threshold: Threshold
) -> IncidentRead:
    return service.add_note(
        session, ref=ref, note_in=note_in, actor=actor, threshold_minutes=threshold
    )


@router.post("/{ref}/tasks", status_code=201, response_model=TaskRead)
def add_task(ref: str, task_in: TaskCreate, session: SessionDep, actor: Writer) -> TaskRead:
    return service.add_task(session, ref=ref, task_in=task_in, actor=actor)


@router.post("/{ref}/tasks/{task_id}/done", response_model=TaskRead)
def complete_task(ref: str, task_id: str, session: SessionDep, actor: Writer) -> TaskRead:
    return service.complete_task(session, ref=ref, task_id=task_id, actor=actor)


@router.post("/{ref}/close", response_model=IncidentRead)
def close(
    ref: str, close_in: CloseRequest, session: SessionDep, actor: Writer, threshold: Threshold
) -> IncidentRead:
    return service.close(
        session, ref=ref, actor=actor, note=close_in.note, threshold_minutes=threshold
    )


@router.put("/{ref}/postmortem", response_model=IncidentRead)
def edit_postmortem(
    ref: str,
    postmortem_in: PostmortemUpdate,
    session: SessionDep,
    actor: Writer,
    threshold: Threshold,
) -> IncidentRead:
    return service.set_postmortem(
        session, ref=ref, postmortem_in=postmortem_in, actor=actor, threshold_minutes=threshold
    )


@router.get(
    "/{ref}/postmortem",
    response_model=Postmortem,
    responses={200: {"content": {"text/html": {}, "text/markdown": {}}}},
)
def show_postmortem(
    ref: str,
    session: SessionDep,
    actor: Reader,
    threshold: Threshold,
    format: Literal["json", "markdown", "html"] = "json",
) -> Postmortem | HTMLResponse | PlainTextResponse:
    draft = service.get_postmortem(session, ref=ref, threshold_minutes=threshold)
    if format == "html":
        return HTMLResponse(postmortem.render_html(draft))
    if format == "markdown":
        return PlainTextResponse(postmortem.render_markdown(draft), media_type="text/markdown")
    return draft
