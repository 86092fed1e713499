"""Incident tables: incidents, their timeline events and tasks, and runbooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mlgate.store.base import Base, JSONType, UTCDateTime

__all__ = ["Incident", "IncidentEvent", "IncidentTask", "Runbook"]


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(4), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)
    cause_key: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    # Equals cause_key while the incident is open and NULL once closed; its unique constraint is
    # what guarantees one open incident per cause, even under concurrent automatic opens.
    open_cause_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    stable_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    commander: Mapped[str | None] = mapped_column(String(200), nullable=True)
    scribe: Mapped[str | None] = mapped_column(String(200), nullable=True)
    communications: Mapped[str | None] = mapped_column(String(200), nullable=True)
    affected_routes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    affected_models: Mapped[list[str]] = mapped_column(JSONType, default=list)
    user_impact: Mapped[bool] = mapped_column(Boolean, default=False)
    data_loss: Mapped[bool] = mapped_column(Boolean, default=False)
    rollback: Mapped[bool] = mapped_column(Boolean, default=False)
    postmortem: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)

    events: Mapped[list[IncidentEvent]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="IncidentEvent.seq"
    )
    tasks: Mapped[list[IncidentTask]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="IncidentTask.created_at"
    )


class IncidentEvent(Base):
    """One timeline line: who, when, what. Status, severity and role changes add their own."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident_seq", "incident_id", "seq", unique=True),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class IncidentTask(Base):
    __tablename__ = "incident_tasks"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    owner: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Runbook(Base):
    """A markdown runbook, linked to the routes and models it is for."""

    __tablename__ = "runbooks"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    routes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    models: Mapped[list[str]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))
