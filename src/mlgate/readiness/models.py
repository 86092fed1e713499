"""Readiness tables: attestations, assessment snapshots and the technical-debt register."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mlgate.store.base import Base, JSONType, UTCDateTime

__all__ = ["AssessmentSnapshot", "AttestationRecord", "DebtRecord"]


class AttestationRecord(Base):
    """A person's statement that a rubric item is done for one version or one route.

    At most one of ``version_id`` and ``route`` is set (neither: the whole workspace). A route
    attestation keeps the name it was given under and the id of the route it was about: it
    counts only while a route with that id exists, so a route deleted and recreated under the
    same name (for another model or version) does not inherit it. Rows are never updated: a
    newer attestation supersedes an older one by being valid longer, and expiry is computed at
    assessment time against ``now``, so stale evidence stops counting without a job.
    """

    __tablename__ = "readiness_attestations"
    __table_args__ = (
        Index("ix_readiness_attestations_version_item", "version_id", "item_id"),
        Index("ix_readiness_attestations_route_item", "route", "item_id"),
        Index("ix_readiness_attestations_route_id_item", "route_id", "item_id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    version_id: Mapped[str | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=True
    )
    route: Mapped[str | None] = mapped_column(String(63), nullable=True)
    # No foreign key: the attestation outlives its route as history; it just stops counting.
    route_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    item_id: Mapped[str] = mapped_column(String(63))
    level: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    attested_by: Mapped[str] = mapped_column(String(100))
    attested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AssessmentSnapshot(Base):
    """The scores of one assessment, kept so reports can show the trend across versions."""

    __tablename__ = "readiness_assessments"
    __table_args__ = (Index("ix_readiness_assessments_version_at", "version_id", "assessed_at"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    assessed_by: Mapped[str] = mapped_column(String(100))
    final: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(Text)
    sections: Mapped[dict[str, Any]] = mapped_column(JSONType)
    checklist_met: Mapped[int] = mapped_column(Integer)
    checklist_total: Mapped[int] = mapped_column(Integer)


class DebtRecord(Base):
    """One item of the technical-debt register, for a model or for the whole workspace."""

    __tablename__ = "readiness_debt"
    __table_args__ = (Index("ix_readiness_debt_model_source", "model_id", "source_key"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    model_id: Mapped[str | None] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), nullable=True
    )
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40))
    impact: Mapped[str] = mapped_column(String(10))
    effort: Mapped[str] = mapped_column(String(10))
    owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    due: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    # "<rubric>:<item>" when the debt came from an assessment; keeps from-assessment idempotent.
    source_key: Mapped[str | None] = mapped_column(String(130), nullable=True)
    source_item: Mapped[str | None] = mapped_column(String(63), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
