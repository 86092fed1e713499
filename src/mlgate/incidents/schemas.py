"""Incident, task, timeline, runbook and postmortem shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlgate.ids import NAME_PATTERN

__all__ = [
    "ActionItem",
    "EventRead",
    "Handover",
    "IncidentCreate",
    "IncidentRead",
    "IncidentStatus",
    "IncidentUpdate",
    "NoteCreate",
    "Postmortem",
    "PostmortemUpdate",
    "Role",
    "RunbookCreate",
    "RunbookRead",
    "Severity",
    "TaskCreate",
    "TaskRead",
]


class Severity(StrEnum):
    """SEV1 is the worst: user-facing outage or data loss. SEV4: minor, no user impact."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


class IncidentStatus(StrEnum):
    ACTIVE = "active"
    STABLE = "stable"
    CLOSED = "closed"


class Role(StrEnum):
    COMMANDER = "commander"
    SCRIBE = "scribe"
    COMMUNICATIONS = "communications"


Names = list[str]


class IncidentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    severity: Severity
    summary: str = Field(default="", max_length=20_000)
    commander: str | None = Field(default=None, max_length=200, description="Default: opener.")
    scribe: str | None = Field(default=None, max_length=200)
    communications: str | None = Field(default=None, max_length=200)
    affected_routes: Names = Field(default_factory=list, max_length=100)
    affected_models: Names = Field(default_factory=list, max_length=100)
    user_impact: bool = False
    data_loss: bool = False
    rollback: bool = False


class IncidentUpdate(BaseModel):
    """Changes; the commander changes only by an explicit handover."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    severity: Severity | None = None
    status: IncidentStatus | None = Field(
        default=None, description="active or stable; close with the close action."
    )
    summary: str | None = Field(default=None, max_length=20_000)
    scribe: str | None = Field(default=None, max_length=200)
    communications: str | None = Field(default=None, max_length=200)
    affected_routes: Names | None = None
    affected_models: Names | None = None
    user_impact: bool | None = None
    data_loss: bool | None = None
    rollback: bool | None = None


class Handover(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=200, description="The new incident commander.")
    note: str = Field(default="", max_length=2000)


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=10_000)


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    owner: str = Field(min_length=1, max_length=200)
    due_at: datetime | None = None


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    owner: str
    due_at: datetime | None
    done_at: datetime | None
    created_at: datetime


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    actor: str
    kind: str
    text: str
    data: dict[str, Any]


class RunbookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=200_000, description="Markdown.")
    routes: Names = Field(default_factory=list)
    models: Names = Field(default_factory=list)


class RunbookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    title: str
    body: str
    routes: Names
    models: Names
    updated_at: datetime
    updated_by: str


class ActionItem(BaseModel):
    title: str
    owner: str
    due_at: datetime | None = None
    done: bool = False


class PostmortemUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str | None = None
    impact: str | None = None
    root_causes: str | None = None
    trigger: str | None = None
    resolution: str | None = None
    detection: str | None = None
    went_well: str | None = None
    went_wrong: str | None = None
    lucky: str | None = Field(default=None, description="Where we got lucky.")


class IncidentRead(BaseModel):
    id: str
    number: int
    title: str
    severity: Severity
    status: IncidentStatus
    cause_key: str | None
    summary: str
    opened_at: datetime
    stable_at: datetime | None
    closed_at: datetime | None
    created_by: str
    commander: str | None
    scribe: str | None
    communications: str | None
    affected_routes: Names
    affected_models: Names
    user_impact: bool
    data_loss: bool
    rollback: bool
    postmortem_required: bool
    postmortem_reasons: list[str]
    postmortem_written: bool
    events: list[EventRead]
    tasks: list[TaskRead]
    runbooks: list[RunbookRead] = Field(default_factory=list)


class Postmortem(BaseModel):
    """A blameless postmortem: what happened and what we change, never who is to blame."""

    incident_number: int
    title: str
    severity: Severity
    status: IncidentStatus
    opened_at: datetime
    closed_at: datetime | None
    duration_minutes: float
    commander: str | None
    summary: str
    impact: str
    root_causes: str
    trigger: str
    resolution: str
    detection: str
    action_items: list[ActionItem]
    went_well: str
    went_wrong: str
    lucky: str
    timeline: list[EventRead]
    required_because: list[str]
