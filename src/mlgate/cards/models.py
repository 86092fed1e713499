"""The card table: every revision of a version's model card, kept (the newest is current)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlgate.store.base import Base, JSONType, UTCDateTime

__all__ = ["CardRevision"]


class CardRevision(Base):
    """One revision of one version's card; rows are only ever added."""

    __tablename__ = "card_revisions"
    __table_args__ = (
        UniqueConstraint("version_id", "revision", name="uq_card_revisions_version_revision"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    version_id: Mapped[str] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSONType)
    completeness: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
