"""Backup tables: the drills run against backups, kept as recovery evidence (RTO and RPO)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mlgate.store.base import Base, UTCDateTime

__all__ = ["BackupDrill"]


class BackupDrill(Base):
    __tablename__ = "backup_drills"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    backup_id: Mapped[str] = mapped_column(String(100))
    dialect: Mapped[str] = mapped_column(String(20))
    rto_seconds: Mapped[float] = mapped_column(Float)
    rpo_seconds: Mapped[float] = mapped_column(Float)
    ok: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text, default="")
    gateway_check: Mapped[str] = mapped_column(String(200), default="")
