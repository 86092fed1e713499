"""Audit entries and the chain head; each entry's hash covers the previous entry's hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mlgate.store.base import Base, JSONType, UTCDateTime

__all__ = ["AuditEntry", "AuditHead"]


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    # seq is assigned by the service (head + 1), not by the database: a gap is evidence.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(26), unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(200), index=True)
    change: Mapped[dict[str, Any]] = mapped_column(JSONType)
    digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The format ``hash`` was computed with (mlgate.audit.hashes). No default: every writer
    # states it, so an entry can never become version 1 by omission.
    hash_version: Mapped[int] = mapped_column(Integer)


class AuditHead(Base):
    """One row: the last entry's seq and hash. Appends lock it, which serialises the chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
