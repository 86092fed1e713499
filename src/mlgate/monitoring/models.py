"""Monitoring tables: each version's drift reference, the gateway's binned drift counts, and
the ids of the counts' flush rows rolled up lately."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from mlgate.store.base import Base, JSONType, UTCDateTime

__all__ = ["DriftCount", "DriftReference", "FoldedFlush"]


class DriftReference(Base):
    """The reference profile of one version (replaced, not versioned: the audit log keeps who)."""

    __tablename__ = "drift_references"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    version_id: Mapped[str] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), unique=True
    )
    rows: Mapped[int] = mapped_column(Integer)
    features: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))


class DriftCount(Base):
    """What one gateway process counted for one route and version since its previous flush,
    or (``hourly``) every such row of the hour starting ``at``, summed by the roll-up.

    Only counts per bin: no input value. ``reference_id`` names the profile whose bins they
    are; counts of a replaced reference are ignored by reports.
    """

    __tablename__ = "drift_counts"
    __table_args__ = (
        Index("ix_drift_counts_route_at", "route", "at"),
        Index("ix_drift_counts_hourly_at", "hourly", "at"),  # the roll-up's oldest flush rows
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    route: Mapped[str] = mapped_column(String(63))
    model: Mapped[str] = mapped_column(String(63))
    version: Mapped[int] = mapped_column(Integer)
    reference_id: Mapped[str] = mapped_column(String(26))
    requests: Mapped[int] = mapped_column(Integer)
    unreadable: Mapped[int] = mapped_column(Integer)
    counts: Mapped[list[list[int]]] = mapped_column(JSONType)
    hourly: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class FoldedFlush(Base):
    """The id of a flush row that a roll-up summed into its hour and deleted, kept for a while.

    A gateway whose commit went through unseen writes its rows again and skips the ids the
    store has (``collector``): once its rows are rolled up their ids are only here. The roll-up
    job forgets an id once a gateway can no longer retry its row (``jobs.FOLDED_KEPT``).
    """

    __tablename__ = "drift_folded_flushes"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # the flush row's time
